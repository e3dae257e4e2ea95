//! Elementwise passes of the fast engine: bias + activation, `dZ` with `db`, and the
//! update. The activation is matched once per layer, not per element, so each loop is
//! branch-free; large passes are split over both cores by a fixed partition.

use ndarray::Zip;

use crate::nn::activation::Activation;

/// [`descend`] on arrays of the same shape (`g` in standard layout); parameters that
/// are not contiguous take ndarray's element-by-element path.
pub(super) fn descend_array<D: ndarray::Dimension>(
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
pub(super) fn bias_activation(
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
pub(super) fn activation_grad(
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

/// `p ← p − lr·g` elementwise (the product rounded, then subtracted, as the reference
/// update); whether every new value is finite. Branch-free, so it vectorises.
#[inline(always)]
pub(super) fn descend(p: &mut [f64], g: &[f64], lr: f64) -> bool {
    let mut bad = false;
    for (p, &g) in p.iter_mut().zip(g) {
        *p -= lr * g;
        bad |= !p.is_finite();
    }
    !bad
}
