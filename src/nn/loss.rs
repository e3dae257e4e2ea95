//! The losses: mean squared error (regression), softmax cross-entropy (one of `m`
//! classes) and sigmoid binary cross-entropy (`m` independent yes/no outputs).
//!
//! For one sample with network output `ŷ (m)` and target `y (m)`:
//!
//! | loss | `L(ŷ, y)` | `∂L/∂ŷ` |
//! |---|---|---|
//! | `mse` | `(1/m)·Σ_k (ŷ_k − y_k)²` | `2(ŷ − y)/m` |
//! | `softmax_cross_entropy` | `−Σ_k y_k log softmax(ŷ)_k = logsumexp(ŷ) − y·ŷ` | `softmax(ŷ) − y` |
//! | `binary_cross_entropy` | `(1/m)·Σ_k [max(ŷ_k, 0) − ŷ_k y_k + log1p(exp(−|ŷ_k|))]` | `(σ(ŷ) − y)/m` |
//!
//! The two cross-entropies take *logits*: the last layer is `identity` and the
//! softmax or sigmoid lives inside the loss, which is what makes them stable for
//! logits of any size (`logsumexp(ŷ) = c + log Σ_k exp(ŷ_k − c)` with `c = max_k ŷ_k`,
//! so no `exp` overflows; `log1p(exp(−|ŷ|))` never overflows either) and their
//! gradients simple: the softmax's Jacobian and the log's derivative cancel into
//! `softmax(ŷ) − y` (this needs `Σ_k y_k = 1`, so cross-entropy targets are
//! probability rows), the sigmoid's into `σ(ŷ) − y`.
//!
//! Over a batch the training objective is the mean of the per-sample losses
//! `L̄ = (1/B)·Σ_r L_r`, so each row of `∂L̄/∂Ŷ (B, m)` carries an extra factor `1/B`.

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2, Zip};

use crate::error::{Error, Result};
use crate::scalar::Scalar;

/// A loss function (the spec's `"loss"` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loss {
    /// Mean squared error, `L = mean_k (ŷ_k − y_k)²`.
    #[default]
    Mse,
    /// Softmax cross-entropy on logits, `L = logsumexp(ŷ) − y·ŷ`.
    SoftmaxCrossEntropy,
    /// Sigmoid binary cross-entropy on logits, averaged over the outputs.
    BinaryCrossEntropy,
}

impl Loss {
    /// Every loss, in the order of the docs.
    pub const ALL: [Loss; 3] = [
        Loss::Mse,
        Loss::SoftmaxCrossEntropy,
        Loss::BinaryCrossEntropy,
    ];

