//! A run: a [`Spec`], a stepper and an observer, joined by a training loop: the
//! teaching loop ([`crate::nn::sgd::train`]), or for the fast engine with an observer
//! that wants no single steps, the engine's own ([`crate::engine::epochs::train`], the
//! same results bit for bit).
//!
//! ```
//! use backprop_oracle::io::spec::Spec;
//! use backprop_oracle::run::{train, Engine};
//!
//! let run = train(&Spec::article(), Engine::Reference, &mut ()).unwrap();
//! assert_eq!(format!("{:.4}", run.loss[0]), "10.8979"); // the article's first line
//! let fast = train(&Spec::article(), Engine::fast(), &mut ()).unwrap();
//! assert_eq!(fast.loss, run.loss); // bit for bit
//! ```

use ndarray::{s, ArrayView2};

use crate::engine::{epochs, record, FastStepper, Kernels};
use crate::error::Result;
use crate::io::spec::Spec;
use crate::nn::dense::Dense;
use crate::nn::network::Network;
use crate::nn::sgd::{self, Observer, Reference, Stepper, TrainConfig};

/// Which stepper trains a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The reference stepper: the math of `nn/` as written ([`Reference`]).
    Reference,
    /// The allocation-free fast engine ([`FastStepper`]) with these kernels; `threads`
    /// is its thread count (results are the same bits for any).
    Fast {
        /// Which kernels the engine uses.
        kernels: Kernels,
        /// Threads for the GEMM and the large elementwise passes (`≥ 1`).
        threads: usize,
    },
}

impl Engine {
    /// The fast engine with its automatic kernels on rayon's thread count.
    pub fn fast() -> Engine {
        Engine::Fast {
            kernels: Kernels::Auto,
            threads: rayon::current_num_threads(),
        }
    }

    /// The fast engine with the exact kernels on rayon's thread count: the reference's
    /// bits ([`Kernels::Exact`]), with steps that observers ask to record made by
    /// the reference stepper.
    pub fn exact() -> Engine {
        Engine::Fast {
            kernels: Kernels::Exact,
            threads: rayon::current_num_threads(),
        }
    }
}

/// The result of [`train`]: initial and final parameters and every epoch's loss.
#[derive(Debug, Clone)]
pub struct Run {
    /// The parameters before training.
    pub initial: Network<f64>,
    /// The parameters after training.
    pub final_: Network<f64>,
    /// Every epoch's total loss `Σ_r L_r`.
    pub loss: Vec<f64>,
}

/// A network's mean loss and, for a classification loss, its accuracy on a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// The mean per-sample loss `(1/N)·Σ_r L_r` (summed in row order).
    pub loss: f64,
    /// The fraction of right predictions ([`crate::Loss::correct`]: samples for softmax
    /// cross-entropy, outputs for binary cross-entropy); `None` for MSE.
    pub accuracy: Option<f64>,
}

/// Rows evaluated per forward pass (bounds the activations held at once).
const EVAL_ROWS: usize = 1024;

/// Evaluates `net` on `X (N, n_0)`, `Y (N, n_L)` without training: the forward pass of
/// `nn/` (its bits, on the exact kernels; [`record::forward_pass`]) over chunks of rows.
pub fn evaluate(net: &Network<f64>, x: ArrayView2<f64>, y: ArrayView2<f64>) -> Evaluation {
    let threads = rayon::current_num_threads();
    let (mut total, mut right, mut counted) = (0.0, 0usize, 0usize);
    for first in (0..x.nrows()).step_by(EVAL_ROWS) {
        let last = (first + EVAL_ROWS).min(x.nrows());
        let fwd = record::forward_pass(net, x.slice(s![first..last, ..]), threads);
        let y_hat = fwd.output();
        for (p, t) in y_hat
            .rows()
            .into_iter()
            .zip(y.slice(s![first..last, ..]).rows())
        {
            total += net.loss.value(p, t);
            if let Some((r, n)) = net.loss.correct(p, t) {
                right += r;
                counted += n;
            }
        }
    }
    Evaluation {
        loss: total / x.nrows().max(1) as f64,
        accuracy: net
            .loss
            .is_classification()
            .then(|| right as f64 / counted.max(1) as f64),
    }
}

/// The spec's initialised network: its `initial` parameters when it gives them, else
/// `np.random.seed(seed)`, then per layer `W = init_scale·randn(out, in)`, `b = 0`.
pub fn network(spec: &Spec) -> Result<Network<f64>> {
    if let Some(initial) = &spec.initial {
        let fits = initial.layers.len() == spec.activations.len()
            && initial
                .layers
                .iter()
                .zip(spec.sizes.windows(2))
                .all(|((w, b), io)| w.dim() == (io[1], io[0]) && b.len() == io[1]);
        if !fits {
            return Err(crate::error::Error::invalid(
                "spec.initial",
                format!("does not fit the network's sizes {:?}", spec.sizes),
            ));
        }
        return Ok(Network {
            layers: initial
                .layers
                .iter()
                .zip(&spec.activations)
                .map(|((w, b), &activation)| Dense {
                    w: w.clone(),
                    b: b.clone(),
                    activation,
                })
                .collect(),
            loss: spec.loss,
        });
    }
    Network::init(
        &spec.sizes,
        &spec.activations,
        spec.loss,
        spec.seed,
        spec.init_scale,
    )
}

/// Initialises the spec's network and trains it on the spec's data for its epochs.
pub fn train<O: Observer + Send + ?Sized>(
    spec: &Spec,
    engine: Engine,
    observer: &mut O,
) -> Result<Run> {
    let initial = network(spec)?;
    let mut net = initial.clone();
    let loss = train_network(&mut net, spec, spec.train_config(), engine, observer)?;
    Ok(Run {
        initial,
        final_: net,
        loss,
    })
}

/// Initialises the spec's network and trains it with any stepper (e.g. a variant of the
/// reference from `variant`), single-threaded.
pub fn train_with<S: Stepper + ?Sized, O: Observer + ?Sized>(
    spec: &Spec,
    stepper: &mut S,
    observer: &mut O,
) -> Result<Run> {
    let initial = network(spec)?;
    let mut net = initial.clone();
    let (x, y) = (spec.x.view(), spec.y.view());
    let loss = sgd::train(&mut net, x, y, &spec.train_config(), stepper, observer)?;
    Ok(Run {
        initial,
        final_: net,
        loss,
    })
}

/// Trains `net` (of the spec's shape) on the spec's data with `config` (the spec's, or
/// fewer epochs) and returns every epoch's loss.
pub fn train_network<O: Observer + Send + ?Sized>(
    net: &mut Network<f64>,
    spec: &Spec,
    config: TrainConfig,
    engine: Engine,
    observer: &mut O,
) -> Result<Vec<f64>> {
    let (x, y) = (spec.x.view(), spec.y.view());
    match engine {
        Engine::Reference => sgd::train(net, x, y, &config, &mut Reference::default(), observer),
        Engine::Fast { kernels, threads } => {
            let batch = config.batch_size.min(x.nrows());
            let mut fast = FastStepper::new(net, batch, kernels, threads);
            let mut go = || {
                if observer.wants_steps() {
                    sgd::train(net, x, y, &config, &mut fast, observer)
                } else {
                    // Tiny per-sample nets: many epochs per call of the engine's loop.
                    epochs::train(net, x, y, &config, &mut fast, observer)
                }
            };
            if threads > 1 {
                // On a rayon worker, so that the GEMM's `rayon::join` allocates nothing.
                rayon::scope(|_| go())
            } else {
                go()
            }
        }
    }
}
