//! Deterministic reference kernels for the three matrix products of a dense layer.
//!
//! They are explicit loops with a fixed summation order and fused multiply-adds
//! (`mul_add`, which Rust evaluates identically on every CPU, in hardware or in
//! software), so their results are the same bits on every machine. They do not use a
//! run-time-dispatched GEMM on purpose: such kernels pick FMA/non-FMA code paths at
//! run time and give different last bits on different CPUs.
//!
//! # Summation order of `W·x`
//! NumPy's `W @ x` for these small shapes calls OpenBLAS's `dgemv`, which on x86-64
//! accumulates with fused multiply-adds. By experiment (`scripts/fma_order_probe.py`)
//! its order is `k = 0, 1, 2, …` when `W` has one row (tried: `in` = 1…6), and `k = 1, 0, 2, 3, …` when it
//! has several rows and `in ≤ 3`. [`affine`] uses exactly that order, which is what makes
//! the article's 2-3-1 run bit-identical to NumPy. For `in ≥ 4` OpenBLAS uses blocked
//! vector accumulators whose order we do not copy; results then agree with NumPy to a
//! few ulps per product instead of bit for bit.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

use crate::scalar::Scalar;

/// `Σ_k a_k·b_k` over the given pairs, fused, left to right:
/// `acc = a₀b₀; acc = fma(a_k, b_k, acc)` for the rest. Empty sum is `0`.
#[inline]
fn fused_dot<T: Scalar>(mut pairs: impl Iterator<Item = (T, T)>) -> T {
    match pairs.next() {
        None => T::zero(),
        Some((a, b)) => pairs.fold(a * b, |acc, (a, b)| a.mul_add(b, acc)),
    }
}

/// The order in which `W·x` visits `k` for a `W` with `rows` rows and `n` columns
/// (see the module docs): `1, 0, 2, …, n−1` for several rows, else `0, …, n−1`.
#[inline]
fn gemv_order(rows: usize, n: usize) -> impl Iterator<Item = usize> {
    let swap = rows >= 2 && n >= 2;
    (0..n).map(move |k| if swap && k < 2 { 1 - k } else { k })
}

/// Affine map of a batch, `Z = X·Wᵀ + b`, generic over the scalar.
///
/// Shapes: `W (out, in)`, `b (out)`, `X (B, in)` → `Z (B, out)`; row `r` of `Z` is
/// `W·x_r + b`, each dot product summed in the order of the module docs, then `b` added.
pub fn affine<T: Scalar>(w: ArrayView2<T>, b: ArrayView1<T>, x: ArrayView2<T>) -> Array2<T> {
    let mut z = Array2::zeros((x.nrows(), w.nrows()));
    affine_into(w, b, x, z.view_mut());
    z
}

/// [`affine`] into a preallocated `Z (B, out)`.
pub fn affine_into<T: Scalar>(
    w: ArrayView2<T>,
    b: ArrayView1<T>,
    x: ArrayView2<T>,
    mut z: ArrayViewMut2<T>,
) {
    let (out, n) = w.dim();
    debug_assert_eq!(x.ncols(), n);
    debug_assert_eq!(z.dim(), (x.nrows(), out));
    for (x_r, mut z_r) in x.rows().into_iter().zip(z.rows_mut()) {
        for (i, zi) in z_r.iter_mut().enumerate() {
            let w_i = w.row(i);
            *zi = fused_dot(gemv_order(out, n).map(|k| (w_i[k], x_r[k]))) + b[i];
        }
    }
}

/// `dW = dZᵀ·X`: `dZ (B, out)`, `X (B, in)` → `(out, in)`, summed over the batch in
/// row order. For `B = 1` this is exactly `outer(dz, x)` (one rounded product each).
pub fn grad_weights(dz: ArrayView2<f64>, x: ArrayView2<f64>) -> Array2<f64> {
    let mut dw = Array2::zeros((dz.ncols(), x.ncols()));
    grad_weights_into(dz, x, dw.view_mut());
    dw
}

/// [`grad_weights`] into a preallocated `dW (out, in)`.
pub fn grad_weights_into(dz: ArrayView2<f64>, x: ArrayView2<f64>, mut dw: ArrayViewMut2<f64>) {
    for ((i, j), d) in dw.indexed_iter_mut() {
        *d = fused_dot(
            dz.column(i)
                .iter()
                .copied()
                .zip(x.column(j).iter().copied()),
        );
    }
}

/// `db = Σ_rows dZ`: `dZ (B, out)` → `(out)`, summed in row order starting from the
/// first row (so `B = 1` gives `dz` itself, bit for bit).
pub fn grad_bias(dz: ArrayView2<f64>) -> Array1<f64> {
    let mut db = Array1::zeros(dz.ncols());
    grad_bias_into(dz, db.view_mut());
    db
}

/// [`grad_bias`] into a preallocated `db (out)`.
pub fn grad_bias_into(dz: ArrayView2<f64>, mut db: ArrayViewMut1<f64>) {
    for (i, d) in db.iter_mut().enumerate() {
        let col = dz.column(i);
        *d = col.iter().skip(1).fold(col[0], |acc, &v| acc + v);
    }
}

/// `dX = dZ·W`: `dZ (B, out)`, `W (out, in)` → `(B, in)`; row `r` is `Wᵀ·dz_r`,
/// summed over `out` in index order.
pub fn grad_input(dz: ArrayView2<f64>, w: ArrayView2<f64>) -> Array2<f64> {
    let mut dx = Array2::zeros((dz.nrows(), w.ncols()));
    grad_input_into(dz, w, dx.view_mut());
    dx
}

/// [`grad_input`] into a preallocated `dX (B, in)`.
pub fn grad_input_into(dz: ArrayView2<f64>, w: ArrayView2<f64>, mut dx: ArrayViewMut2<f64>) {
    for ((r, j), d) in dx.indexed_iter_mut() {
        *d = fused_dot(dz.row(r).iter().copied().zip(w.column(j).iter().copied()));
    }
}
