//! The network adapter: checks `∂L̄/∂W`, `∂L̄/∂b` of every layer and `∂L̄/∂X` of the
//! inputs, for each batch of a spec's data, at chosen points along training, and
//! checks that a training step applies `θ − lr·g`.
//!
//! Both oracles run the network's own generic forward pass ([`Dense::forward`],
//! [`Network::forward_from`]). They exploit one exact structural fact: a parameter in
//! row `i` of layer `k` moves only column `i` of `Z_k`. So a coordinate's dual or f64
//! probe starts from the cached activations below layer `k`, recomputes column `i` with
//! `Dense::forward` on the one-row layer `(W_k[i, :], b_k[i])`, and runs the layers above
//! on the probe's scalar type. An input coordinate `X[r, j]` moves only sample `r`. The
//! derivative obtained is exactly the one a full dual pass would give.
//!
//! Kinks: for relu/leaky_relu layers, every f64 probe compares the sign of each
//! pre-activation it recomputed with the base point's; a flip is a crossed kink,
//! reported with its layer, unit, sample and `|z|` at the base point.
//!
//! ```
//! use backprop_oracle::check::bugs::Bug;
//! use backprop_oracle::check::network::{check_network, NetworkCheckOptions};
//! use backprop_oracle::spec::Spec;
//!
//! let spec = Spec::article();
//! let report = check_network(&spec, &NetworkCheckOptions::default(), &|_| {}).unwrap();
//! assert!(report.passed());
//! let buggy = NetworkCheckOptions { bug: Some(Bug::ReluMaskInverted), ..Default::default() };
//! let report = check_network(&spec, &buggy, &|_| {}).unwrap();
//! assert_eq!(report.failed()[0].name, "layers[0].W");
//! ```

use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use num_dual::Dual64;
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::check::bugs::Bug;
use crate::check::finite_diff::{self, Probe};
use crate::check::report::{table, Location, TensorReport};
use crate::check::{CheckConfig, ElementCheck, Kink, Verdict};
use crate::error::{Error, Result};
use crate::nn::dense::{Dense, DenseOutput};
use crate::nn::network::{Forward, Gradients, Network};
use crate::nn::train::{self, TrainConfig};
use crate::rng::RandomState;
use crate::scalar::Scalar;
use crate::spec::Spec;

/// Which coordinates to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every coordinate of every tensor.
    Exhaustive,
    /// `per_tensor` random coordinates of each `W` and of `X`, and every bias element.
    Sampled {
        /// Coordinates per tensor.
        per_tensor: usize,
    },
    /// `directions` random unit directions per tensor: one dual pass gives `∇L·v`.
    Directional {
        /// Directions per tensor.
        directions: usize,
    },
}

impl Mode {
    /// `exhaustive`, `sampled` or `directional`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Exhaustive => "exhaustive",
            Mode::Sampled { .. } => "sampled",
            Mode::Directional { .. } => "directional",
        }
    }
}

/// What to check and how.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkCheckOptions {
    /// Coordinates to check.
    pub mode: Mode,
    /// Check the parameters after each of these numbers of training epochs (0 = initial;
    /// `e` means "after `e` epochs", i.e. at the start of epoch `e`).
    pub at_epochs: Vec<usize>,
    /// Batch size of the checked losses (`None`: the spec's).
    pub batch_size: Option<usize>,
    /// A mistake to inject into the backward pass and update.
    pub bug: Option<Bug>,
    /// Tolerances and step.
    pub config: CheckConfig,
    /// Seed for the sampled coordinates and directions.
    pub sample_seed: u32,
}

impl Default for NetworkCheckOptions {
    fn default() -> Self {
        NetworkCheckOptions {
            mode: Mode::Exhaustive,
            at_epochs: vec![0],
            batch_size: None,
            bug: None,
            config: CheckConfig::default(),
            sample_seed: 0,
        }
    }
}

/// The result of [`check_network`].
#[derive(Debug, Clone)]
pub struct NetworkReport {
    /// One report per tensor (gradients first, then updates).
    pub tensors: Vec<TensorReport>,
    /// The options used.
    pub options: NetworkCheckOptions,
    /// The batch size used.
    pub batch_size: usize,
    /// Batches per point.
    pub batches: usize,
    /// The network's sizes.
    pub sizes: Vec<usize>,
    /// The network's activations.
    pub activations: Vec<crate::nn::activation::Activation>,
}

