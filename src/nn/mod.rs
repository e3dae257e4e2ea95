//! The network: activations, loss, dense layers, the stacked network and training.
//!
//! Notation (used in every doc comment): a layer maps `in` features to `out` units
//! with weights `W (out, in)` and bias `b (out)`. One sample is `x (in)`, a batch is
//! `X (B, in)` with one sample per row, so a batch forward is `Z = X·Wᵀ + b (B, out)`.

pub mod activation;
pub mod dense;
pub mod fast;
pub mod kernels;
pub mod loss;
pub mod network;
pub mod train;
