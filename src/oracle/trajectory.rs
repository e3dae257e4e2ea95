//! A recorded training run: what a port must reproduce.

use ndarray::{Array1, Array2, ArrayD, ArrayView1};

use crate::error::Result;
use crate::io::spec::Spec;
use crate::io::MAX_BYTES;
use crate::nn::network::{Forward, Gradients, Network};
use crate::nn::sgd::{Detail, Observer, Step, Stepper};
use crate::oracle::schema::{Key, Param, Snapshot, StepArray};
use crate::run::{self, Engine};
use crate::variant::{Conventions, Variant, VariantStepper};

/// One recorded update step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Update index over the run (0-based).
    pub step: usize,
    /// Epoch (0-based).
    pub epoch: usize,
    /// The batch's samples, in data order.
    pub samples: Vec<usize>,
    /// Per layer: `Z (B, out)`.
    pub z: Vec<Array2<f64>>,
    /// Per layer: `A (B, out)`.
    pub a: Vec<Array2<f64>>,
    /// Each sample's loss `(B)`.
    pub loss: Array1<f64>,
    /// `∂L̄/∂Ŷ (B, m)`.
    pub d_output: Array2<f64>,
    /// Per layer: `dW (out, in)`.
    pub dw: Vec<Array2<f64>>,
    /// Per layer: `db (out)`.
    pub db: Vec<Array1<f64>>,
    /// Per layer: `dX (B, in)` (layer 0's is the gradient with respect to the inputs).
    pub dx: Vec<Array2<f64>>,
    /// The parameters after this update.
    pub after: Network<f64>,
}

/// Parameter `p` of layer `k` of `net`.
fn param(net: &Network<f64>, p: Param, k: usize) -> Option<ArrayD<f64>> {
    let l = net.layers.get(k)?;
    Some(match p {
        Param::W => l.w.clone().into_dyn(),
        Param::B => l.b.clone().into_dyn(),
    })
}

impl StepRecord {
    /// The array of this step named `key` (a step array or a parameter after the
    /// update), if `key` belongs to this step.
    pub fn get(&self, key: Key) -> Option<ArrayD<f64>> {
        let layer = |v: &Vec<Array2<f64>>, k: usize| Some(v.get(k)?.clone().into_dyn());
        match key {
            Key::Param(Snapshot::After(s), p, k) if s == self.step => param(&self.after, p, k),
            Key::Step(s, a) if s == self.step => match a {
                StepArray::Samples => {
                    Some(Array1::from_iter(self.samples.iter().map(|&i| i as f64)).into_dyn())
                }
                StepArray::Loss => Some(self.loss.clone().into_dyn()),
                StepArray::DOutput => Some(self.d_output.clone().into_dyn()),
                StepArray::Z(k) => layer(&self.z, k),
                StepArray::A(k) => layer(&self.a, k),
                StepArray::DW(k) => layer(&self.dw, k),
                StepArray::Db(k) => Some(self.db.get(k)?.clone().into_dyn()),
                StepArray::Dx(k) => layer(&self.dx, k),
            },
            _ => None,
        }
    }

    /// The record of one step: `(step, epoch, first sample)`, its forward pass, losses,
    /// gradients (layer 0's `dX` included) and the parameters after its update.
    pub fn new(
        (step, epoch, first): (usize, usize, usize),
        forward: &Forward<f64>,
        losses: ArrayView1<f64>,
        grads: &Gradients,
        after: &Network<f64>,
    ) -> Self {
        StepRecord {
            step,
            epoch,
            samples: (first..first + losses.len()).collect(),
            z: forward.layers.iter().map(|l| l.z.clone()).collect(),
            a: forward.layers.iter().map(|l| l.a.clone()).collect(),
            loss: losses.to_owned(),
            d_output: grads.d_output.clone(),
            dw: grads.layers.iter().map(|g| g.dw.clone()).collect(),
            db: grads.layers.iter().map(|g| g.db.clone()).collect(),
            dx: grads
                .layers
                .iter()
                .map(|g| g.dx.clone().unwrap_or_default())
                .collect(),
            after: after.clone(),
        }
    }
}

/// A recorded training run: what a port must reproduce.
#[derive(Debug, Clone)]
pub struct Trajectory {
    /// The resolved spec.
    pub spec: Spec,
    /// Initial parameters.
    pub initial: Network<f64>,
    /// The first updates, in full.
    pub steps: Vec<StepRecord>,
    /// Every epoch's total loss.
    pub loss: Vec<f64>,
    /// Final parameters.
    pub final_: Network<f64>,
    /// The derivative conventions at `z = 0` it was computed with.
    pub conventions: Conventions,
}

/// Records the first `limit` steps.
struct Tracer {
    limit: usize,
    steps: Vec<StepRecord>,
}