impl NetworkReport {
    /// Whether every tensor passed.
    pub fn passed(&self) -> bool {
        self.tensors.iter().all(|t| t.passed())
    }

    /// The tensors that failed.
    pub fn failed(&self) -> Vec<&TensorReport> {
        self.tensors.iter().filter(|t| !t.passed()).collect()
    }

    fn header(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(|s| s.to_string()).collect();
        let bug = self
            .options
            .bug
            .map(|b| format!(", injected bug: {}", b.name()))
            .unwrap_or_default();
        format!(
            "gradient check of {} ({} mode) at epochs {:?}, {} batch(es) of up to {} sample(s){bug}",
            sizes.join("-"),
            self.options.mode.name(),
            self.options.at_epochs,
            self.batches,
            self.batch_size
        )
    }

    /// The one-line conclusion.
    pub fn summary(&self) -> String {
        let failed = self.failed();
        if failed.is_empty() {
            let kinks: usize = self.tensors.iter().map(|t| t.kinks).sum();
            let kink_note = if kinks > 0 {
                format!(" ({kinks} finite-difference probes crossed a relu kink; the exact dual oracle decided there)")
            } else {
                String::new()
            };
            let mut line = format!(
                "verified: all {} tensors agree with both oracles{kink_note}",
                self.tensors.len()
            );
            if let Some(bug) = self.options.bug {
                let outputs = self.sizes.last().copied().unwrap_or(1);
                let why = bug
                    .harmless_for(&self.activations, outputs, self.batch_size)
                    .unwrap_or("it changed nothing the checked coordinates can see; try --mode exhaustive or another network");
                line.push_str(&format!(
                    "\nnote: the injected bug {} went undetected because {why}",
                    bug.name()
                ));
            }
            line
        } else {
            let names: Vec<String> = failed
                .iter()
                .map(|t| {
                    let what = if t.kind == "gradient" {
                        t.name.clone()
                    } else {
                        format!("{} {}", t.name, t.kind)
                    };
                    format!("{what} ({})", t.verdict())
                })
                .collect();
            format!("FAILED: {}", names.join(", "))
        }
    }

    /// Header, table, worst elements, conclusion.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}{}\n",
            self.header(),
            table(&self.tensors),
            self.summary()
        )
    }

    /// The same content as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "sizes": self.sizes,
            "mode": self.options.mode.name(),
            "at_epochs": self.options.at_epochs,
            "batch_size": self.batch_size,
            "batches": self.batches,
            "injected_bug": self.options.bug.map(|b| b.name()),
            "tolerances": {
                "dual": {"rtol": self.options.config.dual.rtol, "atol": self.options.config.dual.atol},
                "fd": {"rtol": self.options.config.fd.rtol, "atol": self.options.config.fd.atol},
                "step": self.options.config.step,
                "richardson": self.options.config.richardson,
            },
            "tensors": self.tensors.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            "passed": self.passed(),
            "summary": self.summary(),
        })
    }
}

/// A checked tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tensor {
    W(usize),
    B(usize),
    X,
}

impl Tensor {
    fn name(self) -> String {
        match self {
            Tensor::W(k) => format!("layers[{k}].W"),
            Tensor::B(k) => format!("layers[{k}].b"),
            Tensor::X => "x".into(),
        }
    }

    fn all(layers: usize) -> Vec<Tensor> {
        let mut v: Vec<Tensor> = (0..layers)
            .flat_map(|k| [Tensor::W(k), Tensor::B(k)])
            .collect();
        v.push(Tensor::X);
        v
    }
}

/// The number of element checks [`check_network`] will do (for progress bars).
pub fn planned_checks(spec: &Spec, opts: &NetworkCheckOptions) -> u64 {
    let bs = opts.batch_size.unwrap_or(spec.batch_size).max(1);
    let n = spec.x.nrows();
    let batches = n.div_ceil(bs);
    let mut per_point = 0u64;
    for (k, io) in spec.sizes.windows(2).enumerate() {
        let _ = k;
        let (w, b) = ((io[0] * io[1]) as u64, io[1] as u64);
        per_point += match opts.mode {
            Mode::Exhaustive => (w + b) * batches as u64,
            Mode::Sampled { per_tensor } => (w.min(per_tensor as u64) + b) * batches as u64,
            Mode::Directional { directions } => 2 * directions as u64 * batches as u64,
        };
    }
    per_point += match opts.mode {
        Mode::Exhaustive => (n * spec.sizes[0]) as u64,
        Mode::Sampled { per_tensor } => (batches * per_tensor.min(bs * spec.sizes[0])) as u64,
        Mode::Directional { directions } => (batches * directions) as u64,
    };
    per_point * opts.at_epochs.len() as u64
}

