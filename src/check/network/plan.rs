//! The plan of a network check, validated before any work: the training points, the
//! batches, the tensors, and how many element checks each tensor gets. The driver
//! ([`check_network`](super::driver::check_network)) walks this plan, and
//! [`planned_checks`] counts from it, so the two cannot disagree.

use std::ops::Range;

use crate::check::network::options::{Mode, NetworkCheckOptions, Tensor};
use crate::error::{Error, Result};
use crate::io::spec::Spec;
use crate::io::MAX_BYTES;

/// What a network check will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The training points (epochs), sorted and without repeats.
    pub points: Vec<usize>,
    /// Samples per checked batch.
    pub batch_size: usize,
    /// The batches, as row ranges of the data, in order.
    pub batches: Vec<Range<usize>>,
    /// The tensors checked at every batch: `W`, `b` of each layer, then `X`.
    pub tensors: Vec<Tensor>,
    /// Which coordinates of each tensor.
    pub mode: Mode,
}

impl Plan {
    /// Validates `opts` against `spec` (errors name `NetworkCheckOptions.<field>` or
    /// `CheckConfig.<field>`) and lays out the check.
    pub fn new(spec: &Spec, opts: &NetworkCheckOptions) -> Result<Plan> {
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
                if bytes > MAX_BYTES as u128 {
                    return Err(Error::invalid(
                        "NetworkCheckOptions.mode.directions",
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
        let batches = (0..n)
            .step_by(batch_size)
            .map(|first| first..(first + batch_size).min(n))
            .collect();
        Ok(Plan {
            points,
            batch_size,
            batches,
            tensors: Tensor::all(spec.sizes.len() - 1),
            mode: opts.mode,
        })
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

/// The number of gradient element checks [`check_network`](super::driver::check_network) will
/// do (for progress bars); 0 when the options are invalid (the check then fails).
pub fn planned_checks(spec: &Spec, opts: &NetworkCheckOptions) -> u64 {
    Plan::new(spec, opts).map_or(0, |p| p.checks(&spec.sizes))
}
