//! The probes' exact kernels: [`crate::nn::kernels::affine`]'s arithmetic, element for
//! element, with independent elements side by side in vector lanes.
//!
//! Each element of `Z = X·Wᵀ + b` is one chain: `acc = w[i][k₀]·x[r][k₀]`, then
//! `acc = w[i][k].mul_add(x[r][k], acc)` for the other `k` in the gemv order (`1, 0, 2, …`
//! when `W` has several rows and `in ≥ 2`, else `0, 1, …`), then `z = acc + b[i]` (an
//! empty chain is `0 + b[i]`). The chains of different elements are independent, so
//! these kernels run several at once, each lane still making its own chain's operations
//! in its own order — the same operations on the same numbers, so the same bits:
//!
//! | kernel | shapes | lanes across | used by |
//! |---|---|---|---|
//! | [`affine_samples`] | `W (out, n)`, `b (out)`, `Xᵀ (n, B)` → `Zᵀ (out, B)` | samples `r` | a parameter's probe: its one-row layer, then the layers above |
//! | [`affine_units`] | `Wᵀ (n, out)`, `b (out)`, `x (n)` → `z (out)` | units `i` | an input's probe: one sample through every layer |
//!
//! The numbers in lanes are stored as [`Planes`] (structure of arrays): `f64` as one
//! plane, `Dual64` as a value plane and a derivative plane, so that a vector register
//! holds the same part of several elements. The operations are restated per part
//! ([`Lane`]) exactly as the scalar types define them: for `f64`, `w·x`, the fused
//! `fma(w, x, acc)` and `acc + b`; for `Dual64 = (re, eps)`, num-dual's
//! `w·x = (w.re·x.re, w.eps·x.re + x.eps·w.re)`, its unfused
//! `mul_add(w, x, acc) = w·x + acc` and the part-wise sum. The tests pin both kernels to
//! the reference kernel bit for bit, signed zeros and non-finite values included.
//!
//! The kernels are compiled for AVX-512, for AVX2 with FMA, and plain, and the CPU's best
//! is picked once at run time. `f64`'s fused multiply-add is the exact IEEE operation in
//! all three (an instruction, or libm's `fma`), and Rust never fuses `Dual64`'s separate
//! multiplications and additions, so the choice changes the speed, never the bits.

use crate::engine::exact::{isa, Isa};

use crate::scalar::{Dual64, Scalar};

/// A number the lane kernels run on, `f64` or `Dual64`, as its parts `(re, eps)`
/// (`eps` is `0` and unused for `f64`), with the operations of the reference kernel
/// restated part by part on `R` lanes at once: `w`, `x`, `acc` are `[re, eps]` pairs of
/// lane arrays, and lane `l` of the result is the operation on lane `l` of the operands.
pub trait Lane: Scalar + Send + Sync {
    /// Whether the number has a derivative part (a second plane).
    const DUAL: bool;
    /// The parts `(re, eps)`.
    fn split(self) -> (f64, f64);
    /// The number with these parts (`eps` ignored for `f64`).
    fn join(re: f64, eps: f64) -> Self;
    /// `acc = w·x`, as the type's `*` computes it.
    fn lanes_mul<const R: usize>(w: Pair<R>, x: Pair<R>, acc: PairMut<R>);
    /// `acc = w.mul_add(x, acc)`, as [`DualNum::mul_add`](crate::scalar::DualNum::mul_add)
    /// computes it.
    fn lanes_mul_add<const R: usize>(w: Pair<R>, x: Pair<R>, acc: PairMut<R>);
    /// `a + b` of single numbers, as the type's `+` computes it.
    fn add_parts(a: (f64, f64), b: (f64, f64)) -> (f64, f64);
}

/// `R` lanes of numbers as `[values, derivatives]`.
pub type Pair<'a, const R: usize> = [&'a [f64; R]; 2];

/// `R` lanes of numbers to update, as `[values, derivatives]`.
pub type PairMut<'a, const R: usize> = [&'a mut [f64; R]; 2];

