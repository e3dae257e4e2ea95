//! A recorded step on the exact kernels: [`crate::nn::network::Network::train_step`]
//! (with `∂L̄/∂X`), the same arithmetic and so the same bits, with its three products —
//! `Z = X·Wᵀ + b`, `dW = dZᵀ·X`, `dX = dZ·W` — on the vectorised exact kernels
//! ([`super::exact`]). Everything of size `B × out` or smaller (activations, the loss
//! and its derivative, `dZ`, `db`, the update) is the `nn/` code itself.
//!
//! Used where a step's forward pass and gradients are kept: the traced steps of
//! `export` and `compare` ([`super::FastStepper`] with [`super::Kernels::Exact`]) and
//! `compare`'s re-anchored steps and its float32 twin ([`Recorder`]). It allocates its
//! outputs (they are returned).

use ndarray::{Array1, Array2, ArrayView2};

use super::exact;
use crate::nn::dense::{Dense, DenseGrad, DenseOutput};
use crate::nn::network::{Forward, Gradients, Network};
use crate::nn::sgd::{Outcome, Stepper, WholeStep};

/// A matrix's elements in row-major order (copied only when the view is not).
fn row_major<'a>(a: ArrayView2<'a, f64>) -> std::borrow::Cow<'a, [f64]> {
    match a.to_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

/// The layer's forward pass: [`Dense::forward`] with the affine product on the exact
/// kernel. `x (B, in)` → `Z, A (B, out)`.
fn forward(layer: &Dense<f64>, x: ArrayView2<f64>, threads: usize) -> DenseOutput<f64> {
    let (b, n) = x.dim();
    let out = layer.outputs();
    let w = row_major(layer.w.view());
    let bias = layer.b.to_vec();
    let x = row_major(x);
    let mut xt = vec![0.0; n * b];
    let mut z = vec![0.0; b * out];
    exact::affine((b, out, n), &w, &bias, &x, &mut xt, &mut z, threads);
    let z = Array2::from_shape_vec((b, out), z).expect("b·out values");
    let act = layer.activation;
    let a = z.mapv(|v| act.apply(v));
    DenseOutput { z, a }
}

/// The layer's backward pass ([`Dense::backward`] with `dX`): `dZ` and `db` by the
/// `nn/` code, `dW` and `dX` on the exact kernels.
fn backward(
    layer: &Dense<f64>,
    x: ArrayView2<f64>,
    out: &DenseOutput<f64>,
    da: ArrayView2<f64>,
    threads: usize,
) -> DenseGrad {
    let (b, n) = x.dim();
    let m = layer.outputs();
    let dz = layer.grad_z(out, da);
    let db: Array1<f64> = Dense::grad_b(dz.view());
    let dz_flat = row_major(dz.view()).into_owned();
    let x = row_major(x);
    let mut dw = vec![0.0; m * n];
    exact::grad_weights((b, m, n), &dz_flat, &x, &mut dw, threads);
    let w = row_major(layer.w.view());
    let mut dx = vec![0.0; b * n];
    exact::grad_input((b, m, n), &dz_flat, &w, &mut dx, threads);
    DenseGrad {
        dw: Array2::from_shape_vec((m, n), dw).expect("out·in values"),
        dz,
        db,
        dx: Some(Array2::from_shape_vec((b, n), dx).expect("b·in values")),
    }
}

/// The forward pass of the whole network, the bits of [`Network::forward`], with the
/// affine products on the exact kernels. `x (B, n_0)`.
pub fn forward_pass(net: &Network<f64>, x: ArrayView2<f64>, threads: usize) -> Forward<f64> {
    let mut layers: Vec<DenseOutput<f64>> = Vec::with_capacity(net.layers.len());
    for (k, layer) in net.layers.iter().enumerate() {
        let input = if k == 0 { x } else { layers[k - 1].a.view() };
        let out = forward(layer, input, threads);
        layers.push(out);
    }
    Forward {
        input: x.to_owned(),
        layers,
    }
}

