//! The plan of a network check, validated before any work: the training points, the
//! batches, the tensors, and how many element checks each tensor gets. The driver
//! ([`check_network`](super::driver::check_network)) walks this plan, and
//! [`planned_checks`] counts from it, so the two cannot disagree.
//!
//! Three limits are checked before anything is computed: at most [`MAX_CHECKS`] element
//! checks, at most 1 GiB of memory ([`Plan::memory`]), and at most a work budget
//! ([`Plan::work`], [`DEFAULT_MAX_WORK`] unless the caller gives another, the CLI's
//! `--max-steps`). Work is counted in the unit of `compare`'s budget: one parameter (a
//! multiply-add) or one output's loss term, on one row. It grows with every dimension
//! that drives it: the epochs trained to the last point (`epochs × samples ×
//! parameters`), and for each checked tensor its number of checks times what one check
//! recomputes (a coordinate of layer `k`: its unit's column, every layer above and the
//! loss over all `n_L` outputs, for each row of the batch; a direction: the whole
//! tensor and the same forward), times the evaluations per check (one dual, two finite
//! differences, four with Richardson). So a sampled check of a softmax net, whose last
//! bias has one check per class and whose every check recomputes all the classes'
//! losses, costs `classes²` per row: 10⁴ classes fit the default, 10⁶ are refused.

use std::ops::Range;

use crate::check::network::options::{Mode, NetworkCheckOptions, Tensor, SAMPLED_BATCHES};
use crate::error::{Error, Result};
use crate::io::spec::Spec;
use crate::io::MAX_BYTES;

/// The most element checks one network check may make: its work bound.
pub const MAX_CHECKS: u64 = 1_000_000_000;

/// The default work budget of a check, in multiply-adds × rows ([`Plan::work`]): about
/// a second (plain layers) to a few minutes (softmax heads, whose every probe
/// exponentiates every output as a dual number) on one core. The CLI's `--max-steps`.
pub const DEFAULT_MAX_WORK: u64 = 10_000_000_000;

/// The memory a chunk of checks in flight may use.
const CHUNK_BYTES: u64 = 64 << 20;

/// What a network check will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The training points (epochs), sorted and without repeats.
    pub points: Vec<usize>,
    /// Samples per checked batch.
    pub batch_size: usize,
    /// The batches checked, as row ranges of the data, in order.
    pub batches: Vec<Range<usize>>,
    /// The batches in an epoch (all of them, checked or not).
    pub epoch_batches: usize,
    /// The tensors checked at every batch: `W`, `b` of each layer, then `X`.
    pub tensors: Vec<Tensor>,
    /// Which coordinates of each tensor.
    pub mode: Mode,
}

impl Plan {
    /// Validates `opts` against `spec` (errors name `NetworkCheckOptions.<field>` or
    /// `CheckConfig.<field>`) and lays out the check, within [`DEFAULT_MAX_WORK`].
    pub fn new(spec: &Spec, opts: &NetworkCheckOptions) -> Result<Plan> {
        Plan::within(spec, opts, DEFAULT_MAX_WORK)
    }

