//! Exact kernels for large layers: the three products of [`crate::nn::kernels`] with
//! every element computed by the same operations in the same order — so the same bits —
//! but vectorised across independent elements, blocked in registers, and split over both
//! cores by a fixed partition.
//!
//! Each output element of the reference kernels is one chain of fused multiply-adds in
//! a fixed order (its first term a plain product). Different elements' chains are
//! independent, so a vector register can hold `L` of them and run their chains side by
//! side, each lane still summing its own terms in the reference order:
//!
//! | product | element | chain order | lanes across |
//! |---|---|---|---|
//! | `Z = X·Wᵀ + b` `(B, out)` | `z[r][i] = Σ_k w[i][k]·x[r][k] + b[i]` | `k` in the reference gemv order (`1, 0, 2, …` for several outputs) | rows `r` (from `Xᵀ`, transposed once per step) |
//! | `dW = dZᵀ·X` `(out, in)` | `dw[i][j] = Σ_r dz[r][i]·x[r][j]` | `r = 0, 1, …` | columns `j` |
//! | `dX = dZ·W` `(B, in)` | `dx[r][j] = Σ_i dz[r][i]·w[i][j]` | `i = 0, 1, …` | columns `j` |
//!
//! A tile of `I × R` (or `R × J`) elements keeps its accumulators in registers while
//! the chain runs, so each loaded value serves several chains. The weight update is
//! fused into the `dW` tile: `w ← w − lr·dw` (the product rounded, then subtracted, as
//! the reference). Elements that do not fill a tile take the scalar chain, which is the
//! same arithmetic. With two threads the rows (or the outputs, for `dW`) are cut into
//! two fixed halves; since every element's arithmetic is independent of where it runs,
//! the result is the same bits for any thread count and any tile size.
//!
//! The kernels are compiled three times — for AVX-512, for AVX2 with FMA, and plain —
//! and the CPU's best is picked once at run time; `mul_add` is the exact fused
//! operation in all three (an instruction, or libm's `fma`), so the bits do not depend
//! on the choice either. `tests/fast_path.rs` pins the results to the reference stepper
//! bit for bit.

use std::sync::OnceLock;

/// The instruction set the kernels run with (also the gradient checker's probe
/// kernels', `crate::check::network::lanes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    Avx512,
    Avx2,
    Plain,
}

/// The best instruction set of this CPU (detected once).
pub(crate) fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Plain
    })
}

/// Runs `f(lo)` and `f(hi)`, on both cores when `par` (from a rayon worker, as the
/// trainer calls it, `rayon::join` allocates nothing).
#[inline]
fn both<A: Send>(par: bool, lo: A, hi: A, f: impl Fn(A) -> bool + Sync) -> bool {
    if par {
        let (a, b) = rayon::join(|| f(lo), || f(hi));
        a & b
    } else {
        f(lo) & f(hi)
    }
}

/// Products with fewer multiply-adds than this stay on one core.
const SPLIT_WORK: usize = 1 << 16;

/// Expands to a function that runs `$body` (a call of an `#[inline(always)]` generic
/// kernel with tile sizes) compiled for the CPU's best instruction set.
macro_rules! dispatch {
    ($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty, |$i:ident, $r:ident| $body:expr) => {
        fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn wide($($arg: $ty),*) -> $ret {
                    const $i: usize = 4;
                    const $r: usize = 16;
                    $body
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn narrow($($arg: $ty),*) -> $ret {
                    const $i: usize = 4;
                    const $r: usize = 8;
                    $body
                }
                match isa() {
                    // SAFETY: the CPU has these features (detected in `isa`).
                    Isa::Avx512 => return unsafe { wide($($arg),*) },
                    // SAFETY: as above.
                    Isa::Avx2 => return unsafe { narrow($($arg),*) },
                    Isa::Plain => {}
                }
            }
            const $i: usize = 2;
            const $r: usize = 4;
            $body
        }
    };
}

