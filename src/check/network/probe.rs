//! The probe engine of one batch: both oracles on the network's own generic forward.
//!
//! A parameter in row `i` of layer `k` moves only column `i` of `Z_k`, so a
//! coordinate's dual or f64 probe starts from the cached activations below layer `k`,
//! recomputes that column with [`Dense::forward`](crate::nn::dense::Dense::forward) on
//! the one-row layer, and runs the layers above ([`Network::forward_from`]). Coordinate
//! probes compute exactly those numbers on the batch's [`LaneCache`] (vector lanes, one
//! [`Scratch`] per worker, nothing allocated per probe); directions run the layer's own
//! forward.

use ndarray::{s, Array2, ArrayView2};
use num_dual::Dual64;
use rayon::prelude::*;

use crate::check::config::CheckConfig;
use crate::check::finite_diff::Kink;
use crate::check::finite_diff::{self, Probe};
use crate::check::network::cache::{LaneCache, Scratch};
use crate::check::network::options::{Mode, NetworkCheckOptions, Tensor};
use crate::check::triage::ElementCheck;
use crate::nn::network::{Forward, Network};
use crate::rng::RandomState;
use crate::scalar::Scalar;

/// What an element check probed: one coordinate, or a direction over the tensor.
#[derive(Debug, Clone)]
pub enum ProbeKind {
    /// One coordinate (its index).
    Coord(Vec<usize>),
    /// A unit direction over the whole tensor.
    Direction(ndarray::ArrayD<f64>),
}

/// `k` distinct indices out of `0..n`, in increasing order (all of them when `k ≥ n`):
/// a partial Fisher–Yates shuffle of `0..n`, with the pool kept sparse (only the
/// swapped positions are stored), so the memory is `O(k)` whatever `n` is.
fn choose(rng: &mut RandomState, n: usize, k: usize) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut swapped: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut picked = Vec::with_capacity(k);
    for i in 0..k {
        let j = i + ((rng.random_sample() * (n - i) as f64) as usize).min(n - i - 1);
        let at_i = swapped.get(&i).copied().unwrap_or(i);
        let at_j = swapped.get(&j).copied().unwrap_or(j);
        swapped.insert(j, at_i);
        picked.push(at_j);
    }
    picked.sort_unstable();
    picked
}

/// A seeded random unit direction of the given shape (Gaussian entries, normalised).
fn unit_direction(rng: &mut RandomState, shape: &[usize]) -> ndarray::ArrayD<f64> {
    let size: usize = shape.iter().product();
    let mut v: Vec<f64> = (0..size).map(|_| rng.gauss()).collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
    ndarray::ArrayD::from_shape_vec(shape.to_vec(), v).expect("size matches shape")
}

/// The cached state of one batch at one training point.
pub struct BatchCtx<'a> {
    net: &'a Network<f64>,
    net_dual: &'a Network<Dual64>,
    y: ArrayView2<'a, f64>,
    fwd: Forward<f64>,
    /// `lifted[0] = X`, `lifted[k + 1] = A_k`, as dual numbers with zero derivative.
    lifted: Vec<Array2<Dual64>>,
    /// The coordinate probes' caches (f64 and dual), in the lane kernels' layout.
    lanes: LaneCache<'a, f64>,
    lanes_dual: LaneCache<'a, Dual64>,
}

/// A worker's working memory for coordinate probes, f64 and dual.
struct Workspace {
    f: Scratch<f64>,
    d: Scratch<Dual64>,
}

impl<'a> BatchCtx<'a> {
    /// The context of one batch: the network, its dual lift, the targets and the
    /// forward pass.
    pub fn new(
        net: &'a Network<f64>,
        net_dual: &'a Network<Dual64>,
        y: ArrayView2<'a, f64>,
        fwd: Forward<f64>,
    ) -> Self {
        let mut lifted = vec![fwd.input.mapv(Dual64::from)];
        lifted.extend(fwd.layers.iter().map(|l| l.a.mapv(Dual64::from)));
        let lanes = LaneCache::new(net, &fwd);
        let lanes_dual = LaneCache::new(net_dual, &fwd);
        BatchCtx {
            net,
            net_dual,
            y,
            fwd,
            lifted,
            lanes,
            lanes_dual,
        }
    }

