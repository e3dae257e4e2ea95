//! Which spec a candidate is compared against.
//!
//! The spec comes from the caller (a file, or the built-in article with the name
//! [`ARTICLE`]) or from the candidate's own `header.spec`. With neither, there is
//! nothing to compare against: the error says how to give one. With both, they must agree on every key
//! (a port that wrote a wrong spec into its header would otherwise be checked against
//! its own mistake); a difference is reported key by key unless the caller trusts its
//! model. A spec from the candidate's header is untrusted input: the run it describes
//! may cost at most `max_steps` of work ([`run_work`]).
//!
//! Whichever spec it is, the memory of comparing against its run is planned once the
//! candidate is read and before the reference is recomputed ([`check_compare`]): for
//! every epoch [`COMPARE_EPOCH_BYTES`] (the reference's loss history, its float32
//! twin's and the twin's loss-evaluation bounds, the expected epoch losses and their
//! bounds, with room), for every update [`COMPARE_STEP_BYTES`] (the twin's per-step
//! rounding bound), the network's copies, the data's float32 copy and the candidate's
//! arrays, at most 1 GiB in all; `export` plans what it writes against the same
//! figure, so that `compare` reads every export back.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::spec::{Overrides, Spec};
use crate::io::MAX_BYTES;
use crate::oracle::candidate::{load_candidate, Candidate};
use crate::oracle::trajectory::total_steps;

/// The name that stands for the article's built-in spec where a spec file is expected.
pub const ARTICLE: &str = "article";

/// The default work budget for recomputing a run that a candidate's own header
/// describes, in parameter-updates × batch rows (see [`run_work`]): a bound on what an
/// untrusted file may ask for (milliseconds to seconds of exact training, depending on
/// the network's shape); a trusted `--model` has no budget.
pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;

/// The work of recomputing `spec`'s run: every update step changes every parameter
/// once per row of its batch, so `epochs × samples × parameters` in all.
pub fn run_work(spec: &Spec) -> u128 {
    let params = spec.parameter_count();
    spec.epochs as u128 * spec.x.nrows() as u128 * params
}

/// The bytes `compare` plans for each epoch of the run it recomputes: eight `f64` (it
/// holds at most six loss-history copies at once: the reference's, the float32 twin's,
/// the twin's loss-evaluation bounds, the expected values, their bounds, and a
/// diagnosis's own run).
pub const COMPARE_EPOCH_BYTES: u128 = 64;

/// The bytes `compare` plans for each update of the run it recomputes (the float32
/// twin's rounding bound of each step's losses, before they are summed by epoch).
pub const COMPARE_STEP_BYTES: u128 = 8;