/// `z = x·wᵀ + bias` for rows `r0..r0 + rows` of the batch: `w (out, n)`, `xt (n, b)`
/// (the input transposed), `z` the `(rows, out)` block of those rows. Each element is
/// [`crate::nn::kernels::affine`]'s: the first term a product, the rest fused in the
/// gemv order, then the bias added.
#[inline(always)]
fn affine_rows<const I: usize, const R: usize>(
    (b, out, n): (usize, usize, usize),
    w: &[f64],
    bias: &[f64],
    xt: &[f64],
    r0: usize,
    z: &mut [f64],
) {
    let rows = z.len() / out;
    let swap = out >= 2 && n >= 2;
    let (first, rest) = if swap { (1, 2) } else { (0, 1) };
    // After the first term: `0` when swapped, then `rest..n` (the gemv order).
    let order = || swap.then_some(0).into_iter().chain(rest..n);
    let full_rows = rows / R * R;
    let full_outs = out / I * I;
    for rt in (0..full_rows).step_by(R) {
        let r = r0 + rt;
        for i0 in (0..full_outs).step_by(I) {
            let mut acc = [[0.0f64; R]; I];
            let xk = &xt[first * b + r..first * b + r + R];
            for (ii, acc) in acc.iter_mut().enumerate() {
                let wv = w[(i0 + ii) * n + first];
                for (a, &x) in acc.iter_mut().zip(xk) {
                    *a = wv * x;
                }
            }
            for k in order() {
                let xk = &xt[k * b + r..k * b + r + R];
                for (ii, acc) in acc.iter_mut().enumerate() {
                    let wv = w[(i0 + ii) * n + k];
                    for (a, &x) in acc.iter_mut().zip(xk) {
                        *a = wv.mul_add(x, *a);
                    }
                }
            }
            for (ii, acc) in acc.iter().enumerate() {
                let bi = bias[i0 + ii];
                for (rr, &a) in acc.iter().enumerate() {
                    z[(rt + rr) * out + i0 + ii] = a + bi;
                }
            }
        }
        for i in full_outs..out {
            for rr in 0..R {
                z[(rt + rr) * out + i] = affine_one((b, n), w, bias, xt, (r + rr, i), swap);
            }
        }
    }
    for rt in full_rows..rows {
        for i in 0..out {
            z[rt * out + i] = affine_one((b, n), w, bias, xt, (r0 + rt, i), swap);
        }
    }
}

/// One element of [`affine_rows`], `z[r][i]`, by the scalar chain.
#[inline(always)]
fn affine_one(
    (b, n): (usize, usize),
    w: &[f64],
    bias: &[f64],
    xt: &[f64],
    (r, i): (usize, usize),
    swap: bool,
) -> f64 {
    let wi = &w[i * n..(i + 1) * n];
    let (first, rest) = if swap { (1, 2) } else { (0, 1) };
    let mut acc = wi[first] * xt[first * b + r];
    if swap {
        acc = wi[0].mul_add(xt[r], acc);
    }
    for k in rest..n {
        acc = wi[k].mul_add(xt[k * b + r], acc);
    }
    acc + bias[i]
}

dispatch!(affine_block(dims: (usize, usize, usize), w: &[f64], bias: &[f64], xt: &[f64], r0: usize, z: &mut [f64]) -> (),
    |I, R| affine_rows::<I, R>(dims, w, bias, xt, r0, z));

/// `Z = X·Wᵀ + b` exactly as the reference computes it: `x (b, n)` row-major, `w (out,
/// n)`, `bias (out)`, `z (b, out)`; `xt` is scratch of `n·b` values (the input is
/// transposed into it). Rows are split over both cores when `threads > 1`.
pub(super) fn affine(
    (b, out, n): (usize, usize, usize),
    w: &[f64],
    bias: &[f64],
    x: &[f64],
    xt: &mut [f64],
    z: &mut [f64],
    threads: usize,
) {
    let (x, xt, z) = (&x[..b * n], &mut xt[..n * b], &mut z[..b * out]);
    for (r, row) in x.chunks_exact(n).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            xt[k * b + r] = v;
        }
    }
    let xt: &[f64] = xt;
    let par = threads > 1 && b >= 2 && b * out * n >= SPLIT_WORK;
    let mid = if par { b / 2 } else { b };
    let (lo, hi) = z.split_at_mut(mid * out);
    both(par, (lo, 0), (hi, mid), |(z, r0)| {
        if !z.is_empty() {
            affine_block((b, out, n), w, bias, xt, r0, z);
        }
        true
    });
}

