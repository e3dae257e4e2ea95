//! Checking the derivatives of a vector-valued function `f: Rⁿ → Rᵐ`: a claimed
//! Jacobian `J (m, n)`, a claimed vector-Jacobian product `v ↦ vᵀJ (n)` (what reverse
//! mode computes) and a claimed Jacobian-vector product `u ↦ J u (m)` (forward mode).
//!
//! Implement [`VectorFunction`] once, generic over the scalar, on ndarray arrays; every
//! check runs it on dual numbers (the exact derivative) and on `f64` (central finite
//! differences), and judges each entry with the scalar checker's triage ([`crate::check`]):
//!
//! * [`check_jacobian`]: every entry `J[i][j] = ∂f_i/∂x_j` (the report's index is
//!   `[output i, input j]`). The dual oracle takes `n` forward passes (one per input,
//!   `ε` on `x_j`, each giving a column); finite differences two evaluations per input
//!   and step, shared by the column's entries.
//! * [`check_vjp`]: `vᵀJ` for seeded random unit `v` (or, [`Directions::Exhaustive`],
//!   every `v = e_i`, which checks the rows of `J`): each is the gradient of the scalar
//!   `g(x) = v·f(x)`, checked entry by entry (index `[direction, input j]`).
//! * [`check_jvp`]: `J u` for seeded random unit `u` (or every `u = e_j`, the columns):
//!   one dual pass with `ε` along `u` gives `J u` exactly; finite differences step along
//!   `u` (index `[direction, output i]`).
//!
//! ```
//! use backprop_oracle::check::jacobian::{check_jacobian, VectorFunction};
//! use backprop_oracle::check::CheckConfig;
//! use backprop_oracle::scalar::Scalar;
//! use ndarray::{array, Array1, ArrayView1};
//!
//! /// f(a, b) = (a·b, sin a).
//! struct F;
//! impl VectorFunction for F {
//!     fn eval<T: Scalar>(&self, x: ArrayView1<T>) -> Array1<T> {
//!         Array1::from(vec![x[0] * x[1], x[0].sin()])
//!     }
//! }
//!
//! let (a, b): (f64, f64) = (0.5, 2.0);
//! let jacobian = array![[b, a], [a.cos(), 0.0]];
//! let report = check_jacobian(&F, array![a, b].view(), jacobian.view(), &CheckConfig::default()).unwrap();
//! assert!(report.passed(), "{}", report.to_text());
//! ```

use std::collections::HashMap;

use ndarray::{Array1, ArrayView1, ArrayView2};
use num_dual::Dual64;

use crate::check::config::CheckConfig;
use crate::check::finite_diff::{self, Kink, Probe};
use crate::check::report::TensorReport;
use crate::check::triage::ElementCheck;
use crate::error::{Error, Result};
use crate::rng::RandomState;
use crate::scalar::Scalar;

/// A vector-valued function `f: Rⁿ → Rᵐ`, written once for every [`Scalar`].
pub trait VectorFunction: Sync {
    /// `f(x)`: `x (n)` → `(m)`; `m` must not depend on `x`'s values.
    fn eval<T: Scalar>(&self, x: ArrayView1<T>) -> Array1<T>;

    /// The function's own kinks, as [`crate::check::Objective::kink`]: the distance from
    /// `x` to the nearest non-differentiable point on the segment to `probe`, or `None`.
    /// The default knows of none.
    fn kink(&self, _x: ArrayView1<f64>, _probe: ArrayView1<f64>) -> Option<f64> {
        None
    }
}

/// Which directions a product check probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directions {
    /// This many seeded random unit directions (Gaussian entries, normalised).
    Random {
        /// How many.
        count: usize,
        /// The seed of NumPy's legacy generator that draws them.
        seed: u32,
    },
    /// Every unit vector `e_k`: the whole Jacobian, a row (VJP) or column (JVP) each.
    Exhaustive,
}

impl Default for Directions {
    /// Four random directions, seed 0.
    fn default() -> Self {
        Directions::Random { count: 4, seed: 0 }
    }
}

impl Directions {
    /// The directions in `R^len`, in order.
    pub(crate) fn vectors(self, len: usize) -> Vec<Array1<f64>> {
        match self {
            Directions::Exhaustive => (0..len)
                .map(|k| Array1::from_shape_fn(len, |i| f64::from(u8::from(i == k))))
                .collect(),
            Directions::Random { count, seed } => {
                let mut rng = RandomState::new(seed);
                (0..count)
                    .map(|_| {
                        let v = Array1::from_shape_simple_fn(len, || rng.gauss());
                        let norm = v.dot(&v).sqrt().max(f64::MIN_POSITIVE);
                        v / norm
                    })
                    .collect()
            }
        }
    }
}

