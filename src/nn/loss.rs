//! The loss: mean squared error over one sample's outputs.
//!
//! For one sample with prediction `ŷ (m)` and target `y (m)`:
//! `L = (1/m)·Σ_k (ŷ_k − y_k)²` and `∂L/∂ŷ = 2(ŷ − y)/m`.
//! Over a batch the training objective is the mean of the per-sample losses, so
//! each row of `∂L/∂Ŷ (B, m)` carries an extra factor `1/B`.

use ndarray::{Array2, ArrayView1, ArrayView2, Zip};

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
    pub fn batch_derivative(self, y_hat: ArrayView2<f64>, y: ArrayView2<f64>) -> Array2<f64> {
        let (b, m) = y_hat.dim();
        let mut d = Array2::zeros((b, m));
        Zip::from(&mut d)
            .and(&y_hat)
            .and(&y)
            .for_each(|d, &p, &t| *d = self.derivative(p, t, m) / b as f64);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// A (B = 2, m = 2) batch with dyadic values, so every result is exact:
    /// `ŷ − y = [[4, 8], [−4, 8]]`, so `∂L̄/∂Ŷ = 2(ŷ − y)/m/B = [[2, 4], [−2, 4]]`.
    /// (`check::bugs` pins the wrong values of the loss bugs on the same batch.)
    #[test]
    fn batch_derivative_is_two_times_the_error_over_m_and_b() {
        let y_hat = array![[5.0, 10.0], [0.0, 16.0]];
        let y = array![[1.0, 2.0], [4.0, 8.0]];
        assert_eq!(
            Loss::Mse.batch_derivative(y_hat.view(), y.view()),
            array![[2.0, 4.0], [-2.0, 4.0]]
        );
    }
}