impl Lane for f64 {
    const DUAL: bool = false;
    #[inline(always)]
    fn split(self) -> (f64, f64) {
        (self, 0.0)
    }
    #[inline(always)]
    fn join(re: f64, _eps: f64) -> f64 {
        re
    }
    #[inline(always)]
    fn lanes_mul<const R: usize>(w: Pair<R>, x: Pair<R>, [re, _]: PairMut<R>) {
        for l in 0..R {
            re[l] = w[0][l] * x[0][l];
        }
    }
    /// num-dual's `mul_add` for `f64` is `f64::mul_add`: the fused operation.
    #[inline(always)]
    fn lanes_mul_add<const R: usize>(w: Pair<R>, x: Pair<R>, [re, _]: PairMut<R>) {
        for l in 0..R {
            re[l] = w[0][l].mul_add(x[0][l], re[l]);
        }
    }
    #[inline(always)]
    fn add_parts(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
        (a.0 + b.0, 0.0)
    }
}

impl Lane for Dual64 {
    const DUAL: bool = true;
    #[inline(always)]
    fn split(self) -> (f64, f64) {
        (self.re, self.eps)
    }
    #[inline(always)]
    fn join(re: f64, eps: f64) -> Dual64 {
        Dual64::new(re, eps)
    }
    /// num-dual's product rule, operands in its order: `(w.re·x.re, w.eps·x.re + x.eps·w.re)`.
    #[inline(always)]
    fn lanes_mul<const R: usize>(w: Pair<R>, x: Pair<R>, [re, ep]: PairMut<R>) {
        for l in 0..R {
            re[l] = w[0][l] * x[0][l];
        }
        for l in 0..R {
            ep[l] = w[1][l] * x[0][l] + x[1][l] * w[0][l];
        }
    }
    /// num-dual's default `mul_add`: `w·x + acc`, the product rounded first.
    #[inline(always)]
    #[allow(clippy::assign_op_pattern)] // num-dual's operand order: `w·x + acc`
    fn lanes_mul_add<const R: usize>(w: Pair<R>, x: Pair<R>, [re, ep]: PairMut<R>) {
        for l in 0..R {
            re[l] = w[0][l] * x[0][l] + re[l];
        }
        for l in 0..R {
            ep[l] = (w[1][l] * x[0][l] + x[1][l] * w[0][l]) + ep[l];
        }
    }
    #[inline(always)]
    fn add_parts(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

/// Numbers of a [`Lane`] type as planes: the values `re`, and for dual numbers the
/// derivatives `eps` (empty for `f64`). A matrix `(rows, cols)` is row-major in each plane.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Planes {
    re: Vec<f64>,
    eps: Vec<f64>,
}

impl Planes {
    /// `len` zeros of type `T`.
    pub fn zeros<T: Lane>(len: usize) -> Planes {
        Planes {
            re: vec![0.0; len],
            eps: if T::DUAL { vec![0.0; len] } else { Vec::new() },
        }
    }

    /// The numbers `f(0), …, f(len − 1)`.
    pub fn from_fn<T: Lane>(len: usize, mut f: impl FnMut(usize) -> T) -> Planes {
        let mut p = Planes::zeros::<T>(len);
        for at in 0..len {
            p.set(at, f(at));
        }
        p
    }

    /// The number of numbers.
    pub fn len(&self) -> usize {
        self.re.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.re.is_empty()
    }

    /// The values (the real parts).
    pub fn re(&self) -> &[f64] {
        &self.re
    }

    /// Number `at`.
    #[inline]
    pub fn get<T: Lane>(&self, at: usize) -> T {
        T::join(self.re[at], if T::DUAL { self.eps[at] } else { 0.0 })
    }

    /// Sets number `at`.
    #[inline]
    pub fn set<T: Lane>(&mut self, at: usize, v: T) {
        let (re, eps) = v.split();
        self.re[at] = re;
        if T::DUAL {
            self.eps[at] = eps;
        }
    }