/// Checks the backward pass of `spec`'s network (see the module docs). `progress` is
/// called with the number of element checks just finished.
pub fn check_network(
    spec: &Spec,
    opts: &NetworkCheckOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<NetworkReport> {
    opts.config.validate()?;
    let batch_size = opts.batch_size.unwrap_or(spec.batch_size);
    if batch_size == 0 {
        return Err(Error::invalid("--batch-size", "must be ≥ 1, got 0"));
    }
    match opts.mode {
        Mode::Sampled { per_tensor: 0 } => {
            return Err(Error::invalid("--samples", "must be ≥ 1, got 0"))
        }
        Mode::Directional { directions: 0 } => {
            return Err(Error::invalid("--directions", "must be ≥ 1, got 0"))
        }
        Mode::Directional { directions } => {
            // All directions of a tensor are drawn before they are checked.
            let largest = spec
                .sizes
                .windows(2)
                .map(|io| io[0] as u128 * io[1] as u128)
                .chain([spec.x.len() as u128])
                .max()
                .unwrap_or(0);
            let bytes = 8 * directions as u128 * largest;
            if bytes > crate::spec::MAX_BYTES as u128 {
                return Err(Error::invalid(
                    "--directions",
                    format!("{directions} directions of a {largest}-element tensor need {bytes} bytes, more than the 1 GiB limit"),
                ));
            }
        }
        _ => {}
    }
    let mut points = opts.at_epochs.clone();
    points.sort_unstable();
    points.dedup();
    if points.is_empty() {
        return Err(Error::invalid("--at-epochs", "needs at least one epoch"));
    }
    if let Some(&e) = points.iter().find(|&&e| e > spec.epochs) {
        return Err(Error::invalid(
            "--at-epochs",
            format!("{e} is beyond the run's {} epochs", spec.epochs),
        ));
    }
    let mut net = spec.network()?;
    let n = spec.x.nrows();
    let tensors = Tensor::all(net.layers.len());
    let mut grads_reports: Vec<TensorReport> = tensors
        .iter()
        .map(|&t| {
            let kind = if matches!(opts.mode, Mode::Directional { .. }) {
                "direction"
            } else {
                "gradient"
            };
            TensorReport::new(t.name(), tensor_shape(&net, t, batch_size.min(n)), kind)
        })
        .collect();
    let mut update_reports: Vec<TensorReport> = tensors
        .iter()
        .filter(|t| !matches!(t, Tensor::X))
        .map(|&t| TensorReport::new(t.name(), tensor_shape(&net, t, 0), "update"))
        .collect();
    let mut rng = RandomState::new(opts.sample_seed);
    let mut trained = 0;
    for &epoch in &points {
        if epoch > trained {
            let cfg = TrainConfig {
                epochs: epoch - trained,
                ..spec.train_config()
            };
            train::train(&mut net, spec.x.view(), spec.y.view(), &cfg, &mut ())?;
            trained = epoch;
        }
        if let Some(what) = net.first_non_finite() {
            return Err(Error::invalid(
                what,
                format!("is not finite at epoch {epoch}; nothing to check"),
            ));
        }
        let net_dual: Network<Dual64> = net.lift();
        for first in (0..n).step_by(batch_size) {
            let last = (first + batch_size).min(n);
            let at = Location {
                epoch,
                first_sample: first,
                batch_len: last - first,
            };
            let (xb, yb) = (
                spec.x.slice(s![first..last, ..]),
                spec.y.slice(s![first..last, ..]),
            );
            let fwd = net.forward(xb);
            if let Some(r) = net
                .sample_losses(&fwd, yb)
                .iter()
                .position(|l| !l.is_finite())
            {
                return Err(Error::invalid(
                    "loss",
                    format!(
                        "is not finite at epoch {epoch}, sample {} (overflow); a gradient check needs a finite loss",
                        first + r
                    ),
                ));
            }
            let grads = net.backward_with(&fwd, yb, true, opts.bug);
            let ctx = BatchCtx::new(&net, &net_dual, yb, fwd);
            let mut after = net.clone();
            after.train_step(xb, yb, spec.lr, opts.bug, false);
            for (ti, &t) in tensors.iter().enumerate() {
                let shape = tensor_shape(&net, t, last - first);
                let report = &mut grads_reports[ti];
                report.total += match opts.mode {
                    Mode::Directional { directions } => directions,
                    _ => shape.iter().product(),
                };
                let claimed = match claimed_view(&grads, t) {
                    Some(c) if c.shape() == shape.as_slice() => c.to_owned(),
                    Some(c) => {
                        if report.shape_error.is_none() {
                            report.set_shape_error(c.shape());
                        }
                        // Same size: compare in memory order, as the update applies it.
                        match ndarray::ArrayD::from_shape_vec(
                            shape.clone(),
                            c.iter().copied().collect(),
                        ) {
                            Ok(c) => c,
                            Err(_) => continue,
                        }
                    }
                    None => continue,
                };
                let claimed = claimed.view();
                let checks = ctx.check_tensor(t, &claimed, &shape, opts, &mut rng, progress);
                if let Some(ui) = update_index(t) {
                    let ur = &mut update_reports[ui];
                    ur.total += checks.len();
                    for (probe, e) in &checks {
                        ur.add(
                            update_check(&net, &after, t, probe, e, spec.lr, &opts.config),
                            Some(at),
                        );
                    }
                }
                for (_, e) in checks {
                    report.add(e, Some(at));
                }
            }
        }
    }
    let batches = n.div_ceil(batch_size);
    grads_reports.extend(update_reports);
    Ok(NetworkReport {
        tensors: grads_reports,
        options: NetworkCheckOptions {
            at_epochs: points,
            ..opts.clone()
        },
        batch_size,
        batches,
        sizes: spec.sizes.clone(),
        activations: spec.activations.clone(),
    })
}

fn update_index(t: Tensor) -> Option<usize> {
    match t {
        Tensor::W(k) => Some(2 * k),
        Tensor::B(k) => Some(2 * k + 1),
        Tensor::X => None,
    }
}

fn tensor_shape(net: &Network<f64>, t: Tensor, batch: usize) -> Vec<usize> {
    match t {
        Tensor::W(k) => net.layers[k].w.shape().to_vec(),
        Tensor::B(k) => net.layers[k].b.shape().to_vec(),
        Tensor::X => vec![batch, net.layers[0].inputs()],
    }
}

/// The claimed gradient of a tensor, as a dynamic-dimension view.
fn claimed_view(g: &Gradients, t: Tensor) -> Option<ndarray::ArrayViewD<'_, f64>> {
    match t {
        Tensor::W(k) => Some(g.layers[k].dw.view().into_dyn()),
        Tensor::B(k) => Some(g.layers[k].db.view().into_dyn()),
        Tensor::X => g.layers[0].dx.as_ref().map(|d| d.view().into_dyn()),
    }
}

