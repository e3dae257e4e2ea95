//! One batch's forward cache laid out for the lane kernels ([`lanes`](super::lanes)),
//! and the two coordinate probes that run on it without allocating.
//!
//! * A parameter in row `i` of layer `k` (`W_k[i, :]` or `b_k[i]`): column `i` of
//!   `Z_k (B, n_{k+1})` from the one-row layer `(w_row (1, n_k), b_i)` on the cached input
//!   `A_{k−1}ᵀ (n_k, B)` ([`affine_samples`], one output, so the gemv order `0, 1, …`),
//!   `a = act_k(z)`, put into row `i` of a copy of the cached `A_kᵀ (n_{k+1}, B)`; then
//!   each layer `m > k`: `Z_mᵀ = (A_{m−1}·W_mᵀ + b_m)ᵀ`, `A_mᵀ = act_m(Z_mᵀ)`; then
//!   `L̄ = (1/B)·Σ_r L(ŷ_r, y_r)` by [`Network::mean_loss_of`].
//! * An input `X[r, j]`: sample `r` alone through every layer, `z_m = W_m·a_{m−1} + b_m`
//!   ([`affine_units`] with `W_mᵀ (n_m, n_{m+1})`), `a_m = act_m(z_m)`, then the loss of the
//!   one-row batch.
//!
//! Every number is the one the network's own generic forward
//! ([`Dense::forward`](crate::nn::dense::Dense::forward),
//! [`Network::forward_from`]) computes for the same probe: the affine maps are the
//! reference kernel's bits ([`lanes`](super::lanes) is pinned to it), the activations are
//! [`Activation::apply`](crate::nn::activation::Activation::apply) and the loss is
//! [`Network::mean_loss_of`] itself. A probe's working memory is a [`Scratch`], made once
//! per worker and reused.

use std::borrow::Cow;
use std::sync::OnceLock;

use ndarray::{ArrayView2, ShapeBuilder};

use crate::check::network::lanes::{affine_samples, affine_units, Lane, Planes, UnitWeights};
use crate::nn::network::{Forward, Network};

/// One batch's cache for probes on scalar type `T`: the network, its weights, and each
/// layer's input transposed.
pub struct LaneCache<'a, T: Lane> {
    net: &'a Network<T>,
    /// `W_m (n_{m+1}, n_m)` row-major, per layer (borrowed when the array is).
    w: Vec<Cow<'a, [T]>>,
    /// `b_m (n_{m+1})`, per layer.
    b: Vec<Cow<'a, [T]>>,
    /// `inputs[m]` = layer `m`'s input transposed, `(n_m, B)`: `Xᵀ`, `A_0ᵀ`, …, and
    /// `inputs[L] = A_{L−1}ᵀ`; `T`'s lift of the f64 forward (zero derivatives).
    inputs: Vec<Planes>,
    /// `W_mᵀ (n_m, n_{m+1})` per layer, made on first use (input probes only).
    wt: OnceLock<Vec<UnitWeights>>,
    /// `[n_0, …, n_L]`.
    sizes: Vec<usize>,
    /// `B`.
    batch: usize,
}

/// A row-major view of an array's elements, copied when the array is not row-major.
fn row_major<'a, T: Lane, D: ndarray::Dimension>(a: &'a ndarray::Array<T, D>) -> Cow<'a, [T]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().copied().collect()),
    }
}

impl<'a, T: Lane> LaneCache<'a, T> {
    /// The cache of a batch whose f64 forward is `fwd`, for probes on `net` (the f64
    /// network or its dual lift).
    pub fn new(net: &'a Network<T>, fwd: &Forward<f64>) -> Self {
        let transposed = |a: ArrayView2<f64>| {
            let (b, n) = a.dim();
            Planes::from_fn::<T>(n * b, |at| T::from(a[[at % b, at / b]]))
        };
        let mut inputs = vec![transposed(fwd.input.view())];
        inputs.extend(fwd.layers.iter().map(|l| transposed(l.a.view())));
        LaneCache {
            net,
            w: net.layers.iter().map(|l| row_major(&l.w)).collect(),
            b: net.layers.iter().map(|l| row_major(&l.b)).collect(),
            inputs,
            wt: OnceLock::new(),
            sizes: net.sizes(),
            batch: fwd.input.nrows(),
        }
    }

