//! The value of `act'(0)` where relu and leaky_relu have no derivative: a convention,
//! not a mistake. Both sides are valid subgradients; frameworks differ.

use crate::error::{Error, Result};
use crate::nn::activation::{Activation, LEAKY_SLOPE};

/// The value of `act'(0)` where relu and leaky_relu have no derivative: a convention.
/// `nn/` (like NumPy's `(z > 0)` mask) takes the left branch, 0 and 0.01; PyTorch's
/// `relu` also gives 0; `jnp.maximum(z, 0)` gives 0.5 (the mean of both sides) and
/// `jax.nn.leaky_relu` gives 1 (the right branch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conventions {
    /// `relu'(0)`: 0 (left branch, the default), 0.5 or 1.
    pub relu_grad_at_zero: f64,
    /// `leaky_relu'(0)`: 0.01 (left branch, the default), 0.505 or 1.
    pub leaky_grad_at_zero: f64,
}

impl Default for Conventions {
    fn default() -> Self {
        Conventions {
            relu_grad_at_zero: 0.0,
            leaky_grad_at_zero: LEAKY_SLOPE,
        }
    }
}

impl Conventions {
    /// The values each convention may take: the left branch, the mean of both sides,
    /// the right branch.
    pub const RELU: [f64; 3] = [0.0, 0.5, 1.0];
    /// See [`Conventions::RELU`].
    pub const LEAKY: [f64; 3] = [LEAKY_SLOPE, (LEAKY_SLOPE + 1.0) / 2.0, 1.0];

    /// Checks each value is one of [`Conventions::RELU`] / [`Conventions::LEAKY`];
    /// errors name `Conventions.relu_grad_at_zero` or `Conventions.leaky_grad_at_zero`.
    pub fn validate(&self) -> Result<()> {
        for (field, v, allowed) in [
            (
                "Conventions.relu_grad_at_zero",
                self.relu_grad_at_zero,
                Self::RELU,
            ),
            (
                "Conventions.leaky_grad_at_zero",
                self.leaky_grad_at_zero,
                Self::LEAKY,
            ),
        ] {
            if !allowed.contains(&v) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "must be one of {allowed:?} (left branch, mean, right branch), got {}",
                        crate::error::short(v)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether these are `nn/`'s own conventions.
    pub fn is_default(&self) -> bool {
        *self == Conventions::default()
    }

    /// `act'(z)` under these conventions (they only change `z = 0` exactly).
    pub fn derivative(&self, act: Activation, z: f64) -> f64 {
        match act {
            Activation::Relu if z == 0.0 => self.relu_grad_at_zero,
            Activation::LeakyRelu if z == 0.0 => self.leaky_grad_at_zero,
            _ => act.derivative(z),
        }
    }
}
