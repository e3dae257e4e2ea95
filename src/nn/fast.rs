//! Fast training steps: every buffer allocated once, large products on a tuned GEMM.
//!
//! [`FastTrainer`] holds, per layer, `Z`, `A`, `dZ`, `dX` `(B, ·)` and `dW`, `db`, all
//! sized for the largest batch, and runs the same math as the reference path
//! ([`Network::train_step`]) into them:
//!
//! * **small layers** (`B·out·in ≤` [`SMALL_LAYER`]) use the reference kernels
//!   ([`kernels`]), so their results are the reference's bits — the article's run is
//!   still bit-identical to NumPy;
//! * **large layers** use faer's matrix multiply (packed, AVX-512/AVX2 kernels picked at
//!   run time, multithreaded with rayon) for `X·Wᵀ`, `dZᵀ·X` and `dZ·W`. Its summation order differs from the reference's,
//!   so results agree with the reference within rounding (tested: ≤ 1e-12 relative per
//!   step), and they are the same bits for 1 and 2 threads and from run to run.
//!
//! Memory: the trainer never allocates in a step on the small-layer path (tested with a
//! counting allocator). faer may allocate packing buffers inside a product (a handful
//! of allocations per call, independent of the data; measured in `tests/alloc_free.rs`).

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Axis, Zip};

use crate::error::{Error, Result};
use crate::nn::kernels;
use crate::nn::network::Network;
use crate::nn::train::{check_data, TrainConfig};

/// Layers with `B·out·in` up to this use the reference kernels.
pub const SMALL_LAYER: usize = 4096;

/// Which kernels the fast trainer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// Reference kernels for small layers, GEMM for large ones.
    #[default]
    Auto,
    /// The reference kernels everywhere (bit-identical to [`Network::train_step`]).
    Reference,
    /// GEMM (faer) everywhere (for testing the GEMM path on small networks).
    Gemm,
}

struct LayerBuf {
    z: Array2<f64>,
    a: Array2<f64>,
    dz: Array2<f64>,
    dx: Array2<f64>,
    dw: Array2<f64>,
    db: Array1<f64>,
}

/// Preallocated buffers and settings for allocation-free training steps.
pub struct FastTrainer {
    batch: usize,
    layers: Vec<LayerBuf>,
    d_out: Array2<f64>,
    losses: Array1<f64>,
    kernels: Kernels,
    threads: usize,
}

impl std::fmt::Debug for FastTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastTrainer")
            .field("batch", &self.batch)
            .field("kernels", &self.kernels)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// Products with fewer multiply-adds than this run as one piece.
const SPLIT_WORK: usize = 1 << 18;

/// `dst = lhs · rhs`, `(m, k)·(k, n) → (m, n)`, any strides, on faer's sequential matrix
/// multiply. Large products are always cut into two halves along the longer side of
/// `dst` — whatever the thread count, so the result is the same bits for 1 and 2
/// threads — and with `threads > 1` the halves run on both cores (`rayon::join`, which
/// allocates nothing when called from a rayon worker: see [`train_fast`]).
fn gemm_into(dst: ArrayViewMut2<f64>, lhs: ArrayView2<f64>, rhs: ArrayView2<f64>, threads: usize) {
    let (m, k) = lhs.dim();
    let n = rhs.ncols();
    if m.saturating_mul(n).saturating_mul(k) < SPLIT_WORK || m.max(n) < 2 {
        return gemm_seq(dst, lhs, rhs);
    }
    let ((d1, d2), (l1, l2), (r1, r2)) = if m >= n {
        let mid = m / 2;
        (
            dst.split_at(Axis(0), mid),
            lhs.split_at(Axis(0), mid),
            (rhs, rhs),
        )
    } else {
        let mid = n / 2;
        (
            dst.split_at(Axis(1), mid),
            (lhs, lhs),
            rhs.split_at(Axis(1), mid),
        )
    };
    if threads > 1 {
        rayon::join(|| gemm_seq(d1, l1, r1), || gemm_seq(d2, l2, r2));
    } else {
        gemm_seq(d1, l1, r1);
        gemm_seq(d2, l2, r2);
    }
}

