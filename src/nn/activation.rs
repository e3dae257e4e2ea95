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
    #[inline]
    pub fn is_piecewise(self) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu)
    }

    /// `a = act(z)`, generic over the scalar.
    ///
    /// At the kink `z = 0` the piecewise functions take their left branch, so the
    /// dual-number derivative there is `0` (relu) or `0.01` (leaky_relu), the same
    /// convention as [`Activation::derivative`] (and NumPy's `(z > 0)` mask).
    /// `relu` propagates NaN like `np.maximum(0, z)`.
    #[inline]
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
            // tanh z = −expm1(−2z) / (2 + expm1(−2z)) for z ≥ 0, odd-symmetric for z < 0:
            // accurate to a few ulps, and unlike sinh/cosh its dual-number derivative
            // stays finite for any finite z (num-dual's own tanh is sinh/cosh, which
            // turns into inf/inf beyond |z| ≈ 710).
            Activation::Tanh => {
                let t = (if re >= 0.0 { z * -2.0 } else { z * 2.0 }).exp_m1();
                let pos = -t / (t + 2.0);
                if re >= 0.0 || re.is_nan() {
                    pos
                } else {
                    -pos
                }
            }
        }
    }

    /// `act'(z)` in `f64`, from the pre-activation `z`.
    ///
    /// The smooth functions use `e = exp(−|z|)` forms that keep full *relative*
    /// accuracy when saturated: `σ(1−σ)` or `1 − tanh²` computed from the rounded
    /// activation would cancel to a handful of correct digits (or to 0) for large |z|.
    #[inline]
    pub fn derivative(self, z: f64) -> f64 {
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
            // d/dz σ(z) = σ(z)·(1 − σ(z)) = e/(1 + e)² with e = exp(−|z|)
            Activation::Sigmoid => {
                let e = (-z.abs()).exp();
                e / ((1.0 + e) * (1.0 + e))
            }
            // d/dz tanh z = 1 − tanh² z = sech² z = 4e/(1 + e)² with e = exp(−2|z|)
            Activation::Tanh => {
                let e = (-2.0 * z.abs()).exp();
                4.0 * e / ((1.0 + e) * (1.0 + e))
            }
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::Dual64;

    /// Each hand-written derivative against the exact dual-number derivative of the
    /// generic value, and against a central difference (step ε^(1/3)), away from kinks.
    #[test]
    fn derivatives_match_dual_numbers_and_central_differences() {
        let h = f64::EPSILON.cbrt();
        for act in Activation::ALL {
            for &z in &[-3.0, -0.7, -1e-3, 1e-3, 0.4, 2.5, 8.0] {
                let hand = act.derivative(z);
                let dual = act.apply(Dual64::new(z, 1.0)).eps;
                approx::assert_relative_eq!(hand, dual, max_relative = 1e-14, epsilon = 1e-300);
                let fd = (act.apply(z + h) - act.apply(z - h)) / (2.0 * h);
                approx::assert_relative_eq!(hand, fd, max_relative = 1e-8, epsilon = 1e-10);
            }
        }
    }

    /// At the kink both conventions agree: relu'(0) = 0, leaky_relu'(0) = 0.01.
    #[test]
    fn kink_convention_is_the_left_branch_for_both_oracles() {
        assert_eq!(Activation::Relu.derivative(0.0), 0.0);
        assert_eq!(Activation::Relu.apply(Dual64::new(0.0, 1.0)).eps, 0.0);
        assert_eq!(Activation::LeakyRelu.derivative(0.0), LEAKY_SLOPE);
        assert_eq!(
            Activation::LeakyRelu.apply(Dual64::new(0.0, 1.0)).eps,
            LEAKY_SLOPE
        );
    }

    /// Sigmoid and tanh stay finite (and saturate correctly) for |z| up to 1e4.
    #[test]
    fn smooth_activations_are_finite_for_huge_inputs() {
        for &z in &[-1e4f64, -745.0, -40.0, 40.0, 745.0, 1e4] {
            for act in [Activation::Sigmoid, Activation::Tanh] {
                let a = act.apply(z);
                assert!(a.is_finite(), "{act}({z}) = {a}");
                let d = act.apply(Dual64::new(z, 1.0)).eps;
                assert!(d.is_finite(), "{act}'({z}) = {d}");
                approx::assert_relative_eq!(act.derivative(z), d, max_relative = 1e-13);
            }
        }
        assert_eq!(Activation::Sigmoid.apply(1e4), 1.0);
        assert_eq!(Activation::Sigmoid.apply(-1e4), 0.0);
        assert_eq!(Activation::Tanh.apply(1e4), 1.0);
        assert_eq!(Activation::Tanh.apply(-1e4), -1.0);
        approx::assert_relative_eq!(
            Activation::Tanh.apply(0.3),
            0.3f64.tanh(),
            max_relative = 1e-15
        );
        approx::assert_relative_eq!(Activation::Tanh.apply(-1e-8), -1e-8, max_relative = 1e-15);
        approx::assert_relative_eq!(
            Activation::Tanh.derivative(30.0),
            4.0 * (-60.0f64).exp(),
            max_relative = 1e-13
        );
        approx::assert_relative_eq!(
            Activation::Sigmoid.apply(-40.0),
            (-40.0f64).exp() / (1.0 + (-40.0f64).exp()),
            max_relative = 1e-15
        );
    }

    #[test]
    fn unknown_names_are_refused_with_the_field() {
        let e = Activation::parse("softplus", "spec.activations[1]").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.activations[1]: unknown activation \"softplus\""),
            "{e}"
        );
        assert_eq!(
            Activation::parse("leaky_relu", "f").unwrap(),
            Activation::LeakyRelu
        );
    }
}