/// One training step with its record, the bits of `net.train_step(x, y, lr, true)`:
/// the forward pass, each sample's loss, the gradients of the batch mean (layer 0's
/// `dX` included); `net` is updated.
pub fn train_step(
    net: &mut Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    lr: f64,
    threads: usize,
) -> (Forward<f64>, Array1<f64>, Gradients) {
    let fwd = forward_pass(net, x, threads);
    let losses = net.sample_losses(&fwd, y);
    let d_output = net.loss.batch_derivative(fwd.output(), y);
    let mut grads: Vec<DenseGrad> = Vec::with_capacity(net.layers.len());
    let mut da = d_output.clone();
    for (k, layer) in net.layers.iter().enumerate().rev() {
        let g = backward(
            layer,
            fwd.layer_input(k),
            &fwd.layers[k],
            da.view(),
            threads,
        );
        if let Some(dx) = &g.dx {
            da = dx.clone();
        }
        grads.push(g);
    }
    grads.reverse();
    let grads = Gradients {
        d_output,
        layers: grads,
    };
    net.apply_update(&grads, lr);
    (fwd, losses, grads)
}

/// A stepper that makes every step with [`train_step`] and keeps its record: the
/// reference stepper's steps and records (`nn::sgd::Reference`), the same bits, on the
/// exact kernels.
#[derive(Debug)]
pub struct Recorder {
    threads: usize,
    last: Option<WholeStep>,
}

impl Recorder {
    /// A recorder whose products use `threads` threads (the same bits for any).
    pub fn new(threads: usize) -> Self {
        Recorder {
            threads: threads.max(1),
            last: None,
        }
    }
}

impl Stepper for Recorder {
    fn step(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
        _record: bool,
    ) -> Outcome<'_> {
        let step = train_step(net, x, y, lr, self.threads);
        Outcome::kept(&mut self.last, step, net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::Activation::{Identity, LeakyRelu, Relu, Sigmoid, Tanh};
    use crate::nn::loss::Loss;

    fn bits(a: &Array2<f64>) -> Vec<u64> {
        a.iter().map(|v| v.to_bits()).collect()
    }

    /// The recorded step is `Network::train_step` bit for bit: forward, losses,
    /// gradients (with layer 0's `dX`) and the updated parameters, on layers that take
    /// the vectorised kernels, layers that do not, one-output layers, each loss, 1 and
    /// 2 threads (the gradient checker's claimed gradients are these).
    #[test]
    fn the_recorded_step_is_the_reference_step_bit_for_bit() {
        let shapes: [(&[usize], usize); 3] = [
            (&[130, 45, 23, 9, 1], 19),
            (&[3, 4, 2], 5),
            (&[70, 1, 3], 33),
        ];
        let acts = [Relu, Tanh, Sigmoid, LeakyRelu, Identity];
        for (s, &(sizes, b)) in shapes.iter().enumerate() {
            let activations: Vec<_> = (0..sizes.len() - 1)
                .map(|k| acts[(k + s) % acts.len()])
                .collect();
            let loss = Loss::ALL[s % Loss::ALL.len()];
            let net = Network::init(sizes, &activations, loss, s as u32, 0.3).unwrap();
            let x = Array2::from_shape_fn((b, sizes[0]), |(r, c)| {
                ((r * 31 + c * 7) % 17) as f64 / 17.0 - 0.5
            });
            let y =
                Array2::from_shape_fn((b, sizes[sizes.len() - 1]), |(r, c)| ((r + c) % 3) as f64);
            let mut want_net = net.clone();
            let (wf, wl, wg) = want_net.train_step(x.view(), y.view(), 0.05, true);
            for threads in [1, 2] {
                let mut got_net = net.clone();
                let (gf, gl, gg) = train_step(&mut got_net, x.view(), y.view(), 0.05, threads);
                let what = format!("{sizes:?}, {loss:?}, {threads} thread(s)");
                for (w, g) in wf.layers.iter().zip(&gf.layers) {
                    assert_eq!(bits(&w.z), bits(&g.z), "z, {what}");
                    assert_eq!(bits(&w.a), bits(&g.a), "a, {what}");
                }
                assert_eq!(
                    wl.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    gl.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "losses, {what}"
                );
                assert_eq!(bits(&wg.d_output), bits(&gg.d_output), "d_output, {what}");
                for (w, g) in wg.layers.iter().zip(&gg.layers) {
                    assert_eq!(bits(&w.dz), bits(&g.dz), "dz, {what}");
                    assert_eq!(bits(&w.dw), bits(&g.dw), "dW, {what}");
                    assert_eq!(
                        w.db.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        g.db.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "db, {what}"
                    );
                    assert_eq!(
                        w.dx.as_ref().map(bits),
                        g.dx.as_ref().map(bits),
                        "dX, {what}"
                    );
                }
                for (w, g) in want_net.layers.iter().zip(&got_net.layers) {
                    assert_eq!(bits(&w.w), bits(&g.w), "W after, {what}");
                }
            }
        }
    }
}