    /// [`Plan::new`] with a work budget of `max_work` ([`Plan::work`]); a plan over it
    /// is refused naming `max_steps` (the CLI's `--max-steps`) and the count.
    pub fn within(spec: &Spec, opts: &NetworkCheckOptions, max_work: u64) -> Result<Plan> {
        opts.config.validate()?;
        let batch_size = opts.batch_size.unwrap_or(spec.batch_size);
        if batch_size == 0 {
            return Err(Error::invalid(
                "NetworkCheckOptions.batch_size",
                "must be ≥ 1, got 0",
            ));
        }
        match opts.mode {
            Mode::Sampled { per_tensor: 0 } => {
                return Err(Error::invalid(
                    "NetworkCheckOptions.mode.per_tensor",
                    "must be ≥ 1, got 0",
                ))
            }
            Mode::Directional { directions: 0 } => {
                return Err(Error::invalid(
                    "NetworkCheckOptions.mode.directions",
                    "must be ≥ 1, got 0",
                ))
            }
            _ => {}
        }
        let mut points = opts.at_epochs.clone();
        points.sort_unstable();
        points.dedup();
        if points.is_empty() {
            return Err(Error::invalid(
                "NetworkCheckOptions.at_epochs",
                "needs at least one epoch",
            ));
        }
        if let Some(&e) = points.iter().find(|&&e| e > spec.epochs) {
            return Err(Error::invalid(
                "NetworkCheckOptions.at_epochs",
                format!("{e} is beyond the run's {} epochs", spec.epochs),
            ));
        }
        let n = spec.x.nrows();
        let all: Vec<Range<usize>> = (0..n)
            .step_by(batch_size)
            .map(|first| first..(first + batch_size).min(n))
            .collect();
        let keep = match (opts.batches, opts.mode) {
            (Some(0), _) => {
                return Err(Error::invalid(
                    "NetworkCheckOptions.batches",
                    "must be ≥ 1, got 0",
                ))
            }
            (Some(k), _) => k,
            (None, Mode::Exhaustive) => all.len(),
            (None, _) => SAMPLED_BATCHES,
        };
        let epoch_batches = all.len();
        let batches = spread(all, keep);
        let plan = Plan {
            points,
            batch_size,
            batches,
            epoch_batches,
            tensors: Tensor::all(spec.sizes.len() - 1),
            mode: opts.mode,
        };
        let checks = plan.checks(&spec.sizes);
        if checks > MAX_CHECKS {
            let (field, advice) = match opts.mode {
                Mode::Directional { .. } => {
                    ("NetworkCheckOptions.mode.directions", "fewer directions")
                }
                Mode::Sampled { .. } => ("NetworkCheckOptions.mode.per_tensor", "fewer samples"),
                Mode::Exhaustive => (
                    "NetworkCheckOptions.mode",
                    "the sampled or directional mode",
                ),
            };
            return Err(Error::invalid(
                field,
                format!(
                    "the check would make {checks} element checks, more than the limit of {MAX_CHECKS}; use {advice} or fewer epochs in at_epochs"
                ),
            ));
        }
        let batch_field = if opts.batch_size.is_some() {
            "NetworkCheckOptions.batch_size"
        } else {
            "spec.batch_size"
        };
        let parts = plan.memory(spec, rayon::current_num_threads().max(1));
        let total: u128 = parts.iter().map(|p| p.1).sum();
        if total > MAX_BYTES as u128 {
            let gib = |b: u128| b as f64 / (1u64 << 30) as f64;
            let (i, _) = parts
                .iter()
                .enumerate()
                .max_by_key(|(_, p)| p.1)
                .unwrap_or((0, &parts[0]));
            let field = ["sizes", batch_field, "NetworkCheckOptions.mode.directions"][i];
            return Err(Error::invalid(
                field,
                format!(
                    "the check would need {:.2} GiB (network copies and probes {:.2} GiB, a batch's caches {:.2} GiB, directions in flight {:.2} GiB), more than the 1 GiB limit",
                    gib(total),
                    gib(parts[0].1),
                    gib(parts[1].1),
                    gib(parts[2].1)
                ),
            ));
        }
        let work = plan.work(spec, &opts.config);
        if work.total() > max_work as u128 {
            return Err(Error::invalid(
                "max_steps",
                format!(
                    "the check would do {} units of work (multiply-adds × rows), more than this budget of {max_work}: {}; check fewer coordinates, directions, batches or epochs, or raise the budget",
                    work.total(),
                    work.describe()
                ),
            ));
        }
        Ok(plan)
    }