/// Refuses non-finite entries of `v`, named `name[i]`.
pub(crate) fn finite(name: &str, v: impl IntoIterator<Item = f64>) -> Result<()> {
    match v.into_iter().enumerate().find(|(_, x)| !x.is_finite()) {
        Some((i, x)) => Err(Error::invalid(
            format!("{name}[{i}]"),
            format!("must be finite, got {x}"),
        )),
        None => Ok(()),
    }
}

/// A claimed product for one direction (`name(arg)`, e.g. `vjp(v)`): `len` entries, one
/// per `what`, all finite; else the error names it.
pub(crate) fn claimed_product(
    (name, arg): (&str, &str),
    got: Array1<f64>,
    (len, what): (usize, &str),
) -> Result<Array1<f64>> {
    if got.len() != len {
        return Err(Error::invalid(
            name,
            format!("returned {} entries for {len} {what}", got.len()),
        ));
    }
    finite(&format!("{name}({arg})"), got.iter().copied())?;
    Ok(got)
}

/// `f(x)` in `f64`, checked finite; its length is `m`.
fn value_at<F: VectorFunction>(f: &F, x: ArrayView1<f64>) -> Result<Array1<f64>> {
    let y = f.eval(x);
    finite("f(x)", y.iter().copied())?;
    Ok(y)
}

/// The Jacobian's column `j` on dual numbers: `f(x + ε e_j).ε`.
fn dual_column<F: VectorFunction>(f: &F, x: ArrayView1<f64>, j: usize) -> Array1<f64> {
    let lifted = Array1::from_shape_fn(x.len(), |k| Dual64::new(x[k], f64::from(u8::from(k == j))));
    f.eval(lifted.view()).mapv(|d| d.eps)
}

/// Checks the claimed Jacobian `J (m, n)` of `f` at `x (n)`, every entry, against dual
/// numbers and central differences (see the module docs). Errors if the shapes do not
/// match `f(x)` or a value is not finite.
pub fn check_jacobian<F: VectorFunction>(
    f: &F,
    x: ArrayView1<f64>,
    claimed: ArrayView2<f64>,
    cfg: &CheckConfig,
) -> Result<TensorReport> {
    cfg.validate()?;
    finite("x", x.iter().copied())?;
    let m = value_at(f, x)?.len();
    let n = x.len();
    if claimed.dim() != (m, n) {
        return Err(Error::invalid(
            "claimed",
            format!(
                "has shape {:?}, but f maps {n} inputs to {m} outputs: expected [{m}, {n}]",
                claimed.shape()
            ),
        ));
    }
    finite("claimed", claimed.iter().copied())?;
    let mut report = TensorReport::new("J", vec![m, n], "jacobian");
    let mut probe_x = x.to_owned();
    for j in 0..n {
        let dual = dual_column(f, x, j);
        // f(x + δ e_j), once per step δ for the whole column.
        let mut cache: HashMap<u64, (Array1<f64>, Option<Kink>)> = HashMap::new();
        for i in 0..m {
            let mut probe = |delta: f64| -> Probe {
                let (y, kink) = cache.entry(delta.to_bits()).or_insert_with(|| {
                    probe_x[j] = x[j] + delta;
                    let y = f.eval(probe_x.view());
                    let kink = f.kink(x, probe_x.view()).map(|d| Kink::reported(j, d));
                    probe_x[j] = x[j];
                    (y, kink)
                });
                Probe {
                    value: y[i],
                    kink: *kink,
                }
            };
            let fd =
                finite_diff::estimate(x[j], &mut probe, cfg.step, cfg.richardson, dual[i], &cfg.fd);
            report.add(
                ElementCheck::judge(vec![i, j], claimed[[i, j]], dual[i], &fd, cfg),
                None,
            );
        }
    }
    report.total = m * n;
    Ok(report)
}