    /// The spec name (`mse`, `softmax_cross_entropy`, `binary_cross_entropy`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::SoftmaxCrossEntropy => "softmax_cross_entropy",
            Loss::BinaryCrossEntropy => "binary_cross_entropy",
        }
    }

    /// Parses a spec name; `field` names where it came from, for the error.
    pub fn parse(name: &str, field: &str) -> Result<Self> {
        Loss::ALL
            .into_iter()
            .find(|l| l.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Loss::ALL.iter().map(|l| l.name()).collect();
                Error::invalid(
                    field,
                    format!(
                        "unknown loss {name:?}, expected one of {}",
                        names.join(", ")
                    ),
                )
            })
    }

    /// Whether the loss classifies (takes logits; accuracy is meaningful).
    pub fn is_classification(self) -> bool {
        self != Loss::Mse
    }

    /// One sample's loss, generic over the scalar (the table in the module docs).
    ///
    /// * MSE: the squares summed in index order, then divided by `m` (as `np.mean`
    ///   does for small `m`).
    /// * Softmax cross-entropy: `c = max_k ŷ_k` (a constant: the result does not depend
    ///   on it, so neither does its derivative), `s = Σ_k exp(ŷ_k − c)` in index order,
    ///   `L = (c + ln s) − Σ_k y_k ŷ_k`.
    /// * Binary cross-entropy: the terms summed in index order, divided by `m`.
    #[inline]
    pub fn value<T: Scalar>(self, y_hat: ArrayView1<T>, y: ArrayView1<f64>) -> T {
        let m = y.len() as f64;
        match self {
            Loss::Mse => {
                let mut sum = T::zero();
                for (&p, &t) in y_hat.iter().zip(y) {
                    let d = p - t;
                    sum += d * d;
                }
                sum / m
            }
            Loss::SoftmaxCrossEntropy => {
                let c = max_value(y_hat);
                let mut s = T::zero();
                for &p in y_hat {
                    s += (p - c).exp();
                }
                let mut dot = T::zero();
                for (&p, &t) in y_hat.iter().zip(y) {
                    dot += p * t;
                }
                (s.ln() + c) - dot
            }
            Loss::BinaryCrossEntropy => {
                let mut sum = T::zero();
                for (&p, &t) in y_hat.iter().zip(y) {
                    // max(ŷ, 0) and |ŷ|, by the sign of the value (derivative 1 or 0,
                    // ±1 away from 0).
                    let (pos, abs) = if p.value() > 0.0 {
                        (p, p)
                    } else {
                        (T::zero(), -p)
                    };
                    sum += pos - p * t + (-abs).exp().ln_1p();
                }
                sum / m
            }
        }
    }

    /// `∂L̄/∂Ŷ (B, m)` of the batch mean `L̄ = (1/B)·Σ_r L_r`, hand-derived, written
    /// into `d`: per row
    ///
    /// * MSE: `2(ŷ − y)/m/B`;
    /// * softmax cross-entropy: `(softmax(ŷ) − y)/B` with `softmax(ŷ)_k = e_k / s`,
    ///   `e_k = exp(ŷ_k − max ŷ)`, `s = Σ_k e_k` (at the largest logit, where
    ///   `e = 1`, as `((1 − y) − y·r)/s` with `r = s − 1` summed without it);
    /// * binary cross-entropy: `(σ(ŷ) − y)/(m·B)` with `e = e^{−|ŷ|}`: `(1 − y) −
    ///   e/(1 + e)` for `ŷ ≥ 0`, `e/(1 + e) − y` below.
    ///
    /// Neither overflows, and neither loses the relative accuracy of a confident right
    /// answer's small gradient to the cancellation in `softmax − y` or `σ − y` (the
    /// random-classifier check holds every gradient to `1e-10` of the dual numbers').
    ///
    /// (A division by `B = 1` is exact, so a row is the per-sample derivative then.)
    pub fn batch_derivative_into(
        self,
        y_hat: ArrayView2<f64>,
        y: ArrayView2<f64>,
        mut d: ArrayViewMut2<f64>,
    ) {
        let (b, m) = y_hat.dim();
        let (bf, mf) = (b as f64, m as f64);
        match self {
            // d/dŷ (1/m)(ŷ − y)² = 2(ŷ − y)/m
            Loss::Mse => Zip::from(&mut d)
                .and(&y_hat)
                .and(&y)
                .for_each(|d, &p, &t| *d = 2.0 * (p - t) / mf / bf),
            // d/dŷ_k (logsumexp(ŷ) − y·ŷ) = softmax(ŷ)_k − y_k
            Loss::SoftmaxCrossEntropy => {
                for ((mut d, p), t) in d.rows_mut().into_iter().zip(y_hat.rows()).zip(y.rows()) {
                    let top = argmax(p);
                    let c = p[top];
                    // e_k = exp(ŷ_k − c) (e_top = 1); r = Σ_{k≠top} e_k; s = 1 + r.
                    let mut r = 0.0;
                    for (k, (d, &p)) in d.iter_mut().zip(p).enumerate() {
                        *d = (p - c).exp();
                        if k != top {
                            r += *d;
                        }
                    }
                    let s = 1.0 + r;
                    for (k, (d, &t)) in d.iter_mut().zip(t).enumerate() {
                        // At the top class softmax − y = (1 − y(1 + r))/s, written so
                        // that a confident right answer (y = 1, tiny r) keeps its
                        // relative accuracy: ((1 − y) − y·r)/s.
                        let g = if k == top {
                            ((1.0 - t) - t * r) / s
                        } else {
                            *d / s - t
                        };
                        *d = g / bf;
                    }
                }
            }
            // d/dŷ (max(ŷ,0) − ŷy + log1p(e^{−|ŷ|})) = σ(ŷ) − y, written with
            // e = e^{−|ŷ|} as (1 − y) − e/(1 + e) for ŷ ≥ 0 (σ(ŷ) = 1 − e/(1 + e)) and
            // e/(1 + e) − y below: no overflow, and a confident right answer keeps its
            // relative accuracy.
            Loss::BinaryCrossEntropy => {
                Zip::from(&mut d).and(&y_hat).and(&y).for_each(|d, &p, &t| {
                    let e = (-p.abs()).exp();
                    let g = if p >= 0.0 {
                        (1.0 - t) - e / (1.0 + e)
                    } else {
                        e / (1.0 + e) - t
                    };
                    *d = g / (m * b) as f64;
                })
            }
        }
    }

    /// [`Loss::batch_derivative_into`] into a new array.
    pub fn batch_derivative(self, y_hat: ArrayView2<f64>, y: ArrayView2<f64>) -> Array2<f64> {
        let mut d = Array2::zeros(y_hat.dim());
        self.batch_derivative_into(y_hat, y, d.view_mut());
        d
    }

    /// How many of one sample's predictions are right, out of how many, for the
    /// accuracy of a classifier: softmax cross-entropy — one prediction, right when
    /// the first largest logit is the target's (first) largest entry (`argmax`, as
    /// NumPy's); binary cross-entropy — one per output, right when `ŷ_k > 0`
    /// (`σ(ŷ_k) > 0.5`) exactly where `y_k ≥ 0.5`. MSE has no accuracy: `None`.
    pub fn correct(self, y_hat: ArrayView1<f64>, y: ArrayView1<f64>) -> Option<(usize, usize)> {
        match self {
            Loss::Mse => None,
            Loss::SoftmaxCrossEntropy => Some((usize::from(argmax(y_hat) == argmax(y)), 1)),
            Loss::BinaryCrossEntropy => Some((
                y_hat
                    .iter()
                    .zip(y)
                    .filter(|(&p, &t)| (p > 0.0) == (t >= 0.5))
                    .count(),
                y.len(),
            )),
        }
    }
}

