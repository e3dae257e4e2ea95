//! Re-anchored steps: a traced step recomputed from the candidate's *own* parameters
//! before it (its `initial` for step 0, else its parameters after the previous step).
//!
//! A port's trajectory drifts away from the reference by its own rounding (float32
//! most of all), so after a few hundred steps a correct port and a wrong one both
//! "differ". Recomputed from the port's own parameters, each step is judged on its
//! own: either it is computed correctly from where the port was (and the trajectories
//! differ only by accumulated rounding), or it is wrong even from there.

use std::ops::Range;

use ndarray::{s, Array1, Array2};

use crate::io::spec::Spec;
use crate::nn::dense::Dense;
use crate::nn::network::Network;
use crate::oracle::candidate::Candidate;
use crate::oracle::schema::{Key, Param, Snapshot};
use crate::oracle::trajectory::StepRecord;
use crate::variant::{self, Variant};

/// The spec's batch of update `s`: its epoch and its rows of the data, as the one
/// training loop walks them (consecutive batches, the last one shorter).
pub fn batch_of(spec: &Spec, s: usize) -> (usize, Range<usize>) {
    let n = spec.x.nrows();
    let bs = spec.batch_size.max(1);
    let per_epoch = n.div_ceil(bs).max(1);
    let first = (s % per_epoch) * bs;
    (s / per_epoch, first..(first + bs).min(n))
}

/// The candidate's parameters before update `s`: its initial ones for `s = 0`, else
/// those after update `s − 1`. `None` when the candidate lacks one of them or a shape
/// differs from the spec's network.
pub fn state_before(cand: &Candidate, spec: &Spec, s: usize) -> Option<Network<f64>> {
    let at = Snapshot::before(s);
    let layers = spec
        .sizes
        .windows(2)
        .zip(&spec.activations)
        .enumerate()
        .map(|(k, (io, &activation))| {
            let w = cand.arrays.get(&Key::Param(at, Param::W, k))?;
            let b = cand.arrays.get(&Key::Param(at, Param::B, k))?;
            let w: Array2<f64> = w.clone().into_dimensionality().ok()?;
            let b: Array1<f64> = b.clone().into_dimensionality().ok()?;
            (w.dim() == (io[1], io[0]) && b.len() == io[1]).then_some(Dense { w, b, activation })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Network {
        layers,
        loss: spec.loss,
    })
}

/// Update `s` recomputed by `variant` from the parameters `before`, on the spec's batch
/// of that update.
pub fn step_from(spec: &Spec, variant: Variant, before: &Network<f64>, s: usize) -> StepRecord {
    let (epoch, rows) = batch_of(spec, s);
    let (x, y) = (
        spec.x.slice(s![rows.clone(), ..]),
        spec.y.slice(s![rows.clone(), ..]),
    );
    let mut net = before.clone();
    // The reference itself on the exact kernels (same bits, fast at scale); a variant
    // by its own composition of the `nn/` pieces.
    let (fwd, losses, grads) = if variant.is_reference() {
        crate::engine::record::train_step(&mut net, x, y, spec.lr, rayon::current_num_threads())
    } else {
        variant::train_step(&mut net, x, y, spec.lr, variant, true)
    };
    StepRecord::new((s, epoch, rows.start), &fwd, losses.view(), &grads, &net)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::trajectory::record;

    /// Re-anchored at the reference's own states, every step is the reference's step,
    /// bit for bit.
    #[test]
    fn steps_recomputed_from_the_references_states_are_its_steps() {
        let spec = Spec {
            epochs: 3,
            batch_size: 3,
            ..Spec::article()
        };
        let t = record(&spec, 5).unwrap();
        assert_eq!(batch_of(&spec, 0), (0, 0..3));
        assert_eq!(batch_of(&spec, 1), (0, 3..4));
        assert_eq!(batch_of(&spec, 4), (2, 0..3));
        let mut cand = Candidate::default();
        for (key, a) in t.quantities() {
            cand.arrays.insert(key, a);
        }
        for s in 0..5 {
            let before = state_before(&cand, &spec, s).unwrap();
            assert_eq!(step_from(&spec, Variant::default(), &before, s), t.steps[s]);
        }
        cand.arrays
            .remove(&Key::Param(Snapshot::After(2), Param::W, 1));
        assert!(state_before(&cand, &spec, 3).is_none());
        // A parameter of another shape is no state to start from: W of the right shape
        // and b one entry short, or b right and W transposed.
        let key_b = Key::Param(Snapshot::After(1), Param::B, 0);
        let b = cand.arrays[&key_b].clone();
        cand.arrays.insert(key_b, ndarray::ArrayD::zeros(vec![2]));
        assert!(state_before(&cand, &spec, 2).is_none());
        cand.arrays.insert(key_b, b);
        let key_w = Key::Param(Snapshot::After(1), Param::W, 0);
        let w = cand.arrays[&key_w].clone();
        cand.arrays.insert(key_w, w.t().to_owned());
        assert!(state_before(&cand, &spec, 2).is_none());
        cand.arrays.insert(key_w, w);
        assert!(state_before(&cand, &spec, 2).is_some());
    }
}
