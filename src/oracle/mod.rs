//! The oracle for ports: a recorded run (trajectory), its named arrays, export to
//! JSON/`.npz`/`.npy`, and comparison of a port's output against it.
//!
//! Every recorded number has a canonical name, the `.npz` key (layer numbers `k` are
//! 1-based there, as in the article's `W1`, `W2`; `W{k}` is `layers[k−1]`):
//!
//! | key | shape | what |
//! |---|---|---|
//! | `W{k}_init`, `b{k}_init` | `(out, in)`, `(out)` | initial parameters |
//! | `step{s}_samples` | `(B)` int64 | the samples of update `s` (data order) |
//! | `step{s}_z{k}`, `step{s}_a{k}` | `(B, out)` | forward of update `s`, layer `k` |
//! | `step{s}_loss` | `(B)` | each sample's loss |
//! | `step{s}_dyhat` | `(B, m)` | `∂L̄/∂Ŷ` |
//! | `step{s}_dW{k}`, `step{s}_db{k}`, `step{s}_dx{k}` | `(out, in)`, `(out)`, `(B, in)` | backward |
//! | `step{s}_W{k}`, `step{s}_b{k}` | | parameters after update `s` |
//! | `loss` | `(epochs)` | every epoch's total loss |
//! | `W{k}_final`, `b{k}_final` | | final parameters |
//!
//! [`quantities`] lists them in time order (initial, each step's forward, loss,
//! backward from the last layer down, update; then epoch losses; then final), which is
//! the order [`compare`](compare::compare) walks to find the *first* divergence.

pub mod compare;
pub mod export;

use ndarray::{Array1, Array2, ArrayD};

use crate::error::Result;
use crate::nn::network::Network;
use crate::nn::train::{Observer, Step};
use crate::spec::Spec;

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
        let b = s.losses.len();
        self.steps.push(StepRecord {
            step: s.index,
            epoch: s.epoch,
            samples: (s.first_sample..s.first_sample + b).collect(),
            z: s.forward.layers.iter().map(|l| l.z.clone()).collect(),
            a: s.forward.layers.iter().map(|l| l.a.clone()).collect(),
            loss: s.losses.clone(),
            d_output: s.grads.d_output.clone(),
            dw: s.grads.layers.iter().map(|g| g.dw.clone()).collect(),
            db: s.grads.layers.iter().map(|g| g.db.clone()).collect(),
            dx: s
                .grads
                .layers
                .iter()
                .map(|g| g.dx.clone().unwrap_or_default())
                .collect(),
            after: s.after.clone(),
        });
    }

    fn wants_input_grad(&self) -> bool {
        self.steps.len() < self.limit
    }
}

/// A bound on the bytes `trace_steps` recorded steps of `spec` need: in memory (each
/// step keeps `Z`, `A`, `dX` per layer, the gradients and the updated parameters: `V`
/// numbers) and once written (about 30 bytes a number as JSON text plus 8 in the
/// `.npz`, and some 300 bytes of headers for each of the step's `4 + 7L` arrays).
pub fn trace_bytes(spec: &Spec, trace_steps: usize) -> u128 {
    let steps = trace_steps.min(total_steps(spec)) as u128;
    let b = spec.batch_size.min(spec.x.nrows()) as u128;
    let params: u128 = spec
        .sizes
        .windows(2)
        .map(|io| io[1] as u128 * (io[0] as u128 + 1))
        .sum();
    let widths: u128 = spec.sizes.iter().map(|&s| s as u128).sum();
    let values = 3 * b * widths + 2 * params;
    let arrays = 4 + 7 * (spec.sizes.len() as u128 - 1);
    steps * (values * (8 + 30 + 8) + arrays * 300)
}

/// [`record`], refusing (naming `field`) a trace that would need more than 1 GiB.
pub fn record_checked(spec: &Spec, trace_steps: usize, field: &str) -> Result<Trajectory> {
    let bytes = trace_bytes(spec, trace_steps);
    if bytes > crate::spec::MAX_BYTES as u128 {
        return Err(crate::Error::invalid(
            field,
            format!("{trace_steps} traced steps of this network need {bytes} bytes, more than the 1 GiB limit"),
        ));
    }
    record(spec, trace_steps)
}

