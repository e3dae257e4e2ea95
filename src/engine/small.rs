//! The reference kernels on flat row-major slices (no ndarray iterators, no
//! allocation): the same operations in the same order as [`crate::nn::kernels`], so the
//! same bits. Every size that is a compile-time constant (via `with_sizes!`) unrolls.

use ndarray::{ArrayView2, ArrayViewMut2};

use super::elementwise::{activation_grad, bias_activation, descend};
use super::{exact, flat, flat_mut, row_major, row_major_slice, FastStepper, SMALL_LAYER};
use crate::nn::activation::Activation;
use crate::nn::loss::Loss;
use crate::nn::network::Network;

impl FastStepper {
    /// The all-small-layers step on contiguous slices (no ndarray iterators, no
    /// allocation), with the reference kernels' exact arithmetic; `None` when a layer is
    /// large, the GEMM is forced, or an input is not contiguous.
    pub(super) fn try_step_small(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
    ) -> Option<(f64, bool)> {
        let b = x.nrows();
        for l in &net.layers {
            let (out, n) = l.w.dim();
            if self.use_gemm(b, out, n)
                || !row_major(&l.w)
                || !(l.b.len() <= 1 || l.b.strides()[0] == 1)
            {
                return None;
            }
        }
        let (xs, ys) = (row_major_slice(x)?, row_major_slice(y)?);
        #[cfg(target_arch = "x86_64")]
        {
            if self.fma {
                // SAFETY: the CPU supports FMA (detected in `FastStepper::new`).
                return Some(unsafe { small_step_fma(self, net, xs, ys, b, lr) });
            }
        }
        Some(small_step(self, net, xs, ys, b, lr))
    }
}

/// [`small_step`] compiled with FMA enabled, so `mul_add` becomes one instruction
/// instead of a libm call; `mul_add` is exact either way, so the results are the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn small_step_fma(
    t: &mut FastStepper,
    net: &mut Network<f64>,
    x: &[f64],
    y: &[f64],
    b: usize,
    lr: f64,
) -> (f64, bool) {
    small_step(t, net, x, y, b, lr)
}

/// One layer's forward on row-major slices: `z[r][i] = Σ_k w[i][k]·x[r][k] + b[i]`, the
/// sum in the reference gemv order (see [`kernels`]), then `a = act(z)`.
/// Shapes: `w (out, n)`, `bias (out)`, `x (b, n)` → `z, a (b, out)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_layer(
    (b, out, n): (usize, usize, usize),
    act: Activation,
    w: &[f64],
    bias: &[f64],
    x: &[f64],
    z: &mut [f64],
    a: &mut [f64],
) {
    let (w, bias, x) = (&w[..out * n], &bias[..out], &x[..b * n]);
    let (z, a) = (&mut z[..b * out], &mut a[..b * out]);
    let swap = out >= 2 && n >= 2;
    for r in 0..b {
        let xr = &x[r * n..(r + 1) * n];
        for i in 0..out {
            let wi = &w[i * n..(i + 1) * n];
            let mut acc = if swap { wi[1] * xr[1] } else { wi[0] * xr[0] };
            if swap {
                acc = wi[0].mul_add(xr[0], acc);
            }
            for kk in if swap { 2 } else { 1 }..n {
                acc = wi[kk].mul_add(xr[kk], acc);
            }
            z[r * out + i] = acc + bias[i];
        }
    }
    with_activation!(act, |act| {
        for (a, &z) in a.iter_mut().zip(z.iter()) {
            *a = act.apply(z);
        }
    });
}

/// Per-sample MSE and `∂L̄/∂Ŷ = 2(ŷ − y)/m / B`, the same operations as `Loss::value`
/// and `Loss::batch_derivative` (a division by 1 is skipped, which is exact, because
/// divisions dominate a tiny step). Shapes: `y_hat, y, d_out (b, m)`, `losses (b)`.
/// Returns `Σ_r L_r` in row order.
#[inline(always)]
pub(super) fn mse_layer(
    (b, m): (usize, usize),
    y_hat: &[f64],
    y: &[f64],
    d_out: &mut [f64],
    losses: &mut [f64],
) -> f64 {
    let (y_hat, y, d_out, losses) = (
        &y_hat[..b * m],
        &y[..b * m],
        &mut d_out[..b * m],
        &mut losses[..b],
    );
    let (mf, bf) = (m as f64, b as f64);
    let mut total = 0.0;
    for r in 0..b {
        let (p, q) = (&y_hat[r * m..(r + 1) * m], &y[r * m..(r + 1) * m]);
        let mut sum = 0.0;
        for c in 0..m {
            let d = p[c] - q[c];
            sum += d * d;
            let mut g = 2.0 * d;
            if m != 1 {
                g /= mf;
            }
            if b != 1 {
                g /= bf;
            }
            d_out[r * m + c] = g;
        }
        let l = if m == 1 { sum } else { sum / mf };
        losses[r] = l;
        total += l;
    }
    total
}