/// Checks a claimed vector-Jacobian product `vjp(v) = vᵀJ (n)` of `f` at `x` for each
/// `v (m)` of `directions`: entry `j` against the dual and finite-difference derivatives
/// of `v·f(x)` with respect to `x_j`.
pub fn check_vjp<F: VectorFunction>(
    f: &F,
    x: ArrayView1<f64>,
    vjp: impl Fn(ArrayView1<f64>) -> Array1<f64>,
    directions: Directions,
    cfg: &CheckConfig,
) -> Result<TensorReport> {
    cfg.validate()?;
    finite("x", x.iter().copied())?;
    let (m, n) = (value_at(f, x)?.len(), x.len());
    let vs = directions.vectors(m);
    // The Jacobian's columns on dual numbers, once for every direction.
    let columns: Vec<Array1<f64>> = (0..n).map(|j| dual_column(f, x, j)).collect();
    let mut report = TensorReport::new("vᵀJ", vec![vs.len(), n], "vjp");
    let mut probe_x = x.to_owned();
    for (k, v) in vs.iter().enumerate() {
        let claimed = claimed_product(("vjp", "v"), vjp(v.view()), (n, "inputs"))?;
        for j in 0..n {
            let dual = v.dot(&columns[j]);
            let mut probe = |delta: f64| -> Probe {
                probe_x[j] = x[j] + delta;
                let value = v.dot(&f.eval(probe_x.view()));
                let kink = f.kink(x, probe_x.view()).map(|d| Kink::reported(j, d));
                probe_x[j] = x[j];
                Probe { value, kink }
            };
            let fd =
                finite_diff::estimate(x[j], &mut probe, cfg.step, cfg.richardson, dual, &cfg.fd);
            report.add(
                ElementCheck::judge(vec![k, j], claimed[j], dual, &fd, cfg),
                None,
            );
        }
    }
    report.total = vs.len() * n;
    Ok(report)
}

