//! A stack of dense layers with an MSE loss: forward (generic), backward (by hand).
//!
//! Layer `k` (0-based) maps `a_{k} (B, n_k)` to `a_{k+1} (B, n_{k+1})`, with
//! `a_0 = X` and the last activation `a_L = Ŷ`. `sizes = [n_0, …, n_L]`.
//!
//! The training objective for a batch is the mean per-sample loss
//! `L̄ = (1/B)·Σ_r L(ŷ_r, y_r)`; backward starts from `∂L̄/∂Ŷ` and walks the layers in
//! reverse, handing each layer's `dX` to the layer before it as its `dA`.

use ndarray::{Array1, Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::nn::activation::Activation;
use crate::nn::dense::{Dense, DenseGrad, DenseOutput};
use crate::nn::loss::Loss;
use crate::rng::RandomState;
use crate::scalar::Scalar;

/// A dense network with parameters of scalar type `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Network<T = f64> {
    /// The layers, input side first.
    pub layers: Vec<Dense<T>>,
    /// The loss applied to the last layer's activation.
    pub loss: Loss,
}

/// Everything the forward pass computed for a batch, kept for the backward pass.
#[derive(Debug, Clone)]
pub struct Forward<T = f64> {
    /// The batch input `X (B, n_0)`.
    pub input: Array2<T>,
    /// Per layer: `Z` and `A`, each `(B, n_{k+1})`.
    pub layers: Vec<DenseOutput<T>>,
}

impl<T: Scalar> Forward<T> {
    /// The network's output `Ŷ (B, n_L)`.
    pub fn output(&self) -> ArrayView2<'_, T> {
        match self.layers.last() {
            Some(l) => l.a.view(),
            None => self.input.view(),
        }
    }

    /// The input of layer `k`: `X` for `k = 0`, else the previous layer's `A`.
    pub fn layer_input(&self, k: usize) -> ArrayView2<'_, T> {
        if k == 0 {
            self.input.view()
        } else {
            self.layers[k - 1].a.view()
        }
    }
}

/// The gradients of a batch's mean loss, from [`Network::backward`].
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    /// `∂L̄/∂Ŷ (B, n_L)`: where the backward pass starts.
    pub d_output: Array2<f64>,
    /// Per layer: `dW`, `db` and (except possibly layer 0) `dX`.
    pub layers: Vec<DenseGrad>,
}