/// What an element check probed: one coordinate, or a direction over the tensor.
#[derive(Debug, Clone)]
enum ProbeKind {
    Coord(Vec<usize>),
    Direction(ndarray::ArrayD<f64>),
}

/// `k` distinct indices out of `0..n`, in increasing order (all of them when `k ≥ n`).
fn choose(rng: &mut RandomState, n: usize, k: usize) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut pool: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + ((rng.random_sample() * (n - i) as f64) as usize).min(n - i - 1);
        pool.swap(i, j);
    }
    let mut picked = pool[..k].to_vec();
    picked.sort_unstable();
    picked
}

/// The cached state of one batch at one training point.
struct BatchCtx<'a> {
    net: &'a Network<f64>,
    net_dual: &'a Network<Dual64>,
    y: ArrayView2<'a, f64>,
    fwd: Forward<f64>,
    /// `lifted[0] = X`, `lifted[k + 1] = A_k`, as dual numbers with zero derivative.
    lifted: Vec<Array2<Dual64>>,
}

impl<'a> BatchCtx<'a> {
    fn new(
        net: &'a Network<f64>,
        net_dual: &'a Network<Dual64>,
        y: ArrayView2<'a, f64>,
        fwd: Forward<f64>,
    ) -> Self {
        let mut lifted = vec![fwd.input.mapv(Dual64::from)];
        lifted.extend(fwd.layers.iter().map(|l| l.a.mapv(Dual64::from)));
        BatchCtx {
            net,
            net_dual,
            y,
            fwd,
            lifted,
        }
    }

