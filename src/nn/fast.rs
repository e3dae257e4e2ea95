//! Fast training steps: every buffer allocated once, large products on a tuned GEMM.
//!
//! [`FastTrainer`] holds, per layer, `Z`, `A`, `dZ`, `dX` `(B, ·)` and `dW`, `db`, all
//! sized for the largest batch, and runs the same math as the reference path
//! ([`Network::train_step`]) into them. Three paths, tried in this order:
//!
//! * **tiny two-layer networks, one sample per step** (every width 1…4, e.g. the
//!   article's 2-3-1): `tiny_step` runs the reference kernels with every size a
//!   compile-time constant and every intermediate in a local array, so the step is one
//!   straight-line, fully unrolled block (about 190 instructions for 2-3-1, callgrind).
//!   Same operations, same order: the reference's bits, hence NumPy's for the article;
//! * **small layers** (`B·out·in ≤` [`SMALL_LAYER`]) use the reference kernels on flat
//!   slices (per-layer sizes ≤ 4 at `B = 1` also get constant-size copies): the
//!   reference's bits;
//! * **large layers** use faer's matrix multiply (packed, AVX-512/AVX2 kernels picked at
//!   run time) for `X·Wᵀ` and `dZ·W`, and accumulate the weight update straight into `W`
//!   (`W ← W + (−lr)·dZᵀ·X`, so `dW` is never written out). Summation order and the
//!   update's rounding differ from the reference's, so results agree with it within
//!   rounding (tested: ≤ 1e-12 relative per step), and they are the same bits for 1 and
//!   2 threads and from run to run: every product is cut into the same two halves
//!   whatever the thread count, and the elementwise passes compute each element the
//!   same way on either core.
//!
//! Elementwise passes (bias + activation, `dZ` with `db`, the update) match the
//! activation once per layer, not per element: relu then becomes a branch-free select
//! (per element it was a branch mispredicted for about half of the units, which made
//! this pass cost as much as a third of a GEMM).
//!
//! Memory: no step allocates, on any path (tested with a counting allocator in
//! `tests/alloc_free.rs`, with 1 and 2 threads).

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Axis, Zip};

use crate::error::Result;
use crate::nn::activation::Activation;
use crate::nn::kernels;
use crate::nn::network::Network;
use crate::nn::train::{account_batch, check_data, check_epoch, TrainConfig};

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
    /// Whether the CPU has FMA (detected once, in [`FastTrainer::new`]).
    fma: bool,
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
    gemm_halves(dst, lhs, rhs, None, threads);
}

/// `W ← W − lr·(lhs · rhs)`: the weight update with the gradient product accumulated
/// straight into `W` (faer's `Accum::Add` with `α = −lr`, so `dW` is never written
/// out and `W` is traversed once instead of three times); returns whether every new
/// weight is finite, each half checked by the thread that computed it. The sum
/// `W + (−lr)·acc` is rounded once where the reference rounds `lr·dW` and then the
/// difference, so it agrees with the reference to an ulp of the update (tested:
/// ≤ 1e-12 relative per step). Cut into halves like [`gemm_into`].
fn gemm_descend(
    w: ArrayViewMut2<f64>,
    lhs: ArrayView2<f64>,
    rhs: ArrayView2<f64>,
    lr: f64,
    threads: usize,
) -> bool {
    gemm_halves(w, lhs, rhs, Some(lr), threads)
}

