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

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Zip};

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
    /// `∂L/∂Z = dA ⊙ act'(Z) (B, out)`.
    pub dz: Array2<f64>,
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
    /// `dZ = dA ⊙ act'(Z) (B, out)`, given `dA = ∂L/∂A (B, out)` and the forward's `Z`.
    /// For one sample: `dz = da ⊙ act'(z)`.
    pub fn grad_z(&self, out: &DenseOutput<f64>, da: ArrayView2<f64>) -> Array2<f64> {
        let act = self.activation;
        let mut dz = Array2::zeros(da.raw_dim());
        Zip::from(&mut dz)
            .and(&da)
            .and(&out.z)
            .for_each(|dz, &da, &z| *dz = da * act.derivative(z));
        dz
    }

    /// `dW = dZᵀ·X (out, in)`, from `dZ (B, out)` and the layer's input `X (B, in)`.
    /// For one sample: `dW = outer(dz, x)`.
    pub fn grad_w(dz: ArrayView2<f64>, x: ArrayView2<f64>) -> Array2<f64> {
        kernels::grad_weights(dz, x)
    }

    /// `db = Σ_rows dZ (out)`. For one sample: `db = dz`.
    pub fn grad_b(dz: ArrayView2<f64>) -> Array1<f64> {
        kernels::grad_bias(dz)
    }

    /// `dX = dZ·W (B, in)`: what the layer hands to the layer below.
    /// For one sample: `dx = Wᵀ·dz`.
    pub fn grad_x(&self, dz: ArrayView2<f64>) -> Array2<f64> {
        kernels::grad_input(dz, self.w.view())
    }

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
        let dz = self.grad_z(out, da);
        let dw = Dense::grad_w(dz.view(), x);
        let db = Dense::grad_b(dz.view());
        let dx = want_dx.then(|| self.grad_x(dz.view()));
        DenseGrad { dz, dw, db, dx }
    }

    /// Gradient descent: `W ← W − lr·dW`, `b ← b − lr·db` (the product rounded, then
    /// subtracted: two roundings, as NumPy does).
    pub fn descend(&mut self, dw: ArrayView2<f64>, db: ArrayView1<f64>, lr: f64) {
        self.w.zip_mut_with(&dw, |w, &d| *w -= lr * d);
        self.b.zip_mut_with(&db, |b, &d| *b -= lr * d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Axis};

    fn layer(activation: Activation) -> Dense {
        Dense {
            w: array![[0.3, -1.2, 0.7], [1.1, 0.4, -0.5]],
            b: array![0.1, -0.2],
            activation,
        }
    }

    /// With one sample the batched backward must be the article's vector formulas,
    /// bit for bit: `dz = da ⊙ act'(z)`, `dW = outer(dz, x)`, `db = dz`, `dx = Wᵀ·dz`.
    #[test]
    #[allow(clippy::needless_range_loop)] // indices mirror the formulas
    fn single_sample_backward_is_the_articles_vector_form() {
        for act in Activation::ALL {
            let l = layer(act);
            let x = array![[0.5, -1.5, 2.0]];
            let out = l.forward(x.view());
            let da = array![[0.25, -0.75]];
            let g = l.backward(x.view(), &out, da.view(), true);

            let z = out.z.row(0);
            let dz: Vec<f64> = (0..2).map(|i| da[[0, i]] * act.derivative(z[i])).collect();
            for i in 0..2 {
                for j in 0..3 {
                    assert_eq!(g.dw[[i, j]], dz[i] * x[[0, j]], "{act} dW[{i}][{j}]");
                }
                assert_eq!(g.db[i], dz[i], "{act} db[{i}]");
            }
            let dx = g.dx.unwrap();
            for j in 0..3 {
                let want = l.w[[1, j]].mul_add(dz[1], l.w[[0, j]] * dz[0]);
                assert_eq!(dx[[0, j]], want, "{act} dx[{j}]");
            }
        }
    }

    /// The batched gradient is the sum of the per-sample gradients (the network divides
    /// by `B` before it gets here), to rounding.
    #[test]
    fn batched_backward_is_the_sum_of_per_sample_backwards() {
        for act in Activation::ALL {
            let l = layer(act);
            let x = array![[0.5, -1.5, 2.0], [1.0, 0.2, -0.3], [-2.0, 0.8, 0.1]];
            let da = array![[0.25, -0.75], [1.5, 0.5], [-0.1, 0.9]];
            let out = l.forward(x.view());
            let g = l.backward(x.view(), &out, da.view(), true);
            let mut dw = Array2::<f64>::zeros((2, 3));
            let mut db = Array1::<f64>::zeros(2);
            for r in 0..3 {
                let xr = x.slice(ndarray::s![r..r + 1, ..]);
                let o = l.forward(xr);
                let gr = l.backward(xr, &o, da.slice(ndarray::s![r..r + 1, ..]), true);
                dw += &gr.dw;
                db += &gr.db;
                let dx = g.dx.as_ref().unwrap();
                approx::assert_abs_diff_eq!(
                    dx.index_axis(Axis(0), r),
                    gr.dx.unwrap().row(0),
                    epsilon = 1e-15
                );
            }
            approx::assert_abs_diff_eq!(g.dw, dw, epsilon = 1e-14);
            approx::assert_abs_diff_eq!(g.db, db, epsilon = 1e-14);
        }
    }
}