/// `dW = dZᵀ·X` for the outputs `i0..i0 + rows` and, fused, `w ← w − lr·dW` on those
/// rows of `w` (the `(rows, n)` block `w`); whether every new weight is finite. Each
/// `dW` element is [`crate::nn::kernels::grad_weights`]'s: `dz[0][i]·x[0][j]`, then the
/// other rows fused in order.
///
/// With `STORE`, `w` is the `(rows, n)` block of `dW` itself: the gradient is written,
/// not applied (for steps that record it).
#[inline(always)]
fn descend_weights_rows<const I: usize, const J: usize, const STORE: bool>(
    (b, out, n): (usize, usize, usize),
    dz: &[f64],
    x: &[f64],
    i0: usize,
    w: &mut [f64],
    lr: f64,
) -> bool {
    let rows = w.len() / n;
    let mut bad = false;
    let full_rows = rows / I * I;
    let full_cols = n / J * J;
    for it in (0..full_rows).step_by(I) {
        let i = i0 + it;
        for j0 in (0..full_cols).step_by(J) {
            let mut acc = [[0.0f64; J]; I];
            let xr = &x[j0..j0 + J];
            for (ii, acc) in acc.iter_mut().enumerate() {
                let d = dz[i + ii];
                for (a, &x) in acc.iter_mut().zip(xr) {
                    *a = d * x;
                }
            }
            for r in 1..b {
                let xr = &x[r * n + j0..r * n + j0 + J];
                for (ii, acc) in acc.iter_mut().enumerate() {
                    let d = dz[r * out + i + ii];
                    for (a, &x) in acc.iter_mut().zip(xr) {
                        *a = d.mul_add(x, *a);
                    }
                }
            }
            for (ii, acc) in acc.iter().enumerate() {
                let wr = &mut w[(it + ii) * n + j0..(it + ii) * n + j0 + J];
                let mut row_bad = false;
                for (w, &g) in wr.iter_mut().zip(acc) {
                    if STORE {
                        *w = g;
                    } else {
                        *w -= lr * g;
                        row_bad |= !w.is_finite();
                    }
                }
                bad |= row_bad;
            }
        }
        for ii in 0..I {
            for j in full_cols..n {
                let wv = &mut w[(it + ii) * n + j];
                bad |= descend_one::<STORE>((b, out, n), dz, x, (i + ii, j), wv, lr);
            }
        }
    }
    for it in full_rows..rows {
        for j in 0..n {
            bad |= descend_one::<STORE>((b, out, n), dz, x, (i0 + it, j), &mut w[it * n + j], lr);
        }
    }
    !bad
}

/// One weight of [`descend_weights_rows`], `w[i][j]`, by the scalar chain; whether the
/// new weight is not finite (with `STORE`, writes the gradient itself; `false`).
#[inline(always)]
fn descend_one<const STORE: bool>(
    (b, out, n): (usize, usize, usize),
    dz: &[f64],
    x: &[f64],
    (i, j): (usize, usize),
    w: &mut f64,
    lr: f64,
) -> bool {
    let mut acc = dz[i] * x[j];
    for r in 1..b {
        acc = dz[r * out + i].mul_add(x[r * n + j], acc);
    }
    if STORE {
        *w = acc;
        return false;
    }
    *w -= lr * acc;
    !w.is_finite()
}

dispatch!(descend_weights_block(dims: (usize, usize, usize), dz: &[f64], x: &[f64], i0: usize, w: &mut [f64], lr: f64) -> bool,
    |I, R| descend_weights_rows::<I, R, false>(dims, dz, x, i0, w, lr));

dispatch!(grad_weights_block(dims: (usize, usize, usize), dz: &[f64], x: &[f64], i0: usize, dw: &mut [f64]) -> bool,
    |I, R| descend_weights_rows::<I, R, true>(dims, dz, x, i0, dw, 0.0));