/// Checks a claimed Jacobian-vector product `jvp(u) = J u (m)` of `f` at `x` for each
/// `u (n)` of `directions`: one dual pass with `ε` along `u`, and central differences
/// stepping along `u` (the step relative to `max |x|`).
pub fn check_jvp<F: VectorFunction>(
    f: &F,
    x: ArrayView1<f64>,
    jvp: impl Fn(ArrayView1<f64>) -> Array1<f64>,
    directions: Directions,
    cfg: &CheckConfig,
) -> Result<TensorReport> {
    cfg.validate()?;
    finite("x", x.iter().copied())?;
    let (m, n) = (value_at(f, x)?.len(), x.len());
    let us = directions.vectors(n);
    let scale = x.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut report = TensorReport::new("J·u", vec![us.len(), m], "jvp");
    for (k, u) in us.iter().enumerate() {
        let claimed = claimed_product(("jvp", "u"), jvp(u.view()), (m, "outputs"))?;
        let lifted = Array1::from_shape_fn(n, |i| Dual64::new(x[i], u[i]));
        let dual = f.eval(lifted.view()).mapv(|d| d.eps);
        let mut cache: HashMap<u64, (Array1<f64>, Option<Kink>)> = HashMap::new();
        for i in 0..m {
            let mut probe = |delta: f64| -> Probe {
                let (y, kink) = cache.entry(delta.to_bits()).or_insert_with(|| {
                    let at = &x + &(u * delta);
                    (
                        f.eval(at.view()),
                        f.kink(x, at.view()).map(|d| Kink::reported(k, d)),
                    )
                });
                Probe {
                    value: y[i],
                    kink: *kink,
                }
            };
            let fd = finite_diff::estimate(
                scale,
                &mut probe,
                cfg.step,
                cfg.richardson,
                dual[i],
                &cfg.fd,
            );
            report.add(
                ElementCheck::judge(vec![k, i], claimed[i], dual[i], &fd, cfg),
                None,
            );
        }
    }
    report.total = us.len() * m;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// `f(x) = (x₀²·x₁, exp(x₁) + x₂, x₀·x₂)`, `J = [[2x₀x₁, x₀², 0], [0, e^{x₁}, 1], [x₂, 0, x₀]]`.
    struct F;
    impl VectorFunction for F {
        fn eval<T: Scalar>(&self, x: ArrayView1<T>) -> Array1<T> {
            Array1::from(vec![x[0] * x[0] * x[1], x[1].exp() + x[2], x[0] * x[2]])
        }
    }

    fn jacobian(x: ArrayView1<f64>) -> Array2<f64> {
        array![
            [2.0 * x[0] * x[1], x[0] * x[0], 0.0],
            [0.0, x[1].exp(), 1.0],
            [x[2], 0.0, x[0]]
        ]
    }

    #[test]
    fn a_right_jacobian_passes_and_a_wrong_entry_is_named() {
        let x = array![0.7, -0.4, 1.3];
        let cfg = CheckConfig::default();
        let j = jacobian(x.view());
        assert!(check_jacobian(&F, x.view(), j.view(), &cfg)
            .unwrap()
            .passed());
        let mut wrong = j.clone();
        wrong[[2, 0]] += 1e-3;
        let report = check_jacobian(&F, x.view(), wrong.view(), &cfg).unwrap();
        assert!(!report.passed());
        assert_eq!(report.failures, 1);
        assert_eq!(report.worst.as_ref().unwrap().0.index, vec![2, 0]);
    }

    #[test]
    fn products_in_random_and_unit_directions() {
        let x = array![0.7, -0.4, 1.3];
        let cfg = CheckConfig::default();
        let j = jacobian(x.view());
        let vjp = |v: ArrayView1<f64>| v.dot(&j);
        let jvp = |u: ArrayView1<f64>| j.dot(&u);
        // Four random directions by default; the three unit vectors when exhaustive.
        for (d, k) in [(Directions::default(), 4), (Directions::Exhaustive, 3)] {
            let vjp_report = check_vjp(&F, x.view(), vjp, d, &cfg).unwrap();
            let jvp_report = check_jvp(&F, x.view(), jvp, d, &cfg).unwrap();
            assert!(vjp_report.passed() && jvp_report.passed());
            // Every entry of every product is counted: directions × entries.
            assert_eq!((vjp_report.total, jvp_report.total), (k * 3, k * 3));
        }
        let full = check_jacobian(&F, x.view(), j.view(), &cfg).unwrap();
        // A smooth function reports no kink (the trait's default).
        assert_eq!((full.total, full.kinks), (9, 0));
        // With the unit vectors, a wrong entry J[2][0] is caught in direction e_0 at
        // output 2 only.
        let mut off = j.clone();
        off[[2, 0]] += 1e-3;
        let jvp_off = |u: ArrayView1<f64>| off.dot(&u);
        let r = check_jvp(&F, x.view(), jvp_off, Directions::Exhaustive, &cfg).unwrap();
        assert_eq!(r.failures, 1, "{}", r.to_text());
        assert_eq!(r.worst.as_ref().unwrap().0.index, vec![0, 2]);
        // A transposed product (Jᵀv for a VJP) is caught.
        let wrong = |v: ArrayView1<f64>| j.dot(&v);
        assert!(!check_vjp(&F, x.view(), wrong, Directions::default(), &cfg)
            .unwrap()
            .passed());
        let wrong = |u: ArrayView1<f64>| u.dot(&j);
        assert!(!check_jvp(&F, x.view(), wrong, Directions::default(), &cfg)
            .unwrap()
            .passed());
    }

    #[test]
    fn directions_are_unit_vectors() {
        let e = Directions::Exhaustive.vectors(3);
        assert_eq!(
            e,
            vec![
                array![1.0, 0.0, 0.0],
                array![0.0, 1.0, 0.0],
                array![0.0, 0.0, 1.0]
            ]
        );
        let r = Directions::Random { count: 5, seed: 7 }.vectors(4);
        assert_eq!(r.len(), 5);
        for v in &r {
            assert!((v.dot(v) - 1.0).abs() < 1e-15, "{v}");
        }
        assert_ne!(r[0], r[1]);
    }

    /// `f(x) = (|x₀|, x₀·x₁)` at 5e-10 from `|x₀|`'s kink: the right Jacobian passes
    /// when the function reports the kink, and is an inconsistency (never a backward
    /// bug) when it does not.
    #[test]
    fn a_reported_kink_is_stepped_off() {
        struct Abs {
            report: bool,
        }
        impl VectorFunction for Abs {
            fn eval<T: Scalar>(&self, x: ArrayView1<T>) -> Array1<T> {
                let a = if x[0].value() >= 0.0 { x[0] } else { -x[0] };
                Array1::from(vec![a, x[0] * x[1]])
            }
            fn kink(&self, x: ArrayView1<f64>, probe: ArrayView1<f64>) -> Option<f64> {
                (self.report && (x[0] >= 0.0) != (probe[0] >= 0.0)).then_some(x[0].abs())
            }
        }
        let x = array![5e-10, 0.7];
        let j = array![[1.0, 0.0], [x[1], x[0]]];
        let cfg = CheckConfig::default();
        let reported = check_jacobian(&Abs { report: true }, x.view(), j.view(), &cfg).unwrap();
        assert!(reported.passed(), "{}", reported.to_text());
        let silent = check_jacobian(&Abs { report: false }, x.view(), j.view(), &cfg).unwrap();
        let (worst, _) = silent.worst.as_ref().unwrap();
        assert_eq!(worst.index, vec![0, 0]);
        assert_eq!(worst.verdict, crate::check::Verdict::Inconsistent);
    }

    #[test]
    fn shape_and_value_errors_name_the_argument() {
        let x = array![0.7, -0.4, 1.3];
        let cfg = CheckConfig::default();
        let e = check_jacobian(&F, x.view(), Array2::zeros((3, 2)).view(), &cfg).unwrap_err();
        assert!(
            e.to_string().starts_with("claimed: has shape [3, 2]"),
            "{e}"
        );
        let e = check_jacobian(
            &F,
            array![0.0, f64::NAN, 1.0].view(),
            jacobian(x.view()).view(),
            &cfg,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("x[1]: must be finite"), "{e}");
        let e = check_vjp(
            &F,
            x.view(),
            |_| Array1::zeros(2),
            Directions::default(),
            &cfg,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("vjp: returned 2 entries for 3 inputs"),
            "{e}"
        );
    }
}
