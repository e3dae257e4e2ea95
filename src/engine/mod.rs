//! The fast engine: an allocation-free [`Stepper`] (every buffer allocated once, large
//! products on a tuned GEMM), driven by the teaching loop ([`crate::nn::sgd::train`]) or,
//! for tiny per-sample nets with no observer of single steps, by a loop of its own
//! ([`epochs::train`], pinned to the teaching loop by `tests/fast_path.rs`).
//!
//! [`FastStepper`] holds, per layer, `Z`, `A`, `dZ`, `dX` `(B, ·)` and `dW`, `db`, all
//! sized for the largest batch, and runs the same math as the reference path
//! ([`Network::train_step`]) into them. Four paths, tried in this order:
//!
//! * **tiny two-layer networks, one sample per step** (every width 1…4, e.g. the
//!   article's 2-3-1): `tiny_step` runs the reference kernels with every size a
//!   compile-time constant and every intermediate in a local array, so the step is one
//!   straight-line, fully unrolled block (about 190 instructions for 2-3-1, callgrind).
//!   Same operations, same order: the reference's bits, hence NumPy's for the article;
//! * **small layers** (`B·out·in ≤` [`SMALL_LAYER`]) use the reference kernels on flat
//!   slices (per-layer sizes ≤ 4 at `B = 1` also get constant-size copies): the
//!   reference's bits;
//! * **large layers with the exact kernels** ([`Kernels::Exact`], which `export`,
//!   `compare`, the checker's training and `train --reference` use): [`exact`] runs the
//!   reference kernels' chains of fused multiply-adds side by side in vector registers,
//!   blocked and split over both cores — the same operations in the same order per
//!   element, so the reference's bits, at about half the GEMM path's speed;
//! * **large layers** otherwise use faer's matrix multiply (packed, AVX-512/AVX2 kernels picked at
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
//!
//! The engine restates the reference kernels of [`crate::nn`] on flat slices, for speed
//! only; `tests/fast_path.rs` pins it bit for bit to the reference stepper. Files:
//! [`epochs`] (the engine's training loop: many epochs of tiny per-sample steps a call),
//! [`tiny`] (the per-sample step of tiny two-layer nets), [`small`] (the reference
//! kernels on slices), [`exact`] (the same, vectorised, for large layers), [`gemm`]
//! (faer's products, and the step for large layers),
//! [`elementwise`] (the branch-free bias/activation/gradient passes).

use ndarray::{s, Array1, Array2, ArrayView2};

use crate::nn::network::Network;
use crate::nn::sgd::{Outcome, Stepper};

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

pub mod elementwise;
pub mod epochs;
pub mod exact;
pub mod gemm;
pub mod record;
pub mod small;
pub mod tiny;

/// Layers with `B·out·in` up to this use the reference kernels.
pub const SMALL_LAYER: usize = 4096;

/// Which kernels the fast trainer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// Reference kernels for small layers, GEMM for large ones.
    #[default]
    Auto,
    /// The reference's arithmetic everywhere (bit-identical to [`Network::train_step`]):
    /// the scalar kernels for small layers, the vectorised exact kernels ([`exact`]) for
    /// large ones.
    Exact,
    /// GEMM (faer) everywhere (for testing the GEMM path on small networks).
    Gemm,
}

impl Kernels {
    /// The old name of [`Kernels::Exact`] (the fast engine's exact kernels, not the
    /// reference stepper [`crate::nn::sgd::Reference`]); usable in expressions and
    /// patterns.
    #[deprecated(note = "renamed to `Kernels::Exact`")]
    #[allow(non_upper_case_globals)]
    pub const Reference: Kernels = Kernels::Exact;
}

struct LayerBuf {
    z: Array2<f64>,
    a: Array2<f64>,
    dz: Array2<f64>,
    dx: Array2<f64>,
    dw: Array2<f64>,
    db: Array1<f64>,
    /// The layer's input transposed, `(in, B)`, for the exact kernels' forward pass.
    xt: Vec<f64>,
}

/// Preallocated buffers and settings for allocation-free training steps.
pub struct FastStepper {
    batch: usize,
    layers: Vec<LayerBuf>,
    d_out: Array2<f64>,
    losses: Array1<f64>,
    kernels: Kernels,
    threads: usize,
    /// Makes the steps that must be recorded (exact kernels only).
    /// Makes the recorded steps, on the exact kernels.
    recorder: record::Recorder,
    /// Whether the CPU has FMA (detected once, in [`FastStepper::new`]).
    fma: bool,
}

impl std::fmt::Debug for FastStepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastStepper")
            .field("batch", &self.batch)
            .field("kernels", &self.kernels)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl FastStepper {
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
                xt: vec![0.0; l.inputs() * b],
            })
            .collect();
        let m = net.layers.last().map_or(0, |l| l.outputs());
        FastStepper {
            batch: b,
            layers,
            d_out: Array2::zeros((b, m)),
            losses: Array1::zeros(b),
            kernels,
            threads: threads.max(1),
            recorder: record::Recorder::new(threads),
            #[cfg(target_arch = "x86_64")]
            fma: std::arch::is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            fma: false,
        }
    }

    fn use_gemm(&self, b: usize, out: usize, inp: usize) -> bool {
        match self.kernels {
            Kernels::Exact => false,
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
    /// training loop [`crate::nn::sgd::train`] checks them once).
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
}

impl Stepper for FastStepper {
    /// [`FastStepper::step`]. With the exact kernels ([`Kernels::Exact`]) a step
    /// asked to `record` is made by [`record::train_step`] instead — the same bits — which
    /// keeps the forward pass and gradients; otherwise `record` is ignored.
    #[inline]
    fn step(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
        record: bool,
    ) -> Outcome<'_> {
        if record && self.kernels == Kernels::Exact {
            return self.recorder.step(net, x, y, lr, true);
        }
        let (_, finite) = FastStepper::step(self, net, x, y, lr);
        Outcome {
            losses: self.losses(x.nrows()),
            finite,
            detail: None,
        }
    }
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
