//! The driver: trains to each point, and for each batch computes the claimed gradients
//! (with any injected bug), runs the probe engine on every planned tensor, and checks
//! the training step.

use ndarray::s;
use num_dual::Dual64;

use crate::check::network::options::{Mode, NetworkCheckOptions, Tensor};
use crate::check::network::plan::Plan;
use crate::check::network::probe::{BatchCtx, ProbeKind};
use crate::check::network::report::NetworkReport;
use crate::check::network::update::update_check;
use crate::check::report::{Location, TensorReport};
use crate::check::triage::ElementCheck;
use crate::engine::record;
use crate::error::{Error, Result};
use crate::io::spec::Spec;
use crate::nn::network::{Gradients, Network};
use crate::nn::sgd::TrainConfig;
use crate::rng::RandomState;
use crate::run::{self, Engine};
use crate::variant;

/// Checks the backward pass of `spec`'s network (see the module docs). `progress` is
/// called with the number of element checks just finished. The check's work is planned
/// against [`DEFAULT_MAX_WORK`](super::plan::DEFAULT_MAX_WORK) ([`check_network_within`]
/// takes another budget).
pub fn check_network(
    spec: &Spec,
    opts: &NetworkCheckOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<NetworkReport> {
    check_network_within(spec, opts, super::plan::DEFAULT_MAX_WORK, progress)
}

/// [`check_network`] within a work budget of `max_work` multiply-adds × rows
/// ([`Plan::work`]); a check over it is refused before any work, naming `max_steps`.
pub fn check_network_within(
    spec: &Spec,
    opts: &NetworkCheckOptions,
    max_work: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<NetworkReport> {
    let plan = Plan::within(spec, opts, max_work)?;
    let mut net = run::network(spec)?;
    let first_batch = plan.batches.first().map_or(0, |b| b.len());
    let kind = if matches!(opts.mode, Mode::Directional { .. }) {
        "direction"
    } else {
        "gradient"
    };
    let mut grads_reports: Vec<TensorReport> = plan
        .tensors
        .iter()
        .map(|&t| TensorReport::new(t.name(), t.shape(&spec.sizes, first_batch), kind))
        .collect();
    let mut update_reports: Vec<TensorReport> = plan
        .tensors
        .iter()
        .filter(|t| t.update_index().is_some())
        .map(|&t| TensorReport::new(t.name(), t.shape(&spec.sizes, 0), "update"))
        .collect();
    let mut rng = RandomState::new(opts.sample_seed);
    let mut trained = 0;
    let threads = rayon::current_num_threads();
    for &epoch in &plan.points {
        if epoch > trained {
            let cfg = TrainConfig {
                epochs: epoch - trained,
                ..spec.train_config()
            };
            run::train_network(&mut net, spec, cfg, Engine::exact(), &mut ())?;
            trained = epoch;
        }
        if let Some(what) = net.first_non_finite() {
            return Err(Error::invalid(
                what,
                format!("is not finite at epoch {epoch}; nothing to check"),
            ));
        }
        let net_dual: Network<Dual64> = net.lift();
        for batch in &plan.batches {
            let (first, last) = (batch.start, batch.end);
            let at = Location {
                epoch,
                first_sample: first,
                batch_len: last - first,
            };
            let (xb, yb) = (
                spec.x.slice(s![first..last, ..]),
                spec.y.slice(s![first..last, ..]),
            );
            // Without an injected bug the step is recorded on the exact kernels: the
            // forward pass, the claimed gradients and the updated network of
            // `Network::train_step` (with `∂L̄/∂X`), bit for bit (`record::train_step`,
            // pinned by `tests/fast_path.rs`), in one pass. An injected bug runs the
            // `nn/` code with the bug.
            let mut after = net.clone();
            let (fwd, losses, grads) = match opts.bug {
                None => record::train_step(&mut after, xb, yb, spec.lr, threads),
                Some(_) => {
                    let fwd = net.forward(xb);
                    let losses = net.sample_losses(&fwd, yb);
                    let grads = variant::backward(&net, &fwd, yb, true, opts.bug);
                    variant::train_step(&mut after, xb, yb, spec.lr, opts.bug, false);
                    (fwd, losses, grads)
                }
            };
            if let Some(r) = losses.iter().position(|l| !l.is_finite()) {
                return Err(Error::invalid(
                    "loss",
                    format!(
                        "is not finite at epoch {epoch}, sample {} (overflow); a gradient check needs a finite loss",
                        first + r
                    ),
                ));
            }
            let ctx = BatchCtx::new(&net, &net_dual, yb, fwd);
            for (ti, &t) in plan.tensors.iter().enumerate() {
                let shape = t.shape(&spec.sizes, last - first);
                let report = &mut grads_reports[ti];
                report.total += match opts.mode {
                    Mode::Directional { directions } => directions,
                    _ => shape.iter().product(),
                };
                let reshaped;
                let claimed = match claimed_view(&grads, t) {
                    Some(c) if c.shape() == shape.as_slice() => c,
                    Some(c) => {
                        if report.shape_error.is_none() {
                            report.set_shape_error(c.shape());
                        }
                        // Same size: compare in memory order, as the update applies it.
                        match ndarray::ArrayD::from_shape_vec(
                            shape.clone(),
                            c.iter().copied().collect(),
                        ) {
                            Ok(c) => {
                                reshaped = c;
                                reshaped.view()
                            }
                            Err(_) => continue,
                        }
                    }
                    None => continue,
                };
                let mut update = t.update_index().map(|ui| &mut update_reports[ui]);
                let mut sink = |probe: &ProbeKind, e: ElementCheck| {
                    if let Some(ur) = update.as_deref_mut() {
                        ur.total += 1;
                        ur.add(
                            update_check(&net, &after, t, probe, &e, spec.lr, &opts.config),
                            Some(at),
                        );
                    }
                    report.add(e, Some(at));
                };
                let chunk = plan.chunk(&shape);
                ctx.check_tensor(
                    t, &claimed, &shape, opts, &mut rng, progress, chunk, &mut sink,
                );
            }
        }
    }
    grads_reports.extend(update_reports);
    Ok(NetworkReport {
        tensors: grads_reports,
        batches: plan.batches.len(),
        epoch_batches: plan.epoch_batches,
        batch_size: plan.batch_size,
        options: NetworkCheckOptions {
            at_epochs: plan.points,
            ..opts.clone()
        },
        sizes: spec.sizes.clone(),
        activations: spec.activations.clone(),
        loss: spec.loss,
    })
}

/// The claimed gradient of a tensor, as a dynamic-dimension view.
fn claimed_view(g: &Gradients, t: Tensor) -> Option<ndarray::ArrayViewD<'_, f64>> {
    match t {
        Tensor::W(k) => Some(g.layers[k].dw.view().into_dyn()),
        Tensor::B(k) => Some(g.layers[k].db.view().into_dyn()),
        Tensor::X => g.layers[0].dx.as_ref().map(|d| d.view().into_dyn()),
    }
}