/// The two halves of [`gemm_into`] (`descend = None`) or [`gemm_descend`]; whether the
/// result is finite (checked only when descending; `true` otherwise).
fn gemm_halves(
    dst: ArrayViewMut2<f64>,
    lhs: ArrayView2<f64>,
    rhs: ArrayView2<f64>,
    descend: Option<f64>,
    threads: usize,
) -> bool {
    let (m, k) = lhs.dim();
    let n = rhs.ncols();
    if m.saturating_mul(n).saturating_mul(k) < SPLIT_WORK || m.max(n) < 2 {
        return gemm_seq(dst, lhs, rhs, descend);
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
    let (f1, f2) = if threads > 1 {
        rayon::join(
            || gemm_seq(d1, l1, r1, descend),
            || gemm_seq(d2, l2, r2, descend),
        )
    } else {
        (gemm_seq(d1, l1, r1, descend), gemm_seq(d2, l2, r2, descend))
    };
    f1 & f2
}

/// One sequential faer product: `dst = lhs · rhs`, or with `descend = Some(lr)`,
/// `dst ← dst − lr·(lhs · rhs)` followed by a finiteness check of `dst`.
fn gemm_seq(
    mut dst: ArrayViewMut2<f64>,
    lhs: ArrayView2<f64>,
    rhs: ArrayView2<f64>,
    descend: Option<f64>,
) -> bool {
    let (m, k) = lhs.dim();
    let n = rhs.ncols();
    debug_assert_eq!(rhs.nrows(), k);
    debug_assert_eq!(dst.dim(), (m, n));
    let ds = [dst.strides()[0], dst.strides()[1]];
    let (ls, rs) = (lhs.strides(), rhs.strides());
    let (accum, alpha) = match descend {
        None => (faer::Accum::Replace, 1.0),
        Some(lr) => (faer::Accum::Add, -lr),
    };
    // SAFETY: each view is valid for its shape and strides (they come from ndarray views
    // of those shapes); `dst` is a unique borrow that aliases neither `lhs` nor `rhs`.
    unsafe {
        let d = faer::MatMut::from_raw_parts_mut(dst.as_mut_ptr(), m, n, ds[0], ds[1]);
        let l = faer::MatRef::from_raw_parts(lhs.as_ptr(), m, k, ls[0], ls[1]);
        let r = faer::MatRef::from_raw_parts(rhs.as_ptr(), k, n, rs[0], rs[1]);
        faer::linalg::matmul::matmul(d, accum, l, r, alpha, faer::Par::Seq);
    }
    clear_upper_vector_state();
    descend.is_none() || all_finite(dst.view())
}

/// Whether every element of `a` is finite (row by row; branch-free, so it vectorises).
fn all_finite(a: ArrayView2<f64>) -> bool {
    let mut bad = false;
    for row in a.rows() {
        match row.as_slice() {
            Some(r) => r.iter().for_each(|v| bad |= !v.is_finite()),
            None => row.iter().for_each(|v| bad |= !v.is_finite()),
        }
    }
    !bad
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
            #[cfg(target_arch = "x86_64")]
            fma: std::arch::is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            fma: false,
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
    #[inline]
    pub fn step(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
    ) -> (f64, bool) {
        #[cfg(target_arch = "x86_64")]
        if let Some(result) = self.try_step_tiny(net, x, y, lr) {
            return result;
        }
        self.step_any(net, x, y, lr)
    }

    /// [`FastTrainer::step`] for every network but the tiny two-layer ones (kept out of
    /// line, so that the tiny step does not pay for this function's frame).
    #[inline(never)]
    fn step_any(
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
            let out = layer.outputs();
            let bias = if gemm {
                gemm_into(buf.z.slice_mut(s![..b, ..]), input, layer.w.t(), threads);
                if layer.b.as_slice().is_none() {
                    let mut z = buf.z.slice_mut(s![..b, ..]);
                    z.rows_mut().into_iter().for_each(|mut row| row += &layer.b);
                }
                layer.b.as_slice()
            } else {
                let z = buf.z.slice_mut(s![..b, ..]);
                kernels::affine_into(layer.w.view(), layer.b.view(), input, z);
                None
            };
            let z = &mut flat_mut(&mut buf.z)[..b * out];
            let a = &mut flat_mut(&mut buf.a)[..b * out];
            bias_activation(z, a, out, bias, layer.activation, threads);
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
        // Backward and update, top layer first: dZ = dA ⊙ act'(Z), db = Σ_rows dZ,
        // dX = dZ·W (with W before its update), then W ← W − lr·dZᵀ·X, b ← b − lr·db.
        // No layer below reads this layer's parameters, so updating here equals
        // "backward all, then update all".
        let mut finite = true;
        for k in (0..nl).rev() {
            let layer = &mut net.layers[k];
            let out = layer.outputs();
            let gemm = self.use_gemm(b, out, layer.inputs());
            let (before, rest) = self.layers.split_at_mut(k);
            let (cur, above) = rest.split_at_mut(1);
            let buf = &mut cur[0];
            let da: &[f64] = if k + 1 == nl {
                &flat(&self.d_out)[..b * out]
            } else {
                &flat(&above[0].dx)[..b * out]
            };
            activation_grad(
                &mut flat_mut(&mut buf.dz)[..b * out],
                da,
                &flat(&buf.z)[..b * out],
                flat_mut(&mut buf.db),
                layer.activation,
                threads,
            );
            let dz = buf.dz.slice(s![..b, ..]);
            let input = if k == 0 {
                x
            } else {
                before[k - 1].a.slice(s![..b, ..])
            };
            if k > 0 {
                let dx = buf.dx.slice_mut(s![..b, ..]);
                if gemm {
                    gemm_into(dx, dz, layer.w.view(), threads);
                } else {
                    kernels::grad_input_into(dz, layer.w.view(), dx);
                }
            }
            if gemm {
                // dW is never stored: the product is accumulated into W, scaled by −lr.
                finite &= gemm_descend(layer.w.view_mut(), dz.t(), input, lr, threads);
            } else {
                kernels::grad_weights_into(dz, input, buf.dw.view_mut());
                finite &= descend_array(&mut layer.w, &buf.dw, lr);
            }
            finite &= descend_array(&mut layer.b, &buf.db, lr);
        }
        (total, finite)
    }
}

impl FastTrainer {
    /// The per-sample step of a tiny two-layer network (every width 1…4), compiled for
    /// its exact shape ([`tiny_step`]); `None` when the step is not one of those or an
    /// input is not contiguous. Checked before anything else, because this step is a few
    /// dozen nanoseconds.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn try_step_tiny(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
    ) -> Option<(f64, bool)> {
        if !self.fma || self.kernels == Kernels::Gemm {
            return None;
        }
        let key = tiny_two_layer_key(net, x.nrows())?;
        if !net
            .layers
            .iter()
            .all(|l| row_major(&l.w) && (l.b.len() <= 1 || l.b.strides()[0] == 1))
        {
            return None;
        }
        let (xs, ys) = (row_major_slice(x)?, row_major_slice(y)?);
        macro_rules! fixed {
            ($(($n0:literal, $n1:literal, $n2:literal, $key:literal)),*) => {
                match key {
                    $($key => {
                        debug_assert_eq!($key, ($n0 * 5 + $n1) * 5 + $n2);
                        // SAFETY: the CPU supports FMA (detected in
                        // `FastTrainer::new`).
                        return Some(unsafe {
                            tiny_step_fma::<$n0, $n1, $n2>(net, xs, ys, lr, &mut self.losses)
                        });
                    })*
                    _ => {}
                }
            };
        }
        fixed!(
            (1, 1, 1, 31),
            (1, 1, 2, 32),
            (1, 1, 3, 33),
            (1, 1, 4, 34),
            (1, 2, 1, 36),
            (1, 2, 2, 37),
            (1, 2, 3, 38),
            (1, 2, 4, 39),
            (1, 3, 1, 41),
            (1, 3, 2, 42),
            (1, 3, 3, 43),
            (1, 3, 4, 44),
            (1, 4, 1, 46),
            (1, 4, 2, 47),
            (1, 4, 3, 48),
            (1, 4, 4, 49),
            (2, 1, 1, 56),
            (2, 1, 2, 57),
            (2, 1, 3, 58),
            (2, 1, 4, 59),
            (2, 2, 1, 61),
            (2, 2, 2, 62),
            (2, 2, 3, 63),
            (2, 2, 4, 64),
            (2, 3, 1, 66),
            (2, 3, 2, 67),
            (2, 3, 3, 68),
            (2, 3, 4, 69),
            (2, 4, 1, 71),
            (2, 4, 2, 72),
            (2, 4, 3, 73),
            (2, 4, 4, 74),
            (3, 1, 1, 81),
            (3, 1, 2, 82),
            (3, 1, 3, 83),
            (3, 1, 4, 84),
            (3, 2, 1, 86),
            (3, 2, 2, 87),
            (3, 2, 3, 88),
            (3, 2, 4, 89),
            (3, 3, 1, 91),
            (3, 3, 2, 92),
            (3, 3, 3, 93),
            (3, 3, 4, 94),
            (3, 4, 1, 96),
            (3, 4, 2, 97),
            (3, 4, 3, 98),
            (3, 4, 4, 99),
            (4, 1, 1, 106),
            (4, 1, 2, 107),
            (4, 1, 3, 108),
            (4, 1, 4, 109),
            (4, 2, 1, 111),
            (4, 2, 2, 112),
            (4, 2, 3, 113),
            (4, 2, 4, 114),
            (4, 3, 1, 116),
            (4, 3, 2, 117),
            (4, 3, 3, 118),
            (4, 3, 4, 119),
            (4, 4, 1, 121),
            (4, 4, 2, 122),
            (4, 4, 3, 123),
            (4, 4, 4, 124)
        );
        None
    }

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
                // SAFETY: the CPU supports FMA (detected in `FastTrainer::new`).
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

/// `(n₀·5 + n₁)·5 + n₂` when `net` is a two-layer network with every width in `1..=4`
/// and the step is per-sample (`b = 1`): the shapes [`tiny_step`] is compiled for.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tiny_two_layer_key(net: &Network<f64>, b: usize) -> Option<usize> {
    let [l0, l1] = net.layers.as_slice() else {
        return None;
    };
    let ((n1, n0), (n2, n1b)) = (l0.w.dim(), l1.w.dim());
    let tiny = |v: usize| (1..=4).contains(&v);
    (b == 1 && n1 == n1b && tiny(n0) && tiny(n1) && tiny(n2)).then_some((n0 * 5 + n1) * 5 + n2)
}