/// What comparing a candidate of `candidate_values` numbers against `spec`'s run holds,
/// in parts: `(what, bytes)` for the run (loss histories of its epochs and updates),
/// the network and data copies, and the candidate's arrays.
pub fn compare_bytes(spec: &Spec, candidate_values: u128) -> [(&'static str, u128); 3] {
    let params = spec.parameter_count();
    let data = (spec.x.len() + spec.y.len()) as u128;
    let history =
        spec.epochs as u128 * COMPARE_EPOCH_BYTES + total_steps(spec) as u128 * COMPARE_STEP_BYTES;
    [
        ("loss histories", history),
        // The reference's, the twin's and a re-anchored step's parameters (initial,
        // final, before and after, gradients), and the data rounded to float32.
        ("network and data copies", 8 * (16 * params + data)),
        ("the candidate's arrays", 8 * candidate_values),
    ]
}

/// Refuses (naming `field`, the spec's epochs) a comparison against `spec`'s run of a
/// candidate of `candidate_values` numbers that would hold more than 1 GiB
/// ([`compare_bytes`]); `what` says whose plan it is in the message.
pub fn check_compare(spec: &Spec, candidate_values: u128, field: &str, what: &str) -> Result<()> {
    let parts = compare_bytes(spec, candidate_values);
    let total: u128 = parts.iter().map(|p| p.1).sum();
    if total <= MAX_BYTES as u128 {
        return Ok(());
    }
    let mib = |b: u128| b as f64 / (1u64 << 20) as f64;
    Err(Error::invalid(
        field,
        format!(
            "{what} would need {:.0} MiB ({} of {} epochs and {} updates {:.0} MiB, {} {:.0} MiB, {} {:.0} MiB), more than the 1 GiB limit",
            mib(total),
            parts[0].0,
            spec.epochs,
            total_steps(spec),
            mib(parts[0].1),
            parts[1].0,
            mib(parts[1].1),
            parts[2].0,
            mib(parts[2].1),
        ),
    ))
}

/// Reads the spec file `model` (or the article for [`ARTICLE`], when no file of that
/// name exists) with the overrides.
pub fn load_model(model: &Path, overrides: &Overrides) -> Result<Spec> {
    if model == Path::new(ARTICLE) && std::fs::symlink_metadata(model).is_err() {
        return Spec::article().with_overrides(overrides);
    }
    Spec::load(Some(model), overrides)
}

/// Reads the candidate file and the spec file `model` side by side (one thread each:
/// neither needs the other; on an MNIST-size run each is a tenth to a third of a
/// second), then settles the spec to compare against with [`spec_to_compare`]. A bad
/// candidate is reported before a bad model, as if read one after the other.
pub fn load_candidate_and_spec(
    candidate: &Path,
    model: Option<&Path>,
    overrides: &Overrides,
    max_steps: u64,
    trust_model: bool,
) -> Result<(Candidate, Spec)> {
    let (cand, model) = std::thread::scope(|s| {
        let model = model.map(|m| s.spawn(move || load_model(m, overrides)));
        let cand = load_candidate(candidate);
        let model = model.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (cand, model)
    });
    let cand = cand?;
    let from_model = model.is_some();
    let spec = spec_to_compare(model.transpose()?, &cand, overrides, max_steps, trust_model)?;
    let field = match (overrides.epochs, from_model) {
        (Some(_), _) => "Overrides.epochs",
        (None, true) => "spec.epochs",
        (None, false) => "candidate.header.spec.epochs",
    };
    let values: usize = cand.arrays.values().map(|a| a.len()).sum();
    check_compare(&spec, values as u128, field, "comparing against this run")?;
    Ok((cand, spec))
}

/// The spec to compare against (see the module docs), given the model's spec if the
/// caller named one ([`load_model`]). `trust_model` compares against the model even
/// where the candidate's header says otherwise.
pub fn spec_to_compare(
    model: Option<Spec>,
    cand: &Candidate,
    overrides: &Overrides,
    max_steps: u64,
    trust_model: bool,
) -> Result<Spec> {
    let header_of = |like: Option<&Spec>| {
        cand.spec
            .as_ref()
            .map(|v| Spec::from_json_like(v, "candidate.header.spec", Path::new("."), like))
    };
    match model {
        Some(spec) => {
            // Data files the model already read (same SHA-256) are not read again.
            if let Some(header) = header_of(Some(&spec)) {
                let header = header?;
                if !trust_model {
                    let diff = differences(&spec, &header, overrides);
                    if !diff.is_empty() {
                        return Err(Error::invalid(
                            "model",
                            format!(
                                "differs from the candidate's header.spec in {} (the port may have run another spec, or written a wrong one); trust the model to compare against it anyway",
                                diff.join(", ")
                            ),
                        ));
                    }
                }
            }
            Ok(spec)
        }
        None => {
            let Some(header) = header_of(None) else {
                return Err(no_spec());
            };
            let spec = header?.with_overrides(overrides)?;
            let work = run_work(&spec);
            if work > max_steps as u128 {
                return Err(Error::invalid(
                    "max_steps",
                    format!(
                        "the candidate's header.spec describes a run of {work} parameter-updates × batch rows \
                         (epochs × samples × parameters), more than this budget of {max_steps}; \
                         give a spec you trust as the model instead, or raise the budget"
                    ),
                ));
            }
            Ok(spec)
        }
    }
}

/// The error of a candidate without `header.spec` compared without a model.
fn no_spec() -> Error {
    Error::invalid(
        "model",
        format!(
            "the candidate has no header.spec, so the spec to compare against is unknown: name the spec file the port ran with (or {ARTICLE:?} for the article's run)"
        ),
    )
}

/// The keys on which two specs differ, each with both values (keys set by overrides
/// are not compared: the caller chose them).
pub fn differences(model: &Spec, header: &Spec, overrides: &Overrides) -> Vec<String> {
    let mut out = Vec::new();
    let mut key = |name: &str, a: String, b: String, overridden: bool| {
        if a != b && !overridden {
            out.push(format!("{name} (model {a}, header {b})"));
        }
    };
    key(
        "sizes",
        format!("{:?}", model.sizes),
        format!("{:?}", header.sizes),
        false,
    );
    let acts = |s: &Spec| {
        s.activations
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(",")
    };
    key("activations", acts(model), acts(header), false);
    key(
        "loss",
        model.loss.name().into(),
        header.loss.name().into(),
        false,
    );
    key(
        "seed",
        model.seed.to_string(),
        header.seed.to_string(),
        overrides.seed.is_some(),
    );
    key(
        "init_scale",
        model.init_scale.to_string(),
        header.init_scale.to_string(),
        false,
    );
    key(
        "lr",
        model.lr.to_string(),
        header.lr.to_string(),
        overrides.lr.is_some(),
    );
    key(
        "epochs",
        model.epochs.to_string(),
        header.epochs.to_string(),
        overrides.epochs.is_some(),
    );
    key(
        "batch_size",
        model.batch_size.to_string(),
        header.batch_size.to_string(),
        overrides.batch_size.is_some(),
    );
    for (name, a, b) in [("x", &model.x, &header.x), ("y", &model.y, &header.y)] {
        if a.shape() != b.shape() {
            key(
                name,
                format!("shape {:?}", a.shape()),
                format!("shape {:?}", b.shape()),
                false,
            );
        } else if a != b {
            // Different somewhere (a whole-array test first: the scan for the first
            // difference runs only when there is one).
            let Some(((r, c), v)) = a.indexed_iter().find(|(i, v)| **v != b[*i]) else {
                continue;
            };
            key(
                &format!("{name}[{r}][{c}]"),
                v.to_string(),
                b[[r, c]].to_string(),
                false,
            );
        }
    }
    out
}
