//! The engine's own training loop: the teaching loop ([`crate::nn::sgd::train`]) with
//! the steps of tiny per-sample nets made many epochs at a time.
//!
//! For a two-layer network with every width 1…4 (the article's 2-3-1), MSE, one sample a
//! step and contiguous data, [`train`] runs up to [`EPOCH_CHUNK`] epochs in one call of
//! the engine's epoch loop (`FastStepper::try_epoch_tiny`): the same steps as
//! [`FastStepper::step`], without the teaching loop's per-step slicing, checks and
//! observer calls around each — for the article about 21 ns a step through the CLI
//! instead of 25. After each call it accounts the epochs made whole as the teaching loop
//! does: the epoch total's check, `epoch_end`, `epoch_network` when wanted (one epoch a
//! call then, so the observer sees the network as each epoch left it). The epoch loop
//! adds each step's loss in row order and stops after the first step whose loss or
//! parameters are not all finite; that step is reported by the teaching loop's own check
//! ([`sgd::account_batch`]), so the error names the same epoch, sample and parameter.
//! Everywhere else (another shape or batch size, the GEMM kernels, an observer of single
//! steps) [`train`] is the teaching loop.
//!
//! `crate::run` picks this loop for the fast engine when the observer wants no per-step
//! events. `tests/fast_path.rs` (`the_engines_epoch_loop_is_the_step_by_step_loop`)
//! pins it to the teaching loop and to the reference stepper: the same epoch losses and
//! parameters bit for bit, and on divergence the same error, at the first sample of an
//! epoch and mid-epoch, from a loss and from a parameter, with many epochs per call and
//! with one.

use ndarray::{s, ArrayView2};

use super::FastStepper;
use crate::error::Result;
use crate::nn::network::Network;
use crate::nn::sgd::{self, Observer, Stepper, TrainConfig};

/// The most epochs one call of the engine's epoch loop makes (the loss history's chunk).
pub const EPOCH_CHUNK: usize = 4096;

/// How far one call of the epoch loop went.
#[derive(Debug, Clone, Copy)]
struct EpochRun {
    /// Epochs made whole (their totals complete); all of them unless it stopped.
    epochs: usize,
    /// Steps made and accounted in the epoch it stopped in (its total so far in
    /// `totals[epochs]`).
    steps: usize,
    /// The step it stopped after, not accounted: its row, and whether the parameters
    /// are finite (its loss is the stepper's last, `FastStepper::losses(1)`).
    stopped: Option<(usize, bool)>,
}

impl FastStepper {
    /// Whether [`train`] has an epoch loop for `net` on `X`, `Y` in batches of
    /// `batch_size` (what `try_epoch_tiny` needs; the data's shapes are checked later).
    fn has_epoch_loop(
        &self,
        net: &Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        batch_size: usize,
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        if batch_size == 1 {
            return self.has_tiny_epochs(net, x, y);
        }
        let _ = (net, x, y, batch_size);
        false
    }

    /// `totals.len()` epochs of per-sample steps in one loop, each epoch's total loss in
    /// `totals[e]`; `None` when there is no such loop ([`FastStepper::has_epoch_loop`]).
    fn epoch_loop(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
        totals: &mut [f64],
    ) -> Option<EpochRun> {
        #[cfg(target_arch = "x86_64")]
        {
            let (epochs, steps, stopped) = self.try_epoch_tiny(net, x, y, lr, totals)?;
            Some(EpochRun {
                epochs,
                steps,
                stopped,
            })
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (net, x, y, lr, totals);
            None
        }
    }
}

