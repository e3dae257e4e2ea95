//! How far a correct port's run may drift from the reference where a step cannot be
//! re-anchored: epoch losses and final parameters.
//!
//! The reference's [`Twin`] is its run with the data and, before and after every
//! update, the parameters rounded to the port's precision: the drift that rounding
//! alone causes. A port may drift [`DRIFT_FACTOR`] times as far ([`drift_bound`]), and
//! its epoch losses also carry the rounding of their own evaluation
//! ([`loss_drift_bound`]).
//!
//! ## Why 32 times the twin's drift
//!
//! The twin rounds once per parameter and step; a port rounds inside every product,
//! sum and activation as well, and its rounding takes another random walk. Over the
//! conformance cases (`backprop-oracle conformance`, 22 cases) the largest ratio of a
//! correct port's final-parameter deviation to the twin's network-wide envelope was
//! 7.2 for PyTorch float32 and 7.3 for JAX float32 (both on `article_seed1`; every other
//! case at most 6.3), measured on 2026-12-02 with the example ports
//! (`examples/torch_port.py`, `examples/jax_port.py`, `--dtype float32`). The factor
//! leaves four times that as margin. A catalogue bug changes the losses and parameters
//! by a relative 1e-3 or more, where the bound is about 1e-5: raising the factor does
//! not hide mistakes, and re-anchored steps (bounded without this factor) catch them
//! first anyway.

use ndarray::{ArrayD, ArrayView2};

use crate::engine::record::Recorder;
use crate::error::Result;
use crate::io::spec::Spec;
use crate::nn::network::Network;
use crate::nn::sgd::{Outcome, Stepper};
use crate::oracle::precision::Precision;
use crate::oracle::rounding::{forward_bounds, loss_bounds, SAFETY};
use crate::oracle::trajectory::{record_with, Trajectory};
use crate::variant::{Variant, VariantStepper};

/// How many times the drift of the [`Twin`] a port may drift (see the module docs).
pub const DRIFT_FACTOR: f64 = 32.0;

/// The drift bound of parameter array `expected` of network `reference`, from the
/// [`Twin`]'s network at the same point (`twin`): [`DRIFT_FACTOR`] times the twin's
/// relative deviation times the array's largest magnitude, plus 16 roundings of each
/// value (`16·u·|e|`). The relative deviation is an envelope over the whole network, the
/// largest `max|twin − reference| / max|reference|` of its arrays, not taken element by
/// element or array by array, where the twin may land close to the reference by chance
/// (a bias array of one element is a single draw).
pub fn drift_bound(
    expected: &ArrayD<f64>,
    reference: &Network<f64>,
    twin: &Network<f64>,
    u: f64,
) -> ArrayD<f64> {
    let largest = |a: &mut dyn Iterator<Item = f64>| a.fold(0.0, f64::max);
    let envelope = reference
        .layers
        .iter()
        .zip(&twin.layers)
        .flat_map(|(r, t)| {
            [
                (
                    largest(&mut r.w.iter().zip(&t.w).map(|(r, t)| (r - t).abs())),
                    largest(&mut r.w.iter().map(|v| v.abs())),
                ),
                (
                    largest(&mut r.b.iter().zip(&t.b).map(|(r, t)| (r - t).abs())),
                    largest(&mut r.b.iter().map(|v| v.abs())),
                ),
            ]
        })
        .filter(|&(_, size)| size > 0.0)
        .map(|(dev, size)| dev / size)
        .fold(0.0, f64::max);
    let size = largest(&mut expected.iter().map(|v| v.abs()));
    expected.mapv(|e| DRIFT_FACTOR * envelope * size + 16.0 * u * e.abs())
}