/// `dW = dZᵀ·X` exactly as the reference's `grad_weights`: `dz (b, out)`, `x (b, n)`,
/// `dw (out, n)`. The outputs are split over both cores when `threads > 1`.
pub(super) fn grad_weights(
    (b, out, n): (usize, usize, usize),
    dz: &[f64],
    x: &[f64],
    dw: &mut [f64],
    threads: usize,
) {
    let (dz, x, dw) = (&dz[..b * out], &x[..b * n], &mut dw[..out * n]);
    let par = threads > 1 && out >= 2 && b * out * n >= SPLIT_WORK;
    let mid = if par { out / 2 } else { out };
    let (lo, hi) = dw.split_at_mut(mid * n);
    both(par, (lo, 0), (hi, mid), |(dw, i0)| {
        dw.is_empty() || grad_weights_block((b, out, n), dz, x, i0, dw)
    });
}

/// `W ← W − lr·dZᵀ·X` exactly as the reference's `grad_weights` then `descend`:
/// `dz (b, out)`, `x (b, n)`, `w (out, n)`; whether every new weight is finite. The
/// outputs are split over both cores when `threads > 1`.
pub(super) fn descend_weights(
    (b, out, n): (usize, usize, usize),
    dz: &[f64],
    x: &[f64],
    w: &mut [f64],
    lr: f64,
    threads: usize,
) -> bool {
    let (dz, x, w) = (&dz[..b * out], &x[..b * n], &mut w[..out * n]);
    let par = threads > 1 && out >= 2 && b * out * n >= SPLIT_WORK;
    let mid = if par { out / 2 } else { out };
    let (lo, hi) = w.split_at_mut(mid * n);
    both(par, (lo, 0), (hi, mid), |(w, i0)| {
        w.is_empty() || descend_weights_block((b, out, n), dz, x, i0, w, lr)
    })
}

/// `dX = dZ·W` for the rows `r0..r0 + rows` (the `(rows, n)` block `dx`). Each element
/// is [`crate::nn::kernels::grad_input`]'s: `dz[r][0]·w[0][j]`, then the other outputs
/// fused in order.
#[inline(always)]
fn grad_input_rows<const R: usize, const J: usize>(
    (out, n): (usize, usize),
    dz: &[f64],
    w: &[f64],
    r0: usize,
    dx: &mut [f64],
) {
    let rows = dx.len() / n;
    let full_rows = rows / R * R;
    let full_cols = n / J * J;
    for rt in (0..full_rows).step_by(R) {
        let r = r0 + rt;
        for j0 in (0..full_cols).step_by(J) {
            let mut acc = [[0.0f64; J]; R];
            let wr = &w[j0..j0 + J];
            for (rr, acc) in acc.iter_mut().enumerate() {
                let d = dz[(r + rr) * out];
                for (a, &w) in acc.iter_mut().zip(wr) {
                    *a = d * w;
                }
            }
            for i in 1..out {
                let wr = &w[i * n + j0..i * n + j0 + J];
                for (rr, acc) in acc.iter_mut().enumerate() {
                    let d = dz[(r + rr) * out + i];
                    for (a, &w) in acc.iter_mut().zip(wr) {
                        *a = d.mul_add(w, *a);
                    }
                }
            }
            for (rr, acc) in acc.iter().enumerate() {
                dx[(rt + rr) * n + j0..(rt + rr) * n + j0 + J].copy_from_slice(acc);
            }
        }
        for rr in 0..R {
            for j in full_cols..n {
                dx[(rt + rr) * n + j] = grad_input_one((out, n), dz, w, (r + rr, j));
            }
        }
    }
    for rt in full_rows..rows {
        for j in 0..n {
            dx[rt * n + j] = grad_input_one((out, n), dz, w, (r0 + rt, j));
        }
    }
}

/// One element of [`grad_input_rows`], `dx[r][j]`, by the scalar chain.
#[inline(always)]
fn grad_input_one((out, n): (usize, usize), dz: &[f64], w: &[f64], (r, j): (usize, usize)) -> f64 {
    let mut acc = dz[r * out] * w[j];
    for i in 1..out {
        acc = dz[r * out + i].mul_add(w[i * n + j], acc);
    }
    acc
}

dispatch!(grad_input_block(dims: (usize, usize), dz: &[f64], w: &[f64], r0: usize, dx: &mut [f64]) -> (),
    |I, R| grad_input_rows::<I, R>(dims, dz, w, r0, dx));

