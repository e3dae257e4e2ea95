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

use crate::check::bugs::Bug;
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
    /// Backward, derived by hand, for a batch `X (B, in)` whose forward gave `out`,
    /// given `dA = ∂L/∂A (B, out)`:
    ///
    /// * `dZ = dA ⊙ act'(Z)` `(B, out)`
    /// * `dW = dZᵀ·X` `(out, in)` — for one sample, `outer(dz, x)`
    /// * `db = Σ_rows dZ` `(out)` — for one sample, `dz`
    /// * `dX = dZ·W` `(B, in)` — for one sample, `Wᵀ·dz` (only if `want_dx`)
    ///
    /// `W` here is the layer's weights *before* any update of this step.
    /// `bug` injects a mistake from the [`Bug`] catalogue (`None` in normal use).
    pub fn backward(
        &self,
        x: ArrayView2<f64>,
        out: &DenseOutput<f64>,
        da: ArrayView2<f64>,
        want_dx: bool,
        bug: Option<Bug>,
    ) -> DenseGrad {
        let act = self.activation;
        let mut dz = Array2::zeros(da.raw_dim());
        Zip::from(&mut dz)
            .and(&da)
            .and(&out.z)
            .and(&out.a)
            .for_each(|dz, &da, &z, &a| {
                *dz = match bug {
                    None => da * act.derivative(z),
                    Some(bug) => da * buggy_derivative(bug, act, z, a),
                }
            });
        let dw = match bug {
            Some(Bug::DwTransposed) => kernels::grad_weights(x, dz.view()),
            _ => kernels::grad_weights(dz.view(), x),
        };
        let db = match bug {
            Some(Bug::BiasNotSummed) => dz.row(0).to_owned(),
            _ => kernels::grad_bias(dz.view()),
        };
        let dx = want_dx.then(|| self.grad_input(dz.view(), bug));
        DenseGrad { dz, dw, db, dx }
    }

    /// `dX = dZ·W (B, in)`: what the layer hands to the layer below.
    pub fn grad_input(&self, dz: ArrayView2<f64>, bug: Option<Bug>) -> Array2<f64> {
        match bug {
            Some(Bug::DxNoTranspose) => {
                // `W.reshape(in, out) @ dz`: W's row-major buffer read as (in, out).
                let (out, n) = self.w.dim();
                let wre = Array2::from_shape_fn((n, out), |(j, i)| {
                    let flat = j * out + i;
                    self.w[[flat / n, flat % n]]
                });
                kernels::grad_input(dz, wre.t())
            }
            _ => kernels::grad_input(dz, self.w.view()),
        }
    }
}

