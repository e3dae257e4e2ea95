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