/// Per-sample losses and `∂L̄/∂Ŷ` of any loss: the `nn/` code itself
/// ([`Loss::value`], [`Loss::batch_derivative_into`]) on views of the buffers, so the
/// same bits and nothing allocated. Shapes as [`mse_layer`]; returns `Σ_r L_r` in row
/// order.
pub(super) fn loss_layer(
    loss: Loss,
    (b, m): (usize, usize),
    y_hat: &[f64],
    y: &[f64],
    d_out: &mut [f64],
    losses: &mut [f64],
) -> f64 {
    let y_hat = ArrayView2::from_shape((b, m), &y_hat[..b * m]).expect("b·m values");
    let y = ArrayView2::from_shape((b, m), &y[..b * m]).expect("b·m values");
    let mut total = 0.0;
    for (l, (p, t)) in losses[..b]
        .iter_mut()
        .zip(y_hat.rows().into_iter().zip(y.rows()))
    {
        *l = loss.value(p, t);
        total += *l;
    }
    let d = ArrayViewMut2::from_shape((b, m), &mut d_out[..b * m]).expect("b·m values");
    loss.batch_derivative_into(y_hat, y, d);
    total
}

/// The buffers of one layer's backward step (row-major slices).
pub(super) struct BackwardBufs<'a> {
    /// `dA (b, out)`, from the loss or the layer above.
    pub(super) da: &'a [f64],
    /// The layer's input `X (b, n)`.
    pub(super) x: &'a [f64],
    /// `Z (b, out)` from the forward pass.
    pub(super) z: &'a [f64],
    /// `dZ (b, out)`, written.
    pub(super) dz: &'a mut [f64],
    /// `dW (out, n)`, written.
    pub(super) dw: &'a mut [f64],
    /// `db (out)`, written.
    pub(super) db: &'a mut [f64],
    /// `dX (b, n)`, written when present (not for layer 0).
    pub(super) dx: Option<&'a mut [f64]>,
}

/// One layer's backward and update on row-major slices: `dz = da ⊙ act'(z)`,
/// `dW = dZᵀ·X` and `db = Σ_rows dZ` (summed over the batch in row order),
/// `dX = dZ·W` (over `out` in index order, with `W` before its update), then
/// `W ← W − lr·dW`, `b ← b − lr·db`. Returns whether every updated parameter is finite.
#[inline(always)]
pub(super) fn backward_layer(
    (b, out, n): (usize, usize, usize),
    act: Activation,
    lr: f64,
    w: &mut [f64],
    bias: &mut [f64],
    bufs: BackwardBufs<'_>,
) -> bool {
    let (w, bias) = (&mut w[..out * n], &mut bias[..out]);
    let (da, x, z) = (&bufs.da[..b * out], &bufs.x[..b * n], &bufs.z[..b * out]);
    let (dz, dw, db) = (
        &mut bufs.dz[..b * out],
        &mut bufs.dw[..out * n],
        &mut bufs.db[..out],
    );
    with_activation!(act, |act| {
        for e in 0..b * out {
            dz[e] = da[e] * act.derivative(z[e]);
        }
    });
    for i in 0..out {
        for j in 0..n {
            let mut acc = dz[i] * x[j];
            for r in 1..b {
                acc = dz[r * out + i].mul_add(x[r * n + j], acc);
            }
            dw[i * n + j] = acc;
        }
    }
    for i in 0..out {
        let mut acc = dz[i];
        for r in 1..b {
            acc += dz[r * out + i];
        }
        db[i] = acc;
    }
    if let Some(dx) = bufs.dx {
        let dx = &mut dx[..b * n];
        for r in 0..b {
            for j in 0..n {
                let mut acc = dz[r * out] * w[j];
                for i in 1..out {
                    acc = dz[r * out + i].mul_add(w[i * n + j], acc);
                }
                dx[r * n + j] = acc;
            }
        }
    }
    descend(w, dw, lr) & descend(bias, db, lr)
}