/// One sequential faer product `dst = lhs · rhs`.
fn gemm_seq(mut dst: ArrayViewMut2<f64>, lhs: ArrayView2<f64>, rhs: ArrayView2<f64>) {
    let (m, k) = lhs.dim();
    let n = rhs.ncols();
    debug_assert_eq!(rhs.nrows(), k);
    debug_assert_eq!(dst.dim(), (m, n));
    let ds = [dst.strides()[0], dst.strides()[1]];
    let (ls, rs) = (lhs.strides(), rhs.strides());
    // SAFETY: each view is valid for its shape and strides (they come from ndarray views
    // of those shapes); `dst` is a unique borrow that aliases neither `lhs` nor `rhs`.
    unsafe {
        let d = faer::MatMut::from_raw_parts_mut(dst.as_mut_ptr(), m, n, ds[0], ds[1]);
        let l = faer::MatRef::from_raw_parts(lhs.as_ptr(), m, k, ls[0], ls[1]);
        let r = faer::MatRef::from_raw_parts(rhs.as_ptr(), k, n, rs[0], rs[1]);
        faer::linalg::matmul::matmul(d, faer::Accum::Replace, l, r, 1.0, faer::Par::Seq);
    }
    clear_upper_vector_state();
}

/// Executes `vzeroupper` after faer's AVX/AVX-512 kernels. Without it the thread keeps
/// a dirty upper register state, and every later SSE instruction (most of this crate's
/// code, compiled for baseline x86-64) pays a transition penalty: measured here, the
/// reference kernels ran 30× slower on a thread that had run one faer product.
#[inline]
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        fn zeroupper() {
            std::arch::x86_64::_mm256_zeroupper()
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: AVX is available (checked just above).
            unsafe { zeroupper() }
        }
    }
}

impl FastTrainer {
    /// Buffers for `net` and batches of up to `batch_size` samples. `threads` is the
    /// GEMM's thread count (1 = single-threaded; results are identical either way).
    pub fn new(net: &Network<f64>, batch_size: usize, kernels: Kernels, threads: usize) -> Self {
        let b = batch_size.max(1);
        let layers = net
            .layers
            .iter()
            .map(|l| LayerBuf {
                z: Array2::zeros((b, l.outputs())),
                a: Array2::zeros((b, l.outputs())),
                dz: Array2::zeros((b, l.outputs())),
                dx: Array2::zeros((b, l.inputs())),
                dw: Array2::zeros(l.w.raw_dim()),
                db: Array1::zeros(l.b.raw_dim()),
            })
            .collect();
        let m = net.layers.last().map_or(0, |l| l.outputs());
        FastTrainer {
            batch: b,
            layers,
            d_out: Array2::zeros((b, m)),
            losses: Array1::zeros(b),
            kernels,
            threads: threads.max(1),
        }
    }

    fn use_gemm(&self, b: usize, out: usize, inp: usize) -> bool {
        match self.kernels {
            Kernels::Reference => false,
            Kernels::Gemm => true,
            Kernels::Auto => b.saturating_mul(out).saturating_mul(inp) > SMALL_LAYER,
        }
    }

