//! Training: per-sample SGD (the article) and mini-batch gradient descent (its sequel).
//!
//! One epoch walks the data in order in consecutive batches of `batch_size` samples
//! (the last may be shorter). For each batch `X (B, n_0)`, `Y (B, n_L)`:
//!
//! 1. forward `Ŷ`, and each sample's loss `L_r`, added to the epoch total in order;
//! 2. backward for the batch mean `L̄ = (1/B)·Σ_r L_r` — all layers' gradients, with
//!    the parameters of the forward pass (the second layer's gradient is taken before
//!    any update);
//! 3. update every layer once: `W ← W − lr·dW`, `b ← b − lr·db`.
//!
//! With `batch_size = 1` this is exactly the article's per-sample SGD: the batched
//! formulas reduce to `outer(dz, x)`, `dz`, `Wᵀ·dz` with the same roundings, and the
//! `1/B` factor is `1`. The logged epoch loss is `Σ_r L_r` over all samples of the
//! epoch, each as computed in its own forward pass (the article's `total_loss`).
//!
//! ```
//! use backprop_oracle::{train, Activation, Loss, Network, TrainConfig};
//! use ndarray::array;
//!
//! let mut net = Network::init(&[2, 3, 1], &[Activation::Relu, Activation::Identity], Loss::Mse, 0, 1.0).unwrap();
//! let (x, y) = (array![[1.0, 2.0], [2.0, 1.0], [3.0, 1.0], [1.0, 3.0]], array![[4.0], [3.0], [5.0], [5.0]]);
//! let cfg = TrainConfig { lr: 0.01, epochs: 1000, batch_size: 1 };
//! let loss = train(&mut net, x.view(), y.view(), &cfg, &mut ()).unwrap();
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
                format!("must be finite and > 0, got {}", self.lr),
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

/// One update step, as seen by an [`Observer`].
#[derive(Debug)]
pub struct Step<'a> {
    /// Epoch index (0-based).
    pub epoch: usize,
    /// Update index over the whole run (0-based).
    pub index: usize,
    /// The samples of this batch: `first .. first + B` in data order.
    pub first_sample: usize,
    /// The forward pass of the batch (parameters before the update).
    pub forward: &'a Forward<f64>,
    /// Each sample's loss `L_r (B)`.
    pub losses: &'a Array1<f64>,
    /// The gradients of the batch mean loss.
    pub grads: &'a Gradients,
    /// The network after this step's update.
    pub after: &'a Network<f64>,
}

/// Receives training events; both methods default to doing nothing.
pub trait Observer {
    /// Called after each update step.
    fn step(&mut self, _step: &Step<'_>) {}
    /// Called at the end of each epoch with its total loss `Σ_r L_r`.
    fn epoch_end(&mut self, _epoch: usize, _total_loss: f64) {}
    /// Whether the next step should also compute `∂L̄/∂X` (layer 0's `dX`).
    fn wants_input_grad(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
impl Observer for () {}

/// A closure `FnMut(epoch, total_loss)` observes epoch ends.
impl<F: FnMut(usize, f64)> Observer for F {
    fn epoch_end(&mut self, epoch: usize, total_loss: f64) {
        self(epoch, total_loss)
    }
}

/// Trains `net` in place on `X (N, n_0)`, `Y (N, n_L)` and returns every epoch's total
/// loss. Stops with [`Error::Diverged`] at the first non-finite loss or parameter.
pub fn train(
    net: &mut Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    config: &TrainConfig,
    observer: &mut dyn Observer,
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
            let (fwd, losses, grads) =
                net.train_step(xb, yb, config.lr, None, observer.wants_input_grad());
            account_batch(epoch, first, losses.view(), &mut total, || {
                net.first_non_finite()
            })?;
            observer.step(&Step {
                epoch,
                index,
                first_sample: first,
                forward: &fwd,
                losses: &losses,
                grads: &grads,
                after: net,
            });
            index += 1;
        }
        check_epoch(epoch, n, total)?;
        observer.epoch_end(epoch, total);
        epoch_losses.push(total);
    }
    Ok(epoch_losses)
}

/// The divergence checks after one step on the batch starting at row `first`, shared
/// by both trainers: the first non-finite per-sample loss, then a non-finite parameter
/// (`bad_param` names it, or says there is none). Adds the losses to `total` one by one,
/// in row order (the order that fixes the epoch total's bits).
pub(crate) fn account_batch(
    epoch: usize,
    first: usize,
    losses: ArrayView1<f64>,
    total: &mut f64,
    bad_param: impl FnOnce() -> Option<String>,
) -> Result<()> {
    if let Some(r) = losses.iter().position(|l| !l.is_finite()) {
        return Err(diverged(epoch, first + r, "loss".into()));
    }
    if let Some(what) = bad_param() {
        return Err(diverged(epoch, first, what));
    }
    for &l in losses {
        *total += l;
    }
    Ok(())
}

/// The check at the end of an epoch of `n` samples: its total loss is finite.
pub(crate) fn check_epoch(epoch: usize, n: usize, total: f64) -> Result<()> {
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