/// `act'` as a buggy backward computes it (see [`Bug`]).
fn buggy_derivative(bug: Bug, act: Activation, z: f64, a: f64) -> f64 {
    match bug {
        Bug::ReluMaskInverted if act.is_piecewise() => {
            let right = act.derivative(1.0);
            let left = act.derivative(-1.0);
            if z > 0.0 {
                left
            } else {
                right
            }
        }
        Bug::DerivativeOfA => act.derivative(a),
        Bug::ActivationDerivativeDropped => 1.0,
        _ => act.derivative(z),
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
            let g = l.backward(x.view(), &out, da.view(), true, None);

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

    /// Pins the exact value of the `dx-no-transpose` bug injection, so that mutation
    /// testing can kill mutants inside that deliberately wrong branch.
    ///
    /// `W = [[1, 2, 3], [4, 5, 6]]` (out = 2, in = 3); its row-major buffer
    /// `[1, 2, 3, 4, 5, 6]` read as `(in, out) = (3, 2)` is `[[1, 2], [3, 4], [5, 6]]`
    /// (entry `(j, i)` is buffer element `j·out + i`). With `dz = [[1, 10]]` the buggy
    /// `dx = W.reshape(3, 2) @ dz` is
    /// `[1·1 + 2·10, 3·1 + 4·10, 5·1 + 6·10] = [21, 43, 65]`,
    /// where the correct `Wᵀ·dz` is `[1 + 40, 2 + 50, 3 + 60] = [41, 52, 63]`.
    /// The index mutants read other elements: `j + out + i` reads buffer elements
    /// `[2, 3], [3, 4], [4, 5]` → `[3 + 40, 4 + 50, 5 + 60] = [43, 54, 65]`, and
    /// `j / out + i` reads `[0, 1], [0, 1], [1, 2]` → `[1 + 20, 1 + 20, 2 + 30] = [21, 21, 32]`.
    #[test]
    fn dx_no_transpose_injection_reads_w_reshaped() {
        let l = Dense {
            w: array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
            b: array![0.0, 0.0],
            activation: Activation::Identity,
        };
        let dz = array![[1.0, 10.0]];
        assert_eq!(
            l.grad_input(dz.view(), Some(Bug::DxNoTranspose)),
            array![[21.0, 43.0, 65.0]]
        );
        assert_eq!(l.grad_input(dz.view(), None), array![[41.0, 52.0, 63.0]]);
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
            let g = l.backward(x.view(), &out, da.view(), true, None);
            let mut dw = Array2::<f64>::zeros((2, 3));
            let mut db = Array1::<f64>::zeros(2);
            for r in 0..3 {
                let xr = x.slice(ndarray::s![r..r + 1, ..]);
                let o = l.forward(xr);
                let gr = l.backward(xr, &o, da.slice(ndarray::s![r..r + 1, ..]), true, None);
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

    /// Pins the act' each injected bug computes (so mutation testing can kill mutants
    /// in `buggy_derivative`). Hand values: relu' = 1 for z > 0 else 0 (0 at the kink),
    /// leaky_relu' = 1 or 0.01; σ'(0.5) = e^(−0.5)/(1 + e^(−0.5))² = 0.2350037122015945
    /// (Python `math`), σ'(0) = 1/4; tanh'(0) = 1, tanh'(±1) = 0.41997434161402614.
    #[test]
    fn buggy_derivatives_have_their_exact_values() {
        use crate::check::bugs::Bug::*;
        use Activation::{LeakyRelu, Relu, Sigmoid, Tanh};
        // relu-mask-inverted: the mask flips, also at the kink (z = 0 takes the right side).
        assert_eq!(buggy_derivative(ReluMaskInverted, Relu, 2.0, 2.0), 0.0);
        assert_eq!(buggy_derivative(ReluMaskInverted, Relu, -2.0, 0.0), 1.0);
        assert_eq!(buggy_derivative(ReluMaskInverted, Relu, 0.0, 0.0), 1.0);
        assert_eq!(
            buggy_derivative(ReluMaskInverted, LeakyRelu, 2.0, 2.0),
            0.01
        );
        assert_eq!(
            buggy_derivative(ReluMaskInverted, LeakyRelu, -2.0, -0.02),
            1.0
        );
        // ... and leaves smooth activations alone: tanh'(0) = 1, not tanh'(±1).
        assert_eq!(buggy_derivative(ReluMaskInverted, Tanh, 0.0, 0.0), 1.0);
        // derivative-of-a: σ'(a) with a = σ(0) = 0.5, instead of σ'(0) = 0.25.
        let v = buggy_derivative(DerivativeOfA, Sigmoid, 0.0, 0.5);
        assert!((v - 0.2350037122015945).abs() <= 1e-16, "{v}");
        // activation-derivative-dropped: 1 where relu' is 0.
        assert_eq!(
            buggy_derivative(ActivationDerivativeDropped, Relu, -3.0, 0.0),
            1.0
        );
        // Every other bug leaves act'(z) alone: relu'(−3) = 0, tanh'(1).
        assert_eq!(buggy_derivative(UpdatePlus, Relu, -3.0, 0.0), 0.0);
        assert_eq!(buggy_derivative(UpdatePlus, Relu, 3.0, 3.0), 1.0);
        let v = buggy_derivative(MseWithoutTwo, Tanh, 1.0, 0.7615941559557649);
        // (4e/(1 + e)² with e = exp(−2) rounds a few ulps away from 1 − tanh²(1).)
        assert!((v - 0.41997434161402614).abs() <= 1e-14, "{v}");
    }
}
