//! Checking second derivatives of a scalar function: a claimed Hessian `H (n, n)` and a
//! claimed Hessian-vector product `v ↦ H v (n)`.
//!
//! The same [`Objective`] as the gradient check, written once for every scalar, runs
//! on num-dual's second-order hyper-dual numbers for the exact oracle —
//! `f(θ + ε₁ a + ε₂ b)` has `ε₁ε₂` part `aᵀ H b` exactly — and on first-order duals
//! for the second oracle: central finite differences of the exact gradient,
//! `∂g_i/∂θ_j ≈ (g_i(θ + h e_j) − g_i(θ − h e_j)) / 2h` (one order of differencing
//! instead of two, so it keeps about 2/3 of the digits a first derivative's does).
//! Each entry gets the scalar checker's triage ([`crate::check`]).
//!
//! ```
//! use backprop_oracle::check::{hessian::check_hessian, CheckConfig, Objective};
//! use backprop_oracle::scalar::Scalar;
//! use ndarray::array;
//!
//! /// f(a, b) = a²·b.
//! struct F;
//! impl Objective for F {
//!     fn eval<T: Scalar>(&self, p: &[T]) -> T {
//!         p[0] * p[0] * p[1]
//!     }
//! }
//! let (a, b) = (1.5, -2.0);
//! let h = array![[2.0 * b, 2.0 * a], [2.0 * a, 0.0]];
//! let report = check_hessian(&F, &[a, b], h.view(), &CheckConfig::default()).unwrap();
//! assert!(report.passed(), "{}", report.to_text());
//! ```

use ndarray::{Array1, ArrayView1, ArrayView2};
use num_dual::{Dual64, HyperDual64};

use crate::check::config::CheckConfig;
use crate::check::finite_diff::{self, Kink, Probe};
use crate::check::general::Objective;
use crate::check::jacobian::{claimed_product, finite, Directions};
use crate::check::report::TensorReport;
use crate::check::triage::ElementCheck;
use crate::error::{Error, Result};

/// `aᵀ H b` on hyper-dual numbers: `f(θ + ε₁ a + ε₂ b)`'s `ε₁ε₂` part.
fn second<F: Objective>(f: &F, theta: &[f64], a: &[f64], b: &[f64]) -> f64 {
    let lifted: Vec<HyperDual64> = (0..theta.len())
        .map(|k| HyperDual64::new(theta[k], a[k], b[k], 0.0))
        .collect();
    f.eval(&lifted).eps1eps2
}

/// `∂f/∂θ_i` at `theta` on dual numbers.
fn gradient_entry<F: Objective>(f: &F, theta: &[f64], i: usize) -> f64 {
    let lifted: Vec<Dual64> = (0..theta.len())
        .map(|k| Dual64::new(theta[k], f64::from(u8::from(k == i))))
        .collect();
    f.eval(&lifted).eps
}

/// The unit vector `e_k` of length `n`.
fn unit(n: usize, k: usize) -> Vec<f64> {
    (0..n).map(|i| f64::from(u8::from(i == k))).collect()
}

/// Checks the claimed Hessian `H (n, n)` of `f` at `theta (n)`, every entry (the
/// report's index is `[i, j]`, `H[i][j] = ∂²f/∂θ_i∂θ_j`), against hyper-dual numbers and
/// finite differences of the dual gradient. Errors if the shape is not `(n, n)` or a
/// value is not finite.
pub fn check_hessian<F: Objective>(
    f: &F,
    theta: &[f64],
    claimed: ArrayView2<f64>,
    cfg: &CheckConfig,
) -> Result<TensorReport> {
    cfg.validate()?;
    let n = theta.len();
    finite("theta", theta.iter().copied())?;
    if claimed.dim() != (n, n) {
        return Err(Error::invalid(
            "claimed",
            format!(
                "has shape {:?}, expected [{n}, {n}] for {n} parameters",
                claimed.shape()
            ),
        ));
    }
    finite("claimed", claimed.iter().copied())?;
    let mut report = TensorReport::new("H", vec![n, n], "hessian");
    let mut probe_theta = theta.to_vec();
    for i in 0..n {
        for j in 0..n {
            let dual = second(f, theta, &unit(n, i), &unit(n, j));
            let mut probe = |delta: f64| -> Probe {
                probe_theta[j] = theta[j] + delta;
                let value = gradient_entry(f, &probe_theta, i);
                let kink = f.kink(theta, &probe_theta).map(|d| Kink::reported(j, d));
                probe_theta[j] = theta[j];
                Probe { value, kink }
            };
            let fd = finite_diff::estimate(
                theta[j],
                &mut probe,
                cfg.step,
                cfg.richardson,
                dual,
                &cfg.fd,
            );
            report.add(
                ElementCheck::judge(vec![i, j], claimed[[i, j]], dual, &fd, cfg),
                None,
            );
        }
    }
    report.total = n * n;
    Ok(report)
}