    fn workspace(&self) -> Workspace {
        Workspace {
            f: self.lanes.scratch(),
            d: self.lanes_dual.scratch(),
        }
    }

    /// Element checks of one tensor, in coordinate (or direction) order, handed to
    /// `sink` with their probe. Probes are made and checked `chunk` at a time (in
    /// parallel within a chunk), so memory does not grow with the number of checks.
    #[allow(clippy::too_many_arguments)] // a tensor, its claim, and how to go through it
    pub fn check_tensor(
        &self,
        t: Tensor,
        claimed: &ndarray::ArrayViewD<f64>,
        shape: &[usize],
        opts: &NetworkCheckOptions,
        rng: &mut RandomState,
        progress: &(dyn Fn(u64) + Sync),
        chunk: usize,
        sink: &mut dyn FnMut(&ProbeKind, ElementCheck),
    ) {
        let size: usize = shape.iter().product();
        let chunk = chunk.max(1);
        let cfg = &opts.config;
        if t == Tensor::X && !matches!(opts.mode, Mode::Directional { .. }) {
            // Made once here rather than by the first probe of each worker.
            self.lanes.weights_transposed();
            self.lanes_dual.weights_transposed();
        }
        let run = |probes: Vec<ProbeKind>, first: usize| -> Vec<(ProbeKind, ElementCheck)> {
            probes
                .into_par_iter()
                .enumerate()
                .map_init(
                    || None,
                    |ws: &mut Option<Workspace>, (d, p)| {
                        let e = match &p {
                            ProbeKind::Coord(idx) => {
                                let ws = ws.get_or_insert_with(|| self.workspace());
                                self.check_coord(t, idx, claimed[idx.as_slice()], cfg, ws)
                            }
                            ProbeKind::Direction(v) => {
                                let claimed_dir: f64 =
                                    claimed.iter().zip(v.iter()).map(|(g, v)| g * v).sum();
                                let mut e = self.check_direction(t, v, claimed_dir, cfg);
                                e.index = vec![first + d];
                                e
                            }
                        };
                        progress(1);
                        (p, e)
                    },
                )
                .collect()
        };
        match opts.mode {
            Mode::Directional { directions } => {
                let mut first = 0;
                while first < directions {
                    let n = chunk.min(directions - first);
                    let probes: Vec<ProbeKind> = (0..n)
                        .map(|_| ProbeKind::Direction(unit_direction(rng, shape)))
                        .collect();
                    for (p, e) in run(probes, first) {
                        sink(&p, e);
                    }
                    first += n;
                }
            }
            _ => {
                let picked = match (opts.mode, t) {
                    (Mode::Sampled { per_tensor }, Tensor::W(_) | Tensor::X) => {
                        Some(choose(rng, size, per_tensor))
                    }
                    _ => None,
                };
                let count = picked.as_ref().map_or(size, Vec::len);
                let coord = |f: usize| {
                    let mut idx = vec![0; shape.len()];
                    let mut rest = f;
                    for d in (0..shape.len()).rev() {
                        idx[d] = rest % shape[d];
                        rest /= shape[d];
                    }
                    ProbeKind::Coord(idx)
                };
                let mut first = 0;
                while first < count {
                    let n = chunk.min(count - first);
                    let probes: Vec<ProbeKind> = (first..first + n)
                        .map(|i| coord(picked.as_ref().map_or(i, |p| p[i])))
                        .collect();
                    for (p, e) in run(probes, first) {
                        sink(&p, e);
                    }
                    first += n;
                }
            }
        }
    }

