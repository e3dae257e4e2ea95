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
//! * Loss: MSE per sample, `L = mean_k (ŷ_k − y_k)²`, `∂L/∂ŷ = 2(ŷ − y)/m`.
//!
//! ## Module map
//! * [`nn`]: activations, loss, dense layer, network, training.
//! * [`scalar`]: the scalar trait the forward pass is generic over (f64, dual numbers).
//! * [`rng`]: NumPy-compatible `RandomState` (MT19937 + legacy Gaussian).
//! * [`spec`]: the JSON model spec, parsed and validated once.
//! * [`cli`]: the subcommands behind the `backprop-oracle` binary.
//! * [`error`]: the error type.
//!
//! ## Example: the article's run
//! ```
//! use backprop_oracle::spec::Spec;
//! let spec = Spec::article();
//! let run = spec.train(&mut ()).unwrap();
//! assert_eq!(format!("{:.4}", run.loss[0]), "10.8979");
//! assert_eq!(format!("{:.4}", run.loss[900]), "0.0573");
//! ```

#![warn(missing_docs)]

pub mod check;
pub mod cli;
pub mod error;
pub mod nn;
pub mod npy;
pub mod oracle;
pub mod plot;
pub mod rng;
pub mod scalar;
pub mod spec;

pub use error::{Error, Result};
pub use nn::activation::Activation;
pub use nn::loss::Loss;
pub use nn::network::Network;
pub use nn::train::{train, TrainConfig};