    /// `W_mᵀ` of every layer (made once, on first use).
    pub fn weights_transposed(&self) -> &[UnitWeights] {
        self.wt.get_or_init(|| {
            self.net
                .layers
                .iter()
                .map(|l| {
                    let (out, n) = l.w.dim();
                    UnitWeights::from_fn::<T>(n * out, |at| l.w[[at % out, at / out]])
                })
                .collect()
        })
    }

    /// A probe's working memory, for any probe of this cache.
    pub fn scratch(&self) -> Scratch<T> {
        let (b, s) = (self.batch, &self.sizes);
        let widest = s.iter().copied().max().unwrap_or(0);
        let last = s.last().copied().unwrap_or(0);
        // n_1, …, n_L: each layer's outputs.
        let outs = s.get(1..).unwrap_or(&[]);
        Scratch {
            row: Vec::with_capacity(widest),
            zrow: Planes::zeros::<T>(b),
            at: outs.iter().map(|&n| Planes::zeros::<T>(n * b)).collect(),
            at_state: vec![AtState::Stale; outs.len()],
            zt: outs.iter().map(|&n| Planes::zeros::<T>(n * b)).collect(),
            z1: outs.iter().map(|&n| vec![T::zero(); n]).collect(),
            a1: outs.iter().map(|&n| vec![T::zero(); n]).collect(),
            yhat: vec![T::zero(); b * last],
            batch: b,
        }
    }

    /// Puts row `i` of `W_k` into the scratch's row (the row probe's weights).
    pub fn load_weights_row(&self, k: usize, i: usize, s: &mut Scratch<T>) {
        let n = self.sizes[k];
        s.row.clear();
        s.row.extend_from_slice(&self.w[k][i * n..(i + 1) * n]);
    }

    /// Puts sample `r`'s inputs `X[r, :]` into the scratch's row.
    pub fn load_sample(&self, r: usize, s: &mut Scratch<T>) {
        let b = self.batch;
        s.row.clear();
        s.row
            .extend((0..self.sizes[0]).map(|j| self.inputs[0].get::<T>(j * b + r)));
    }

    /// `L̄` of the batch with row `i` of layer `k` replaced by `(s.row, b_i)` (see the
    /// module docs); `y (B, n_L)`. Leaves the new `Z_k[:, i]` and `Z_m` (`m > k`) in `s`.
    pub fn row_loss(
        &self,
        k: usize,
        i: usize,
        b_i: T,
        y: ArrayView2<f64>,
        s: &mut Scratch<T>,
    ) -> T {
        let b = self.batch;
        let layers = &self.net.layers;
        // Column i of Z_k, (1, B), from the one-row layer.
        affine_samples(&s.row, &[b_i], &self.inputs[k], b, &mut s.zrow);
        // A_kᵀ: the cached one with row i replaced. The scratch's copy differs from the
        // cache in at most the row of the previous probe, which is restored.
        let at_k = &mut s.at[k];
        match s.at_state[k] {
            AtState::Stale => at_k.copy_from(&self.inputs[k + 1]),
            AtState::Row(d) => at_k.copy_row_from(&self.inputs[k + 1], d, b),
        }
        s.at_state[k] = AtState::Row(i);
        for state in &mut s.at_state[k + 1..] {
            *state = AtState::Stale;
        }
        let act = layers[k].activation;
        for r in 0..b {
            at_k.set(i * b + r, act.apply(s.zrow.get::<T>(r)));
        }
        for m in k + 1..layers.len() {
            let (below, above) = s.at.split_at_mut(m);
            affine_samples(&self.w[m], &self.b[m], &below[m - 1], b, &mut s.zt[m]);
            let (zt, at) = (&s.zt[m], &mut above[0]);
            let act = layers[m].activation;
            for e in 0..zt.len() {
                at.set(e, act.apply(zt.get::<T>(e)));
            }
        }
        // Ŷ (B, n_L) from Ŷᵀ, and the loss.
        let last = self.sizes[layers.len()];
        let yt = &s.at[layers.len() - 1];
        for r in 0..b {
            for c in 0..last {
                s.yhat[r * last + c] = yt.get::<T>(c * b + r);
            }
        }
        let y_hat = ArrayView2::from_shape((b, last), &s.yhat[..b * last]).expect("(B, n_L)");
        self.net.mean_loss_of(y_hat, y)
    }

