//! The work and memory of recomputing a spec's run, planned before it starts: the
//! number of updates ([`total_steps`]), the work of an untrusted header's run
//! ([`run_work`] against [`DEFAULT_MAX_STEPS`]), and what comparing a candidate against
//! the run holds ([`compare_bytes`], refused past 1 GiB by [`check_compare`]; `export`
//! plans what it writes against the same figure, so that `compare` reads every export
//! back).

use crate::error::{Error, Result};
use crate::io::spec::Spec;
use crate::io::MAX_BYTES;

/// The number of updates a spec's run makes: `epochs · ⌈N / batch_size⌉`.
pub fn total_steps(spec: &Spec) -> usize {
    spec.epochs
        .saturating_mul(spec.x.nrows().div_ceil(spec.batch_size))
}

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
