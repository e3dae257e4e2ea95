//! Element-wise activations `a = act(z)` and their derivatives `act'(z)`.
//!
//! The value is generic over the [`Scalar`] (so dual numbers flow through it and
//! differentiate it exactly); the derivative is hand-written in `f64` for the
//! backward pass. Each derivative sits directly under its function.

use crate::error::{Error, Result};
use crate::scalar::Scalar;

/// The slope of `leaky_relu` for `z ≤ 0`.
pub const LEAKY_SLOPE: f64 = 0.01;

/// An element-wise activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `a = z`.
    Identity,
    /// `a = max(0, z)`.
    Relu,
    /// `a = z` for `z > 0`, else `0.01·z`.
    LeakyRelu,
    /// `a = 1 / (1 + e^(−z))`.
    Sigmoid,
    /// `a = tanh z`.
    Tanh,
}

impl Activation {
    /// Every activation, in the order of [`Activation::name`]'s documentation.
    pub const ALL: [Activation; 5] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Sigmoid,
        Activation::Tanh,
    ];

    /// The spec name: `identity`, `relu`, `leaky_relu`, `sigmoid`, `tanh`.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
        }
    }

    /// Parses a spec name; `field` names where it came from, for the error.
    pub fn parse(name: &str, field: &str) -> Result<Self> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                let known: Vec<_> = Activation::ALL.iter().map(|a| a.name()).collect();
                Error::invalid(
                    field,
                    format!(
                        "unknown activation {name:?}, expected one of {}",
                        known.join(", ")
                    ),
                )
            })
    }

    /// Whether the function has a kink (a point where it is not differentiable).
    /// `relu` and `leaky_relu` have one at `z = 0`.
    pub fn is_piecewise(self) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu)
    }

    /// `a = act(z)`, generic over the scalar.
    ///
    /// At the kink `z = 0` the piecewise functions take their left branch, so the
    /// dual-number derivative there is `0` (relu) or `0.01` (leaky_relu), the same
    /// convention as [`Activation::derivative`] (and NumPy's `(z > 0)` mask).
    /// `relu` propagates NaN like `np.maximum(0, z)`.
    pub fn apply<T: Scalar>(self, z: T) -> T {
        let re = z.value();
        match self {
            Activation::Identity => z,
            Activation::Relu => {
                if re > 0.0 || re.is_nan() {
                    z
                } else {
                    T::zero()
                }
            }
            Activation::LeakyRelu => {
                if re > 0.0 {
                    z
                } else {
                    z * LEAKY_SLOPE
                }
            }
            // Two forms so that `exp` never overflows into the value: for z ≥ 0,
            // 1/(1+e^(−z)); for z < 0, e^z/(1+e^z). Both are finite for any finite z.
            Activation::Sigmoid => {
                if re >= 0.0 {
                    (T::one() + (-z).exp()).recip()
                } else {
                    let e = z.exp();
                    e / (T::one() + e)
                }
            }
            Activation::Tanh => z.tanh(),
        }
    }

    /// `act'(z)` in `f64`, given the pre-activation `z` and the activation `a = act(z)`
    /// (the smooth functions' derivatives are cheapest in terms of `a`).
    pub fn derivative(self, z: f64, a: f64) -> f64 {
        match self {
            // d/dz z = 1
            Activation::Identity => 1.0,
            // d/dz max(0, z) = 1 if z > 0 else 0 (0 at the kink)
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            // d/dz leaky_relu(z) = 1 if z > 0 else 0.01
            Activation::LeakyRelu => {
                if z > 0.0 {
                    1.0
                } else {
                    LEAKY_SLOPE
                }
            }
            // d/dz σ(z) = σ(z)·(1 − σ(z))
            Activation::Sigmoid => a * (1.0 - a),
            // d/dz tanh z = 1 − tanh² z
            Activation::Tanh => 1.0 - a * a,
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
