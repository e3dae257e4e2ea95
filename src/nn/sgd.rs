//! Training: per-sample SGD (the article) and mini-batch gradient descent (its sequel),
//! in one loop that drives any [`Stepper`].
//!
//! One epoch walks the data in order in consecutive batches of `batch_size` samples
//! (the last may be shorter). For each batch `X (B, n_0)`, `Y (B, n_L)` the stepper
//! makes one update:
//!
//! 1. forward `Ŷ`, and each sample's loss `L_r`;
//! 2. backward for the batch mean `L̄ = (1/B)·Σ_r L_r` — all layers' gradients, with
//!    the parameters of the forward pass (the second layer's gradient is taken before
//!    any update);
//! 3. update every layer once: `W ← W − lr·dW`, `b ← b − lr·db`.
//!
//! The loop adds each sample's loss to the epoch total in order, stops at the first
//! non-finite loss or parameter ([`Error::Diverged`]), and tells an [`Observer`] about
//! every step and epoch.
//!
//! With `batch_size = 1` this is exactly the article's per-sample SGD: the batched
//! formulas reduce to `outer(dz, x)`, `dz`, `Wᵀ·dz` with the same roundings, and the
//! `1/B` factor is `1`. The logged epoch loss is `Σ_r L_r` over all samples of the
//! epoch, each as computed in its own forward pass (the article's `total_loss`).
//!
//! [`Reference`] is the stepper written with this module's math
//! ([`Network::train_step`]); the allocation-free engine in `crate::engine` is another.
//!
//! ```
//! use backprop_oracle::nn::sgd::{train, Reference, TrainConfig};
//! use backprop_oracle::{Activation, Loss, Network};
//! use ndarray::array;
//!
//! let mut net = Network::init(&[2, 3, 1], &[Activation::Relu, Activation::Identity], Loss::Mse, 0, 1.0).unwrap();
//! let (x, y) = (array![[1.0, 2.0], [2.0, 1.0], [3.0, 1.0], [1.0, 3.0]], array![[4.0], [3.0], [5.0], [5.0]]);
//! let cfg = TrainConfig { lr: 0.01, epochs: 1000, batch_size: 1 };
//! let loss = train(&mut net, x.view(), y.view(), &cfg, &mut Reference::default(), &mut ()).unwrap();
//! assert_eq!(format!("{:.4}", loss[0]), "10.8979"); // the article's first line
//! ```

use ndarray::{s, Array1, ArrayView1, ArrayView2};

use crate::error::{Error, Result};
use crate::nn::network::{Forward, Gradients, Network};

/// Hyper-parameters of a training run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Learning rate, `> 0`.
    pub lr: f64,
    /// Number of passes over the data, `≥ 1`.
    pub epochs: usize,
    /// Samples per update, `≥ 1` (`1` = the article's per-sample SGD).
    pub batch_size: usize,
}

impl TrainConfig {
    /// Checks the ranges; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid(
                "lr",
                format!(
                    "must be finite and > 0, got {}",
                    crate::error::short(self.lr)
                ),
            ));
        }
        if self.epochs == 0 {
            return Err(Error::invalid("epochs", "must be ≥ 1, got 0"));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be ≥ 1, got 0"));
        }
        Ok(())
    }
}

/// The forward pass and gradients of one step, for observers that record steps.
#[derive(Debug, Clone, Copy)]
pub struct Detail<'a> {
    /// The forward pass of the batch (parameters before the update).
    pub forward: &'a Forward<f64>,
    /// The gradients of the batch mean loss (layer 0's `dX` included).
    pub grads: &'a Gradients,
}

/// What one update step reports to the training loop.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    /// Each sample's loss `L_r (B)`, from the forward pass before the update.
    pub losses: ArrayView1<'a, f64>,
    /// Whether every updated parameter is finite.
    pub finite: bool,
    /// The forward pass and gradients, when asked for and kept by the stepper.
    pub detail: Option<Detail<'a>>,
}

