//! The names of a trajectory's arrays, in one place: the `.npz` keys, their order in
//! time, their human names, and the JSON field names of `trajectory.json`.
//!
//! Layer numbers are 1-based in `.npz` keys, as in the article (`W1` is `layers[0]`):
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

use std::fmt;

/// `trajectory.json`'s `format` value.
pub const FORMAT: &str = "backprop-oracle trajectory";
/// `trajectory.json`'s `schema_version` value, as written. Version 2 lets
/// `header.spec`'s `x` and `y` refer to their data files (name, member, shape, dtype,
/// SHA-256; [`crate::io::data`]) instead of holding the values; nothing else changed.
pub const SCHEMA_VERSION: u64 = 2;

/// The schema versions read (version 1 files are read as before).
pub const READS_VERSIONS: [u64; 2] = [1, 2];

/// The JSON field names of `trajectory.json`, shared by the writer and the reader.
pub mod field {
    /// Top level: `"format"`.
    pub const FORMAT: &str = "format";
    /// Top level: `"schema_version"`.
    pub const SCHEMA_VERSION: &str = "schema_version";
    /// Top level: `"header"`.
    pub const HEADER: &str = "header";
    /// Header: `"spec"`, the resolved model spec.
    pub const SPEC: &str = "spec";
    /// Top level: `"initial"` parameters.
    pub const INITIAL: &str = "initial";
    /// Top level: every epoch's `"loss"`; in a step, each sample's.
    pub const LOSS: &str = "loss";
    /// Top level: `"final"` parameters.
    pub const FINAL: &str = "final";
    /// Top level: the traced `"steps"`.
    pub const STEPS: &str = "steps";
    /// Parameters: `"layers"`.
    pub const LAYERS: &str = "layers";
    /// A layer's weights `"W"`.
    pub const W: &str = "W";
    /// A layer's bias `"b"`.
    pub const B: &str = "b";
    /// Step: its index over the run.
    pub const STEP: &str = "step";
    /// Step: its epoch.
    pub const EPOCH: &str = "epoch";
    /// Step: its samples.
    pub const SAMPLES: &str = "samples";
    /// Step: the forward pass, per layer.
    pub const FORWARD: &str = "forward";
    /// Forward: pre-activations.
    pub const Z: &str = "z";
    /// Forward: activations.
    pub const A: &str = "a";
    /// Step: `∂L̄/∂Ŷ`.
    pub const D_OUTPUT: &str = "d_output";
    /// Step: the backward pass, per layer.
    pub const BACKWARD: &str = "backward";
    /// Backward: weight gradient.
    pub const DW: &str = "dW";
    /// Backward: bias gradient.
    pub const DB: &str = "db";
    /// Backward: input gradient.
    pub const DX: &str = "dx";
    /// Step: the parameters after the update.
    pub const AFTER: &str = "after";
}

/// When a parameter snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Snapshot {
    /// Before training.
    Initial,
    /// After update `s`.
    After(usize),
    /// After training.
    Final,
}

impl Snapshot {
    /// The parameters update `s` starts from.
    pub fn before(s: usize) -> Snapshot {
        match s {
            0 => Snapshot::Initial,
            _ => Snapshot::After(s - 1),
        }
    }
}

/// A layer's parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Param {
    /// `W (out, in)`.
    W,
    /// `b (out)`.
    B,
}

/// An array recorded for one update step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepArray {
    /// The batch's sample indices.
    Samples,
    /// `Z` of layer `k` (0-based).
    Z(usize),
    /// `A` of layer `k`.
    A(usize),
    /// Each sample's loss.
    Loss,
    /// `∂L̄/∂Ŷ`.
    DOutput,
    /// `dW` of layer `k`.
    DW(usize),
    /// `db` of layer `k`.
    Db(usize),
    /// `dX` of layer `k`.
    Dx(usize),
}

/// The name of one recorded array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A parameter of layer `k` (0-based) at a snapshot.
    Param(Snapshot, Param, usize),
    /// An array of update `s`.
    Step(usize, StepArray),
    /// Every epoch's total loss.
    EpochLoss,
}

