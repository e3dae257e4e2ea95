//! Checking the gradient of any scalar function of a parameter vector.
//!
//! Implement [`Objective`] once, generic over the scalar, and call [`check_gradient`]
//! with your hand-written gradient:
//!
//! ```
//! use backprop_oracle::check::{check_gradient, CheckConfig, Objective};
//! use backprop_oracle::scalar::Scalar;
//!
//! /// Rosenbrock: f(a, b) = (1 − a)² + 100 (b − a²)².
//! struct Rosenbrock;
//! impl Objective for Rosenbrock {
//!     fn eval<T: Scalar>(&self, p: &[T]) -> T {
//!         let (a, b) = (p[0], p[1]);
//!         (T::one() - a).powi(2) + (b - a * a).powi(2) * 100.0
//!     }
//! }
//!
//! let (a, b) = (0.5, 2.0);
//! let grad = [-2.0 * (1.0 - a) - 400.0 * a * (b - a * a), 200.0 * (b - a * a)];
//! let report = check_gradient(&Rosenbrock, &[a, b], &grad, &CheckConfig::default()).unwrap();
//! assert!(report.passed(), "{}", report.to_text());
//! ```

use num_dual::Dual64;

use crate::check::config::CheckConfig;
use crate::check::finite_diff::{self, Kink, Probe};
use crate::check::report::TensorReport;
use crate::check::triage::ElementCheck;
use crate::error::{Error, Result};
use crate::scalar::Scalar;

/// A scalar function of a parameter vector, written once for every [`Scalar`].
pub trait Objective: Sync {
    /// `f(θ)`.
    fn eval<T: Scalar>(&self, theta: &[T]) -> T;

    /// The function's own kinks (points where it is not differentiable, like `|x|` at 0
    /// or `max(a, b)` where `a = b`): the distance from `theta` to the nearest one on the
    /// segment from `theta` to `probe` (which differ in one coordinate, or along one
    /// direction), or `None` when the segment crosses none. The checker then steps off
    /// it as it does off a network's relu units, and a finite difference that cannot
    /// avoid it is judged a kink, not a failure. The default knows of no kinks.
    fn kink(&self, _theta: &[f64], _probe: &[f64]) -> Option<f64> {
        None
    }
}

/// Checks `claimed` against the dual-number gradient and central differences of `f`
/// at `theta`, every coordinate. Errors if the lengths differ or `theta`/`claimed`
/// hold non-finite numbers.
pub fn check_gradient<F: Objective>(
    f: &F,
    theta: &[f64],
    claimed: &[f64],
    cfg: &CheckConfig,
) -> Result<TensorReport> {
    cfg.validate()?;
    if theta.len() != claimed.len() {
        return Err(Error::invalid(
            "claimed",
            format!(
                "has {} entries for {} parameters",
                claimed.len(),
                theta.len()
            ),
        ));
    }
    for (name, v) in [("theta", theta), ("claimed", claimed)] {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(
                format!("{name}[{i}]"),
                format!("must be finite, got {}", v[i]),
            ));
        }
    }
    let mut report = TensorReport::new("theta", vec![theta.len()], "gradient");
    let mut lifted: Vec<Dual64> = theta.iter().map(|&t| Dual64::from(t)).collect();
    let mut probe_theta = theta.to_vec();
    for i in 0..theta.len() {
        lifted[i].eps = 1.0;
        let dual = f.eval(&lifted).eps;
        lifted[i].eps = 0.0;
        let mut probe = |delta: f64| -> Probe {
            probe_theta[i] = theta[i] + delta;
            let value = f.eval(&probe_theta);
            let kink = f.kink(theta, &probe_theta).map(|d| Kink::reported(i, d));
            probe_theta[i] = theta[i];
            Probe { value, kink }
        };
        let fd = finite_diff::estimate(
            theta[i],
            &mut probe,
            cfg.step,
            cfg.richardson,
            dual,
            &cfg.fd,
        );
        report.add(
            ElementCheck::judge(vec![i], claimed[i], dual, &fd, cfg),
            None,
        );
    }
    report.total = theta.len();
    Ok(report)
}
