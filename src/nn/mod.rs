//! The network, as the article states it: activations, loss, dense layers, the stacked
//! network and the training loop. This is the teaching code: the math and nothing
//! else. It imports only [`crate::scalar`], [`crate::rng`] and [`crate::error`].
//!
//! Notation (used in every doc comment): a layer maps `in` features to `out` units
//! with weights `W (out, in)` and bias `b (out)`. One sample is `x (in)`, a batch is
//! `X (B, in)` with one sample per row, so a batch forward is `Z = X·Wᵀ + b (B, out)`.
//!
//! * [`activation`]: each activation with its derivative under it;
//! * [`loss`]: the losses (MSE, softmax and binary cross-entropy) and `∂L̄/∂Ŷ`;
//! * [`kernels`]: the three matrix products, in a fixed summation order;
//! * [`dense`]: one layer, forward (generic over the scalar) beside its backward;
//! * [`network`]: the stack of layers, its backward pass and update;
//! * [`sgd`]: the one training loop, and the [`Stepper`](sgd::Stepper) it drives.

pub mod activation;
pub mod dense;
pub mod kernels;
pub mod loss;
pub mod network;
pub mod sgd;
