//! The old path of [`against`]: "reference" also names the reference stepper
//! ([`crate::nn::sgd::Reference`]) and its run, while this module chooses the spec a
//! candidate is compared against. Every item forwards to its new path.

use std::path::Path;

use crate::error::Result;
use crate::io::spec::{Overrides, Spec};
use crate::oracle::against;
use crate::oracle::candidate::Candidate;

/// [`against::ARTICLE`].
#[deprecated(note = "moved to `oracle::against::ARTICLE`")]
pub const ARTICLE: &str = against::ARTICLE;
/// [`against::DEFAULT_MAX_STEPS`].
#[deprecated(note = "moved to `oracle::against::DEFAULT_MAX_STEPS`")]
pub const DEFAULT_MAX_STEPS: u64 = against::DEFAULT_MAX_STEPS;
/// [`against::COMPARE_EPOCH_BYTES`].
#[deprecated(note = "moved to `oracle::against::COMPARE_EPOCH_BYTES`")]
pub const COMPARE_EPOCH_BYTES: u128 = against::COMPARE_EPOCH_BYTES;
/// [`against::COMPARE_STEP_BYTES`].
#[deprecated(note = "moved to `oracle::against::COMPARE_STEP_BYTES`")]
pub const COMPARE_STEP_BYTES: u128 = against::COMPARE_STEP_BYTES;

/// [`against::run_work`].
#[deprecated(note = "moved to `oracle::against::run_work`")]
pub fn run_work(spec: &Spec) -> u128 {
    against::run_work(spec)
}

/// [`against::compare_bytes`].
#[deprecated(note = "moved to `oracle::against::compare_bytes`")]
pub fn compare_bytes(spec: &Spec, candidate_values: u128) -> [(&'static str, u128); 3] {
    against::compare_bytes(spec, candidate_values)
}

/// [`against::check_compare`].
#[deprecated(note = "moved to `oracle::against::check_compare`")]
pub fn check_compare(spec: &Spec, candidate_values: u128, field: &str, what: &str) -> Result<()> {
    against::check_compare(spec, candidate_values, field, what)
}

/// [`against::load_model`].
#[deprecated(note = "moved to `oracle::against::load_model`")]
pub fn load_model(model: &Path, overrides: &Overrides) -> Result<Spec> {
    against::load_model(model, overrides)
}

/// [`against::load_candidate_and_spec`].
#[deprecated(note = "moved to `oracle::against::load_candidate_and_spec`")]
pub fn load_candidate_and_spec(
    candidate: &Path,
    model: Option<&Path>,
    overrides: &Overrides,
    max_steps: u64,
    trust_model: bool,
) -> Result<(Candidate, Spec)> {
    against::load_candidate_and_spec(candidate, model, overrides, max_steps, trust_model)
}

/// [`against::spec_to_compare`].
#[deprecated(note = "renamed to `oracle::against::spec_to_compare`")]
pub fn reference_spec(
    model: Option<Spec>,
    cand: &Candidate,
    overrides: &Overrides,
    max_steps: u64,
    trust_model: bool,
) -> Result<Spec> {
    against::spec_to_compare(model, cand, overrides, max_steps, trust_model)
}

/// [`against::differences`].
#[deprecated(note = "moved to `oracle::against::differences`")]
pub fn differences(model: &Spec, header: &Spec, overrides: &Overrides) -> Vec<String> {
    against::differences(model, header, overrides)
}