    /// The per-sample losses of the last step, `(B)`.
    pub fn losses(&self, b: usize) -> ndarray::ArrayView1<'_, f64> {
        self.losses.slice(s![..b])
    }

    /// One training step on a batch `X (b, n_0)`, `Y (b, n_L)` with `b ≤` the trainer's
    /// batch size: forward, per-sample losses, backward of the batch mean, update.
    /// Returns the sum of the per-sample losses (in sample order) and whether every
    /// updated parameter is finite. Shapes must fit (checked in debug builds; the
    /// training loop [`train_fast`] checks them once).
    pub fn step(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
    ) -> (f64, bool) {
        let b = x.nrows();
        debug_assert!(b <= self.batch && b > 0);
        if let Some(result) = self.try_step_small(net, x, y, lr) {
            return result;
        }
        let nl = net.layers.len();
        let threads = self.threads;
        // Forward: Z_k = A_{k−1}·W_kᵀ + b_k, A_k = act(Z_k).
        for k in 0..nl {
            let layer = &net.layers[k];
            let gemm = self.use_gemm(b, layer.outputs(), layer.inputs());
            let (before, rest) = self.layers.split_at_mut(k);
            let input = if k == 0 {
                x
            } else {
                before[k - 1].a.slice(s![..b, ..])
            };
            let buf = &mut rest[0];
            let mut z = buf.z.slice_mut(s![..b, ..]);
            if gemm {
                gemm_into(z.view_mut(), input, layer.w.t(), threads);
                z.rows_mut().into_iter().for_each(|mut row| row += &layer.b);
            } else {
                kernels::affine_into(layer.w.view(), layer.b.view(), input, z.view_mut());
            }
            let act = layer.activation;
            Zip::from(buf.a.slice_mut(s![..b, ..]))
                .and(&z)
                .for_each(|a, &z| *a = act.apply(z));
        }
        // Loss and ∂L̄/∂Ŷ.
        let y_hat = self.layers[nl - 1].a.slice(s![..b, ..]);
        let mut total = 0.0;
        for (r, (p, t)) in y_hat.rows().into_iter().zip(y.rows()).enumerate() {
            let l = net.loss.value(p, t);
            self.losses[r] = l;
            total += l;
        }
        let m = y.ncols();
        let loss = net.loss;
        Zip::from(self.d_out.slice_mut(s![..b, ..]))
            .and(&y_hat)
            .and(&y)
            .for_each(|d, &p, &t| *d = loss.derivative(p, t, m) / b as f64);
        // Backward: dZ = dA ⊙ act'(Z), dW = dZᵀ·X, db = Σ_rows dZ, dX = dZ·W.
        for k in (0..nl).rev() {
            let layer = &net.layers[k];
            let gemm = self.use_gemm(b, layer.outputs(), layer.inputs());
            let (before, rest) = self.layers.split_at_mut(k);
            let (cur, above) = rest.split_at_mut(1);
            let buf = &mut cur[0];
            let da = if k + 1 == nl {
                self.d_out.slice(s![..b, ..])
            } else {
                above[0].dx.slice(s![..b, ..])
            };
            let act = layer.activation;
            Zip::from(buf.dz.slice_mut(s![..b, ..]))
                .and(&da)
                .and(buf.z.slice(s![..b, ..]))
                .for_each(|dz, &da, &z| *dz = da * act.derivative(z));
            let dz = buf.dz.slice(s![..b, ..]);
            let input = if k == 0 {
                x
            } else {
                before[k - 1].a.slice(s![..b, ..])
            };
            if gemm {
                gemm_into(buf.dw.view_mut(), dz.t(), input, threads);
            } else {
                kernels::grad_weights_into(dz, input, buf.dw.view_mut());
            }
            kernels::grad_bias_into(dz, buf.db.view_mut());
            if k > 0 {
                let dx = buf.dx.slice_mut(s![..b, ..]);
                if gemm {
                    gemm_into(dx, dz, layer.w.view(), threads);
                } else {
                    kernels::grad_input_into(dz, layer.w.view(), dx);
                }
            }
        }
        // Update: W ← W − lr·dW, b ← b − lr·db.
        let mut finite = true;
        for (layer, buf) in net.layers.iter_mut().zip(&self.layers) {
            Zip::from(&mut layer.w).and(&buf.dw).for_each(|w, &d| {
                *w -= lr * d;
                finite &= w.is_finite();
            });
            Zip::from(&mut layer.b).and(&buf.db).for_each(|w, &d| {
                *w -= lr * d;
                finite &= w.is_finite();
            });
        }
        (total, finite)
    }
}