impl Observer for Tracer {
    fn step(&mut self, s: &Step<'_>) {
        if self.steps.len() >= self.limit {
            return;
        }
        let Some(Detail { forward, grads }) = s.detail else {
            return;
        };
        self.steps.push(StepRecord::new(
            (s.index, s.epoch, s.first_sample),
            forward,
            s.losses,
            grads,
            s.after,
        ));
    }

    fn wants_detail(&self) -> bool {
        self.steps.len() < self.limit
    }
}

/// The numbers of `trace_steps` recorded steps of `spec` (each keeps `Z`, `A`, `dX` per
/// layer, the gradients and the updated parameters).
fn trace_values(spec: &Spec, trace_steps: usize) -> u128 {
    let steps = trace_steps.min(total_steps(spec)) as u128;
    let b = spec.batch_size.min(spec.x.nrows()) as u128;
    let widths: u128 = spec.sizes.iter().map(|&s| s as u128).sum();
    steps * (3 * b * widths + 2 * spec.parameter_count())
}

/// The most bytes one number takes in the JSON an export writes: the longest shortest
/// round-trip form of an `f64` (`-2.2250738585072014e-308`, 24 characters) and its comma.
pub const JSON_NUMBER_BYTES: u128 = 25;

/// A bound on the size of the `trajectory.json` an export of `spec` with `trace_steps`
/// traced steps writes, in parts: `(what, bytes)` for the loss history (every epoch's
/// loss), the traced steps ([`trace_bytes`]), and the rest (the header with the spec's
/// inline data, the initial and final parameters, up to 1 MiB of text and indentation).
pub fn trajectory_json_bytes(spec: &Spec, trace_steps: usize) -> [(&'static str, u128); 3] {
    let n = JSON_NUMBER_BYTES;
    // Inline data (data read from a file is written as a reference to it).
    let src = &spec.sources;
    let mut inline = vec![(&src.x, &spec.x), (&src.y, &spec.y)];
    if let Some(t) = &spec.test {
        inline.extend([(&src.x_test, &t.x), (&src.y_test, &t.y)]);
    }
    let (data, rows) = inline
        .iter()
        .filter(|(file, _)| file.is_none())
        .fold((0u128, 0u128), |(d, r), (_, a)| {
            (d + a.len() as u128, r + a.nrows() as u128)
        });
    let outs: u128 = spec.sizes[1..].iter().map(|&s| s as u128).sum();
    // A matrix row is a line: up to 64 bytes of indentation, brackets and comma.
    let rest = n * (data + 2 * spec.parameter_count()) + 64 * (rows + 4 * outs) + (1 << 20);
    [
        ("the loss history", n * spec.epochs as u128),
        ("the traced steps", trace_bytes(spec, trace_steps)),
        ("the header and parameters", rest),
    ]
}

/// Refuses an export of `spec` with `trace_steps` traced steps that would write what
/// this program would refuse to read back: its trace over 1 GiB ([`check_trace`]), a
/// `trajectory.json` over the 1 GiB a file may have ([`trajectory_json_bytes`]), or
/// more than `compare` plans to hold when it compares against it
/// ([`crate::oracle::plan::check_compare`]). Errors name `epochs_field` (the
/// spec's epochs) or `trace_field`, whichever drives the part that is too large.
pub fn check_export(
    spec: &Spec,
    trace_steps: usize,
    epochs_field: &str,
    trace_field: &str,
) -> Result<()> {
    check_trace(spec, trace_steps, trace_field)?;
    let parts = trajectory_json_bytes(spec, trace_steps);
    let total: u128 = parts.iter().map(|p| p.1).sum();
    if total > MAX_BYTES as u128 {
        let field = if parts[1].1 > parts[0].1 {
            trace_field
        } else {
            epochs_field
        };
        let mib = |b: u128| b as f64 / (1u64 << 20) as f64;
        return Err(crate::Error::invalid(
            field,
            format!(
                "trajectory.json could be {:.0} MiB ({} of {} epochs {:.0} MiB, {} {:.0} MiB, {} {:.0} MiB), more than the 1 GiB that compare reads",
                mib(total),
                parts[0].0,
                spec.epochs,
                mib(parts[0].1),
                parts[1].0,
                mib(parts[1].1),
                parts[2].0,
                mib(parts[2].1)
            ),
        ));
    }
    // What compare holds when it reads the export back: every epoch's loss, the
    // initial and final parameters, the traced steps.
    let values = spec.epochs as u128 + 2 * spec.parameter_count() + trace_values(spec, trace_steps);
    crate::oracle::plan::check_compare(
        spec,
        values,
        epochs_field,
        "comparing a port against this export",
    )
}

/// A bound on the bytes `trace_steps` recorded steps of `spec` need: in memory (each
/// step keeps `Z`, `A`, `dX` per layer, the gradients and the updated parameters: `V`
/// numbers) and once written (about 30 bytes a number as JSON text plus 8 in the
/// `.npz`, and some 300 bytes of headers for each of the step's `4 + 7L` arrays).
pub fn trace_bytes(spec: &Spec, trace_steps: usize) -> u128 {
    let steps = trace_steps.min(total_steps(spec)) as u128;
    let values = trace_values(spec, trace_steps);
    let arrays = 4 + 7 * (spec.sizes.len() as u128 - 1);
    values * (8 + 30 + 8) + steps * arrays * 300
}

/// [`record`], refusing (naming `field`) a trace that would need more than 1 GiB.
pub fn record_checked(spec: &Spec, trace_steps: usize, field: &str) -> Result<Trajectory> {
    check_trace(spec, trace_steps, field)?;
    record(spec, trace_steps)
}

/// Refuses (naming `field`) a trace of `trace_steps` steps that would need more than
/// 1 GiB ([`trace_bytes`]).
pub fn check_trace(spec: &Spec, trace_steps: usize, field: &str) -> Result<()> {
    let bytes = trace_bytes(spec, trace_steps);
    if bytes > MAX_BYTES as u128 {
        return Err(crate::Error::invalid(
            field,
            format!("{trace_steps} traced steps of this network need {bytes} bytes, more than the 1 GiB limit"),
        ));
    }
    Ok(())
}

/// Trains `spec` and records its trajectory with the first `trace_steps` steps in full.
pub fn record(spec: &Spec, trace_steps: usize) -> Result<Trajectory> {
    record_variant(spec, trace_steps, Variant::default())
}

/// [`record`] as a variant of the reference computes it (a bug, other conventions at
/// `z = 0`; the default variant is the reference itself).
pub fn record_variant(spec: &Spec, trace_steps: usize, variant: Variant) -> Result<Trajectory> {
    if variant.is_reference() {
        let mut tracer = Tracer {
            limit: trace_steps,
            steps: Vec::new(),
        };
        // The exact engine: the reference's bits, its recorded steps made by the
        // reference stepper itself.
        let run = run::train(spec, Engine::exact(), &mut tracer)?;
        return Ok(Trajectory {
            spec: spec.clone(),
            initial: run.initial,
            steps: tracer.steps,
            loss: run.loss,
            final_: run.final_,
            conventions: variant.conventions,
        });
    }
    let mut t = record_with(spec, trace_steps, &mut VariantStepper::new(variant))?;
    t.conventions = variant.conventions;
    Ok(t)
}

/// [`record`] with any stepper (the trajectory's `conventions` are the reference's).
pub fn record_with<S: Stepper + ?Sized>(
    spec: &Spec,
    trace_steps: usize,
    stepper: &mut S,
) -> Result<Trajectory> {
    let mut tracer = Tracer {
        limit: trace_steps,
        steps: Vec::new(),
    };
    let run = run::train_with(spec, stepper, &mut tracer)?;
    Ok(Trajectory {
        spec: spec.clone(),
        initial: run.initial,
        steps: tracer.steps,
        loss: run.loss,
        final_: run.final_,
        conventions: Conventions::default(),
    })
}

pub use crate::oracle::plan::total_steps;

impl Trajectory {
    /// The recorded array named `key`, if the trajectory has it.
    pub fn get(&self, key: Key) -> Option<ArrayD<f64>> {
        match key {
            Key::EpochLoss => Some(Array1::from(self.loss.clone()).into_dyn()),
            Key::Param(Snapshot::Initial, p, k) => param(&self.initial, p, k),
            Key::Param(Snapshot::Final, p, k) => param(&self.final_, p, k),
            Key::Param(Snapshot::After(s), _, _) | Key::Step(s, _) => self.step(s)?.get(key),
        }
    }

    /// The parameters at `snapshot`, if recorded.
    pub fn network(&self, snapshot: Snapshot) -> Option<&Network<f64>> {
        match snapshot {
            Snapshot::Initial => Some(&self.initial),
            Snapshot::Final => Some(&self.final_),
            Snapshot::After(s) => self.step(s).map(|r| &r.after),
        }
    }

    /// The recorded step with index `s`.
    pub fn step(&self, s: usize) -> Option<&StepRecord> {
        // Steps are recorded from the first, so step `s` is usually at position `s`.
        match self.steps.get(s) {
            Some(r) if r.step == s => Some(r),
            _ => self.steps.iter().find(|r| r.step == s),
        }
    }

    /// Every recorded array with its key, in time order ([`Key::all`]).
    pub fn quantities(&self) -> Vec<(Key, ArrayD<f64>)> {
        let layers = self.initial.layers.len();
        Key::all(layers, self.steps.iter().map(|r| r.step))
            .into_iter()
            .filter_map(|k| Some((k, self.get(k)?)))
            .collect()
    }
}