impl Key {
    /// Every key of a trajectory with `layers` layers and `steps` traced steps, in time
    /// order: initial parameters; per step its samples, forward (layer by layer), loss,
    /// `∂L̄/∂Ŷ`, backward (last layer first) and updated parameters; epoch losses;
    /// final parameters. This is the order in which compare looks for the *first*
    /// divergence.
    pub fn all(layers: usize, steps: impl IntoIterator<Item = usize>) -> Vec<Key> {
        let params = |at: Snapshot| {
            (0..layers)
                .flat_map(move |k| [Key::Param(at, Param::W, k), Key::Param(at, Param::B, k)])
        };
        let mut keys: Vec<Key> = params(Snapshot::Initial).collect();
        for s in steps {
            keys.push(Key::Step(s, StepArray::Samples));
            for k in 0..layers {
                keys.push(Key::Step(s, StepArray::Z(k)));
                keys.push(Key::Step(s, StepArray::A(k)));
            }
            keys.push(Key::Step(s, StepArray::Loss));
            keys.push(Key::Step(s, StepArray::DOutput));
            for k in (0..layers).rev() {
                keys.push(Key::Step(s, StepArray::DW(k)));
                keys.push(Key::Step(s, StepArray::Db(k)));
                keys.push(Key::Step(s, StepArray::Dx(k)));
            }
            keys.extend(params(Snapshot::After(s)));
        }
        keys.push(Key::EpochLoss);
        keys.extend(params(Snapshot::Final));
        keys
    }

    /// The step this key belongs to, if any (parameters after a step count).
    pub fn step(&self) -> Option<usize> {
        match *self {
            Key::Step(s, _) | Key::Param(Snapshot::After(s), _, _) => Some(s),
            _ => None,
        }
    }

    /// Whether the values are integers compared exactly (sample indices).
    pub fn is_integer(&self) -> bool {
        matches!(self, Key::Step(_, StepArray::Samples))
    }

    /// Parses an `.npz` key (`W1_init`, `step3_dW2`, `loss`, …).
    pub fn parse(name: &str) -> Option<Key> {
        if name == "loss" {
            return Some(Key::EpochLoss);
        }
        let layer = |s: &str| -> Option<usize> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse::<usize>().ok()?.checked_sub(1)
        };
        let param = |s: &str| -> Option<(Param, usize)> {
            if let Some(k) = s.strip_prefix('W') {
                Some((Param::W, layer(k)?))
            } else {
                Some((Param::B, layer(s.strip_prefix('b')?)?))
            }
        };
        if let Some(rest) = name.strip_suffix("_init") {
            let (p, k) = param(rest)?;
            return Some(Key::Param(Snapshot::Initial, p, k));
        }
        if let Some(rest) = name.strip_suffix("_final") {
            let (p, k) = param(rest)?;
            return Some(Key::Param(Snapshot::Final, p, k));
        }
        let (s, what) = name.strip_prefix("step")?.split_once('_')?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let s: usize = s.parse().ok()?;
        let array = match what {
            "samples" => StepArray::Samples,
            "loss" => StepArray::Loss,
            "dyhat" => StepArray::DOutput,
            _ => {
                if let Some((p, k)) = param(what) {
                    return Some(Key::Param(Snapshot::After(s), p, k));
                }
                let (name, k) = what.split_at(what.find(|c: char| c.is_ascii_digit())?);
                let k = layer(k)?;
                match name {
                    "z" => StepArray::Z(k),
                    "a" => StepArray::A(k),
                    "dW" => StepArray::DW(k),
                    "db" => StepArray::Db(k),
                    "dx" => StepArray::Dx(k),
                    _ => return None,
                }
            }
        };
        Some(Key::Step(s, array))
    }

    /// A human name for element `index` of this array, e.g.
    /// `step 3, layers[0].dW[1][0]`, `epoch 17 loss`, `initial layers[1].b[0]`.
    pub fn describe(&self, index: &[usize]) -> String {
        let idx: String = index.iter().map(|i| format!("[{i}]")).collect();
        let pname = |p: Param| match p {
            Param::W => "W",
            Param::B => "b",
        };
        match *self {
            Key::EpochLoss => format!("epoch {} loss", index.first().copied().unwrap_or(0)),
            Key::Param(Snapshot::Initial, p, k) => format!("initial layers[{k}].{}{idx}", pname(p)),
            Key::Param(Snapshot::Final, p, k) => format!("final layers[{k}].{}{idx}", pname(p)),
            Key::Param(Snapshot::After(s), p, k) => {
                format!("step {s}, layers[{k}].{}{idx} after the update", pname(p))
            }
            Key::Step(s, a) => {
                let what = match a {
                    StepArray::Samples => "samples".to_string(),
                    StepArray::Loss => "loss".to_string(),
                    StepArray::DOutput => "d_output".to_string(),
                    StepArray::Z(k) => format!("layers[{k}].z"),
                    StepArray::A(k) => format!("layers[{k}].a"),
                    StepArray::DW(k) => format!("layers[{k}].dW"),
                    StepArray::Db(k) => format!("layers[{k}].db"),
                    StepArray::Dx(k) => format!("layers[{k}].dx"),
                };
                format!("step {s}, {what}{idx}")
            }
        }
    }
}