/// Makes one update step on a batch. Implemented by [`Reference`] (this module's math)
/// and by the fast engine; the training loop [`train`] drives either.
pub trait Stepper {
    /// One step on `X (B, n_0)`, `Y (B, n_L)`: forward, per-sample losses, backward of
    /// the batch mean, update of `net`. With `record`, the stepper also returns the
    /// forward pass and the gradients (with `∂L̄/∂X`) if it can.
    fn step(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
        record: bool,
    ) -> Outcome<'_>;

    /// The steps of `totals.len()` epochs in a loop of the stepper's own, for a caller
    /// that needs no per-step events (the per-sample path of tiny networks, where the
    /// loop around a step would cost as much as the step). Each epoch steps the batches
    /// of `batch_size` rows from row 0 and sets `totals[e]` to the sum of its steps'
    /// losses in row order from 0, as [`train`] does (so far, in the epoch it stops in); stops after a step whose
    /// losses or parameters are not all finite, and leaves that step to the caller to
    /// account (and report). `None`: no such loop for this network or batch size.
    fn epoch(
        &mut self,
        _net: &mut Network<f64>,
        _x: ArrayView2<f64>,
        _y: ArrayView2<f64>,
        _lr: f64,
        _batch_size: usize,
        _totals: &mut [f64],
    ) -> Option<EpochRun<'_>> {
        None
    }
}

/// How far [`Stepper::epoch`] went.
#[derive(Debug, Clone, Copy)]
pub struct EpochRun<'a> {
    /// Epochs made whole (their totals complete); all of them unless it stopped.
    pub epochs: usize,
    /// Steps made and accounted in the epoch it stopped in (its total so far in
    /// `totals[epochs]`).
    pub steps: usize,
    /// The step it stopped after, not accounted: its first row and its outcome.
    pub stopped: Option<(usize, Outcome<'a>)>,
}

/// The most epochs one [`Stepper::epoch`] call makes (the loss history's chunk).
const EPOCH_CHUNK: usize = 4096;

/// The reference stepper: [`Network::train_step`], the math of `nn/` as written.
#[derive(Debug, Default)]
pub struct Reference {
    last: Option<WholeStep>,
}

impl Stepper for Reference {
    fn step(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
        record: bool,
    ) -> Outcome<'_> {
        let step = net.train_step(x, y, lr, record);
        Outcome::kept(&mut self.last, step, net)
    }
}

/// A whole step as [`Network::train_step`] returns it: the forward pass, each sample's
/// loss, the gradients.
pub type WholeStep = (Forward<f64>, Array1<f64>, Gradients);

impl<'a> Outcome<'a> {
    /// The outcome of a step that kept its record in `last` (replacing the one before);
    /// `net` is the network after the update.
    pub fn kept(last: &'a mut Option<WholeStep>, step: WholeStep, net: &Network<f64>) -> Self {
        let finite = net.first_non_finite().is_none();
        let (forward, losses, grads) = last.insert(step);
        Outcome {
            losses: losses.view(),
            finite,
            detail: Some(Detail { forward, grads }),
        }
    }
}

/// One update step, as seen by an [`Observer`].
#[derive(Debug)]
pub struct Step<'a> {
    /// Epoch index (0-based).
    pub epoch: usize,
    /// Update index over the whole run (0-based).
    pub index: usize,
    /// The samples of this batch: `first .. first + B` in data order.
    pub first_sample: usize,
    /// Each sample's loss `L_r (B)`.
    pub losses: ArrayView1<'a, f64>,
    /// The forward pass and gradients, when the observer asked for them
    /// ([`Observer::wants_detail`]) and the stepper keeps them.
    pub detail: Option<Detail<'a>>,
    /// The network after this step's update.
    pub after: &'a Network<f64>,
}

