//! A port's output read back: a `trajectory.json` (the export schema) or an `.npz`
//! with the documented keys — any subset of either — as arrays by [`Key`].

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{ArrayD, Dimension, IxDyn};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::oracle::schema::{field as f, Key, Param, Snapshot, StepArray};

/// A port's output, as named arrays.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Candidate {
    /// Arrays by key (`W1_init`, `step0_dW1`, `loss`, …).
    pub arrays: BTreeMap<Key, ArrayD<f64>>,
    /// The spec in the candidate's header, if it has one.
    pub spec: Option<Value>,
}

impl Candidate {
    /// The largest step index `s` over the `step{s}_*` keys, if any.
    pub fn last_step(&self) -> Option<usize> {
        self.arrays.keys().filter_map(Key::step).max()
    }

    /// The number of traced steps the candidate needs: `1 + max s` over `step{s}_*` keys.
    pub fn steps_needed(&self) -> usize {
        self.last_step().map_or(0, |s| s.saturating_add(1))
    }
}

/// Loads a candidate from a `.npz` or a `trajectory.json`.
pub fn load_candidate(path: &Path) -> Result<Candidate> {
    let name = path.display().to_string();
    let cand = if path.extension().is_some_and(|e| e == "npz") {
        let mut npz = crate::io::npy::Npz::open(path)?;
        let mut arrays = BTreeMap::new();
        for (member, a) in npz.all_f64()? {
            let key = Key::parse(&member).ok_or_else(|| {
                Error::invalid(
                    format!("candidate array {member:?}"),
                    "is not a reference quantity (see the README for the names)",
                )
            })?;
            arrays.insert(key, a);
        }
        Candidate { arrays, spec: None }
    } else {
        from_json(&crate::io::json::read(path)?, &name)?
    };
    for (key, a) in &cand.arrays {
        if let Some((idx, v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::invalid(
                format!("{name}: {}", key.describe(idx.slice())),
                format!("is not finite ({v})"),
            ));
        }
    }
    Ok(cand)
}

/// Reads the JSON schema into named arrays; `name` prefixes error paths.
pub fn from_json(v: &Value, name: &str) -> Result<Candidate> {
    let obj = object(v, name)?;
    let mut c = Candidate::default();
    for (key, val) in obj {
        let path = format!("{name}.{key}");
        match key.as_str() {
            f::FORMAT | f::SCHEMA_VERSION => {}
            f::HEADER => c.spec = object(val, &path)?.get(f::SPEC).cloned(),
            f::INITIAL => layers(val, &path, Snapshot::Initial, &mut c.arrays)?,
            f::FINAL => layers(val, &path, Snapshot::Final, &mut c.arrays)?,
            f::LOSS => {
                c.arrays.insert(Key::EpochLoss, array(val, &path)?);
            }
            f::STEPS => {
                let steps = val
                    .as_array()
                    .ok_or_else(|| Error::invalid(&path, "must be an array of steps"))?;
                for (i, st) in steps.iter().enumerate() {
                    step(st, &format!("{path}[{i}]"), i, &mut c.arrays)?;
                }
            }
            _ => return Err(Error::invalid(
                &path,
                "unknown key, expected format, schema_version, header, initial, loss, final, steps",
            )),
        }
    }
    Ok(c)
}

fn object<'v>(v: &'v Value, path: &str) -> Result<&'v Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| Error::invalid(path, "must be a JSON object"))
}

/// `{"layers": [{"W": …, "b": …}, …]}` into the parameters at snapshot `at`.
fn layers(v: &Value, path: &str, at: Snapshot, out: &mut BTreeMap<Key, ArrayD<f64>>) -> Result<()> {
    let obj = object(v, path)?;
    if let Some(k) = obj.keys().find(|k| *k != f::LAYERS) {
        return Err(Error::invalid(
            format!("{path}.{k}"),
            "unknown key, expected layers",
        ));
    }
    let list = obj
        .get(f::LAYERS)
        .and_then(Value::as_array)
        .ok_or_else(|| Error::invalid(format!("{path}.layers"), "must be an array of layers"))?;
    for (k, l) in list.iter().enumerate() {
        let lp = format!("{path}.layers[{k}]");
        for (name, val) in object(l, &lp)? {
            let param = match name.as_str() {
                f::W => Param::W,
                f::B => Param::B,
                _ => {
                    return Err(Error::invalid(
                        format!("{lp}.{name}"),
                        "unknown key, expected W or b",
                    ))
                }
            };
            out.insert(
                Key::Param(at, param, k),
                array(val, &format!("{lp}.{name}"))?,
            );
        }
    }
    Ok(())
}