impl FastTrainer {
    /// The all-small-layers step on contiguous slices (no ndarray iterators, no
    /// allocation), with the reference kernels' exact arithmetic; `None` when a layer is
    /// large, the GEMM is forced, or an input is not contiguous.
    fn try_step_small(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
    ) -> Option<(f64, bool)> {
        let b = x.nrows();
        if net
            .layers
            .iter()
            .any(|l| self.use_gemm(b, l.outputs(), l.inputs()))
            || net
                .layers
                .iter()
                .any(|l| !l.w.is_standard_layout() || !l.b.is_standard_layout())
        {
            return None;
        }
        let (xs, ys) = (x.as_slice()?, y.as_slice()?);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports FMA (checked just above).
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
    t: &mut FastTrainer,
    net: &mut Network<f64>,
    x: &[f64],
    y: &[f64],
    b: usize,
    lr: f64,
) -> (f64, bool) {
    small_step(t, net, x, y, b, lr)
}

/// The elements of a standard-layout array, without re-checking the layout (each
/// `as_slice` call re-derives it, which dominated a tiny step). Callers guarantee the
/// layout: the trainer's own buffers are created standard, and parameters are checked
/// once per step in `try_step_small`.
#[inline(always)]
fn flat<D: ndarray::Dimension>(a: &ndarray::Array<f64, D>) -> &[f64] {
    debug_assert!(a.is_standard_layout());
    // SAFETY: a standard-layout owned array is `len` contiguous elements from `as_ptr`.
    unsafe { std::slice::from_raw_parts(a.as_ptr(), a.len()) }
}

/// [`flat`], mutably.
#[inline(always)]
fn flat_mut<D: ndarray::Dimension>(a: &mut ndarray::Array<f64, D>) -> &mut [f64] {
    debug_assert!(a.is_standard_layout());
    let len = a.len();
    // SAFETY: as in `flat`, and the borrow is unique.
    unsafe { std::slice::from_raw_parts_mut(a.as_mut_ptr(), len) }
}

/// One step on contiguous row-major slices, the reference kernels' arithmetic in the
/// reference order (see [`kernels`]): forward, loss, backward, update.
#[inline(always)]
fn small_step(
    t: &mut FastTrainer,
    net: &mut Network<f64>,
    x: &[f64],
    y: &[f64],
    b: usize,
    lr: f64,
) -> (f64, bool) {
    let nl = net.layers.len();
    // Forward: z[r][i] = Σ_k w[i][k]·in[r][k] (gemv order) + b[i]; a = act(z).
    for k in 0..nl {
        let layer = &net.layers[k];
        let (out, n) = layer.w.dim();
        let (w, bias) = (flat(&layer.w), flat(&layer.b));
        let (before, rest) = t.layers.split_at_mut(k);
        let input: &[f64] = if k == 0 { x } else { flat(&before[k - 1].a) };
        let buf = &mut rest[0];
        let (z, a) = (flat_mut(&mut buf.z), flat_mut(&mut buf.a));
        let swap = out >= 2 && n >= 2;
        let act = layer.activation;
        for r in 0..b {
            let xr = &input[r * n..(r + 1) * n];
            for i in 0..out {
                let wi = &w[i * n..(i + 1) * n];
                let mut acc = if swap { wi[1] * xr[1] } else { wi[0] * xr[0] };
                if swap {
                    acc = wi[0].mul_add(xr[0], acc);
                }
                for kk in if swap { 2 } else { 1 }..n {
                    acc = wi[kk].mul_add(xr[kk], acc);
                }
                let zv = acc + bias[i];
                z[r * out + i] = zv;
                a[r * out + i] = act.apply(zv);
            }
        }
    }
    // Loss per sample, Σ, and ∂L̄/∂Ŷ = 2(ŷ − y)/m / B (the same operations as
    // `Loss::value` and `Loss::batch_derivative`; a division by 1 is skipped, which is
    // exact, because divisions dominate a tiny step).
    let m = net.layers[nl - 1].outputs();
    let crate::nn::loss::Loss::Mse = net.loss;
    let mut total = 0.0;
    {
        let y_hat = flat(&t.layers[nl - 1].a);
        let d_out = flat_mut(&mut t.d_out);
        let losses = flat_mut(&mut t.losses);
        let (mf, bf) = (m as f64, b as f64);
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
    }
    // Backward, last layer first: dz = da ⊙ act'(z); dW = dZᵀ·X; db = Σ_rows dZ; dX = dZ·W.
    for k in (0..nl).rev() {
        let layer = &net.layers[k];
        let (out, n) = layer.w.dim();
        let w = flat(&layer.w);
        let act = layer.activation;
        let (before, rest) = t.layers.split_at_mut(k);
        let (cur, above) = rest.split_at_mut(1);
        let buf = &mut cur[0];
        let da: &[f64] = if k + 1 == nl {
            flat(&t.d_out)
        } else {
            flat(&above[0].dx)
        };
        let input: &[f64] = if k == 0 { x } else { flat(&before[k - 1].a) };
        let z = flat(&buf.z);
        let dz = flat_mut(&mut buf.dz);
        for e in 0..b * out {
            dz[e] = da[e] * act.derivative(z[e]);
        }
        let dw = flat_mut(&mut buf.dw);
        for i in 0..out {
            for j in 0..n {
                let mut acc = dz[i] * input[j];
                for r in 1..b {
                    acc = dz[r * out + i].mul_add(input[r * n + j], acc);
                }
                dw[i * n + j] = acc;
            }
        }
        let db = flat_mut(&mut buf.db);
        for i in 0..out {
            let mut acc = dz[i];
            for r in 1..b {
                acc += dz[r * out + i];
            }
            db[i] = acc;
        }
        if k > 0 {
            let dx = flat_mut(&mut buf.dx);
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
    }
    // Update: w ← w − lr·dw, b ← b − lr·db.
    let mut finite = true;
    for (layer, buf) in net.layers.iter_mut().zip(&t.layers) {
        let (w, dw) = (flat_mut(&mut layer.w), flat(&buf.dw));
        for (w, &d) in w.iter_mut().zip(dw) {
            *w -= lr * d;
            finite &= w.is_finite();
        }
        let (bs, db) = (flat_mut(&mut layer.b), flat(&buf.db));
        for (w, &d) in bs.iter_mut().zip(db) {
            *w -= lr * d;
            finite &= w.is_finite();
        }
    }
    (total, finite)
}

/// Trains like [`crate::nn::train::train`] (same batches, order, update and divergence
/// checks) on a [`FastTrainer`]; `on_epoch(epoch, total_loss)` sees every epoch.
pub fn train_fast(
    net: &mut Network<f64>,
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    config: &TrainConfig,
    kernels: Kernels,
    threads: usize,
    on_epoch: &mut (dyn FnMut(usize, f64) + Send),
) -> Result<Vec<f64>> {
    config.validate()?;
    check_data(net, x, y)?;
    let mut run = move || -> Result<Vec<f64>> {
        let n = x.nrows();
        let mut trainer = FastTrainer::new(net, config.batch_size.min(n), kernels, threads);
        let mut epoch_losses = Vec::with_capacity(config.epochs);
        for epoch in 0..config.epochs {
            let mut total = 0.0;
            for first in (0..n).step_by(config.batch_size) {
                let last = (first + config.batch_size).min(n);
                let (_, finite) = trainer.step(
                    net,
                    x.slice(s![first..last, ..]),
                    y.slice(s![first..last, ..]),
                    config.lr,
                );
                if let Some(r) = trainer
                    .losses(last - first)
                    .iter()
                    .position(|l| !l.is_finite())
                {
                    return Err(Error::Diverged {
                        epoch,
                        sample: first + r,
                        what: "loss".into(),
                    });
                }
                if !finite {
                    return Err(Error::Diverged {
                        epoch,
                        sample: first,
                        what: net
                            .first_non_finite()
                            .unwrap_or_else(|| "a parameter".into()),
                    });
                }
                for &l in trainer.losses(last - first) {
                    total += l;
                }
            }
            if !total.is_finite() {
                return Err(Error::Diverged {
                    epoch,
                    sample: n - 1,
                    what: "epoch total loss".into(),
                });
            }
            on_epoch(epoch, total);
            epoch_losses.push(total);
        }
        Ok(epoch_losses)
    };
    if threads > 1 {
        // Run on a rayon worker, so that the GEMM's `rayon::join` allocates nothing.
        rayon::scope(|_| run())
    } else {
        run()
    }
}