/// Receives training events; every method defaults to doing nothing.
pub trait Observer {
    /// Called after each update step.
    fn step(&mut self, _step: &Step<'_>) {}
    /// Called at the end of each epoch with its total loss `Σ_r L_r`.
    fn epoch_end(&mut self, _epoch: usize, _total_loss: f64) {}
    /// Called after [`Observer::epoch_end`] with the network as the epoch left it (to
    /// evaluate it, e.g. its accuracy on a held-out set) — only when
    /// [`Observer::wants_network`].
    fn epoch_network(&mut self, _epoch: usize, _net: &Network<f64>) {}
    /// Whether [`Observer::epoch_network`] is to be called (when not, and no steps are
    /// observed either, a stepper may run many epochs in one loop of its own).
    fn wants_network(&self) -> bool {
        false
    }
    /// Whether the next step should record its forward pass and gradients (with
    /// `∂L̄/∂X`, layer 0's `dX`).
    fn wants_detail(&self) -> bool {
        false
    }
    /// Whether [`Observer::step`] is to be called (when not, a stepper may run an
    /// epoch's steps in a loop of its own, [`Stepper::epoch`]).
    fn wants_steps(&self) -> bool {
        true
    }
}

/// An observer that ignores everything.
impl Observer for () {
    fn wants_steps(&self) -> bool {
        false
    }
}

/// A closure `FnMut(epoch, total_loss)` observes epoch ends.
impl<F: FnMut(usize, f64)> Observer for F {
    fn epoch_end(&mut self, epoch: usize, total_loss: f64) {
        self(epoch, total_loss)
    }
    fn wants_steps(&self) -> bool {
        false
    }
}

/// Trains `net` in place on `X (N, n_0)`, `Y (N, n_L)` with `stepper` and returns every
/// epoch's total loss. Stops with [`Error::Diverged`] at the first non-finite loss or
/// parameter.
pub fn train<S: Stepper + ?Sized, O: Observer + ?Sized>(
    net: &mut Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    config: &TrainConfig,
    stepper: &mut S,
    observer: &mut O,
) -> Result<Vec<f64>> {
    config.validate()?;
    check_data(net, x, y)?;
    let n = x.nrows();
    let mut epoch_losses = Vec::with_capacity(config.epochs);
    let mut index = 0;
    let fused = !observer.wants_steps();
    // Without observers of steps or of the network after each epoch, a stepper with a
    // loop of its own runs many epochs per call; otherwise one.
    let chunk = if fused && !observer.wants_network() {
        config.epochs.min(EPOCH_CHUNK)
    } else {
        1
    };
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let mut totals = vec![0.0; if fused { chunk } else { 0 }];
    let mut epoch = 0;
    while epoch < config.epochs {
        let mut total = 0.0;
        let mut start = 0;
        if fused {
            let k = chunk.min(config.epochs - epoch);
            let run = stepper.epoch(net, x, y, config.lr, config.batch_size, &mut totals[..k]);
            if let Some(run) = run {
                for &total in &totals[..run.epochs] {
                    check_epoch(epoch, n, total)?;
                    observer.epoch_end(epoch, total);
                    if chunk == 1 && observer.wants_network() {
                        observer.epoch_network(epoch, net);
                    }
                    epoch_losses.push(total);
                    index += steps_per_epoch;
                    epoch += 1;
                }
                if run.epochs == k {
                    continue;
                }
                // It stopped inside epoch `epoch`: account the stopping step (and, if
                // that does not end training, make the epoch's other steps here).
                total = totals[run.epochs];
                index += run.steps;
                start = run.steps * config.batch_size;
                if let Some((first, out)) = run.stopped {
                    account_batch(epoch, first, out.losses, &mut total, out.finite, net)?;
                    index += 1;
                    start = first + config.batch_size;
                }
            }
        }
        for first in (start..n).step_by(config.batch_size) {
            let last = (first + config.batch_size).min(n);
            let (xb, yb) = (x.slice(s![first..last, ..]), y.slice(s![first..last, ..]));
            let out = stepper.step(net, xb, yb, config.lr, observer.wants_detail());
            account_batch(epoch, first, out.losses, &mut total, out.finite, net)?;
            observer.step(&Step {
                epoch,
                index,
                first_sample: first,
                losses: out.losses,
                detail: out.detail,
                after: net,
            });
            index += 1;
        }
        check_epoch(epoch, n, total)?;
        observer.epoch_end(epoch, total);
        if observer.wants_network() {
            observer.epoch_network(epoch, net);
        }
        epoch_losses.push(total);
        epoch += 1;
    }
    Ok(epoch_losses)
}

/// The divergence checks after one step on the batch starting at row `first`: the first
/// non-finite per-sample loss, then a non-finite parameter (named by
/// [`Network::first_non_finite`]). Adds the losses to `total` one by one, in row order
/// (the order that fixes the epoch total's bits).
fn account_batch(
    epoch: usize,
    first: usize,
    losses: ArrayView1<f64>,
    total: &mut f64,
    finite: bool,
    net: &Network<f64>,
) -> Result<()> {
    if let Some(r) = losses.iter().position(|l| !l.is_finite()) {
        return Err(diverged(epoch, first + r, "loss".into()));
    }
    if !finite {
        let what = net
            .first_non_finite()
            .unwrap_or_else(|| "a parameter".into());
        return Err(diverged(epoch, first, what));
    }
    for &l in losses {
        *total += l;
    }
    Ok(())
}

/// The check at the end of an epoch of `n` samples: its total loss is finite.
fn check_epoch(epoch: usize, n: usize, total: f64) -> Result<()> {
    if total.is_finite() {
        Ok(())
    } else {
        Err(diverged(epoch, n - 1, "epoch total loss".into()))
    }
}

fn diverged(epoch: usize, sample: usize, what: String) -> Error {
    Error::Diverged {
        epoch,
        sample,
        what,
    }
}

/// Checks that `X (N, n_0)` and `Y (N, n_L)` fit the network and hold finite numbers.
pub fn check_data(net: &Network<f64>, x: ArrayView2<f64>, y: ArrayView2<f64>) -> Result<()> {
    let sizes = net.sizes();
    let (n_in, n_out) = (sizes[0], sizes[sizes.len() - 1]);
    if x.nrows() == 0 {
        return Err(Error::invalid("x", "needs at least one sample"));
    }
    if x.ncols() != n_in {
        return Err(Error::invalid(
            "x",
            format!(
                "samples have {} features, but sizes[0] is {n_in}",
                x.ncols()
            ),
        ));
    }
    if y.nrows() != x.nrows() {
        return Err(Error::invalid(
            "y",
            format!("has {} targets for {} samples in x", y.nrows(), x.nrows()),
        ));
    }
    if y.ncols() != n_out {
        return Err(Error::invalid(
            "y",
            format!(
                "targets have {} values, but the last size is {n_out}",
                y.ncols()
            ),
        ));
    }
    for (name, a) in [("x", x), ("y", y)] {
        if let Some(((r, c), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::invalid(
                format!("{name}[{r}][{c}]"),
                format!("must be finite, got {v}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::Activation::{Identity, Relu};
    use crate::nn::loss::Loss;
    use ndarray::array;

    #[test]
    fn config_validation_names_the_field() {
        let ok = TrainConfig {
            lr: 0.01,
            epochs: 1,
            batch_size: 1,
        };
        assert!(ok.validate().is_ok());
        let field = |c: TrainConfig| c.validate().unwrap_err().to_string();
        for lr in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(field(TrainConfig { lr, ..ok }).starts_with("lr: must be finite and > 0"));
        }
        assert!(field(TrainConfig { epochs: 0, ..ok }).starts_with("epochs:"));
        assert!(field(TrainConfig {
            batch_size: 0,
            ..ok
        })
        .starts_with("batch_size:"));
    }

    /// Records each step's index and first sample, and whether it came with detail
    /// and with layer 0's `dX`.
    #[derive(Default)]
    struct Seen {
        detail: Vec<Option<bool>>,
        steps: Vec<(usize, usize, usize)>,
        wants: bool,
    }

    impl Observer for Seen {
        fn step(&mut self, s: &Step<'_>) {
            self.detail
                .push(s.detail.map(|d| d.grads.layers[0].dx.is_some()));
            self.steps.push((s.epoch, s.index, s.first_sample));
        }
        fn wants_detail(&self) -> bool {
            self.wants
        }
    }

    /// Layer 0's `dX` (`∂L̄/∂X`) is computed only when an observer asks for detail; the
    /// default observer does not.
    #[test]
    fn the_input_gradient_is_computed_only_on_request() {
        let net = Network::init(&[2, 3, 1], &[Relu, Identity], Loss::Mse, 0, 1.0).unwrap();
        let (x, y) = (array![[1.0, 2.0], [2.0, 1.0]], array![[4.0], [3.0]]);
        let cfg = TrainConfig {
            lr: 0.01,
            epochs: 1,
            batch_size: 1,
        };
        struct Default_;
        impl Observer for Default_ {}
        assert!(!Default_.wants_detail() && !().wants_detail());
        for wants in [false, true] {
            let mut seen = Seen {
                wants,
                ..Seen::default()
            };
            let mut n = net.clone();
            train(
                &mut n,
                x.view(),
                y.view(),
                &cfg,
                &mut Reference::default(),
                &mut seen,
            )
            .unwrap();
            assert_eq!(seen.detail, vec![Some(wants); 2]);
        }
    }

    /// The loop numbers steps over the whole run and hands closures every epoch.
    #[test]
    fn observers_see_every_step_and_epoch_in_order() {
        let net = Network::init(&[2, 3, 1], &[Relu, Identity], Loss::Mse, 0, 1.0).unwrap();
        let (x, y) = (
            array![[1.0, 2.0], [2.0, 1.0], [3.0, 1.0]],
            array![[4.0], [3.0], [5.0]],
        );
        let cfg = TrainConfig {
            lr: 0.01,
            epochs: 2,
            batch_size: 2,
        };
        let mut seen = Seen::default();
        let mut n = net.clone();
        let loss = train(
            &mut n,
            x.view(),
            y.view(),
            &cfg,
            &mut Reference::default(),
            &mut seen,
        );
        assert_eq!(
            seen.steps,
            [(0, 0, 0), (0, 1, 2), (1, 2, 0), (1, 3, 2)],
            "(epoch, index, first sample)"
        );
        let mut epochs = Vec::new();
        let mut n = net.clone();
        let mut on_epoch = |e: usize, total: f64| epochs.push((e, total));
        train(
            &mut n,
            x.view(),
            y.view(),
            &cfg,
            &mut Reference::default(),
            &mut on_epoch,
        )
        .unwrap();
        assert_eq!(
            epochs,
            [(0, loss.as_ref().unwrap()[0]), (1, loss.unwrap()[1])]
        );
    }

    /// Divergence names the sample: the batch's first sample plus the row of the first
    /// non-finite loss; an epoch total that overflows names the epoch's last sample.
    #[test]
    fn divergence_names_the_epoch_and_sample() {
        let net = Network::init(&[1, 1], &[Identity], Loss::Mse, 0, 1.0).unwrap();
        let diverged = |y: ndarray::Array2<f64>, lr: f64, batch_size: usize| {
            let x = ndarray::Array2::from_elem((y.nrows(), 1), 0.5);
            let cfg = TrainConfig {
                lr,
                epochs: 1,
                batch_size,
            };
            let mut n = net.clone();
            match train(
                &mut n,
                x.view(),
                y.view(),
                &cfg,
                &mut Reference::default(),
                &mut (),
            ) {
                Err(Error::Diverged {
                    epoch,
                    sample,
                    what,
                }) => (epoch, sample, what),
                other => panic!("{other:?}"),
            }
        };
        // Sample 3 (row 1 of the batch starting at 2) squares to infinity.
        assert_eq!(
            diverged(array![[1.0], [1.0], [1.0], [1e200]], 1e-300, 2),
            (0, 3, "loss".to_string())
        );
        // Each loss is finite (about 1e308), their sum is not: the epoch's last sample.
        assert_eq!(
            diverged(array![[1e154], [1e154]], 1e-300, 1),
            (0, 1, "epoch total loss".to_string())
        );
    }
}