fn step(
    v: &Value,
    path: &str,
    position: usize,
    out: &mut BTreeMap<Key, ArrayD<f64>>,
) -> Result<()> {
    let obj = object(v, path)?;
    let s = match obj.get(f::STEP) {
        None => position,
        Some(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                Error::invalid(
                    format!("{path}.step"),
                    format!("must be a whole number ≥ 0, got {n}"),
                )
            })?,
    };
    for (key, val) in obj {
        let kp = format!("{path}.{key}");
        let simple = match key.as_str() {
            f::SAMPLES => Some(StepArray::Samples),
            f::LOSS => Some(StepArray::Loss),
            f::D_OUTPUT => Some(StepArray::DOutput),
            _ => None,
        };
        if let Some(which) = simple {
            out.insert(Key::Step(s, which), array(val, &kp)?);
            continue;
        }
        match key.as_str() {
            f::STEP | f::EPOCH => {}
            f::AFTER => layers(val, &kp, Snapshot::After(s), out)?,
            f::FORWARD | f::BACKWARD => {
                let list = val
                    .as_array()
                    .ok_or_else(|| Error::invalid(&kp, "must be an array with one entry per layer"))?;
                let forward = key == f::FORWARD;
                for (k, l) in list.iter().enumerate() {
                    let lp = format!("{kp}[{k}]");
                    for (name, a) in object(l, &lp)? {
                        let which = match (forward, name.as_str()) {
                            (true, f::Z) => StepArray::Z(k),
                            (true, f::A) => StepArray::A(k),
                            (false, f::DW) => StepArray::DW(k),
                            (false, f::DB) => StepArray::Db(k),
                            (false, f::DX) => StepArray::Dx(k),
                            _ => {
                                let allowed = if forward { "z or a" } else { "dW or db or dx" };
                                return Err(Error::invalid(
                                    format!("{lp}.{name}"),
                                    format!("unknown key, expected {allowed}"),
                                ));
                            }
                        };
                        out.insert(Key::Step(s, which), array(a, &format!("{lp}.{name}"))?);
                    }
                }
            }
            _ => {
                return Err(Error::invalid(
                    &kp,
                    "unknown key, expected step, epoch, samples, forward, loss, d_output, backward, after",
                ))
            }
        }
    }
    Ok(())
}

/// A number, or a rectangular nested list of numbers (any depth ≤ 2).
fn array(v: &Value, path: &str) -> Result<ArrayD<f64>> {
    let num = |x: &Value, p: String| -> Result<f64> {
        x.as_f64()
            .ok_or_else(|| Error::invalid(p, format!("must be a number, got {x}")))
    };
    match v {
        Value::Array(items) if items.first().is_some_and(Value::is_array) => {
            let cols = items[0].as_array().map_or(0, Vec::len);
            let mut data = Vec::with_capacity(items.len() * cols);
            for (r, row) in items.iter().enumerate() {
                let row = row.as_array().ok_or_else(|| {
                    Error::invalid(format!("{path}[{r}]"), "must be an array of numbers")
                })?;
                if row.len() != cols {
                    return Err(Error::invalid(
                        format!("{path}[{r}]"),
                        format!("has {} values, row 0 has {cols} (ragged)", row.len()),
                    ));
                }
                for (c, x) in row.iter().enumerate() {
                    data.push(num(x, format!("{path}[{r}][{c}]"))?);
                }
            }
            ArrayD::from_shape_vec(IxDyn(&[items.len(), cols]), data)
                .map_err(|e| Error::invalid(path, e.to_string()))
        }
        Value::Array(items) => {
            let data: Vec<f64> = items
                .iter()
                .enumerate()
                .map(|(i, x)| num(x, format!("{path}[{i}]")))
                .collect::<Result<_>>()?;
            Ok(ArrayD::from_shape_vec(IxDyn(&[data.len()]), data)
                .map_err(|e| Error::invalid(path, e.to_string()))?)
        }
        other => Err(Error::invalid(
            path,
            format!("must be an array, got {other}"),
        )),
    }
}
