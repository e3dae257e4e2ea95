//! The bug catalogue moved to [`crate::variant`] (a sibling of the checker and the
//! oracle, which both use it). These names stay here so that existing code keeps
//! compiling; new code should import them from [`crate::variant`].

pub use crate::variant::{backward, train_step, Bug, Conventions, Variant};

/// The stepper that trains as a [`Variant`], under its former name.
#[deprecated(note = "renamed to `backprop_oracle::variant::VariantStepper`")]
pub type Buggy = crate::variant::VariantStepper;