/// [`tiny_step`] compiled with FMA enabled (see [`small_step_fma`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn tiny_step_fma<const N0: usize, const N1: usize, const N2: usize>(
    net: &mut Network<f64>,
    x: &[f64],
    y: &[f64],
    lr: f64,
    losses: &mut Array1<f64>,
) -> (f64, bool) {
    tiny_step::<N0, N1, N2>(net, x, y, lr, flat_mut(losses))
}

/// The per-sample step of a two-layer `N0-N1-N2` network: the same kernels as
/// [`small_step`], in the same order, but with every size a compile-time constant and
/// every intermediate (`Z`, `A`, `dZ`, `dW`, …) a local array, so the whole step is
/// unrolled and kept in registers. Writes the sample's loss to `losses[0]`.
#[inline(always)]
fn tiny_step<const N0: usize, const N1: usize, const N2: usize>(
    net: &mut Network<f64>,
    x: &[f64],
    y: &[f64],
    lr: f64,
    losses: &mut [f64],
) -> (f64, bool) {
    let [l0, l1] = net.layers.as_mut_slice() else {
        unreachable!("tiny_step is only called for two-layer networks");
    };
    // The parameters, each sliced once to its constant length: every later index is
    // then known to be in bounds.
    let (act0, act1) = (l0.activation, l1.activation);
    let w0 = &mut flat_mut(&mut l0.w)[..N1 * N0];
    let b0 = &mut flat_mut(&mut l0.b)[..N1];
    let w1 = &mut flat_mut(&mut l1.w)[..N2 * N1];
    let b1 = &mut flat_mut(&mut l1.b)[..N2];
    let (x, y) = (&x[..N0], &y[..N2]);
    let (mut z0, mut a0) = ([0.0; N1], [0.0; N1]);
    forward_layer((1, N1, N0), act0, w0, b0, x, &mut z0, &mut a0);
    let (mut z1, mut a1) = ([0.0; N2], [0.0; N2]);
    forward_layer((1, N2, N1), act1, w1, b1, &a0, &mut z1, &mut a1);
    let mut d_out = [0.0; N2];
    let total = mse_layer((1, N2), &a1, y, &mut d_out, losses);
    // dW scratch for the largest tiny layer (4×4); only the first `out·in` are used.
    let (mut dz1, mut dw1, mut db1, mut dx1) = ([0.0; N2], [0.0; 16], [0.0; N2], [0.0; N1]);
    let bufs = BackwardBufs {
        da: &d_out,
        x: &a0,
        z: &z1,
        dz: &mut dz1,
        dw: &mut dw1,
        db: &mut db1,
        dx: Some(&mut dx1),
    };
    let finite1 = backward_layer((1, N2, N1), act1, lr, w1, b1, bufs);
    let (mut dz0, mut dw0, mut db0) = ([0.0; N1], [0.0; 16], [0.0; N1]);
    let bufs = BackwardBufs {
        da: &dx1,
        x,
        z: &z0,
        dz: &mut dz0,
        dw: &mut dw0,
        db: &mut db0,
        dx: None,
    };
    let finite0 = backward_layer((1, N1, N0), act0, lr, w0, b0, bufs);
    (total, finite1 & finite0)
}