    /// The work of the check ([`Work`]; see the module docs for the unit).
    pub fn work(&self, spec: &Spec, config: &crate::check::CheckConfig) -> Work {
        let sizes = &spec.sizes;
        let layers = sizes.len() - 1;
        let layer = |k: usize| spec.layer_parameter_count(k);
        let params = spec.parameter_count();
        let above = |k: usize| (k + 1..layers).map(layer).sum::<u128>();
        let outputs = sizes[layers] as u128;
        // One dual evaluation and two finite differences (four with Richardson).
        let evals: u128 = if config.richardson { 5 } else { 3 };
        let last = self.points.last().copied().unwrap_or(0) as u128;
        let points = self.points.len() as u128;
        // Training to the last point, and each checked batch's recorded step.
        let rows: u128 = self.batches.iter().map(|b| b.len() as u128).sum();
        let training = (last * spec.x.nrows() as u128 + points * rows) * params;
        let mut tensors: Vec<(Tensor, u128, u128)> = Vec::new();
        for &t in &self.tensors {
            let (mut checks, mut work) = (0u128, 0u128);
            for b in &self.batches {
                let rows = b.len() as u128;
                let shape = t.shape(sizes, b.len());
                let size = shape.iter().product::<usize>() as u128;
                let n = self.probes(t, &shape) as u128;
                let each = match (self.mode, t) {
                    (Mode::Directional { .. }, Tensor::W(k) | Tensor::B(k)) => {
                        size + rows * (layer(k) + above(k) + outputs)
                    }
                    (Mode::Directional { .. }, Tensor::X) => size + rows * (params + outputs),
                    (_, Tensor::W(k) | Tensor::B(k)) => {
                        rows * (sizes[k] as u128 + 1 + above(k) + outputs)
                    }
                    (_, Tensor::X) => params + outputs,
                };
                checks += n;
                work += n * each * evals;
            }
            tensors.push((t, checks * points, work * points));
        }
        Work {
            training: (last as usize, training),
            tensors,
        }
    }

    /// The bytes the check needs at its peak, in three parts: what grows with the
    /// network (its f64, dual and updated copies, gradients, and per-probe layer copies
    /// on `threads` threads), with the batch (forward caches, probes' activations), and
    /// the directions drawn at once (directional mode). Counted from the code's actual
    /// allocations, rounded up (see the module docs).
    pub fn memory(&self, spec: &Spec, threads: usize) -> [(&'static str, u128); 3] {
        let sizes = &spec.sizes;
        let t = threads as u128;
        let params = spec.parameter_count();
        let b = self.batches.first().map_or(0, |r| r.len()) as u128;
        let widths: u128 = sizes.iter().map(|&s| s as u128).sum();
        let widest = sizes.iter().copied().max().unwrap_or(0) as u128;
        let largest = self
            .tensors
            .iter()
            .map(|tensor| tensor.shape(sizes, b as usize).iter().product::<usize>() as u128)
            .max()
            .unwrap_or(0);
        // f64 network, its dual lift (16 B a number), the updated copy, the gradients,
        // and the reference stepper's own step while training to a point.
        let mut network = params * (8 + 16 + 8 + 8 + 16) + 8 * largest;
        // Directional probes copy the probed layer, in f64 and as dual numbers;
        // coordinate probes of the inputs use every `Wᵀ`, in f64 and as dual numbers
        // (up to 24 B a weight: `cache::LaneCache::weights_transposed`).
        match self.mode {
            Mode::Directional { .. } => network += t * 24 * largest,
            _ => network += params * 24,
        }
        // Forward caches (Z, A), their dual lift, gradients (dZ, dX), the training
        // stepper's caches; each probe in flight: a layer's activations and the layers
        // above, as f64 and dual numbers. The coordinate probes' transposed caches
        // (`cache::LaneCache`) and each worker's scratch (`cache::Scratch`), f64 and dual.
        let batch = b * widths * 8 * 10
            + t * (b * widths * 96 + 24 * widest)
            + b * widths * 24
            + t * 24 * (2 * b * widths + 2 * widths + (b + 1) * (widest + 1));
        let directions = match self.mode {
            Mode::Directional { .. } => {
                let chunk = self.chunk(&[largest as usize]) as u128;
                chunk * (8 * largest + 256)
            }
            _ => 4096 * 256,
        };
        [
            ("sizes", network),
            ("batch", batch),
            ("directions", directions),
        ]
    }

    /// How many element checks of a tensor of `shape` are made (and their probes held)
    /// at once: as many as fit in 64 MiB, between 1 and 4096.
    pub fn chunk(&self, shape: &[usize]) -> usize {
        let size = shape.iter().product::<usize>() as u64;
        let per = match self.mode {
            Mode::Directional { .. } => 8 * size + 256,
            _ => 256,
        };
        (CHUNK_BYTES / per).clamp(1, 4096) as usize
    }

    /// The element checks of tensor `t` (of `shape`) in one batch: every element
    /// (exhaustive), `per_tensor` of each `W` and of `X` and every bias element
    /// (sampled), or `directions` (directional).
    pub fn probes(&self, t: Tensor, shape: &[usize]) -> usize {
        let size: usize = shape.iter().product();
        match (self.mode, t) {
            (Mode::Directional { directions }, _) => directions,
            (Mode::Sampled { per_tensor }, Tensor::W(_) | Tensor::X) => per_tensor.min(size),
            _ => size,
        }
    }

    /// The gradient element checks of the whole plan for a network of `sizes`.
    pub fn checks(&self, sizes: &[usize]) -> u64 {
        let per_point: u64 = self
            .batches
            .iter()
            .flat_map(|b| {
                self.tensors
                    .iter()
                    .map(move |&t| self.probes(t, &t.shape(sizes, b.len())) as u64)
            })
            .sum();
        per_point.saturating_mul(self.points.len() as u64)
    }
}

/// The work of a check (see the module docs for the unit): training to the last point,
/// and each tensor's probes.
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    /// The last point's epoch and the work of training to it (with each checked
    /// batch's recorded step).
    pub training: (usize, u128),
    /// Each checked tensor with its element checks and their work (all points and
    /// batches, the batches' recorded steps included).
    pub tensors: Vec<(Tensor, u128, u128)>,
}

