//! A dense (fully connected) layer: forward generic over the scalar, backward by hand.
//!
//! Forward, one sample: `z = W·x + b`, `a = act(z)`; shapes `W (out, in)`, `x (in)`,
//! `b (out)`, `z, a (out)`. Batched: `Z = X·Wᵀ + b`, `A = act(Z)`; `X (B, in)`,
//! `Z, A (B, out)`.
//!
//! Backward, one sample, given `da = ∂L/∂a (out)`:
//! `dz = da ⊙ act'(z)`, `dW = outer(dz, x) (out, in)`, `db = dz (out)`, `dx = Wᵀ·dz (in)`.
//! Batched, given `dA (B, out)`: `dZ = dA ⊙ act'(Z)`, `dW = dZᵀ·X`, `db = Σ_rows dZ`,
//! `dX = dZ·W (B, in)`. With `B = 1` the batched formulas *are* the per-sample ones,
//! and [`Dense::backward`] returns the same bits for both.

use ndarray::{Array1, Array2, ArrayView2, Zip};

use crate::nn::activation::Activation;
use crate::nn::kernels;
use crate::scalar::Scalar;

/// A dense layer with parameters of scalar type `T` (`f64` for training; a dual
/// number type when the gradient checker differentiates through it).
#[derive(Debug, Clone, PartialEq)]
pub struct Dense<T = f64> {
    /// Weights `W (out, in)`.
    pub w: Array2<T>,
    /// Bias `b (out)`.
    pub b: Array1<T>,
    /// The activation applied to `z`.
    pub activation: Activation,
}

/// What [`Dense::forward`] computes for a batch: `Z` and `A = act(Z)`, both `(B, out)`.
#[derive(Debug, Clone)]
pub struct DenseOutput<T = f64> {
    /// Pre-activations `Z = X·Wᵀ + b (B, out)`.
    pub z: Array2<T>,
    /// Activations `A = act(Z) (B, out)`.
    pub a: Array2<T>,
}

/// The gradients of one layer from [`Dense::backward`].
#[derive(Debug, Clone, PartialEq)]
pub struct DenseGrad {
    /// `∂L/∂W = dZᵀ·X (out, in)`.
    pub dw: Array2<f64>,
    /// `∂L/∂b = Σ_rows dZ (out)`.
    pub db: Array1<f64>,
    /// `∂L/∂X = dZ·W (B, in)`, when asked for.
    pub dx: Option<Array2<f64>>,
}

impl<T: Scalar> Dense<T> {
    /// Number of inputs (`in`).
    pub fn inputs(&self) -> usize {
        self.w.ncols()
    }

    /// Number of units (`out`).
    pub fn outputs(&self) -> usize {
        self.w.nrows()
    }

    /// Forward: `Z = X·Wᵀ + b`, `A = act(Z)`. Shapes `X (B, in)` → `Z, A (B, out)`.
    ///
    /// This is the network's only forward computation. It is generic over the
    /// scalar, so the same code runs on `f64` (training) and on dual numbers (the
    /// gradient checker's exact oracle).
    pub fn forward(&self, x: ArrayView2<T>) -> DenseOutput<T> {
        let z = kernels::affine(self.w.view(), self.b.view(), x);
        let act = self.activation;
        let a = z.mapv(|v| act.apply(v));
        DenseOutput { z, a }
    }
}

impl Dense<f64> {
    /// Backward, derived by hand, for a batch `X (B, in)` whose forward gave `out`,
    /// given `dA = ∂L/∂A (B, out)`:
    ///
    /// * `dZ = dA ⊙ act'(Z)` `(B, out)`
    /// * `dW = dZᵀ·X` `(out, in)` — for one sample, `outer(dz, x)`
    /// * `db = Σ_rows dZ` `(out)` — for one sample, `dz`
    /// * `dX = dZ·W` `(B, in)` — for one sample, `Wᵀ·dz` (only if `want_dx`)
    ///
    /// `W` here is the layer's weights *before* any update of this step.
    pub fn backward(
        &self,
        x: ArrayView2<f64>,
        out: &DenseOutput<f64>,
        da: ArrayView2<f64>,
        want_dx: bool,
    ) -> DenseGrad {
        let act = self.activation;
        let mut dz = Array2::zeros(da.raw_dim());
        Zip::from(&mut dz)
            .and(&da)
            .and(&out.z)
            .and(&out.a)
            .for_each(|dz, &da, &z, &a| *dz = da * act.derivative(z, a));
        DenseGrad {
            dw: kernels::grad_weights(dz.view(), x),
            db: kernels::grad_bias(dz.view()),
            dx: want_dx.then(|| kernels::grad_input(dz.view(), self.w.view())),
        }
    }
}