/// Whether `a` is row-major and contiguous (standard layout), checked from its strides
/// directly (`is_standard_layout` walks the axes generically, which showed up in the
/// per-sample step's profile). Conservative: a `false` only sends the step to the
/// general path.
#[inline(always)]
fn row_major<S: ndarray::Data<Elem = f64>>(a: &ndarray::ArrayBase<S, ndarray::Ix2>) -> bool {
    let (r, c) = a.dim();
    let s = a.strides();
    (c <= 1 || s[1] == 1) && (r <= 1 || s[0] == c as isize)
}

/// The elements of a row-major view ([`row_major`]), or `None`.
#[inline(always)]
fn row_major_slice<'a>(v: ArrayView2<'a, f64>) -> Option<&'a [f64]> {
    // SAFETY: a row-major view's `r·c` elements are contiguous from its pointer, and
    // they are borrowed for `'a`.
    row_major(&v).then(|| unsafe { std::slice::from_raw_parts(v.as_ptr(), v.len()) })
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

/// Evaluates `$body` with `($b, $out, $n)` bound to compile-time constants when the step
/// is per-sample (`b = 1`) and the layer is tiny (`out, n ≤ 4`), else to the run-time
/// sizes. The body (a call of an `#[inline(always)]` kernel) is expanded into every arm,
/// so each tiny shape gets its own fully unrolled copy of the same kernel — the same
/// operations in the same order, hence the same bits. This is what makes the article's
/// per-sample step fast.
macro_rules! with_sizes {
    (($b:expr, $out:expr, $n:expr), |$bb:ident, $oo:ident, $nn:ident| $body:expr) => {
        with_sizes!(@arms ($b, $out, $n), $bb, $oo, $nn, $body;
            (1, 1, 9), (1, 2, 10), (1, 3, 11), (1, 4, 12),
            (2, 1, 17), (2, 2, 18), (2, 3, 19), (2, 4, 20),
            (3, 1, 25), (3, 2, 26), (3, 3, 27), (3, 4, 28),
            (4, 1, 33), (4, 2, 34), (4, 3, 35), (4, 4, 36))
    };
    (@arms ($b:expr, $out:expr, $n:expr), $bb:ident, $oo:ident, $nn:ident, $body:expr;
        $(($o:literal, $k:literal, $key:literal)),*) => {{
        let (b, out, n): (usize, usize, usize) = ($b, $out, $n);
        // One integer key (a jump table), 0 for "not tiny".
        let key = if b == 1 && out <= 4 && n <= 4 { out * 8 + n } else { 0 };
        match key {
            $($key => {
                debug_assert_eq!($key, $o * 8 + $k);
                let ($bb, $oo, $nn): (usize, usize, usize) = (1, $o, $k);
                $body
            })*
            _ => {
                let ($bb, $oo, $nn) = (b, out, n);
                $body
            }
        }
    }};
}

