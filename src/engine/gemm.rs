//! The GEMM path: faer's sequential matrix multiply, cut into two fixed halves that run
//! on both cores, and the step for networks with large layers.

use ndarray::{s, ArrayView2, ArrayViewMut2, Axis};

use super::elementwise::{activation_grad, bias_activation, descend_array};
use super::{flat, flat_mut, FastStepper};
use crate::nn::kernels;
use crate::nn::network::Network;

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

impl FastStepper {
    /// [`FastStepper::step`] for every network but the tiny two-layer ones (kept out of
    /// line, so that the tiny step does not pay for this function's frame).
    #[inline(never)]
    pub(super) fn step_any(
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
        net.loss
            .batch_derivative_into(y_hat, y, self.d_out.slice_mut(s![..b, ..]));
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