/// The largest value's number (the softmax's shift `c`, a constant for dual numbers).
#[inline]
fn max_value<T: Scalar>(v: ArrayView1<T>) -> f64 {
    v.iter()
        .map(|p| p.value())
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The first index of the largest value (`np.argmax`).
fn argmax(v: ArrayView1<f64>) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// The logistic function without overflow: `1/(1 + e^{−z})` for `z ≥ 0`, else
/// `e^z/(1 + e^z)`.
#[inline]
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use num_dual::Dual64;

    /// A (B = 2, m = 2) batch with dyadic values, so every result is exact:
    /// `ŷ − y = [[4, 8], [−4, 8]]`, so `∂L̄/∂Ŷ = 2(ŷ − y)/m/B = [[2, 4], [−2, 4]]`.
    /// (`variant::step` pins the wrong values of the loss bugs on the same batch.)
    #[test]
    fn batch_derivative_is_two_times_the_error_over_m_and_b() {
        let y_hat = array![[5.0, 10.0], [0.0, 16.0]];
        let y = array![[1.0, 2.0], [4.0, 8.0]];
        assert_eq!(
            Loss::Mse.batch_derivative(y_hat.view(), y.view()),
            array![[2.0, 4.0], [-2.0, 4.0]]
        );
    }

    /// Hand values: logits `[0, ln 3]` have softmax `[1/4, 3/4]`; with target class 1
    /// the loss is `ln 4 − ln 3` and the gradient `[1/4, −1/4]` (÷ B = 2: `[1/8, −1/8]`).
    /// Binary: `ŷ = 0` gives `σ = 1/2` and `L = ln 2` whatever the target.
    #[test]
    fn cross_entropies_match_hand_values() {
        let y_hat = array![[0.0, 3f64.ln()], [0.0, 3f64.ln()]];
        let y = array![[0.0, 1.0], [0.0, 1.0]];
        let l = Loss::SoftmaxCrossEntropy.value(y_hat.row(0), y.row(0));
        approx::assert_relative_eq!(l, 4f64.ln() - 3f64.ln(), max_relative = 1e-15);
        let d = Loss::SoftmaxCrossEntropy.batch_derivative(y_hat.view(), y.view());
        approx::assert_relative_eq!(
            d,
            array![[0.125, -0.125], [0.125, -0.125]],
            max_relative = 1e-15
        );
        let z = array![0.0];
        for t in [0.0, 0.3, 1.0] {
            let l = Loss::BinaryCrossEntropy.value(z.view(), array![t].view());
            approx::assert_relative_eq!(l, 2f64.ln(), max_relative = 1e-15);
        }
    }

    /// Logits far beyond `exp`'s range (±1000): the loss and its gradient stay finite
    /// and right (the max shift; `log1p(exp(−|ŷ|))`).
    #[test]
    fn huge_logits_stay_finite() {
        let y_hat = array![[1000.0, 0.0, -1000.0]];
        let l = Loss::SoftmaxCrossEntropy.value(y_hat.row(0), array![0.0, 1.0, 0.0].view());
        assert_eq!(l, 1000.0);
        let d = Loss::SoftmaxCrossEntropy
            .batch_derivative(y_hat.view(), array![[0.0, 1.0, 0.0]].view());
        assert_eq!(d, array![[1.0, -1.0, 0.0]]);
        let l = Loss::BinaryCrossEntropy.value(array![-1000.0].view(), array![1.0].view());
        assert_eq!(l, 1000.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
    }

    /// The hand-derived gradients against dual numbers on the generic loss.
    #[test]
    fn derivatives_match_dual_numbers() {
        let y_hat = [0.7, -1.3, 2.2];
        for (loss, y) in [
            (Loss::Mse, [0.5, 1.0, -2.0]),
            (Loss::SoftmaxCrossEntropy, [0.2, 0.5, 0.3]),
            (Loss::BinaryCrossEntropy, [1.0, 0.0, 0.25]),
        ] {
            let y = ndarray::arr1(&y);
            let d = loss.batch_derivative(
                ndarray::arr1(&y_hat).insert_axis(ndarray::Axis(0)).view(),
                y.view().insert_axis(ndarray::Axis(0)),
            );
            for k in 0..3 {
                let dual = ndarray::Array1::from_shape_fn(3, |j| {
                    Dual64::new(y_hat[j], if j == k { 1.0 } else { 0.0 })
                });
                let exact = loss.value(dual.view(), y.view()).eps;
                approx::assert_relative_eq!(d[[0, k]], exact, max_relative = 1e-14);
            }
        }
    }

    #[test]
    fn accuracy_counts_argmax_and_threshold() {
        let c = Loss::SoftmaxCrossEntropy;
        assert_eq!(
            c.correct(array![0.1, 2.0, 2.0].view(), array![0.0, 1.0, 0.0].view()),
            Some((1, 1))
        );
        assert_eq!(
            c.correct(array![3.0, 2.0, 2.0].view(), array![0.0, 1.0, 0.0].view()),
            Some((0, 1))
        );
        let b = Loss::BinaryCrossEntropy;
        assert_eq!(
            b.correct(array![0.5, -0.5, 0.0].view(), array![1.0, 1.0, 0.0].view()),
            Some((2, 3))
        );
        assert_eq!(
            Loss::Mse.correct(array![1.0].view(), array![1.0].view()),
            None
        );
    }
}
