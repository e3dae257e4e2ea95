//! The per-sample step of tiny two-layer networks (every width 1…4, e.g. the article's
//! 2-3-1), compiled for each exact shape.

use ndarray::ArrayView2;

use super::small::{backward_layer, forward_layer, mse_layer, BackwardBufs};
use super::{flat_mut, row_major, row_major_slice, FastStepper, Kernels};
use crate::nn::loss::Loss;
use crate::nn::network::Network;

/// Runs `$body` with `$n0`, `$n1`, `$n2` the constant widths of the tiny shape `$key`
/// ([`tiny_two_layer_key`]): `Some(body)`, or `None` for another key.
macro_rules! tiny_shapes {
    ($key:expr, |$n0:ident, $n1:ident, $n2:ident| $body:expr) => {
        tiny_shapes!(@list $key, $n0, $n1, $n2, $body,
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
            (4, 4, 4, 124))
    };
    (@list $key:expr, $n0:ident, $n1:ident, $n2:ident, $body:expr,
     $(($a:literal, $b:literal, $c:literal, $k:literal)),*) => {
        match $key {
            $($k => {
                debug_assert_eq!($k, ($a * 5 + $b) * 5 + $c);
                const $n0: usize = $a;
                const $n1: usize = $b;
                const $n2: usize = $c;
                Some($body)
            })*
            _ => None,
        }
    };
}

impl FastStepper {
    /// The tiny shape's key when this step can take the tiny path: the CPU has FMA, the
    /// kernels allow it, the network is tiny at this batch size and its parameters are
    /// contiguous.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn tiny_key(&self, net: &Network<f64>, b: usize) -> Option<usize> {
        if !self.fma || self.kernels == Kernels::Gemm || net.loss != Loss::Mse {
            return None;
        }
        let key = tiny_two_layer_key(net, b)?;
        net.layers
            .iter()
            .all(|l| row_major(&l.w) && (l.b.len() <= 1 || l.b.strides()[0] == 1))
            .then_some(key)
    }

    /// The per-sample step of a tiny two-layer network (every width 1…4), compiled for
    /// its exact shape ([`tiny_step`]); `None` when the step is not one of those or an
    /// input is not contiguous. Checked before anything else, because this step is a few
    /// dozen nanoseconds.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn try_step_tiny(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
    ) -> Option<(f64, bool)> {
        let key = self.tiny_key(net, x.nrows())?;
        let (xs, ys) = (row_major_slice(x)?, row_major_slice(y)?);
        let losses = flat_mut(&mut self.losses);
        tiny_shapes!(key, |N0, N1, N2| {
            // SAFETY: the CPU supports FMA (detected in `FastStepper::new`).
            unsafe { tiny_epoch_fma::<N0, N1, N2>(net, &xs[..N0], &ys[..N2], lr, losses, None).1 }
        })
    }

    /// Whether [`FastStepper::try_epoch_tiny`] runs for `net` on `X`, `Y` (the same
    /// conditions as its own, checked without stepping).
    #[cfg(target_arch = "x86_64")]
    pub(super) fn has_tiny_epochs(
        &self,
        net: &Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
    ) -> bool {
        self.tiny_key(net, 1).is_some() && row_major(&x) && row_major(&y)
    }

    /// `totals.len()` whole epochs of per-sample steps of a tiny two-layer network in
    /// one loop ([`tiny_epoch_fma`]): the steps of [`FastStepper::try_step_tiny`]
    /// without the training loop's per-step slicing and checks around them. `None` when
    /// a step would not take the tiny path; else [`EpochSteps`], each epoch's losses
    /// accounted into its `totals[e]`.
    #[cfg(target_arch = "x86_64")]
    pub(super) fn try_epoch_tiny(
        &mut self,
        net: &mut Network<f64>,
        x: ArrayView2<f64>,
        y: ArrayView2<f64>,
        lr: f64,
        totals: &mut [f64],
    ) -> Option<EpochSteps> {
        let key = self.tiny_key(net, 1)?;
        let (xs, ys) = (row_major_slice(x)?, row_major_slice(y)?);
        let losses = flat_mut(&mut self.losses);
        tiny_shapes!(key, |N0, N1, N2| {
            // SAFETY: the CPU supports FMA (detected in `FastStepper::new`).
            unsafe { tiny_epoch_fma::<N0, N1, N2>(net, xs, ys, lr, losses, Some(totals)).0 }
        })
    }
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

/// How far an epochs loop went: the epochs made whole, the steps made and accounted in
/// the epoch it stopped in, and where it stopped (the row of a step left unaccounted —
/// its loss is in `losses` — and whether its parameters are finite).
type EpochSteps = (usize, usize, Option<(usize, bool)>);

/// Per-sample steps of a tiny network over the rows of `xs (n, N0)`, `ys (n, N2)` (one
/// row: one step), compiled with FMA enabled (see [`small_step_fma`]). With `totals`,
/// `totals.len()` epochs over the rows, each step's loss added to its epoch's total in
/// row order while everything stays finite; the loop stops after the first step with a
/// non-finite loss or parameter ([`EpochSteps`]). Without, one pass over the rows. Also
/// returns the last step's `(loss, parameters finite)` (for a single step).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn tiny_epoch_fma<const N0: usize, const N1: usize, const N2: usize>(
    net: &mut Network<f64>,
    xs: &[f64],
    ys: &[f64],
    lr: f64,
    losses: &mut [f64],
    totals: Option<&mut [f64]>,
) -> (EpochSteps, (f64, bool)) {
    let rows = xs.len() / N0;
    let mut last = (0.0, true);
    let Some(totals) = totals else {
        for r in 0..rows {
            let (x, y) = (&xs[r * N0..][..N0], &ys[r * N2..][..N2]);
            last = tiny_step::<N0, N1, N2>(net, x, y, lr, losses);
        }
        return ((1, 0, None), last);
    };
    for (e, total) in totals.iter_mut().enumerate() {
        *total = 0.0;
        for r in 0..rows {
            let (x, y) = (&xs[r * N0..][..N0], &ys[r * N2..][..N2]);
            last = tiny_step::<N0, N1, N2>(net, x, y, lr, losses);
            if !(last.1 && losses[0].is_finite()) {
                return ((e, r, Some((r, last.1))), last);
            }
            *total += losses[0];
        }
    }
    ((totals.len(), 0, None), last)
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