/// Whether a layer's products are large enough for the vectorised exact kernels
/// ([`exact`]); smaller ones keep the scalar loops (and their constant-size copies).
#[inline(always)]
fn large(b: usize, out: usize, n: usize) -> bool {
    b.saturating_mul(out).saturating_mul(n) > SMALL_LAYER
}

/// [`backward_layer`] for a large layer, on the vectorised exact kernels: the same
/// arithmetic, so the same bits. `dW` is not written out: the update is fused into its
/// kernel (after `dX`, which needs `W` before the update).
#[allow(clippy::too_many_arguments)]
fn backward_large(
    (b, out, n): (usize, usize, usize),
    act: Activation,
    lr: f64,
    w: &mut [f64],
    bias: &mut [f64],
    bufs: BackwardBufs<'_>,
    threads: usize,
) -> bool {
    let (dz, db) = (&mut bufs.dz[..b * out], &mut bufs.db[..out]);
    activation_grad(
        dz,
        &bufs.da[..b * out],
        &bufs.z[..b * out],
        db,
        act,
        threads,
    );
    if let Some(dx) = bufs.dx {
        exact::grad_input((b, out, n), dz, w, dx, threads);
    }
    let finite = exact::descend_weights((b, out, n), dz, bufs.x, w, lr, threads);
    finite & descend(&mut bias[..out], db, lr)
}

/// One step on contiguous row-major slices, the reference kernels' arithmetic in the
/// reference order (see [`kernels`]): forward, loss, then backward and update layer by
/// layer from the top (each layer's `dX` is taken before its own update, and no lower
/// layer reads its parameters, so this equals "backward all, then update all").
#[inline(always)]
fn small_step(
    t: &mut FastStepper,
    net: &mut Network<f64>,
    x: &[f64],
    y: &[f64],
    b: usize,
    lr: f64,
) -> (f64, bool) {
    let nl = net.layers.len();
    for k in 0..nl {
        let layer = &net.layers[k];
        let (out, n) = layer.w.dim();
        let (before, rest) = t.layers.split_at_mut(k);
        let input: &[f64] = if k == 0 { x } else { flat(&before[k - 1].a) };
        let buf = &mut rest[0];
        let (z, a) = (flat_mut(&mut buf.z), flat_mut(&mut buf.a));
        let (w, bias) = (flat(&layer.w), flat(&layer.b));
        if large(b, out, n) {
            exact::affine((b, out, n), w, bias, input, &mut buf.xt, z, t.threads);
            let (z, a) = (&mut z[..b * out], &mut a[..b * out]);
            bias_activation(z, a, out, None, layer.activation, t.threads);
            continue;
        }
        with_sizes!((b, out, n), |b, out, n| forward_layer(
            (b, out, n),
            layer.activation,
            w,
            bias,
            input,
            z,
            a
        ));
    }
    let m = net.layers[nl - 1].outputs();
    let total = {
        let y_hat = flat(&t.layers[nl - 1].a);
        let (d_out, losses) = (flat_mut(&mut t.d_out), flat_mut(&mut t.losses));
        if net.loss == Loss::Mse {
            with_sizes!((b, 1, m), |b, _one, m| mse_layer(
                (b, m),
                y_hat,
                y,
                d_out,
                losses
            ))
        } else {
            loss_layer(net.loss, (b, m), y_hat, y, d_out, losses)
        }
    };
    let mut finite = true;
    for k in (0..nl).rev() {
        let layer = &mut net.layers[k];
        let (out, n) = layer.w.dim();
        let act = layer.activation;
        let (before, rest) = t.layers.split_at_mut(k);
        let (cur, above) = rest.split_at_mut(1);
        let buf = &mut cur[0];
        let bufs = BackwardBufs {
            da: if k + 1 == nl {
                flat(&t.d_out)
            } else {
                flat(&above[0].dx)
            },
            x: if k == 0 { x } else { flat(&before[k - 1].a) },
            z: flat(&buf.z),
            dz: flat_mut(&mut buf.dz),
            dw: flat_mut(&mut buf.dw),
            db: flat_mut(&mut buf.db),
            dx: (k > 0).then(|| flat_mut(&mut buf.dx)),
        };
        let (w, bias) = (flat_mut(&mut layer.w), flat_mut(&mut layer.b));
        if large(b, out, n) {
            finite &= backward_large((b, out, n), act, lr, w, bias, bufs, t.threads);
            continue;
        }
        finite &= with_sizes!((b, out, n), |b, out, n| backward_layer(
            (b, out, n),
            act,
            lr,
            w,
            bias,
            bufs
        ));
    }
    (total, finite)
}
