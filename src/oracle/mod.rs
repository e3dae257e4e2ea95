//! The oracle for ports: a recorded run ([`trajectory`]), the names of its arrays
//! ([`schema`]), export to JSON/`.npz`/`.npy` ([`export`]), a port's output read back
//! ([`candidate`]), and the comparison that names the first divergence ([`compare`]):
//! in the port's [`precision`], with re-anchored steps ([`anchor`]) and their
//! [`rounding`] bounds, the [`drift`] of what cannot be re-anchored, the name of the
//! mistake ([`diagnose`]), and the battery of [`conformance`] cases, each run on a
//! port by the [`runner`]. Which spec a candidate is compared [`against`], and the
//! memory that comparing against its run may take, is settled first.
//!
//! Every recorded number has a canonical name, its [`Key`](schema::Key) (the `.npz`
//! key; see [`schema`] for the table). [`Key::all`](schema::Key::all) lists them in
//! time order (initial, each step's forward, loss, backward from the last layer down,
//! update; then epoch losses; then final), which is the order compare walks to find the
//! *first* divergence.

pub mod against;
pub mod anchor;
pub mod candidate;
pub mod compare;
pub mod conformance;
pub mod diagnose;
pub mod drift;
pub mod export;
pub mod plan;
pub mod precision;
#[deprecated(note = "renamed to `oracle::against`")]
pub mod reference;
pub mod report;
pub mod rounding;
pub mod runner;
pub mod schema;
pub mod trajectory;

pub use trajectory::{record, record_checked, total_steps, trace_bytes, StepRecord, Trajectory};

/// The row-major multi-index of the `flat`-th element of an array of `shape` (the
/// position `iter()` reaches it at): found by a flat scan, named by its index.
pub(crate) fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &n) in index.iter_mut().zip(shape).rev() {
        *i = flat % n.max(1);
        flat /= n.max(1);
    }
    index
}