impl Work {
    /// All of it.
    pub fn total(&self) -> u128 {
        self.training.1 + self.tensors.iter().map(|t| t.2).sum::<u128>()
    }

    /// `training to epoch 3: 9000, layers[1].b: 1000000 checks, 3000012000000` (the
    /// training and the costliest tensor).
    pub fn describe(&self) -> String {
        let mut s = format!("training to epoch {}: {}", self.training.0, self.training.1);
        if let Some((t, checks, work)) = self.tensors.iter().max_by_key(|t| t.2) {
            s += &format!("; the most, {}: {checks} checks, {work}", t.name());
        }
        s
    }
}

/// `keep` of the `batches`, evenly spread: indices `round(i·(m − 1)/(keep − 1))` for
/// `i = 0 … keep − 1` (the first and the last included); all of them when
/// `keep ≥ m`, the first alone when `keep = 1`.
fn spread(batches: Vec<Range<usize>>, keep: usize) -> Vec<Range<usize>> {
    let m = batches.len();
    if keep >= m {
        return batches;
    }
    if keep <= 1 {
        return batches.into_iter().take(1).collect();
    }
    let picked: Vec<usize> = (0..keep)
        .map(|i| (i * (m - 1) + (keep - 1) / 2) / (keep - 1))
        .collect();
    batches
        .into_iter()
        .enumerate()
        .filter(|(j, _)| picked.binary_search(j).is_ok())
        .map(|(_, b)| b)
        .collect()
}

/// The number of gradient element checks [`check_network`](super::driver::check_network) will
/// do (for progress bars); 0 when the options are invalid (the check then fails).
pub fn planned_checks(spec: &Spec, opts: &NetworkCheckOptions) -> u64 {
    Plan::new(spec, opts).map_or(0, |p| p.checks(&spec.sizes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spread keeps the first and the last batch, in order, without repeats.
    #[test]
    fn spread_batches_keep_the_ends_evenly() {
        let b = |m: usize| (0..m).map(|i| i..i + 1).collect::<Vec<_>>();
        let starts = |v: Vec<Range<usize>>| v.into_iter().map(|r| r.start).collect::<Vec<_>>();
        assert_eq!(
            starts(spread(b(157), 8)),
            [0, 22, 45, 67, 89, 111, 134, 156]
        );
        assert_eq!(starts(spread(b(10), 3)), [0, 5, 9]);
        assert_eq!(starts(spread(b(9), 2)), [0, 8]);
        assert_eq!(starts(spread(b(4), 8)), [0, 1, 2, 3]);
        assert_eq!(starts(spread(b(5), 1)), [0]);
        assert_eq!(starts(spread(b(3), 3)), [0, 1, 2]);
    }
}