    fn base_a(&self, k: usize) -> &Array2<f64> {
        &self.fwd.layers[k].a
    }

    /// Element checks of one tensor, in coordinate (or direction) order.
    fn check_tensor(
        &self,
        t: Tensor,
        claimed: &ndarray::ArrayViewD<f64>,
        shape: &[usize],
        opts: &NetworkCheckOptions,
        rng: &mut RandomState,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Vec<(ProbeKind, ElementCheck)> {
        let size: usize = shape.iter().product();
        let probes: Vec<ProbeKind> = match opts.mode {
            Mode::Directional { directions } => (0..directions)
                .map(|_| {
                    let v: Vec<f64> = (0..size).map(|_| rng.gauss()).collect();
                    let norm = v
                        .iter()
                        .map(|x| x * x)
                        .sum::<f64>()
                        .sqrt()
                        .max(f64::MIN_POSITIVE);
                    let v = ndarray::ArrayD::from_shape_vec(
                        shape.to_vec(),
                        v.iter().map(|x| x / norm).collect(),
                    )
                    .expect("size matches shape");
                    ProbeKind::Direction(v)
                })
                .collect(),
            _ => {
                let flat: Vec<usize> = match (opts.mode, t) {
                    (Mode::Sampled { per_tensor }, Tensor::W(_) | Tensor::X) => {
                        choose(rng, size, per_tensor)
                    }
                    _ => (0..size).collect(),
                };
                flat.into_iter()
                    .map(|f| {
                        let mut idx = vec![0; shape.len()];
                        let mut rest = f;
                        for d in (0..shape.len()).rev() {
                            idx[d] = rest % shape[d];
                            rest /= shape[d];
                        }
                        ProbeKind::Coord(idx)
                    })
                    .collect()
            }
        };
        let cfg = &opts.config;
        probes
            .into_par_iter()
            .enumerate()
            .map(|(d, p)| {
                let e = match &p {
                    ProbeKind::Coord(idx) => self.check_coord(t, idx, claimed[idx.as_slice()], cfg),
                    ProbeKind::Direction(v) => {
                        let claimed_dir: f64 =
                            claimed.iter().zip(v.iter()).map(|(g, v)| g * v).sum();
                        let mut e = self.check_direction(t, v, claimed_dir, cfg);
                        e.index = vec![d];
                        e
                    }
                };
                progress(1);
                (p, e)
            })
            .collect()
    }

    /// `L̄` with row `i` of layer `k` replaced by `(w_row, b_i)`, generic over the
    /// scalar: column `i` of `Z_k` from the one-row layer's own forward, then the layers
    /// above. Returns the loss, the one-row output and the upper layers' forward.
    #[allow(clippy::too_many_arguments)] // one probe = row, its inputs and the cache
    fn row_probe<T: Scalar>(
        &self,
        net: &Network<T>,
        k: usize,
        i: usize,
        w_row: Array1<T>,
        b_i: T,
        input: ArrayView2<T>,
        base_a: &Array2<T>,
    ) -> (T, DenseOutput<T>, Forward<T>) {
        let row = Dense {
            w: w_row.insert_axis(Axis(0)),
            b: Array1::from_elem(1, b_i),
            activation: net.layers[k].activation,
        };
        let out = row.forward(input);
        let mut a_k = base_a.clone();
        a_k.column_mut(i).assign(&out.a.column(0));
        let (loss, tail) = loss_above(net, k, a_k.view(), self.y);
        (loss, out, tail)
    }

    fn check_coord(
        &self,
        t: Tensor,
        idx: &[usize],
        claimed: f64,
        cfg: &CheckConfig,
    ) -> ElementCheck {
        let (dual, theta, mut probe): (f64, f64, Box<dyn FnMut(f64) -> Probe + '_>) = match t {
            Tensor::W(k) | Tensor::B(k) => {
                let (i, j) = (idx[0], idx.get(1).copied());
                let lw = &self.net_dual.layers[k];
                let mut w_row = lw.w.row(i).to_owned();
                let mut b_i = lw.b[i];
                match j {
                    Some(j) => w_row[j].eps = 1.0,
                    None => b_i.eps = 1.0,
                }
                let dual = self
                    .row_probe(
                        self.net_dual,
                        k,
                        i,
                        w_row,
                        b_i,
                        self.lifted[k].view(),
                        &self.lifted[k + 1],
                    )
                    .0
                    .eps;
                let layer = &self.net.layers[k];
                let theta = j.map_or(layer.b[i], |j| layer.w[[i, j]]);
                let probe = move |delta: f64| {
                    let mut w_row = layer.w.row(i).to_owned();
                    let mut b_i = layer.b[i];
                    match j {
                        Some(j) => w_row[j] = theta + delta,
                        None => b_i = theta + delta,
                    }
                    let (loss, out, tail) = self.row_probe(
                        self.net,
                        k,
                        i,
                        w_row,
                        b_i,
                        self.fwd.layer_input(k),
                        self.base_a(k),
                    );
                    let zk = self.fwd.layers[k].z.slice(s![.., i..i + 1]);
                    let kink = nearest(
                        self.flips(k, zk, out.z.view(), i, 0),
                        self.tail_flips(k, &tail),
                    );
                    Probe { value: loss, kink }
                };
                (dual, theta, Box::new(probe))
            }
            Tensor::X => {
                let (r, j) = (idx[0], idx[1]);
                let batch = self.fwd.input.nrows() as f64;
                let mut x_row = self.lifted[0].slice(s![r..r + 1, ..]).to_owned();
                x_row[[0, j]].eps = 1.0;
                let y_r = self.y.slice(s![r..r + 1, ..]);
                let dual = self.net_dual.mean_loss(x_row.view(), y_r).eps / batch;
                let theta = self.fwd.input[[r, j]];
                let probe = move |delta: f64| {
                    let mut x_row = self.fwd.input.slice(s![r..r + 1, ..]).to_owned();
                    x_row[[0, j]] = theta + delta;
                    let f = self.net.forward(x_row.view());
                    let loss = self.net.mean_loss_of(f.output(), y_r) / batch;
                    let kink = (0..self.net.layers.len())
                        .map(|m| {
                            self.flips(
                                m,
                                self.fwd.layers[m].z.slice(s![r..r + 1, ..]),
                                f.layers[m].z.view(),
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

/// Checks that the step moved the probed coordinate (or direction) by `−lr·g` with the
/// exact `g` from the dual oracle, to the rounding of `θ − lr·g`.
fn update_check(
    before: &Network<f64>,
    after: &Network<f64>,
    t: Tensor,
    probe: &ProbeKind,
    e: &ElementCheck,
    lr: f64,
    cfg: &CheckConfig,
) -> ElementCheck {
    let params = |net: &Network<f64>| -> ndarray::ArrayD<f64> {
        match t {
            Tensor::W(k) => net.layers[k].w.clone().into_dyn(),
            Tensor::B(k) => net.layers[k].b.clone().into_dyn(),
            Tensor::X => unreachable!("inputs are not updated"),
        }
    };
    let (p0, p1) = (params(before), params(after));
    let ulp = |x: f64| 4.0 * f64::EPSILON * x.abs();
    let (moved, expected, tol, index) = match probe {
        ProbeKind::Coord(idx) => {
            let (a, b) = (p0[idx.as_slice()], p1[idx.as_slice()]);
            let want = a - lr * e.dual;
            let tol =
                ulp(a.abs().max(b.abs())) + lr * (cfg.dual.atol + cfg.dual.rtol * e.dual.abs());
            (b - a, want - a, tol, idx.clone())
        }
        ProbeKind::Direction(v) => {
            let moved: f64 = p1
                .iter()
                .zip(p0.iter())
                .zip(v.iter())
                .map(|((b, a), d)| (b - a) * d)
                .sum();
            let tol: f64 = p0
                .iter()
                .zip(p1.iter())
                .zip(v.iter())
                .map(|((a, b), d)| d.abs() * ulp(a.abs().max(b.abs())))
                .sum::<f64>()
                + lr * (cfg.dual.atol + cfg.dual.rtol * e.dual.abs());
            (moved, -lr * e.dual, tol, vec![])
        }
    };
    let verdict = if !moved.is_finite() || !expected.is_finite() {
        Verdict::NonFinite
    } else if (moved - expected).abs() <= tol {
        Verdict::Verified
    } else {
        Verdict::UpdateBug
    };
    ElementCheck {
        index,
        claimed: moved,
        dual: expected,
        fd: f64::NAN,
        fd_step: 0.0,
        kink: None,
        verdict,
    }
}