/// The bound of the epoch losses: the drift of the parameters ([`DRIFT_FACTOR`] times
/// the running maximum of the twin's deviation relative to each epoch's loss: drift
/// accumulates) plus the rounding of the loss evaluations themselves (`loss_eval`, the
/// [`Twin`]'s), which matters where the losses are small differences of larger numbers.
pub fn loss_drift_bound(reference: &[f64], rounded: &[f64], loss_eval: &[f64], u: f64) -> Vec<f64> {
    let mut envelope = 0.0f64;
    reference
        .iter()
        .zip(rounded)
        .enumerate()
        .map(|(i, (&e, &r))| {
            envelope = envelope.max((r - e).abs() / e.abs().max(f64::MIN_POSITIVE));
            let eval = loss_eval.get(i).copied().unwrap_or(f64::INFINITY);
            DRIFT_FACTOR * envelope * e.abs() + eval + 16.0 * u * e.abs()
        })
        .collect()
}

/// A stepper whose parameters are rounded to a precision before and after every step,
/// and which adds up the rounding bound of every step's losses.
struct Rounded {
    /// The variant's own stepper; the reference's on the exact kernels.
    inner: Box<dyn Stepper>,
    precision: Precision,
    /// `Σ_r δL_r` of each step so far.
    loss_eval: Vec<f64>,
}

fn round_net(net: &mut Network<f64>, p: Precision) {
    for l in &mut net.layers {
        l.w.mapv_inplace(|v| p.round(v));
        l.b.mapv_inplace(|v| p.round(v));
    }
}

impl Stepper for Rounded {
    fn step(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
        record: bool,
    ) -> Outcome<'_> {
        round_net(net, self.precision);
        let before = net.layers.clone();
        let u = self.precision.unit_roundoff();
        let out = self.inner.step(net, x, y, lr, record);
        if let Some(d) = out.detail {
            let z: Vec<_> = d.forward.layers.iter().map(|l| l.z.clone()).collect();
            let a: Vec<_> = d.forward.layers.iter().map(|l| l.a.clone()).collect();
            let (_, da) = forward_bounds(&before, x, &z, &a, u);
            let y_hat = d.forward.output();
            let last = da.last().expect("a network has a layer");
            let bound = loss_bounds(net.loss, y_hat, last.view(), y, out.losses, u);
            self.loss_eval.push(SAFETY * bound.sum());
        }
        round_net(net, self.precision);
        let finite = out.finite && net.first_non_finite().is_none();
        Outcome { finite, ..out }
    }
}

/// The reference run in a port's precision, as far as it can be modelled without
/// computing in that precision.
pub struct Twin {
    /// The reference run (as the variant) with its data and, before and after every
    /// update, its parameters rounded to the precision: the drift that rounding alone
    /// causes, which bounds how far a correct port may drift ([`drift_bound`]).
    pub run: Trajectory,
    /// Each epoch's bound of the rounding of its loss evaluations `Σ_r δL_r`
    /// ([`crate::oracle::rounding`]'s loss row, doubled) plus the rounding of its sum,
    /// `γ_N·Σ_r L_r`.
    pub loss_eval: Vec<f64>,
}

/// Runs the [`Twin`] of `spec` as `variant` computes it in `precision`.
pub fn record_rounded(
    spec: &Spec,
    trace_steps: usize,
    variant: Variant,
    precision: Precision,
) -> Result<Twin> {
    let rounded = Spec {
        x: spec.x.mapv(|v| precision.round(v)),
        y: spec.y.mapv(|v| precision.round(v)),
        sources: Default::default(),
        ..spec.clone()
    };
    let inner: Box<dyn Stepper> = if variant.is_reference() {
        Box::new(Recorder::new(rayon::current_num_threads()))
    } else {
        Box::new(VariantStepper::new(variant))
    };
    let mut stepper = Rounded {
        inner,
        precision,
        loss_eval: Vec::new(),
    };
    let run = record_with(&rounded, trace_steps, &mut stepper)?;
    let per_epoch = spec.x.nrows().div_ceil(spec.batch_size).max(1);
    let n = spec.x.nrows() as f64;
    let u = precision.unit_roundoff();
    let summing = n * u / (1.0 - (n * u).min(0.5));
    let loss_eval = stepper
        .loss_eval
        .chunks(per_epoch)
        .zip(&run.loss)
        .map(|(steps, total)| steps.iter().sum::<f64>() + summing * total.abs())
        .collect();
    Ok(Twin { run, loss_eval })
}
