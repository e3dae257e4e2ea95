//! Comparing a port's output with the reference, in time order, to name the first
//! number that diverges.
//!
//! A candidate is a `trajectory.json` (the export schema) or an `.npz` with the
//! documented keys — any subset of either. The reference is recomputed here (with as
//! many traced steps as the candidate has), then every array the candidate holds is
//! compared element by element, `|got − expected| ≤ atol + rtol·|expected|`, walking the
//! reference's time order: initial parameters, each traced step (forward, loss,
//! backward from the last layer down, updated parameters), epoch losses, final
//! parameters. Sample indices must match exactly.
//!
//! A candidate that cannot be read, has an unknown array, an array of the wrong shape,
//! or a non-finite number is an error (exit 2), named precisely; a difference is a
//! result (exit 1).
//!
//! ```
//! use backprop_oracle::check::Tolerance;
//! use backprop_oracle::oracle::compare::{compare, from_json};
//! use backprop_oracle::spec::Spec;
//!
//! let spec = Spec { epochs: 3, ..Spec::article() };
//! // A port that got the first epoch's loss slightly wrong.
//! let reference = spec.train(&mut ()).unwrap();
//! let port = serde_json::json!({"loss": [reference.loss[0] * (1.0 + 1e-6), reference.loss[1]]});
//! let candidate = from_json(&port, "port").unwrap();
//! let result = compare(&spec, &candidate, Tolerance { rtol: 1e-9, atol: 1e-12 }).unwrap();
//! assert_eq!(result.first.unwrap().quantity, "epoch 0 loss");
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{ArrayD, Dimension, IxDyn};
use serde_json::{Map, Value};

use crate::check::Tolerance;
use crate::error::{Error, Result};
use crate::oracle::{display_name, quantities, total_steps};
use crate::spec::{Overrides, Spec};

/// A port's output, as named arrays.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Candidate {
    /// Arrays by canonical key (`W1_init`, `step0_dW1`, `loss`, …).
    pub arrays: BTreeMap<String, ArrayD<f64>>,
    /// The spec in the candidate's header, if it has one.
    pub spec: Option<Value>,
}

impl Candidate {
    /// The largest step index `s` over the `step{s}_*` keys, if any.
    pub fn last_step(&self) -> Option<usize> {
        self.arrays
            .keys()
            .filter_map(|k| {
                k.strip_prefix("step")?
                    .split_once('_')?
                    .0
                    .parse::<usize>()
                    .ok()
            })
            .max()
    }

    /// The number of traced steps the candidate needs: `1 + max s` over `step{s}_*` keys.
    pub fn steps_needed(&self) -> usize {
        self.last_step().map_or(0, |s| s.saturating_add(1))
    }
}

/// The first element outside the tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// Human name, e.g. `step 3, layers[0].dW[1][0]`.
    pub quantity: String,
    /// The reference value.
    pub expected: f64,
    /// The candidate's value.
    pub got: f64,
    /// `|got − expected|`.
    pub abs_err: f64,
    /// `|got − expected| / |expected|` (infinite when `expected = 0`).
    pub rel_err: f64,
}

/// The result of [`compare`].
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The first divergence in time order, if any.
    pub first: Option<Divergence>,
    /// Arrays compared.
    pub arrays: usize,
    /// Values compared.
    pub values: usize,
    /// Values outside the tolerance.
    pub divergent: usize,
    /// Largest absolute error over everything compared.
    pub max_abs_err: f64,
    /// Largest relative error over everything compared.
    pub max_rel_err: f64,
    /// The tolerance used.
    pub tolerance: Tolerance,
}

impl Comparison {
    /// Whether everything compared is within the tolerance.
    pub fn passed(&self) -> bool {
        self.first.is_none()
    }