impl Network<f64> {
    /// A freshly initialised network, the article's way: `np.random.seed(seed)`, then
    /// for each layer in order `W = init_scale · randn(out, in)` and `b = 0`.
    pub fn init(
        sizes: &[usize],
        activations: &[Activation],
        loss: Loss,
        seed: u32,
        init_scale: f64,
    ) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(Error::invalid(
                "sizes",
                "needs at least two entries (input and output)",
            ));
        }
        if activations.len() != sizes.len() - 1 {
            return Err(Error::invalid(
                "activations",
                format!(
                    "needs one entry per layer ({}), got {}",
                    sizes.len() - 1,
                    activations.len()
                ),
            ));
        }
        if let Some(k) = sizes.iter().position(|&s| s == 0) {
            return Err(Error::invalid(format!("sizes[{k}]"), "must be ≥ 1, got 0"));
        }
        let mut rng = RandomState::new(seed);
        let layers = sizes
            .windows(2)
            .zip(activations)
            .map(|(io, &activation)| Dense {
                w: rng.randn(io[1], io[0]).mapv(|v| init_scale * v),
                b: Array1::zeros(io[1]),
                activation,
            })
            .collect();
        Ok(Network { layers, loss })
    }

    /// The same network with every parameter converted into another scalar type
    /// (real part only; the checker then seeds derivative parts itself).
    pub fn lift<T: Scalar>(&self) -> Network<T> {
        Network {
            layers: self
                .layers
                .iter()
                .map(|l| Dense {
                    w: l.w.mapv(T::from),
                    b: l.b.mapv(T::from),
                    activation: l.activation,
                })
                .collect(),
            loss: self.loss,
        }
    }

    /// Backward pass for the batch mean loss `L̄ = (1/B)·Σ_r L_r`.
    ///
    /// Starts from `dŶ = ∂L̄/∂Ŷ` ([`Loss::batch_derivative`]) and, for `k = L−1 … 0`,
    /// calls [`Dense::backward`] with `dA_k`, passing its `dX` on as `dA_{k−1}`. All
    /// gradients use the parameters as they were in the forward pass; nothing is
    /// updated here. `want_input_grad` also computes `∂L̄/∂X` (layer 0's `dX`).
    pub fn backward(
        &self,
        fwd: &Forward<f64>,
        y: ArrayView2<f64>,
        want_input_grad: bool,
    ) -> Gradients {
        let d_output = self.loss.batch_derivative(fwd.output(), y);
        let mut grads: Vec<DenseGrad> = Vec::with_capacity(self.layers.len());
        let mut da = d_output.clone();
        for (k, layer) in self.layers.iter().enumerate().rev() {
            let want_dx = k > 0 || want_input_grad;
            let g = layer.backward(fwd.layer_input(k), &fwd.layers[k], da.view(), want_dx);
            if let Some(dx) = &g.dx {
                da = dx.clone();
            }
            grads.push(g);
        }
        grads.reverse();
        Gradients {
            d_output,
            layers: grads,
        }
    }

    /// One training step on a batch: forward, per-sample losses, backward of the batch
    /// mean, then the update of every layer. Returns the forward pass, the losses and
    /// the gradients (`want_input_grad` adds layer 0's `dX`, for step traces).
    pub fn train_step(
        &mut self,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
        want_input_grad: bool,
    ) -> (Forward<f64>, Array1<f64>, Gradients) {
        let fwd = self.forward(x);
        let losses = self.sample_losses(&fwd, y);
        let grads = self.backward(&fwd, y, want_input_grad);
        self.apply_update(&grads, lr);
        (fwd, losses, grads)
    }

    /// Gradient-descent update of every layer: `W ← W − lr·dW`, `b ← b − lr·db`
    /// ([`Dense::descend`]).
    pub fn apply_update(&mut self, grads: &Gradients, lr: f64) {
        for (layer, g) in self.layers.iter_mut().zip(&grads.layers) {
            layer.descend(g.dw.view(), g.db.view(), lr);
        }
    }

    /// The first non-finite parameter, named like `layers[1].W[0][2]`.
    pub fn first_non_finite(&self) -> Option<String> {
        for (k, l) in self.layers.iter().enumerate() {
            if let Some(((i, j), _)) = l.w.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return Some(format!("layers[{k}].W[{i}][{j}]"));
            }
            if let Some((i, _)) = l.b.indexed_iter().find(|(_, v)| !v.is_finite()) {
                return Some(format!("layers[{k}].b[{i}]"));
            }
        }
        None
    }
}

