//! Training: per-sample SGD (the article) and mini-batch gradient descent (its sequel).
//! A [`Stepper`] makes one update; the plain loop [`train`] drives it over epochs.
//!
//! One epoch walks the data in order in batches of `batch_size` samples (the last may
//! be shorter). For each batch `X (B, n_0)`, `Y (B, n_L)` the stepper makes one update:
//!
//! 1. forward `Ŷ`, and each sample's loss `L_r`;
//! 2. backward for the batch mean `L̄ = (1/B)·Σ_r L_r` — all layers' gradients, with the
//!    parameters of the forward pass (the second layer's gradient is taken before any
//!    update);
//! 3. update every layer once: `W ← W − lr·dW`, `b ← b − lr·db`.
//!
//! The loop adds each sample's loss to the epoch total in order, stops at the first
//! non-finite loss or parameter ([`Error::Diverged`]), and tells an [`Observer`] about
//! every step and epoch. With `batch_size = 1` this is exactly the article's per-sample
//! SGD: the batched formulas reduce to `outer(dz, x)`, `dz`, `Wᵀ·dz` with the same
//! roundings, `1/B` is `1`, and the epoch loss `Σ_r L_r` is the article's `total_loss`.
//! [`Reference`] is the stepper written with this module's math ([`Network::train_step`]).
//!
//! ```
//! use backprop_oracle::nn::sgd::{train, Reference, TrainConfig};
//! use backprop_oracle::{Activation, Loss, Network};
//! use ndarray::array;
//! let mut net = Network::init(&[2, 3, 1], &[Activation::Relu, Activation::Identity], Loss::Mse, 0, 1.0).unwrap();
//! let (x, y) = (array![[1.0, 2.0], [2.0, 1.0], [3.0, 1.0], [1.0, 3.0]], array![[4.0], [3.0], [5.0], [5.0]]);
//! let cfg = TrainConfig { lr: 0.01, epochs: 1000, batch_size: 1 };
//! let loss = train(&mut net, x.view(), y.view(), &cfg, &mut Reference::default(), &mut ()).unwrap();
//! assert_eq!(format!("{:.4}", loss[0]), "10.8979"); // the article's first line
//! ```

use ndarray::{s, Array1, ArrayView1, ArrayView2};

use crate::error::{short, Error, Result};
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
            let msg = format!("must be finite and > 0, got {}", short(self.lr));
            return Err(Error::invalid("lr", msg));
        }
        for (field, value) in [("epochs", self.epochs), ("batch_size", self.batch_size)] {
            if value == 0 {
                return Err(Error::invalid(field, "must be ≥ 1, got 0"));
            }
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
}

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

/// A whole step as [`Network::train_step`] returns it: forward pass, losses, gradients.
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
    /// Called after [`Observer::epoch_end`], when [`Observer::wants_network`], with the
    /// network as the epoch left it (to evaluate it, e.g. on a held-out set).
    fn epoch_network(&mut self, _epoch: usize, _net: &Network<f64>) {}
    /// Whether [`Observer::epoch_network`] is to be called (when not, and steps are not
    /// wanted either, a faster loop may run many epochs between two calls).
    fn wants_network(&self) -> bool {
        false
    }
    /// Whether the next step should record its forward pass and gradients (with
    /// `∂L̄/∂X`, layer 0's `dX`).
    fn wants_detail(&self) -> bool {
        false
    }
    /// Whether [`Observer::step`] is needed. [`train`] calls it anyway; when not, a
    /// caller may train with a faster loop that makes no per-step calls.
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
    for epoch in 0..config.epochs {
        let mut total = 0.0;
        for first in (0..n).step_by(config.batch_size) {
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
    }
    Ok(epoch_losses)
}

/// The divergence checks after one step on the batch starting at row `first`: the first
/// non-finite per-sample loss, then a non-finite parameter (named by
/// [`Network::first_non_finite`]). Adds the losses to `total` one by one, in row order
/// (the order that fixes the epoch total's bits).
pub fn account_batch(
    epoch: usize,
    first: usize,
    losses: ArrayView1<f64>,
    total: &mut f64,
    finite: bool,
    net: &Network<f64>,
) -> Result<()> {
    if let Some(r) = losses.iter().position(|l| !l.is_finite()) {
        return Err(Error::diverged(epoch, first + r, "loss"));
    }
    if !finite {
        let what = net.first_non_finite().unwrap_or("a parameter".into());
        return Err(Error::diverged(epoch, first, what));
    }
    losses.iter().for_each(|&l| *total += l);
    Ok(())
}

/// The check at the end of an epoch of `n` samples: its total loss is finite.
pub fn check_epoch(epoch: usize, n: usize, total: f64) -> Result<()> {
    if total.is_finite() {
        Ok(())
    } else {
        Err(Error::diverged(epoch, n - 1, "epoch total loss"))
    }
}

/// Checks that `X (N, n_0)` and `Y (N, n_L)` fit the network and hold finite numbers.
pub fn check_data(net: &Network<f64>, x: ArrayView2<f64>, y: ArrayView2<f64>) -> Result<()> {
    let sizes = net.sizes();
    let (n_in, n_out) = (sizes[0], sizes[sizes.len() - 1]);
    let ((rows, cols), (y_rows, y_cols)) = (x.dim(), y.dim());
    if rows == 0 {
        return Err(Error::invalid("x", "needs at least one sample"));
    }
    if cols != n_in {
        let msg = format!("samples have {cols} features, but sizes[0] is {n_in}");
        return Err(Error::invalid("x", msg));
    }
    if y_rows != rows {
        let msg = format!("has {y_rows} targets for {rows} samples in x");
        return Err(Error::invalid("y", msg));
    }
    if y_cols != n_out {
        let msg = format!("targets have {y_cols} values, but the last size is {n_out}");
        return Err(Error::invalid("y", msg));
    }
    for (name, a) in [("x", x), ("y", y)] {
        if let Some(((r, c), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
            let field = format!("{name}[{r}][{c}]");
            return Err(Error::invalid(field, format!("must be finite, got {v}")));
        }
    }
    Ok(())
}