/// Checks a claimed Hessian-vector product `hvp(v) = H v (n)` of `f` at `theta` for
/// each `v` of `directions`: entry `i` against `e_iᵀ H v` on hyper-dual numbers and the
/// finite difference of the dual gradient's entry `i` along `v` (index
/// `[direction, i]`).
pub fn check_hvp<F: Objective>(
    f: &F,
    theta: &[f64],
    hvp: impl Fn(ArrayView1<f64>) -> Array1<f64>,
    directions: Directions,
    cfg: &CheckConfig,
) -> Result<TensorReport> {
    cfg.validate()?;
    let n = theta.len();
    finite("theta", theta.iter().copied())?;
    let vs = directions.vectors(n);
    let scale = theta.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut report = TensorReport::new("H·v", vec![vs.len(), n], "hvp");
    for (k, v) in vs.iter().enumerate() {
        let claimed = claimed_product(("hvp", "v"), hvp(v.view()), (n, "parameters"))?;
        let v = v.to_vec();
        for i in 0..n {
            let dual = second(f, theta, &unit(n, i), &v);
            let mut probe = |delta: f64| -> Probe {
                let at: Vec<f64> = theta.iter().zip(&v).map(|(t, d)| t + delta * d).collect();
                let value = gradient_entry(f, &at, i);
                Probe {
                    value,
                    kink: f.kink(theta, &at).map(|d| Kink::reported(k, d)),
                }
            };
            let fd =
                finite_diff::estimate(scale, &mut probe, cfg.step, cfg.richardson, dual, &cfg.fd);
            report.add(
                ElementCheck::judge(vec![k, i], claimed[i], dual, &fd, cfg),
                None,
            );
        }
    }
    report.total = vs.len() * n;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// Rosenbrock, `f(a, b) = (1 − a)² + 100 (b − a²)²`:
    /// `H = [[2 − 400(b − a²) + 800a², −400a], [−400a, 200]]`.
    struct Rosenbrock;
    impl Objective for Rosenbrock {
        fn eval<T: crate::scalar::Scalar>(&self, p: &[T]) -> T {
            (T::one() - p[0]).powi(2) + (p[1] - p[0] * p[0]).powi(2) * 100.0
        }
    }

    fn hessian(a: f64, b: f64) -> Array2<f64> {
        array![
            [2.0 - 400.0 * (b - a * a) + 800.0 * a * a, -400.0 * a],
            [-400.0 * a, 200.0]
        ]
    }

    #[test]
    fn a_right_hessian_passes_and_a_wrong_entry_is_named() {
        let (a, b) = (0.5, 2.0);
        let cfg = CheckConfig::default();
        let h = hessian(a, b);
        assert!(check_hessian(&Rosenbrock, &[a, b], h.view(), &cfg)
            .unwrap()
            .passed());
        // The classic slip: the cross term's factor 400 taken as 200.
        let mut wrong = h.clone();
        wrong[[0, 1]] = -200.0 * a;
        let report = check_hessian(&Rosenbrock, &[a, b], wrong.view(), &cfg).unwrap();
        assert_eq!(report.failures, 1, "{}", report.to_text());
        assert_eq!(report.worst.as_ref().unwrap().0.index, vec![0, 1]);
    }

    #[test]
    fn hessian_vector_products_in_random_and_unit_directions() {
        let (a, b) = (-0.3, 0.7);
        let cfg = CheckConfig::default();
        let h = hessian(a, b);
        let hvp = |v: ArrayView1<f64>| h.dot(&v);
        for d in [Directions::default(), Directions::Exhaustive] {
            assert!(check_hvp(&Rosenbrock, &[a, b], hvp, d, &cfg)
                .unwrap()
                .passed());
        }
        let wrong = |v: ArrayView1<f64>| h.dot(&v) * 0.5;
        assert!(
            !check_hvp(&Rosenbrock, &[a, b], wrong, Directions::default(), &cfg)
                .unwrap()
                .passed()
        );
        let e =
            check_hessian(&Rosenbrock, &[a, b], Array2::zeros((2, 3)).view(), &cfg).unwrap_err();
        assert!(
            e.to_string().starts_with("claimed: has shape [2, 3]"),
            "{e}"
        );
    }

    /// `f(x) = x₀²x₁ + x₁x₂³`, three variables (so `n·n`, `n + n` and `n` differ):
    /// `H = [[2x₁, 2x₀, 0], [2x₀, 0, 3x₂²], [0, 3x₂², 6x₁x₂]]`. Every entry of every
    /// product is counted, and a smooth function reports no kink.
    #[test]
    fn every_entry_is_counted_and_a_smooth_function_has_no_kinks() {
        struct Cubic;
        impl Objective for Cubic {
            fn eval<T: crate::scalar::Scalar>(&self, p: &[T]) -> T {
                p[0] * p[0] * p[1] + p[1] * p[2].powi(3)
            }
        }
        let x = [0.4, -1.1, 0.9];
        let h = array![
            [2.0 * x[1], 2.0 * x[0], 0.0],
            [2.0 * x[0], 0.0, 3.0 * x[2] * x[2]],
            [0.0, 3.0 * x[2] * x[2], 6.0 * x[1] * x[2]]
        ];
        let cfg = CheckConfig::default();
        let full = check_hessian(&Cubic, &x, h.view(), &cfg).unwrap();
        assert!(full.passed(), "{}", full.to_text());
        assert_eq!((full.total, full.kinks), (9, 0));
        let hvp = |v: ArrayView1<f64>| h.dot(&v);
        // Four random directions by default; the three unit vectors when exhaustive.
        for (d, k) in [(Directions::default(), 4), (Directions::Exhaustive, 3)] {
            let r = check_hvp(&Cubic, &x, hvp, d, &cfg).unwrap();
            assert!(r.passed(), "{}", r.to_text());
            assert_eq!((r.total, r.kinks), (k * 3, 0));
        }
    }
}