    /// Copies `src` (of the same length and type) into these planes.
    pub fn copy_from(&mut self, src: &Planes) {
        self.re.copy_from_slice(&src.re);
        self.eps.copy_from_slice(&src.eps);
    }

    /// Copies row `row` of `src` (of the same length and type), both `(rows, cols)`.
    pub fn copy_row_from(&mut self, src: &Planes, row: usize, cols: usize) {
        let at = row * cols..(row + 1) * cols;
        self.re[at.clone()].copy_from_slice(&src.re[at.clone()]);
        if !self.eps.is_empty() {
            self.eps[at.clone()].copy_from_slice(&src.eps[at]);
        }
    }

    /// The planes to read lanes from; for `f64` the derivative plane is the value plane
    /// again (read, never used), so the kernels need no second code path.
    fn src<T: Lane>(&self) -> Src<'_> {
        Src {
            re: &self.re,
            eps: if T::DUAL { &self.eps } else { &self.re },
        }
    }
}

/// Lanes to read: a value plane and a derivative plane of the same length.
#[derive(Clone, Copy)]
struct Src<'a> {
    re: &'a [f64],
    eps: &'a [f64],
}

impl Src<'_> {
    /// The `R` lanes from `at` on, as `(values, derivatives)`.
    #[inline(always)]
    fn lanes<const R: usize>(&self, at: usize) -> (&[f64; R], &[f64; R]) {
        let re = self.re[at..at + R].try_into().expect("R lanes");
        let eps = self.eps[at..at + R].try_into().expect("R lanes");
        (re, eps)
    }
}

/// The weights of [`affine_units`], `Wᵀ (n, out)` as [`Planes`], except that when every
/// derivative has the same bits (a lifted network's weights: all `+0`) that one number
/// is kept instead of a plane. The product rule's `w.eps·x.re` is then the same
/// multiplication for every lane, made once a step, and the kernel reads half the
/// memory — the same operations on the same numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitWeights {
    planes: Planes,
    same_eps: Option<f64>,
}

impl UnitWeights {
    /// The numbers `f(0), …, f(len − 1)`.
    pub fn from_fn<T: Lane>(len: usize, f: impl FnMut(usize) -> T) -> UnitWeights {
        let mut planes = Planes::from_fn::<T>(len, f);
        let same = |c: &f64| planes.eps.iter().all(|e| e.to_bits() == c.to_bits());
        match planes.eps.first().copied() {
            Some(c) if same(&c) => {
                planes.eps = Vec::new();
                UnitWeights {
                    planes,
                    same_eps: Some(c),
                }
            }
            _ => UnitWeights {
                planes,
                same_eps: None,
            },
        }
    }

    /// The number of numbers.
    pub fn len(&self) -> usize {
        self.planes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.planes.is_empty()
    }
}

/// The chain order of `W·x` for a `W (out, n)` with `n ≥ 1`: the first `k`, whether
/// `k = 0` comes second, and where the rest (`k = rest, rest + 1, …, n − 1`) starts.
#[inline(always)]
fn order(out: usize, n: usize) -> (usize, bool, usize) {
    if out >= 2 && n >= 2 {
        (1, true, 2)
    } else {
        (0, false, 1)
    }
}