/// Trains `spec` and records its trajectory with the first `trace_steps` steps in full.
pub fn record(spec: &Spec, trace_steps: usize) -> Result<Trajectory> {
    let mut tracer = Tracer {
        limit: trace_steps,
        steps: Vec::new(),
    };
    let run = spec.train(&mut tracer)?;
    Ok(Trajectory {
        spec: spec.clone(),
        initial: run.initial,
        steps: tracer.steps,
        loss: run.loss,
        final_: run.final_,
    })
}

/// The number of updates a spec's run makes: `epochs · ⌈N / batch_size⌉`.
pub fn total_steps(spec: &Spec) -> usize {
    spec.epochs
        .saturating_mul(spec.x.nrows().div_ceil(spec.batch_size))
}

/// One named array of a trajectory.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// The canonical (`.npz`) key, e.g. `step3_dW1`.
    pub key: String,
    /// The values.
    pub data: ArrayD<f64>,
}

fn q(key: String, data: ArrayD<f64>) -> Quantity {
    Quantity { key, data }
}

fn params(out: &mut Vec<Quantity>, net: &Network<f64>, suffix: &str, prefix: &str) {
    for (k, l) in net.layers.iter().enumerate() {
        out.push(q(
            format!("{prefix}W{}{suffix}", k + 1),
            l.w.clone().into_dyn(),
        ));
        out.push(q(
            format!("{prefix}b{}{suffix}", k + 1),
            l.b.clone().into_dyn(),
        ));
    }
}

/// Every recorded array, in time order (see the module docs).
pub fn quantities(t: &Trajectory) -> Vec<Quantity> {
    let mut out = Vec::new();
    params(&mut out, &t.initial, "_init", "");
    for s in &t.steps {
        let p = format!("step{}_", s.step);
        out.push(q(
            format!("{p}samples"),
            Array1::from_iter(s.samples.iter().map(|&i| i as f64)).into_dyn(),
        ));
        for k in 0..s.z.len() {
            out.push(q(format!("{p}z{}", k + 1), s.z[k].clone().into_dyn()));
            out.push(q(format!("{p}a{}", k + 1), s.a[k].clone().into_dyn()));
        }
        out.push(q(format!("{p}loss"), s.loss.clone().into_dyn()));
        out.push(q(format!("{p}dyhat"), s.d_output.clone().into_dyn()));
        for k in (0..s.dw.len()).rev() {
            out.push(q(format!("{p}dW{}", k + 1), s.dw[k].clone().into_dyn()));
            out.push(q(format!("{p}db{}", k + 1), s.db[k].clone().into_dyn()));
            out.push(q(format!("{p}dx{}", k + 1), s.dx[k].clone().into_dyn()));
        }
        params(&mut out, &s.after, "", &p);
    }
    out.push(q("loss".into(), Array1::from(t.loss.clone()).into_dyn()));
    params(&mut out, &t.final_, "_final", "");
    out
}

/// A human name for element `index` of the array `key`, e.g.
/// `step 3, layers[0].dW[1][0]`, `epoch 17 loss`, `initial layers[1].b[0]`.
pub fn display_name(key: &str, index: &[usize]) -> String {
    let idx: String = index.iter().map(|i| format!("[{i}]")).collect();
    if key == "loss" {
        return format!("epoch {} loss", index.first().copied().unwrap_or(0));
    }
    let layer = |rest: &str| -> Option<(String, usize)> {
        let pos = rest.find(|c: char| c.is_ascii_digit())?;
        let (name, num) = rest.split_at(pos);
        Some((name.to_string(), num.parse::<usize>().ok()?.checked_sub(1)?))
    };
    if let Some(rest) = key.strip_suffix("_init").or(key.strip_suffix("_final")) {
        let when = if key.ends_with("_init") {
            "initial"
        } else {
            "final"
        };
        if let Some((name, k)) = layer(rest) {
            return format!("{when} layers[{k}].{name}{idx}");
        }
    }
    if let Some(rest) = key.strip_prefix("step") {
        if let Some((s, what)) = rest.split_once('_') {
            match what {
                "samples" => return format!("step {s}, samples{idx}"),
                "loss" => return format!("step {s}, loss{idx}"),
                "dyhat" => return format!("step {s}, d_output{idx}"),
                _ => {}
            }
            if let Some((name, k)) = layer(what) {
                let after = if name == "W" || name == "b" {
                    " after the update"
                } else {
                    ""
                };
                return format!("step {s}, layers[{k}].{name}{idx}{after}");
            }
        }
    }
    format!("{key}{idx}")
}