/// The `.npz` key, e.g. `step3_dW1` (1-based layers).
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pname = |p: Param| match p {
            Param::W => "W",
            Param::B => "b",
        };
        match *self {
            Key::EpochLoss => write!(f, "loss"),
            Key::Param(Snapshot::Initial, p, k) => write!(f, "{}{}_init", pname(p), k + 1),
            Key::Param(Snapshot::Final, p, k) => write!(f, "{}{}_final", pname(p), k + 1),
            Key::Param(Snapshot::After(s), p, k) => write!(f, "step{s}_{}{}", pname(p), k + 1),
            Key::Step(s, a) => match a {
                StepArray::Samples => write!(f, "step{s}_samples"),
                StepArray::Loss => write!(f, "step{s}_loss"),
                StepArray::DOutput => write!(f, "step{s}_dyhat"),
                StepArray::Z(k) => write!(f, "step{s}_z{}", k + 1),
                StepArray::A(k) => write!(f, "step{s}_a{}", k + 1),
                StepArray::DW(k) => write!(f, "step{s}_dW{}", k + 1),
                StepArray::Db(k) => write!(f, "step{s}_db{}", k + 1),
                StepArray::Dx(k) => write!(f, "step{s}_dx{}", k + 1),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips_through_its_npz_name() {
        let keys = Key::all(3, [0, 7, 12]);
        for k in &keys {
            assert_eq!(Key::parse(&k.to_string()), Some(*k), "{k}");
        }
        assert_eq!(keys.len(), 6 + 3 * (1 + 6 + 2 + 9 + 6) + 1 + 6);
        for bad in [
            "W0_init",
            "step_loss",
            "stepx_dW1",
            "step1_q1",
            "step1_dW",
            "x",
            "W+1_init",
        ] {
            assert_eq!(Key::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn descriptions_name_layers_from_zero() {
        let d = |name: &str, idx: &[usize]| Key::parse(name).unwrap().describe(idx);
        assert_eq!(d("step3_dW1", &[1, 0]), "step 3, layers[0].dW[1][0]");
        assert_eq!(d("loss", &[17]), "epoch 17 loss");
        assert_eq!(d("b2_init", &[0]), "initial layers[1].b[0]");
        assert_eq!(d("W1_final", &[]), "final layers[0].W");
        assert_eq!(d("step0_samples", &[2]), "step 0, samples[2]");
        assert_eq!(d("step4_dyhat", &[0, 0]), "step 4, d_output[0][0]");
        assert_eq!(
            d("step2_W2", &[0, 1]),
            "step 2, layers[1].W[0][1] after the update"
        );
    }
}