    /// A short human report.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "compared {} arrays ({} values), rtol {:e}, atol {:e}: max abs err {:.3e}, max rel err {:.3e}\n",
            self.arrays, self.values, self.tolerance.rtol, self.tolerance.atol, self.max_abs_err, self.max_rel_err
        );
        match &self.first {
            None => s.push_str("all within tolerance\n"),
            Some(d) => s.push_str(&format!(
                "first divergence: {}: expected {:e}, got {:e} (abs err {:.3e}, rel err {:.3e}); {} value(s) outside tolerance in all\n",
                d.quantity, d.expected, d.got, d.abs_err, d.rel_err, self.divergent
            )),
        }
        s
    }

    /// The same as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "passed": self.passed(),
            "arrays": self.arrays,
            "values": self.values,
            "divergent": self.divergent,
            "max_abs_err": self.max_abs_err,
            "max_rel_err": self.max_rel_err,
            "rtol": self.tolerance.rtol,
            "atol": self.tolerance.atol,
            "first_divergence": self.first.as_ref().map(|d| serde_json::json!({
                "quantity": d.quantity, "expected": d.expected, "got": d.got,
                "abs_err": d.abs_err, "rel_err": if d.rel_err.is_finite() { Value::from(d.rel_err) } else { Value::Null },
            })),
        })
    }
}