/// Trains `net` in place on `X (N, n_0)`, `Y (N, n_L)` with `fast`: the results of
/// [`sgd::train`] with the same stepper (epoch losses, parameters and errors), in the
/// engine's epoch loop where it has one (see the module doc), else by [`sgd::train`].
/// `observer` gets every epoch's events, and no per-step events where the epoch loop
/// runs, so an observer that wants steps always gets [`sgd::train`].
pub fn train<O: Observer + ?Sized>(
    net: &mut Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    config: &TrainConfig,
    fast: &mut FastStepper,
    observer: &mut O,
) -> Result<Vec<f64>> {
    if observer.wants_steps() || !fast.has_epoch_loop(net, x, y, config.batch_size) {
        return sgd::train(net, x, y, config, fast, observer);
    }
    config.validate()?;
    sgd::check_data(net, x, y)?;
    let n = x.nrows();
    // An observer of the network after each epoch gets one epoch per call.
    let each_network = observer.wants_network();
    let chunk = if each_network {
        1
    } else {
        config.epochs.min(EPOCH_CHUNK)
    };
    let mut totals = vec![0.0; chunk];
    let mut epoch_losses = Vec::with_capacity(config.epochs);
    let mut epoch_done = |epoch: usize, total: f64, net: &Network<f64>| -> Result<()> {
        sgd::check_epoch(epoch, n, total)?;
        observer.epoch_end(epoch, total);
        if each_network {
            observer.epoch_network(epoch, net);
        }
        epoch_losses.push(total);
        Ok(())
    };
    let mut epoch = 0;
    while epoch < config.epochs {
        let k = chunk.min(config.epochs - epoch);
        let run = match fast.epoch_loop(net, x, y, config.lr, &mut totals[..k]) {
            Some(run) => run,
            // Not after `has_epoch_loop`; were it to happen, the epoch is stepped below.
            None => {
                totals[0] = 0.0;
                EpochRun {
                    epochs: 0,
                    steps: 0,
                    stopped: None,
                }
            }
        };
        for &total in &totals[..run.epochs] {
            epoch_done(epoch, total, net)?;
            epoch += 1;
        }
        if run.epochs == k {
            continue;
        }
        // It stopped inside epoch `epoch`: account the stopping step (which reports the
        // divergence), and should that not end training, make the epoch's other steps
        // one by one.
        let mut total = totals[run.epochs];
        let mut start = run.steps;
        if let Some((first, finite)) = run.stopped {
            let losses = fast.losses(1);
            sgd::account_batch(epoch, first, losses, &mut total, finite, net)?;
            start = first + 1;
        }
        for first in start..n {
            let (xb, yb) = (
                x.slice(s![first..first + 1, ..]),
                y.slice(s![first..first + 1, ..]),
            );
            let out = Stepper::step(fast, net, xb, yb, config.lr, false);
            sgd::account_batch(epoch, first, out.losses, &mut total, out.finite, net)?;
        }
        epoch_done(epoch, total, net)?;
        epoch += 1;
    }
    Ok(epoch_losses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Kernels;
    use crate::nn::activation::Activation::{Identity, Relu};
    use crate::nn::loss::Loss;
    use crate::nn::sgd::Reference;
    use ndarray::array;

    /// The article (2-3-1, per-sample steps) has an epoch loop, and one call of it makes
    /// whole epochs whose totals are the teaching loop's, bit for bit (the path the CLI
    /// takes is the fast one, not a silent fallback to single steps).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_article_runs_whole_epochs_in_the_epoch_loop() {
        let net =
            || Network::init(&[2, 3, 1], &[Relu, Identity], Loss::Mse, 0, 1.0).expect("article");
        let x = array![[1.0, 2.0], [2.0, 1.0], [3.0, 1.0], [1.0, 3.0]];
        let y = array![[4.0], [3.0], [5.0], [5.0]];
        let mut fast_net = net();
        let mut fast = FastStepper::new(&fast_net, 1, Kernels::Auto, 1);
        assert!(fast.has_epoch_loop(&fast_net, x.view(), y.view(), 1));
        assert!(!fast.has_epoch_loop(&fast_net, x.view(), y.view(), 2));
        let mut totals = [0.0; 3];
        let run = fast
            .epoch_loop(&mut fast_net, x.view(), y.view(), 0.01, &mut totals)
            .expect("the article's epoch loop");
        assert_eq!(run.epochs, 3);
        assert!(run.stopped.is_none());
        let config = TrainConfig {
            lr: 0.01,
            epochs: 3,
            batch_size: 1,
        };
        let mut reference_net = net();
        let reference = sgd::train(
            &mut reference_net,
            x.view(),
            y.view(),
            &config,
            &mut Reference::default(),
            &mut (),
        )
        .expect("trains");
        assert_eq!(totals.to_vec(), reference);
        assert_eq!(fast_net.layers[0].w, reference_net.layers[0].w);
    }
}