    /// `L̄` of the one-row batch of sample `s.row` (`x (n_0)`), `y_r (1, n_L)`, through
    /// every layer (see the module docs). Leaves each layer's `z_m` in `s`.
    pub fn sample_loss(&self, y_r: ArrayView2<f64>, s: &mut Scratch<T>) -> T {
        let wt = self.weights_transposed();
        let layers = &self.net.layers;
        for (m, layer) in layers.iter().enumerate() {
            let (below, above) = s.a1.split_at_mut(m);
            let x = if m == 0 {
                &s.row[..]
            } else {
                &below[m - 1][..]
            };
            affine_units(&wt[m], &self.b[m], x, &mut s.z1[m]);
            let act = layer.activation;
            for (a, &z) in above[0].iter_mut().zip(&s.z1[m]) {
                *a = act.apply(z);
            }
        }
        let out = &s.a1[layers.len() - 1];
        let y_hat = ArrayView2::from_shape((1, out.len()), &out[..]).expect("(1, n_L)");
        self.net.mean_loss_of(y_hat, y_r)
    }
}

/// A probe's working memory (made by [`LaneCache::scratch`], reused by every probe of
/// one worker): the probed row and each layer's new `Z`, `A`.
pub struct Scratch<T: Lane> {
    /// The probed weight row `(n_k)`, or the probed sample's inputs `(n_0)`.
    pub row: Vec<T>,
    /// The row probe's `Z_k[:, i]ᵀ (1, B)`.
    zrow: Planes,
    /// Per layer `m`: `A_mᵀ (n_{m+1}, B)` of a row probe.
    at: Vec<Planes>,
    /// Per layer `m`: how `at[m]` differs from the cached `A_mᵀ`.
    at_state: Vec<AtState>,
    /// Per layer `m`: `Z_mᵀ (n_{m+1}, B)` of a row probe.
    zt: Vec<Planes>,
    /// Per layer `m`: `z_m`, `a_m (n_{m+1})` of a sample probe.
    z1: Vec<Vec<T>>,
    a1: Vec<Vec<T>>,
    /// `Ŷ (B, n_L)` gathered for the loss.
    yhat: Vec<T>,
    batch: usize,
}

/// How a scratch copy of a cached `A_mᵀ` differs from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtState {
    /// Anywhere (never copied, or overwritten by a probe of a layer below).
    Stale,
    /// In this row only.
    Row(usize),
}

impl Scratch<f64> {
    /// The last row probe's `Z_k[:, i]` as a `(B, 1)` view.
    pub fn row_z(&self) -> ArrayView2<'_, f64> {
        ArrayView2::from_shape((self.batch, 1), self.zrow.re()).expect("(B, 1)")
    }

    /// The last row probe's `Z_m (B, n_{m+1})` of a layer `m` above the probed one.
    pub fn tail_z(&self, m: usize) -> ArrayView2<'_, f64> {
        let b = self.batch;
        let n = self.zt[m].len() / b.max(1);
        ArrayView2::from_shape((b, n).f(), self.zt[m].re()).expect("(B, n) from (n, B)")
    }

    /// The last sample probe's `z_m` as a `(1, n_{m+1})` view.
    pub fn sample_z(&self, m: usize) -> ArrayView2<'_, f64> {
        ArrayView2::from_shape((1, self.z1[m].len()), &self.z1[m][..]).expect("(1, n)")
    }
}