/// `dX = dZ·W` exactly as the reference's `grad_input`: `dz (b, out)`, `w (out, n)`,
/// `dx (b, n)`. Rows are split over both cores when `threads > 1`.
pub(super) fn grad_input(
    (b, out, n): (usize, usize, usize),
    dz: &[f64],
    w: &[f64],
    dx: &mut [f64],
    threads: usize,
) {
    let (dz, w, dx) = (&dz[..b * out], &w[..out * n], &mut dx[..b * n]);
    let par = threads > 1 && b >= 2 && b * out * n >= SPLIT_WORK;
    let mid = if par { b / 2 } else { b };
    let (lo, hi) = dx.split_at_mut(mid * n);
    both(par, (lo, 0), (hi, mid), |(dx, r0)| {
        if !dx.is_empty() {
            grad_input_block((out, n), dz, w, r0, dx);
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::kernels;
    use ndarray::Array2;

    /// Deterministic values with all kinds of magnitudes and signs (and zeros).
    fn values(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Array2::from_shape_fn((rows, cols), |_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            if u < 0.05 {
                0.0
            } else {
                (u - 0.5) * 10f64.powi(((s >> 3) % 7) as i32 - 3)
            }
        })
    }

    /// Shapes that fill tiles, leave every kind of remainder, and split over threads.
    const SHAPES: [(usize, usize, usize); 6] = [
        (64, 128, 784),
        (17, 13, 29),
        (1, 37, 300),
        (33, 1, 5),
        (16, 4, 1),
        (70, 9, 2),
    ];

    /// Every kernel equals the reference kernel bit for bit, for 1 and 2 threads.
    #[test]
    fn the_exact_kernels_are_the_reference_kernels_bit_for_bit() {
        for (s, &(b, out, n)) in SHAPES.iter().enumerate() {
            let s = s as u64;
            let (w, x, dz) = (
                values(out, n, s),
                values(b, n, s + 10),
                values(b, out, s + 20),
            );
            let bias = values(1, out, s + 30).into_shape_with_order(out).unwrap();
            let want_z = kernels::affine(w.view(), bias.view(), x.view());
            let want_dx = kernels::grad_input(dz.view(), w.view());
            let lr = 0.0371;
            let mut want_w = w.clone();
            want_w.zip_mut_with(&kernels::grad_weights(dz.view(), x.view()), |w, &g| {
                *w -= lr * g
            });
            for threads in [1, 2] {
                let (mut xt, mut z) = (vec![0.0; n * b], vec![0.0; b * out]);
                let xs = x.as_slice().unwrap();
                affine(
                    (b, out, n),
                    w.as_slice().unwrap(),
                    bias.as_slice().unwrap(),
                    xs,
                    &mut xt,
                    &mut z,
                    threads,
                );
                assert_eq!(
                    z.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want_z.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "affine {b}x{out}x{n}, {threads} threads"
                );
                let mut dx = vec![0.0; b * n];
                grad_input(
                    (b, out, n),
                    dz.as_slice().unwrap(),
                    w.as_slice().unwrap(),
                    &mut dx,
                    threads,
                );
                assert_eq!(
                    dx.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want_dx.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "grad_input {b}x{out}x{n}, {threads} threads"
                );
                let mut w2 = w.as_slice().unwrap().to_vec();
                let finite = descend_weights(
                    (b, out, n),
                    dz.as_slice().unwrap(),
                    xs,
                    &mut w2,
                    lr,
                    threads,
                );
                assert!(finite);
                assert_eq!(
                    w2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want_w.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "descend_weights {b}x{out}x{n}, {threads} threads"
                );
            }
        }
    }

    /// An overflowing update is reported, from a full tile and from a remainder.
    #[test]
    fn an_overflowing_weight_is_reported() {
        let (b, out, n) = (8, 8, 9);
        let (x, mut dz) = (values(b, n, 1), values(b, out, 2));
        dz[[3, 5]] = 1e308;
        let w = values(out, n, 3);
        let mut w2 = w.as_slice().unwrap().to_vec();
        let xs = x.as_slice().unwrap();
        assert!(!descend_weights(
            (b, out, n),
            dz.as_slice().unwrap(),
            xs,
            &mut w2,
            -1e10,
            1
        ));
    }
}