    /// One coordinate's element check: the dual probe, then the f64 probes of the
    /// finite differences, all on the lane caches (see [`LaneCache`]).
    fn check_coord(
        &self,
        t: Tensor,
        idx: &[usize],
        claimed: f64,
        cfg: &CheckConfig,
        ws: &mut Workspace,
    ) -> ElementCheck {
        let Workspace { f: sf, d: sd } = ws;
        let (dual, theta, mut probe): (f64, f64, Box<dyn FnMut(f64) -> Probe + '_>) = match t {
            Tensor::W(k) | Tensor::B(k) => {
                let (i, j) = (idx[0], idx.get(1).copied());
                // The dual probe: the row with ε = 1 on the probed parameter.
                self.lanes_dual.load_weights_row(k, i, sd);
                let mut b_i = self.net_dual.layers[k].b[i];
                match j {
                    Some(j) => sd.row[j].eps = 1.0,
                    None => b_i.eps = 1.0,
                }
                let dual = self.lanes_dual.row_loss(k, i, b_i, self.y, sd).eps;
                let layer = &self.net.layers[k];
                let theta = j.map_or(layer.b[i], |j| layer.w[[i, j]]);
                let probe = move |delta: f64| {
                    self.lanes.load_weights_row(k, i, sf);
                    let mut b_i = layer.b[i];
                    match j {
                        Some(j) => sf.row[j] = theta + delta,
                        None => b_i = theta + delta,
                    }
                    let loss = self.lanes.row_loss(k, i, b_i, self.y, sf);
                    let zk = self.fwd.layers[k].z.slice(s![.., i..i + 1]);
                    let tail = (k + 1..self.net.layers.len())
                        .map(|m| self.flips(m, self.fwd.layers[m].z.view(), sf.tail_z(m), 0, 0))
                        .fold(None, nearest);
                    let kink = nearest(self.flips(k, zk, sf.row_z(), i, 0), tail);
                    Probe { value: loss, kink }
                };
                (dual, theta, Box::new(probe))
            }
            Tensor::X => {
                let (r, j) = (idx[0], idx[1]);
                let batch = self.fwd.input.nrows() as f64;
                let y_r = self.y.slice(s![r..r + 1, ..]);
                self.lanes_dual.load_sample(r, sd);
                sd.row[j].eps = 1.0;
                let dual = self.lanes_dual.sample_loss(y_r, sd).eps / batch;
                let theta = self.fwd.input[[r, j]];
                let probe = move |delta: f64| {
                    self.lanes.load_sample(r, sf);
                    sf.row[j] = theta + delta;
                    let loss = self.lanes.sample_loss(y_r, sf) / batch;
                    let kink = (0..self.net.layers.len())
                        .map(|m| {
                            self.flips(
                                m,
                                self.fwd.layers[m].z.slice(s![r..r + 1, ..]),
                                sf.sample_z(m),
                                0,
                                r,
                            )
                        })
                        .fold(None, nearest);
                    Probe { value: loss, kink }
                };
                (dual, theta, Box::new(probe))
            }
        };
        let fd = finite_diff::estimate(theta, &mut *probe, cfg.step, cfg.richardson, dual, &cfg.fd);
        ElementCheck::judge(idx.to_vec(), claimed, dual, &fd, cfg)
    }