impl<T: Scalar> Network<T> {
    /// `sizes = [n_0, …, n_L]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s: Vec<usize> = self.layers.iter().map(|l| l.inputs()).take(1).collect();
        s.extend(self.layers.iter().map(|l| l.outputs()));
        s
    }

    /// Total number of parameters, `Σ_k n_{k+1}·(n_k + 1)`.
    pub fn num_params(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }

    /// Forward pass of a batch `X (B, n_0)` through every layer; generic over the scalar.
    pub fn forward(&self, x: ArrayView2<T>) -> Forward<T> {
        self.forward_from(0, x)
    }

    /// Forward pass through layers `start..` only, from that layer's input `(B, n_start)`.
    /// `forward_from(0, X)` is [`Network::forward`]; the gradient checker starts later
    /// when the layers before `start` are unaffected by what it perturbs. The returned
    /// `Forward` holds the layers `start..` (its `input` is the given one).
    pub fn forward_from(&self, start: usize, x: ArrayView2<T>) -> Forward<T> {
        let mut layers: Vec<DenseOutput<T>> = Vec::with_capacity(self.layers.len() - start);
        for layer in &self.layers[start..] {
            let input = layers.last().map_or(x, |o| o.a.view());
            let out = layer.forward(input);
            layers.push(out);
        }
        Forward {
            input: x.to_owned(),
            layers,
        }
    }

    /// Each sample's loss `L_r (B)` for a forward pass and targets `Y (B, n_L)`.
    pub fn sample_losses(&self, fwd: &Forward<T>, y: ArrayView2<f64>) -> Array1<T> {
        let y_hat = fwd.output();
        Array1::from_shape_fn(y_hat.nrows(), |r| self.loss.value(y_hat.row(r), y.row(r)))
    }

    /// The batch mean loss `L̄ = (1/B)·Σ_r L_r` (the objective whose gradient
    /// [`Network::backward`] computes) of a batch `X (B, n_0)`, `Y (B, n_L)`.
    pub fn mean_loss(&self, x: ArrayView2<T>, y: ArrayView2<f64>) -> T {
        self.mean_loss_of(self.forward(x).output(), y)
    }

    /// `L̄ = (1/B)·Σ_r L(ŷ_r, y_r)` for given outputs `Ŷ (B, n_L)`, summed in row order.
    pub fn mean_loss_of(&self, y_hat: ArrayView2<T>, y: ArrayView2<f64>) -> T {
        let sum = y_hat
            .rows()
            .into_iter()
            .zip(y.rows())
            .fold(T::zero(), |acc, (p, t)| acc + self.loss.value(p, t));
        sum / y_hat.nrows() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::Activation::*;
    use ndarray::array;

    /// The mini-batch gradient equals the mean of the per-sample gradients.
    #[test]
    fn batch_gradient_is_the_mean_of_per_sample_gradients() {
        let net = Network::init(&[3, 4, 2], &[Tanh, Sigmoid], Loss::Mse, 5, 1.0).unwrap();
        let x = array![[0.5, -1.0, 2.0], [1.0, 0.3, -0.2], [-1.5, 0.7, 0.4]];
        let y = array![[0.1, 0.9], [0.4, 0.2], [0.8, 0.5]];
        let g = net.backward(&net.forward(x.view()), y.view(), true);
        for (k, layer) in g.layers.iter().enumerate() {
            let mut mean_dw = Array2::<f64>::zeros(layer.dw.raw_dim());
            let mut mean_db = Array1::<f64>::zeros(layer.db.raw_dim());
            for r in 0..3 {
                let (xr, yr) = (
                    x.slice(ndarray::s![r..r + 1, ..]),
                    y.slice(ndarray::s![r..r + 1, ..]),
                );
                let gr = net.backward(&net.forward(xr), yr, true);
                mean_dw = mean_dw + &gr.layers[k].dw / 3.0;
                mean_db = mean_db + &gr.layers[k].db / 3.0;
            }
            approx::assert_abs_diff_eq!(layer.dw, mean_dw, epsilon = 1e-15);
            approx::assert_abs_diff_eq!(layer.db, mean_db, epsilon = 1e-15);
        }
    }

    #[test]
    fn apply_update_is_gradient_descent_and_input_grads_only_on_request() {
        let mut net = Network::init(&[2, 3, 1], &[Relu, Identity], Loss::Mse, 0, 1.0).unwrap();
        let (x, y) = (array![[1.0, 2.0]], array![[4.0]]);
        assert_eq!(net.num_params(), 3 * 2 + 3 + 3 + 1);
        assert_eq!(net.sizes(), vec![2, 3, 1]);
        let before = net.clone();
        let g = net.backward(&net.forward(x.view()), y.view(), false);
        assert!(g.layers[0].dx.is_none(), "layer 0's dX only when asked");
        assert!(g.layers[1].dx.is_some());
        net.apply_update(&g, 0.5);
        for k in 0..2 {
            assert_eq!(
                net.layers[k].w,
                &before.layers[k].w - &(&g.layers[k].dw * 0.5)
            );
            assert_eq!(
                net.layers[k].b,
                &before.layers[k].b - &(&g.layers[k].db * 0.5)
            );
        }
    }

    #[test]
    fn init_refuses_inconsistent_shapes() {
        assert!(Network::init(&[2], &[], Loss::Mse, 0, 1.0).is_err());
        assert!(Network::init(&[2, 3, 1], &[Relu], Loss::Mse, 0, 1.0).is_err());
        let e = Network::init(&[2, 0, 1], &[Relu, Identity], Loss::Mse, 0, 1.0).unwrap_err();
        assert_eq!(e.to_string(), "sizes[1]: must be ≥ 1, got 0");
    }
}
