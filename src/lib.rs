//! # backprop-oracle
//!
//! A vectorized dense neural network whose hand-derived backward pass is checked
//! against two independent oracles (forward-mode dual numbers and finite
//! differences), and whose seeded training run reproduces the NumPy article
//! "Vectorized Backpropagation With NumPy" exactly.
//!
//! ## Notation
//! * A layer maps `in` features to `out` units: `W (out, in)`, `b (out)`.
//! * One sample: `x (in)`, `z = W·x + b (out)`, `a = act(z) (out)`.
//! * A batch: `X (B, in)` (one sample per row), `Z = X·Wᵀ + b (B, out)`.
//! * Backward: `dz = da ⊙ act'(z)`, `dW = outer(dz, x)`, `db = dz`, `dx = Wᵀ·dz`;
//!   batched `dW = dZᵀ·X`, `db = Σ_rows dZ`, `dX = dZ·W`.
//! * Loss: MSE per sample, `L = mean_k (ŷ_k − y_k)²`, `∂L/∂ŷ = 2(ŷ − y)/m`; or, on
//!   logits, softmax cross-entropy `logsumexp(ŷ) − y·ŷ` (`∂L/∂ŷ = softmax(ŷ) − y`) or
//!   binary cross-entropy (`∂L/∂ŷ = (σ(ŷ) − y)/m`) ([`Loss`]).
//!
//! ## Module map
//! The three jobs of the project, and the fast engine beside them:
//! * [`nn`] — **teach**: activations, loss, kernels, the dense layer (forward generic
//!   over the scalar beside the hand-derived backward), the network, and the one
//!   training loop ([`nn::sgd`]) that drives a [`Stepper`](nn::sgd::Stepper).
//! * [`engine`] — **fast**: the allocation-free stepper, pinned bit for bit to `nn`.
//! * [`check`] — **check**: the gradient checker (dual numbers, finite differences,
//!   triage) for gradients, Jacobians, vector-Jacobian and Jacobian-vector products and
//!   Hessians (with `assert_*!` macros for `cargo test`) and the network adapter.
//! * [`variant`] — the catalogue of mistakes (one row each) and the derivative
//!   conventions at `z = 0`, with the reference's step under either: what the checker
//!   injects and the oracle replays to name a port's mistake.
//! * [`oracle`] — **oracle**: trajectories for ports, their schema, export and compare.
//!
//! Shared ground: [`run`] (a spec, an engine and an observer joined into a run),
//! [`io`] (the spec, `.npy`/`.npz`, JSON), [`scalar`] (what the forward pass is generic
//! over), [`rng`] (NumPy's `RandomState`), [`tolerance`] and [`error`]. The `cli`
//! module (cargo feature `cli`, on by default) is the binary's front end and the only
//! code that knows flag names; `default-features = false` leaves the library without
//! clap, indicatif and plotters.
//!
//! ## Example: the article's run
//! A spec's whole run is [`run::train`] (on the reference stepper here); the loop it
//! drives is [`nn::sgd::train`].
//! ```
//! use backprop_oracle::io::spec::Spec;
//! use backprop_oracle::run::{train, Engine};
//! let run = train(&Spec::article(), Engine::Reference, &mut ()).unwrap();
//! assert_eq!(format!("{:.4}", run.loss[0]), "10.8979");
//! assert_eq!(format!("{:.4}", run.loss[900]), "0.0573");
//! ```

#![warn(missing_docs)]

pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
pub mod engine;
pub mod error;
pub mod io;
pub mod nn;
pub mod oracle;
pub mod rng;
pub mod run;
pub mod scalar;
pub mod tolerance;
pub mod variant;

pub use error::{Error, Result};
pub use nn::activation::Activation;
pub use nn::loss::Loss;
pub use nn::network::Network;
pub use nn::sgd::TrainConfig;

/// The training loop [`nn::sgd::train`] (a network, data, a config, a stepper and an
/// observer), once re-exported here, while the crate's own example trains with
/// [`run::train`] (a spec's whole run on an [`Engine`](run::Engine)). The root no
/// longer picks one meaning of `train`: name either by its module path.
#[deprecated(
    note = "use `nn::sgd::train` (the training loop) or `run::train` (a spec's whole run)"
)]
pub fn train<S: nn::sgd::Stepper + ?Sized, O: nn::sgd::Observer + ?Sized>(
    net: &mut Network<f64>,
    x: ndarray::ArrayView2<f64>,
    y: ndarray::ArrayView2<f64>,
    config: &TrainConfig,
    stepper: &mut S,
    observer: &mut O,
) -> Result<Vec<f64>> {
    nn::sgd::train(net, x, y, config, stepper, observer)
}