    fn check_direction(
        &self,
        t: Tensor,
        v: &ndarray::ArrayD<f64>,
        claimed: f64,
        cfg: &CheckConfig,
    ) -> ElementCheck {
        let (dual, scale, mut probe): (f64, f64, Box<dyn FnMut(f64) -> Probe + '_>) = match t {
            Tensor::W(k) | Tensor::B(k) => {
                let mut layer = self.net_dual.layers[k].clone();
                let is_w = matches!(t, Tensor::W(_));
                if is_w {
                    layer
                        .w
                        .iter_mut()
                        .zip(v.iter())
                        .for_each(|(w, &d)| w.eps = d);
                } else {
                    layer
                        .b
                        .iter_mut()
                        .zip(v.iter())
                        .for_each(|(b, &d)| b.eps = d);
                }
                let out = layer.forward(self.lifted[k].view());
                let dual = loss_above(self.net_dual, k, out.a.view(), self.y).0.eps;
                let base = &self.net.layers[k];
                let scale = if is_w {
                    max_abs(base.w.iter())
                } else {
                    max_abs(base.b.iter())
                };
                let probe = move |delta: f64| {
                    let mut layer = base.clone();
                    if is_w {
                        layer
                            .w
                            .iter_mut()
                            .zip(v.iter())
                            .for_each(|(w, &d)| *w += delta * d);
                    } else {
                        layer
                            .b
                            .iter_mut()
                            .zip(v.iter())
                            .for_each(|(b, &d)| *b += delta * d);
                    }
                    let out = layer.forward(self.fwd.layer_input(k));
                    let (loss, tail) = loss_above(self.net, k, out.a.view(), self.y);
                    let kink = nearest(
                        self.flips(k, self.fwd.layers[k].z.view(), out.z.view(), 0, 0),
                        self.tail_flips(k, &tail),
                    );
                    Probe { value: loss, kink }
                };
                (dual, scale, Box::new(probe))
            }
            Tensor::X => {
                let mut x = self.lifted[0].clone();
                x.iter_mut().zip(v.iter()).for_each(|(x, &d)| x.eps = d);
                let dual = self.net_dual.mean_loss(x.view(), self.y).eps;
                let scale = max_abs(self.fwd.input.iter());
                let probe = move |delta: f64| {
                    let mut x = self.fwd.input.clone();
                    x.iter_mut()
                        .zip(v.iter())
                        .for_each(|(x, &d)| *x += delta * d);
                    let f = self.net.forward(x.view());
                    let loss = self.net.mean_loss_of(f.output(), self.y);
                    let kink = (0..self.net.layers.len())
                        .map(|m| {
                            self.flips(m, self.fwd.layers[m].z.view(), f.layers[m].z.view(), 0, 0)
                        })
                        .fold(None, nearest);
                    Probe { value: loss, kink }
                };
                (dual, scale, Box::new(probe))
            }
        };
        // The direction's step is relative to the tensor's largest magnitude.
        let fd = finite_diff::estimate(scale, &mut *probe, cfg.step, cfg.richardson, dual, &cfg.fd);
        ElementCheck::judge(vec![], claimed, dual, &fd, cfg)
    }

    /// The flips of layers above `k` in a tail forward.
    fn tail_flips(&self, k: usize, tail: &Forward<f64>) -> Option<Kink> {
        tail.layers
            .iter()
            .enumerate()
            .map(|(m, l)| {
                self.flips(
                    k + 1 + m,
                    self.fwd.layers[k + 1 + m].z.view(),
                    l.z.view(),
                    0,
                    0,
                )
            })
            .fold(None, nearest)
    }

    /// The nearest kink crossed in layer `layer` between `base` and `new` pre-activations
    /// (a block of them starting at unit `unit0`, sample `sample0`).
    fn flips(
        &self,
        layer: usize,
        base: ArrayView2<f64>,
        new: ArrayView2<f64>,
        unit0: usize,
        sample0: usize,
    ) -> Option<Kink> {
        if !self.net.layers[layer].activation.is_piecewise() {
            return None;
        }
        let mut best: Option<Kink> = None;
        for ((r, c), &zb) in base.indexed_iter() {
            let zn = new[[r, c]];
            if (zb > 0.0) != (zn > 0.0) {
                let k = Kink {
                    layer,
                    unit: unit0 + c,
                    sample: sample0 + r,
                    distance: zb.abs(),
                    user: false,
                };
                best = nearest(best, Some(k));
            }
        }
        best
    }
}

fn max_abs<'x>(it: impl Iterator<Item = &'x f64>) -> f64 {
    it.fold(0.0, |m, v| m.max(v.abs()))
}

/// The nearer of two kinks.
fn nearest(a: Option<Kink>, b: Option<Kink>) -> Option<Kink> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.distance < x.distance { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// `L̄` from layer `k`'s output `A_k (B, n_{k+1})`: runs layers `k+1..` and the loss.
fn loss_above<T: Scalar>(
    net: &Network<T>,
    k: usize,
    a_k: ArrayView2<T>,
    y: ArrayView2<f64>,
) -> (T, Forward<T>) {
    let tail = net.forward_from(k + 1, a_k);
    let loss = net.mean_loss_of(tail.output(), y);
    (loss, tail)
}
