//! The loss: mean squared error over one sample's outputs.
//!
//! For one sample with prediction `ŷ (m)` and target `y (m)`:
//! `L = (1/m)·Σ_k (ŷ_k − y_k)²` and `∂L/∂ŷ = 2(ŷ − y)/m`.
//! Over a batch the training objective is the mean of the per-sample losses, so
//! each row of `∂L/∂Ŷ (B, m)` carries an extra factor `1/B`.

use ndarray::{ArrayView1, ArrayView2};

use crate::check::bugs::Bug;
use crate::error::{Error, Result};
use crate::scalar::Scalar;

/// A loss function. Only MSE today; the enum keeps the spec's `"loss"` key honest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loss {
    /// Mean squared error, `L = mean_k (ŷ_k − y_k)²`.
    #[default]
    Mse,
}

impl Loss {
    /// The spec name (`mse`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
        }
    }

    /// Parses a spec name; `field` names where it came from, for the error.
    pub fn parse(name: &str, field: &str) -> Result<Self> {
        match name {
            "mse" => Ok(Loss::Mse),
            other => Err(Error::invalid(
                field,
                format!("unknown loss {other:?}, expected mse"),
            )),
        }
    }

    /// One sample's loss, generic over the scalar: `(1/m)·Σ_k (ŷ_k − y_k)²`,
    /// summed in index order, then divided by `m` (as `np.mean` does for small `m`).
    #[inline]
    pub fn value<T: Scalar>(self, y_hat: ArrayView1<T>, y: ArrayView1<f64>) -> T {
        match self {
            Loss::Mse => {
                let mut sum = T::zero();
                for (&p, &t) in y_hat.iter().zip(y) {
                    let d = p - t;
                    sum += d * d;
                }
                sum / y.len() as f64
            }
        }
    }

    /// `∂L/∂ŷ_k` for one output, hand-derived: `2(ŷ_k − y_k)/m`.
    #[inline]
    pub fn derivative(self, y_hat: f64, y: f64, m: usize) -> f64 {
        match self {
            // d/dŷ (1/m)(ŷ − y)² = 2(ŷ − y)/m
            Loss::Mse => 2.0 * (y_hat - y) / m as f64,
        }
    }

    /// `∂L̄/∂Ŷ (B, m)` of the batch mean `L̄ = (1/B)·Σ_r L_r`: each row is
    /// [`Loss::derivative`] divided by `B` (exactly the per-sample value when `B = 1`).
    /// `bug` injects a loss-derivative mistake from the catalogue (`None` normally).
    pub fn batch_derivative(
        self,
        y_hat: ArrayView2<f64>,
        y: ArrayView2<f64>,
        bug: Option<Bug>,
    ) -> ndarray::Array2<f64> {
        let (b, m) = y_hat.dim();
        let batch = match bug {
            Some(Bug::BatchSumNotMean) => 1.0,
            _ => b as f64,
        };
        let mut d = ndarray::Array2::zeros((b, m));
        ndarray::Zip::from(&mut d)
            .and(&y_hat)
            .and(&y)
            .for_each(|d, &p, &t| {
                let dl = match bug {
                    Some(Bug::MseWithoutTwo) => (p - t) / m as f64,
                    Some(Bug::MseWithoutSize) => 2.0 * (p - t),
                    _ => self.derivative(p, t, m),
                };
                *d = dl / batch
            });
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Pins the exact values of the loss-derivative bug injections (`mse-without-2`,
    /// `mse-without-size`, `batch-sum-not-mean`) next to the correct `∂L̄/∂Ŷ`, so that
    /// mutation testing can kill mutants inside those deliberately wrong arms.
    ///
    /// A (B = 2, m = 2) batch with dyadic values, so every result is exact:
    /// `ŷ = [[5, 10], [0, 16]]`, `y = [[1, 2], [4, 8]]`, hence
    /// `ŷ − y = [[4, 8], [−4, 8]]`. The values are chosen so that each wrong operator
    /// gives something else: `ŷ + y = [[6, 12], [4, 24]]` and `ŷ / y = [[5, 5], [0, 2]]`
    /// differ from `ŷ − y` everywhere, `m = 2 ≠ 1` so `/ m` ≠ `· m`, and no `ŷ − y` is
    /// `2` or `±1`, so `2·d` ≠ `2 + d` and `2·d` ≠ `2 / d`.
    #[test]
    fn batch_derivative_bug_injections_have_their_exact_values() {
        let y_hat = array![[5.0, 10.0], [0.0, 16.0]];
        let y = array![[1.0, 2.0], [4.0, 8.0]];
        let d = |bug| Loss::Mse.batch_derivative(y_hat.view(), y.view(), bug);

        // Correct: 2(ŷ − y)/m/B = 2·[[4, 8], [−4, 8]]/2/2 = [[2, 4], [−2, 4]].
        assert_eq!(d(None), array![[2.0, 4.0], [-2.0, 4.0]]);
        // mse-without-2: (ŷ − y)/m/B = [[4, 8], [−4, 8]]/2/2 = [[1, 2], [−1, 2]].
        // (Mutants: (ŷ − y)·m/B = [[4, 8], [−4, 8]]; (ŷ + y)/4 = [[1.5, 3], [1, 6]];
        // (ŷ / y)/4 = [[1.25, 1.25], [0, 0.5]].)
        assert_eq!(d(Some(Bug::MseWithoutTwo)), array![[1.0, 2.0], [-1.0, 2.0]]);
        // mse-without-size: 2(ŷ − y)/B = 2·[[4, 8], [−4, 8]]/2 = [[4, 8], [−4, 8]].
        // (Mutants: (2 + (ŷ − y))/2 = [[3, 5], [−1, 5]]; (2/(ŷ − y))/2 =
        // [[0.25, 0.125], [−0.25, 0.125]]; 2(ŷ + y)/2 = [[6, 12], [4, 24]];
        // 2(ŷ / y)/2 = [[5, 5], [0, 2]].)
        assert_eq!(
            d(Some(Bug::MseWithoutSize)),
            array![[4.0, 8.0], [-4.0, 8.0]]
        );
        // batch-sum-not-mean: 2(ŷ − y)/m, no 1/B = 2·[[4, 8], [−4, 8]]/2 = [[4, 8], [−4, 8]].
        assert_eq!(
            d(Some(Bug::BatchSumNotMean)),
            array![[4.0, 8.0], [-4.0, 8.0]]
        );
        // A bug that does not touch the loss leaves ∂L̄/∂Ŷ correct.
        assert_eq!(d(Some(Bug::DwTransposed)), array![[2.0, 4.0], [-2.0, 4.0]]);
    }
}
