//! Variants of the reference's arithmetic: the catalogue of classic backprop mistakes
//! ([`Bug`], one row of facts and change per mistake in [`catalogue`]), the derivative
//! conventions at `z = 0` ([`Conventions`]), and the reference's training step under
//! either ([`Variant`], [`step`]).
//!
//! The checker injects a variant to show that it catches each mistake and names the
//! tensors it corrupts (`gradient-check --inject-bug NAME`); the oracle replays variants
//! to name the mistake a port made, or the convention it follows. The reference run is
//! the variant with no change ([`Variant::default`]). This module uses [`crate::nn`]
//! and nothing of the checker or the oracle.

pub mod catalogue;
mod conventions;
pub mod step;

pub use catalogue::Bug;
pub use conventions::Conventions;
pub use step::{backward, train_step, Variant, VariantStepper};