/// Evaluates `$body` with `$act` bound to a constant activation for the common
/// relu and identity (one `match` per layer, not per element), else to the value itself.
macro_rules! with_activation {
    ($a:expr, |$act:ident| $body:expr) => {
        match $a {
            Activation::Relu => {
                let $act = Activation::Relu;
                $body
            }
            Activation::Identity => {
                let $act = Activation::Identity;
                $body
            }
            other => {
                let $act = other;
                $body
            }
        }
    };
}

/// One layer's forward on row-major slices: `z[r][i] = Σ_k w[i][k]·x[r][k] + b[i]`, the
/// sum in the reference gemv order (see [`kernels`]), then `a = act(z)`.
/// Shapes: `w (out, n)`, `bias (out)`, `x (b, n)` → `z, a (b, out)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_layer(
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
fn mse_layer(
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

/// The buffers of one layer's backward step (row-major slices).
struct BackwardBufs<'a> {
    /// `dA (b, out)`, from the loss or the layer above.
    da: &'a [f64],
    /// The layer's input `X (b, n)`.
    x: &'a [f64],
    /// `Z (b, out)` from the forward pass.
    z: &'a [f64],
    /// `dZ (b, out)`, written.
    dz: &'a mut [f64],
    /// `dW (out, n)`, written.
    dw: &'a mut [f64],
    /// `db (out)`, written.
    db: &'a mut [f64],
    /// `dX (b, n)`, written when present (not for layer 0).
    dx: Option<&'a mut [f64]>,
}