/// Loads a candidate from a `.npz` or a `trajectory.json`.
pub fn load_candidate(path: &Path) -> Result<Candidate> {
    let name = path.display().to_string();
    let cand = if path.extension().is_some_and(|e| e == "npz") {
        let mut npz = crate::npy::Npz::open(path)?;
        Candidate {
            arrays: npz.all_f64()?,
            spec: None,
        }
    } else {
        let text = crate::spec::read_text(path)?;
        let v: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            what: name.clone(),
            problem: e.to_string(),
        })?;
        from_json(&v, &name)?
    };
    for (key, a) in &cand.arrays {
        if let Some((idx, v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::invalid(
                format!("{name}: {}", display_name(key, idx.slice())),
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
            "format" | "schema_version" => {}
            "header" => c.spec = object(val, &path)?.get("spec").cloned(),
            "initial" => layers(val, &path, "_init", "", &mut c.arrays)?,
            "final" => layers(val, &path, "_final", "", &mut c.arrays)?,
            "loss" => {
                c.arrays.insert("loss".into(), array(val, &path)?);
            }
            "steps" => {
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

/// `{"layers": [{"W": …, "b": …}, …]}` into `W{k}{suffix}`, `b{k}{suffix}` (with `prefix`).
fn layers(
    v: &Value,
    path: &str,
    suffix: &str,
    prefix: &str,
    out: &mut BTreeMap<String, ArrayD<f64>>,
) -> Result<()> {
    let obj = object(v, path)?;
    if let Some(k) = obj.keys().find(|k| *k != "layers") {
        return Err(Error::invalid(
            format!("{path}.{k}"),
            "unknown key, expected layers",
        ));
    }
    let list = obj
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::invalid(format!("{path}.layers"), "must be an array of layers"))?;
    for (k, l) in list.iter().enumerate() {
        let lp = format!("{path}.layers[{k}]");
        for (name, val) in object(l, &lp)? {
            if name != "W" && name != "b" {
                return Err(Error::invalid(
                    format!("{lp}.{name}"),
                    "unknown key, expected W or b",
                ));
            }
            out.insert(
                format!("{prefix}{name}{}{suffix}", k + 1),
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
    out: &mut BTreeMap<String, ArrayD<f64>>,
) -> Result<()> {
    let obj = object(v, path)?;
    let s = match obj.get("step") {
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
    let p = format!("step{s}_");
    for (key, val) in obj {
        let kp = format!("{path}.{key}");
        match key.as_str() {
            "step" | "epoch" => {}
            "samples" => {
                out.insert(format!("{p}samples"), array(val, &kp)?);
            }
            "loss" => {
                out.insert(format!("{p}loss"), array(val, &kp)?);
            }
            "d_output" => {
                out.insert(format!("{p}dyhat"), array(val, &kp)?);
            }
            "after" => layers(val, &kp, "", &p, out)?,
            "forward" | "backward" => {
                let list = val
                    .as_array()
                    .ok_or_else(|| Error::invalid(&kp, "must be an array with one entry per layer"))?;
                for (k, l) in list.iter().enumerate() {
                    let lp = format!("{kp}[{k}]");
                    for (name, a) in object(l, &lp)? {
                        let allowed: &[&str] = if key == "forward" { &["z", "a"] } else { &["dW", "db", "dx"] };
                        if !allowed.contains(&name.as_str()) {
                            return Err(Error::invalid(
                                format!("{lp}.{name}"),
                                format!("unknown key, expected {}", allowed.join(" or ")),
                            ));
                        }
                        out.insert(format!("{p}{name}{}", k + 1), array(a, &format!("{lp}.{name}"))?);
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

/// The spec to compare against: `--model` if given, else the candidate's header spec,
/// else the article's; then the overrides.
pub fn reference_spec(
    model: Option<&Path>,
    cand: &Candidate,
    overrides: &Overrides,
) -> Result<Spec> {
    match (model, &cand.spec) {
        (None, Some(v)) => Spec::from_value(v, "candidate.header.spec")?.with_overrides(overrides),
        _ => Spec::load(model, overrides),
    }
}

/// Recomputes the reference for `spec` and compares the candidate with it.
pub fn compare(spec: &Spec, cand: &Candidate, tolerance: Tolerance) -> Result<Comparison> {
    let total = total_steps(spec);
    if let Some(last) = cand.last_step().filter(|&s| s >= total) {
        return Err(Error::invalid(
            "candidate",
            format!("has step {last} but the run makes only {total} updates"),
        ));
    }
    let need = cand.steps_needed();
    let reference = crate::oracle::record_checked(spec, need, "candidate steps")?;
    let qs = quantities(&reference);
    if let Some(unknown) = cand
        .arrays
        .keys()
        .find(|k| !qs.iter().any(|q| &q.key == *k))
    {
        return Err(Error::invalid(
            format!("candidate array {unknown:?}"),
            "is not a reference quantity (see the README for the names)",
        ));
    }
    let mut cmp = Comparison {
        first: None,
        arrays: 0,
        values: 0,
        divergent: 0,
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        tolerance,
    };
    for q in &qs {
        let Some(got) = cand.arrays.get(&q.key) else {
            continue;
        };
        let expected_shape = q.data.shape();
        let ok_shape = got.shape() == expected_shape
            || (q.key == "loss" && got.ndim() == 1 && got.len() <= q.data.len());
        if !ok_shape {
            return Err(Error::invalid(
                format!("candidate {}", display_name(&q.key, &[])),
                format!("has shape {:?}, expected {:?}", got.shape(), expected_shape),
            ));
        }
        cmp.arrays += 1;
        let exact = q.key.ends_with("_samples");
        for (idx, &g) in got.indexed_iter() {
            let e = q.data[&idx];
            let abs = (g - e).abs();
            let rel = if e == 0.0 {
                if abs == 0.0 {
                    0.0
                } else {
                    f64::INFINITY
                }
            } else {
                abs / e.abs()
            };
            cmp.values += 1;
            cmp.max_abs_err = cmp.max_abs_err.max(abs);
            if rel.is_finite() {
                cmp.max_rel_err = cmp.max_rel_err.max(rel);
            }
            let ok = if exact {
                g == e
            } else {
                tolerance.accepts(g, e)
            };
            if !ok {
                cmp.divergent += 1;
                if cmp.first.is_none() {
                    cmp.first = Some(Divergence {
                        quantity: display_name(&q.key, idx.slice()),
                        expected: e,
                        got: g,
                        abs_err: abs,
                        rel_err: rel,
                    });
                }
            }
        }
    }
    if cmp.values == 0 {
        let empty = cand
            .arrays
            .iter()
            .find(|(_, a)| a.is_empty())
            .map(|(k, _)| k.as_str());
        return Err(match empty {
            Some("loss") => Error::invalid("candidate loss", "is empty: nothing to compare"),
            Some(k) => Error::invalid(
                format!("candidate {}", display_name(k, &[])),
                "is empty: nothing to compare",
            ),
            None => Error::invalid("candidate", "holds no value to compare"),
        });
    }
    Ok(cmp)
}