/// Defines `$name`, which runs `$body` (a call of an `#[inline(always)]` generic kernel
/// that uses the lane count `$r`) compiled for the CPU's best instruction set: two
/// vectors of lanes per plane (AVX-512: 16, AVX2: 8), or 4 plain lanes.
macro_rules! dispatch {
    ($name:ident<$t:ident>($($arg:ident: $ty:ty),*), |$r:ident| $body:expr) => {
        fn $name<$t: Lane>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn wide<$t: Lane>($($arg: $ty),*) {
                    const $r: usize = 16;
                    $body
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn narrow<$t: Lane>($($arg: $ty),*) {
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
            const $r: usize = 4;
            $body
        }
    };
}

// The blocks below hold one output's lanes (samples) or one run of units: blocks of
// several outputs' lanes were not vectorised by the compiler for dual numbers, and each
// step is a function rather than a closure, which would not inherit the target features.

/// One step of [`samples_block`]: `acc = w[i][k].mul_add(xᵀ[k][r0 ..], acc)`.
#[inline(always)]
fn samples_step<T: Lane, const R: usize>(
    (wv, xt): (T, Src),
    at: usize,
    (re, ep): (&mut [f64; R], &mut [f64; R]),
) {
    let (wr, we) = wv.split();
    let (xr, xe) = xt.lanes::<R>(at);
    T::lanes_mul_add([&[wr; R], &[we; R]], [xr, xe], [re, ep]);
}

/// The elements `zᵀ[i][r0 ..]` of output `i`, `R` samples at a time from `r0` on, for
/// every full block; returns where the samples left over start. `dims = (out, n, B)`.
#[inline(always)]
fn samples_block<T: Lane, const R: usize>(
    (w, bias, xt): (&[T], &[T], Src),
    (out, n, b): (usize, usize, usize),
    i: usize,
    mut r0: usize,
    zt: &mut Planes,
) -> usize {
    let wi = &w[i * n..(i + 1) * n];
    while r0 + R <= b {
        // An empty chain is T's zero, both parts +0.
        let (mut re, mut ep) = ([0.0f64; R], [0.0f64; R]);
        if n >= 1 {
            let (first, swap, rest) = order(out, n);
            let (wr, we) = wi[first].split();
            let (xr, xe) = xt.lanes::<R>(first * b + r0);
            T::lanes_mul([&[wr; R], &[we; R]], [xr, xe], [&mut re, &mut ep]);
            if swap {
                samples_step((wi[0], xt), r0, (&mut re, &mut ep));
            }
            for (k, &wv) in wi.iter().enumerate().skip(rest) {
                samples_step((wv, xt), k * b + r0, (&mut re, &mut ep));
            }
        }
        let bv = bias[i].split();
        let at = i * b + r0;
        for l in 0..R {
            let (z, e) = T::add_parts((re[l], ep[l]), bv);
            zt.re[at + l] = z;
            if T::DUAL {
                zt.eps[at + l] = e;
            }
        }
        r0 += R;
    }
    r0
}

/// [`affine_samples`] with blocks of `R` samples (then the samples left over four and
/// one at a time), one output after the other.
#[inline(always)]
fn samples<T: Lane, const R: usize>(w: &[T], bias: &[T], xt: &Planes, b: usize, zt: &mut Planes) {
    let out = bias.len();
    let n = w.len().checked_div(out).unwrap_or(0);
    let ops = (w, bias, xt.src::<T>());
    let dims = (out, n, b);
    for i in 0..out {
        let r0 = samples_block::<T, R>(ops, dims, i, 0, zt);
        let r0 = samples_block::<T, 4>(ops, dims, i, r0, zt);
        samples_block::<T, 1>(ops, dims, i, r0, zt);
    }
}

dispatch!(samples_dispatch<T>(w: &[T], bias: &[T], xt: &Planes, b: usize, zt: &mut Planes),
    |R| samples::<T, R>(w, bias, xt, b, zt));

/// `Zᵀ = (X·Wᵀ + b)ᵀ`, each element exactly [`crate::nn::kernels::affine`]'s for
/// `W (out, n)`, lanes across the samples.
///
/// Shapes: `w (out, n)` row-major, `bias (out)`, `xt = Xᵀ (n, b)` → `zt = Zᵀ (out, b)`.
/// The gemv order follows `out` (one row: `k = 0, 1, …`).
///
/// # Panics
/// If the lengths do not fit these shapes.
pub fn affine_samples<T: Lane>(w: &[T], bias: &[T], xt: &Planes, b: usize, zt: &mut Planes) {
    let out = bias.len();
    let n = w.len().checked_div(out).unwrap_or(0);
    assert!(
        w.len() == out * n && xt.len() == n * b && zt.len() == out * b,
        "affine_samples: shapes"
    );
    assert!(
        xt.eps.len() == if T::DUAL { xt.len() } else { 0 },
        "xt: planes"
    );
    assert!(
        zt.eps.len() == if T::DUAL { zt.len() } else { 0 },
        "zt: planes"
    );
    samples_dispatch(w, bias, xt, b, zt);
}

/// One step of [`units_block`]: `acc = wᵀ[k][i0 ..].mul_add(x[k], acc)`; with `SAME`, the
/// weights' derivatives are all `same`.
#[inline(always)]
fn units_step<T: Lane, const L: usize, const SAME: bool>(
    (wt, xv, same): (Src, T, f64),
    at: usize,
    (re, ep): (&mut [f64; L], &mut [f64; L]),
) {
    let (xr, xe) = xv.split();
    let (wr, we) = wt.lanes::<L>(at);
    let we = if SAME { &[same; L] } else { we };
    T::lanes_mul_add([wr, we], [&[xr; L], &[xe; L]], [re, ep]);
}

/// The units `z[i0 ..]` of one sample, `L` at a time from `i0` on, for every full block;
/// returns where the units left over start. `dims = (out, n)`; with `SAME`, the weights'
/// derivatives are all `same`.
#[inline(always)]
fn units_block<T: Lane, const L: usize, const SAME: bool>(
    (wt, bias, x, same): (Src, &[T], &[T], f64),
    (out, n): (usize, usize),
    mut i0: usize,
    z: &mut [T],
) -> usize {
    while i0 + L <= out {
        let (mut re, mut ep) = ([0.0f64; L], [0.0f64; L]);
        if n >= 1 {
            let (first, swap, rest) = order(out, n);
            let (xr, xe) = x[first].split();
            let (wr, we) = wt.lanes::<L>(first * out + i0);
            let we = if SAME { &[same; L] } else { we };
            T::lanes_mul([wr, we], [&[xr; L], &[xe; L]], [&mut re, &mut ep]);
            if swap {
                units_step::<T, L, SAME>((wt, x[0], same), i0, (&mut re, &mut ep));
            }
            for (k, &xv) in x.iter().enumerate().skip(rest) {
                units_step::<T, L, SAME>((wt, xv, same), k * out + i0, (&mut re, &mut ep));
            }
        }
        for l in 0..L {
            let (v, e) = T::add_parts((re[l], ep[l]), bias[i0 + l].split());
            z[i0 + l] = T::join(v, e);
        }
        i0 += L;
    }
    i0
}

/// [`affine_units`] with blocks of `L` units (then the units left over four and one at
/// a time).
#[inline(always)]
fn units<T: Lane, const L: usize>(wt: &UnitWeights, bias: &[T], x: &[T], z: &mut [T]) {
    let dims = (bias.len(), x.len());
    match wt.same_eps {
        Some(same) if T::DUAL => {
            // The derivative plane is not read: the value plane stands in for it.
            let src = Src {
                re: &wt.planes.re,
                eps: &wt.planes.re,
            };
            let ops = (src, bias, x, same);
            let i0 = units_block::<T, L, true>(ops, dims, 0, z);
            let i0 = units_block::<T, 4, true>(ops, dims, i0, z);
            units_block::<T, 1, true>(ops, dims, i0, z);
        }
        _ => {
            let ops = (wt.planes.src::<T>(), bias, x, 0.0);
            let i0 = units_block::<T, L, false>(ops, dims, 0, z);
            let i0 = units_block::<T, 4, false>(ops, dims, i0, z);
            units_block::<T, 1, false>(ops, dims, i0, z);
        }
    }
}

dispatch!(units_dispatch<T>(wt: &UnitWeights, bias: &[T], x: &[T], z: &mut [T]),
    |L| units::<T, L>(wt, bias, x, z));

/// `z = W·x + b` for one sample, each element exactly [`crate::nn::kernels::affine`]'s
/// for a batch of that one row, lanes across the units.
///
/// Shapes: `wt = Wᵀ (n, out)` row-major, `bias (out)`, `x (n)` → `z (out)`.
///
/// # Panics
/// If the lengths do not fit these shapes.
pub fn affine_units<T: Lane>(wt: &UnitWeights, bias: &[T], x: &[T], z: &mut [T]) {
    let (out, n) = (bias.len(), x.len());
    assert!(
        wt.len() == n * out && z.len() == out,
        "affine_units: shapes"
    );
    let planes = match wt.same_eps {
        Some(_) if T::DUAL => 0,
        _ if T::DUAL => wt.len(),
        _ => 0,
    };
    assert!(wt.planes.eps.len() == planes, "wt: planes");
    units_dispatch(wt, bias, x, z);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::kernels;
    use ndarray::{s, Array1, Array2};

    /// Deterministic values of all magnitudes and signs, zeros of both signs, and (with
    /// `special`) infinities and NaN.
    fn values(n: usize, seed: u64, special: bool) -> Vec<f64> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                match u {
                    u if u < 0.05 => 0.0,
                    u if u < 0.10 => -0.0,
                    u if special && u < 0.102 => f64::INFINITY,
                    u if special && u < 0.104 => f64::NEG_INFINITY,
                    u if special && u < 0.105 => f64::NAN,
                    u => (u - 0.5) * 10f64.powi(((s >> 3) % 7) as i32 - 3),
                }
            })
            .collect()
    }

    /// Dual numbers from two value streams (derivative parts often zero, of both signs).
    fn duals(n: usize, seed: u64, special: bool) -> Vec<Dual64> {
        values(n, seed, special)
            .into_iter()
            .zip(values(n, seed + 99, special))
            .map(|(re, eps)| Dual64::new(re, eps))
            .collect()
    }

    type SamplesKernel<T> = fn(&[T], &[T], &Planes, usize, &mut Planes);
    type UnitsKernel<T> = fn(&UnitWeights, &[T], &[T], &mut [T]);

    /// The bits of a number's parts; every NaN is one key (NaN payloads are not pinned).
    fn key<T: Lane>(v: &T) -> (u64, u64) {
        let bits = |x: f64| if x.is_nan() { u64::MAX } else { x.to_bits() };
        let (re, eps) = v.split();
        (bits(re), bits(eps))
    }

    fn keys<T: Lane>(v: impl IntoIterator<Item = T>) -> Vec<(u64, u64)> {
        v.into_iter().map(|x| key(&x)).collect()
    }

    /// `(B, out, n)`: blocks filled, and every remainder of samples, outputs and units;
    /// one row (no swap), one column, and the probes' real shapes.
    const SHAPES: [(usize, usize, usize); 11] = [
        (16, 128, 784),
        (16, 1, 784),
        (16, 10, 128),
        (17, 13, 29),
        (1, 37, 300),
        (33, 1, 5),
        (16, 4, 1),
        (7, 9, 2),
        (3, 2, 1),
        (21, 71, 3),
        (5, 1, 1),
    ];

    fn check<T: Lane>(make: impl Fn(usize, u64, bool) -> Vec<T>) {
        for special in [false, true] {
            for (s, &(b, out, n)) in SHAPES.iter().enumerate() {
                let s = s as u64 * 4 + 1000 * special as u64;
                let w = Array2::from_shape_vec((out, n), make(out * n, s, special)).unwrap();
                let x = Array2::from_shape_vec((b, n), make(b * n, s + 1, special)).unwrap();
                let bias = Array1::from_vec(make(out, s + 2, special));
                let want = kernels::affine(w.view(), bias.view(), x.view());
                let (ws, bs) = (w.as_slice().unwrap(), bias.as_slice().unwrap());
                // Lanes across samples: Zᵀ from Xᵀ, by the dispatched kernel and by each
                // instruction set's block sizes.
                let xt = Planes::from_fn(n * b, |at| x[[at % b, at / b]]);
                let runs: [SamplesKernel<T>; 4] = [
                    affine_samples,
                    samples::<T, 4>,
                    samples::<T, 8>,
                    samples::<T, 16>,
                ];
                for (v, run) in runs.iter().enumerate() {
                    let mut zt = Planes::zeros::<T>(out * b);
                    run(ws, bs, &xt, b, &mut zt);
                    let got = (0..out * b).map(|at| zt.get::<T>((at % out) * b + at / out));
                    assert_eq!(
                        keys(got),
                        keys(want.iter().copied()),
                        "affine_samples {b}x{out}x{n} special={special} ({v})"
                    );
                }
                // Lanes across units: each sample on its own (a batch of one row), with
                // the weights' derivatives as drawn, and all the same (+0, −0, 0.75).
                let lifts = [None, Some(0.0), Some(-0.0), Some(0.75)];
                for lift in lifts.into_iter().take(if T::DUAL { 4 } else { 1 }) {
                    let w = w.mapv(|v| lift.map_or(v, |e| T::join(v.split().0, e)));
                    let wt = UnitWeights::from_fn(n * out, |at| w[[at % out, at / out]]);
                    assert_eq!(
                        wt.same_eps.is_some(),
                        T::DUAL && (lift.is_some() || out * n == 1)
                    );
                    check_units(&w, &wt, (&x, bs), special);
                }
            }
        }
    }

    /// The units kernel against the reference, each sample of `x` on its own.
    fn check_units<T: Lane>(
        w: &Array2<T>,
        wt: &UnitWeights,
        (x, bs): (&Array2<T>, &[T]),
        special: bool,
    ) {
        let (out, n) = w.dim();
        let b = x.nrows();
        for r in 0..b {
            let row = x.row(r).to_vec();
            let bias = ndarray::aview1(bs);
            let one = kernels::affine(w.view(), bias, x.slice(s![r..r + 1, ..]));
            let runs: [UnitsKernel<T>; 4] =
                [affine_units, units::<T, 4>, units::<T, 8>, units::<T, 16>];
            for (v, run) in runs.iter().enumerate() {
                let mut z = vec![T::zero(); out];
                run(wt, bs, &row, &mut z);
                assert_eq!(
                    keys(z),
                    keys(one.iter().copied()),
                    "affine_units {b}x{out}x{n} row {r} special={special} ({v})"
                );
            }
        }
    }

    /// Both kernels equal the reference kernel bit for bit (signed zeros included), on
    /// `f64` and on dual numbers, for shapes that fill blocks and leave every remainder.
    #[test]
    fn the_lane_kernels_are_the_reference_kernel_bit_for_bit() {
        check::<f64>(values);
        check::<Dual64>(duals);
    }

    /// An empty chain (a layer without inputs) is the reference's `0 + b`.
    #[test]
    fn an_empty_chain_is_zero_plus_the_bias() {
        let bias = [Dual64::new(-0.0, -0.0), Dual64::new(1.5, -0.0)];
        let mut zt = Planes::zeros::<Dual64>(2 * 3);
        affine_samples::<Dual64>(&[], &bias, &Planes::zeros::<Dual64>(0), 3, &mut zt);
        let w = ndarray::Array2::<Dual64>::zeros((2, 0));
        let x = ndarray::Array2::<Dual64>::zeros((3, 0));
        let want = kernels::affine(w.view(), ndarray::aview1(&bias), x.view());
        let got = (0..6).map(|at| zt.get::<Dual64>((at % 2) * 3 + at / 2));
        assert_eq!(keys(got), keys(want.iter().copied()));
        let mut z = vec![Dual64::from(7.0); 2];
        affine_units::<Dual64>(&UnitWeights::default(), &bias, &[], &mut z);
        assert_eq!(keys(z), keys(want.row(0).iter().copied()));
    }
}