/// One layer's backward and update on row-major slices: `dz = da ⊙ act'(z)`,
/// `dW = dZᵀ·X` and `db = Σ_rows dZ` (summed over the batch in row order),
/// `dX = dZ·W` (over `out` in index order, with `W` before its update), then
/// `W ← W − lr·dW`, `b ← b − lr·db`. Returns whether every updated parameter is finite.
#[inline(always)]
fn backward_layer(
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

/// `p ← p − lr·g` elementwise (the product rounded, then subtracted, as the reference
/// update); whether every new value is finite. Branch-free, so it vectorises.
#[inline(always)]
fn descend(p: &mut [f64], g: &[f64], lr: f64) -> bool {
    let mut bad = false;
    for (p, &g) in p.iter_mut().zip(g) {
        *p -= lr * g;
        bad |= !p.is_finite();
    }
    !bad
}

/// [`descend`] on arrays of the same shape (`g` in standard layout); parameters that
/// are not contiguous take ndarray's element-by-element path.
fn descend_array<D: ndarray::Dimension>(
    p: &mut ndarray::Array<f64, D>,
    g: &ndarray::Array<f64, D>,
    lr: f64,
) -> bool {
    if let (Some(ps), Some(gs)) = (p.as_slice_mut(), g.as_slice()) {
        return descend(ps, gs, lr);
    }
    let mut finite = true;
    Zip::from(p).and(g).for_each(|p, &g| {
        *p -= lr * g;
        finite &= p.is_finite();
    });
    finite
}

/// Elementwise passes over more elements than this run on both cores (in two halves of
/// rows or columns; every element is computed the same way, so the bits do not depend
/// on the thread count).
const SPLIT_ELEMENTS: usize = 1 << 15;

/// Runs `f(lo)` and `f(hi)`, on both cores when `par`.
#[inline]
fn both<A: Send, B: Send>(par: bool, lo: A, hi: A, f: impl Fn(A) -> B + Sync) -> (B, B) {
    if par {
        rayon::join(|| f(lo), || f(hi))
    } else {
        (f(lo), f(hi))
    }
}

/// `z ← z + b` row by row (when `bias` is given) and `a = act(z)`, over `(rows, out)`
/// row-major slices, in one pass, split by rows over both cores when large. The
/// activation is matched once, not per element, so the loop is branch-free (relu
/// becomes a select) — per element it would be a mispredicted branch for about half of
/// the units.
fn bias_activation(
    z: &mut [f64],
    a: &mut [f64],
    out: usize,
    bias: Option<&[f64]>,
    act: Activation,
    threads: usize,
) {
    let rows = z.len().checked_div(out).unwrap_or(0);
    if threads > 1 && z.len() >= SPLIT_ELEMENTS && rows >= 2 {
        let mid = rows / 2 * out;
        let (z_lo, z_hi) = z.split_at_mut(mid);
        let (a_lo, a_hi) = a.split_at_mut(mid);
        both(true, (z_lo, a_lo), (z_hi, a_hi), |(z, a)| {
            bias_activation(z, a, out, bias, act, 1)
        });
        return;
    }
    with_activation!(act, |act| match bias {
        Some(bias) if out > 0 => {
            for (zr, ar) in z.chunks_exact_mut(out).zip(a.chunks_exact_mut(out)) {
                for ((z, a), &b) in zr.iter_mut().zip(ar.iter_mut()).zip(bias) {
                    *z += b;
                    *a = act.apply(*z);
                }
            }
        }
        _ => {
            for (a, &z) in a.iter_mut().zip(z.iter()) {
                *a = act.apply(z);
            }
        }
    })
}

/// `dz = da ⊙ act'(z)` over `(rows, out)` row-major slices, then `db = Σ_rows dz` summed
/// in row order from the first row (the order of [`kernels::grad_bias`], so the same
/// bits); `out = db.len()`. When large, `dz` is split by rows and `db` by columns over
/// both cores.
fn activation_grad(
    dz: &mut [f64],
    da: &[f64],
    z: &[f64],
    db: &mut [f64],
    act: Activation,
    threads: usize,
) {
    let out = db.len();
    if out == 0 || dz.is_empty() {
        return;
    }
    let par = threads > 1 && dz.len() >= SPLIT_ELEMENTS;
    let mid = dz.len() / out / 2 * out;
    let (dz_lo, dz_hi) = dz.split_at_mut(mid);
    let ((da_lo, da_hi), (z_lo, z_hi)) = (da.split_at(mid), z.split_at(mid));
    both(
        par,
        (dz_lo, da_lo, z_lo),
        (dz_hi, da_hi, z_hi),
        |(dz, da, z)| {
            with_activation!(act, |act| {
                for ((dz, &da), &z) in dz.iter_mut().zip(da).zip(z) {
                    *dz = da * act.derivative(z);
                }
            })
        },
    );
    let dz: &[f64] = dz;
    let half = out / 2;
    let (db_lo, db_hi) = db.split_at_mut(half);
    both(par, (db_lo, 0), (db_hi, half), |(db, first)| {
        let cols = first..first + db.len();
        let mut rows = dz.chunks_exact(out);
        if let Some(row) = rows.next() {
            db.copy_from_slice(&row[cols.clone()]);
        }
        for row in rows {
            for (d, &v) in db.iter_mut().zip(&row[cols.clone()]) {
                *d += v;
            }
        }
    });
}

/// One step on contiguous row-major slices, the reference kernels' arithmetic in the
/// reference order (see [`kernels`]): forward, loss, then backward and update layer by
/// layer from the top (each layer's `dX` is taken before its own update, and no lower
/// layer reads its parameters, so this equals "backward all, then update all").
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
    for k in 0..nl {
        let layer = &net.layers[k];
        let (out, n) = layer.w.dim();
        let (before, rest) = t.layers.split_at_mut(k);
        let input: &[f64] = if k == 0 { x } else { flat(&before[k - 1].a) };
        let buf = &mut rest[0];
        let (z, a) = (flat_mut(&mut buf.z), flat_mut(&mut buf.a));
        let (w, bias) = (flat(&layer.w), flat(&layer.b));
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
        with_sizes!((b, 1, m), |b, _one, m| mse_layer(
            (b, m),
            y_hat,
            y,
            d_out,
            losses
        ))
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
                account_batch(
                    epoch,
                    first,
                    trainer.losses(last - first),
                    &mut total,
                    || {
                        (!finite).then(|| {
                            net.first_non_finite()
                                .unwrap_or_else(|| "a parameter".into())
                        })
                    },
                )?;
            }
            check_epoch(epoch, n, total)?;
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
