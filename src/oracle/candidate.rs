//! A port's output read back: a `trajectory.json` (the export schema) or an `.npz`
//! with the documented keys — any subset of either — as arrays by [`Key`].

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};

use crate::error::{Error, Result};
use crate::io::json::{Item, Json};
use crate::io::npy::{Dtype, Npz};
use crate::io::MAX_BYTES;
use crate::oracle::precision::Precision;
use crate::oracle::schema::{
    field as f, Key, Param, Snapshot, StepArray, FORMAT, READS_VERSIONS, SCHEMA_VERSION,
};
use crate::variant::Conventions;

/// A port's output, as named arrays.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Candidate {
    /// Arrays by key (`W1_init`, `step0_dW1`, `loss`, …).
    pub arrays: BTreeMap<Key, ArrayD<f64>>,
    /// The spec in the candidate's header, if it has one.
    pub spec: Option<Json>,
    /// The precision the candidate declares (`header.precision`) or is stored in (an
    /// `.npz` whose floating-point members are all float32).
    pub precision: Option<Precision>,
    /// The dtype each floating-point member of an `.npz` is stored in (empty for a
    /// `trajectory.json`): an archive that mixes float32 and float64 members is judged
    /// member by member ([`crate::oracle::compare::judged_as`]), never all by the
    /// loosest.
    pub stored: BTreeMap<Key, Precision>,
    /// The derivative conventions at `z = 0` the header declares (`header.conventions`).
    pub conventions: Option<Conventions>,
    /// Whether the candidate is an `.npz` (its arrays are then named by their keys).
    pub npz: bool,
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
    load_candidate_from(crate::io::open_bounded(path)?.0, path)
}

/// [`load_candidate`] of a file already opened (by [`crate::io::open_bounded_in`]);
/// `path` names it (and its extension says `.npz` or JSON).
pub fn load_candidate_from(file: std::fs::File, path: &Path) -> Result<Candidate> {
    let name = path.display().to_string();
    let cand = if path.extension().is_some_and(|e| e == "npz") {
        from_npz(Npz::from_file(file, path)?, path)?
    } else {
        from_json(&crate::io::json::read_file(file, path, true)?, &name)?
    };
    // Non-finite values are judged (a diverged run is compared up to where it went
    // non-finite), except where the schema wants whole numbers.
    for (key, a) in cand.arrays.iter().filter(|(k, _)| k.is_integer()) {
        if let Some(at) = a.iter().position(|v| !v.is_finite()) {
            let idx = crate::oracle::unravel(at, a.shape());
            return Err(Error::invalid(
                format!("{name}: {}", key.describe(&idx)),
                format!("must be a whole number, got {}", a[idx.as_slice()]),
            ));
        }
    }
    Ok(cand)
}

/// Reads an `.npz` candidate: every member must be named like a reference array, and
/// the archive's declared sizes are planned before any member is inflated.
pub fn from_npz(mut npz: Npz, path: &Path) -> Result<Candidate> {
    // Every member named and the whole archive's declared size planned before any
    // member is inflated.
    let keys: Vec<(String, Key)> = npz
        .names()
        .into_iter()
        .map(|member| match Key::parse(&member) {
            Some(key) => Ok((member, key)),
            None => Err(Error::invalid(
                format!("candidate array {member:?}"),
                "is not a reference quantity (see the README for the names)",
            )),
        })
        .collect::<Result<_>>()?;
    if npz.declared_total() > MAX_BYTES {
        return Err(Error::file(
            path,
            format!(
                "its members declare {} bytes in all, more than the 1 GiB limit",
                npz.declared_total()
            ),
        ));
    }
    let mut arrays = BTreeMap::new();
    let mut stored = BTreeMap::new();
    for (member, key) in keys {
        let what = format!("{}[{member}]", path.display());
        let a = npz.read(&member, MAX_BYTES)?;
        match (a.dtype(), key.is_integer()) {
            (Dtype::F32, false) => {
                stored.insert(key, Precision::F32);
            }
            (Dtype::F64, false) => {
                stored.insert(key, Precision::F64);
            }
            (Dtype::I64, false) => {
                return Err(Error::invalid(
                    what,
                    "has dtype \"<i8\", expected float64 ('<f8') or float32 ('<f4')",
                ))
            }
            _ => {}
        }
        arrays.insert(key, a.into_f64());
    }
    let all_f32 = !stored.is_empty() && stored.values().all(|&p| p == Precision::F32);
    Ok(Candidate {
        arrays,
        precision: all_f32.then_some(Precision::F32),
        stored,
        npz: true,
        ..Candidate::default()
    })
}

/// [`from_json`] of a document held in memory (`NaN`/`Infinity` literals allowed).
pub fn from_json_str(text: &str, name: &str) -> Result<Candidate> {
    from_json(&crate::io::json::parse_str(text, name, true)?, name)
}

/// Reads the trajectory schema into named arrays; `name` prefixes error paths. Every
/// field's type is checked; `format` and `schema_version`, when present, must be the
/// export's; a step number may appear once. `NaN`, `Infinity` and `-Infinity` literals,
/// and `null` inside a numeric array (JavaScript's `JSON.stringify` of a non-finite
/// number), are read as non-finite values, which the comparison judges.
pub fn from_json(v: &Json, name: &str) -> Result<Candidate> {
    let obj = object(v, name)?;
    let mut c = Candidate::default();
    for (key, val) in obj {
        let path = format!("{name}.{key}");
        match key.as_str() {
            f::FORMAT => {
                if val.as_str() != Some(FORMAT) {
                    return Err(Error::invalid(
                        &path,
                        format!("must be {FORMAT:?}, got {}", val.show()),
                    ));
                }
            }
            f::SCHEMA_VERSION => match val.as_whole() {
                Some(v) if READS_VERSIONS.contains(&v) => {}
                Some(v) => {
                    return Err(Error::invalid(
                        &path,
                        format!(
                        "version {v} is not supported: this build reads versions 1 to {SCHEMA_VERSION}"
                    ),
                    ))
                }
                None => {
                    return Err(Error::invalid(
                        &path,
                        format!(
                            "must be a whole number from 1 to {SCHEMA_VERSION}, got {}",
                            val.show()
                        ),
                    ))
                }
            },
            f::HEADER => header(val, &path, &mut c)?,
            f::INITIAL => layers(val, &path, Snapshot::Initial, &mut c.arrays)?,
            f::FINAL => layers(val, &path, Snapshot::Final, &mut c.arrays)?,
            f::LOSS => {
                c.arrays.insert(Key::EpochLoss, array(val, &path)?);
            }
            f::STEPS => {
                let steps = match val {
                    Json::Array(steps) => steps.as_slice(),
                    Json::Numbers { values, .. } if values.is_empty() => &[],
                    _ => return Err(Error::invalid(&path, "must be an array of steps")),
                };
                let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
                for (i, st) in steps.iter().enumerate() {
                    let sp = format!("{path}[{i}]");
                    let s = step(st, &sp, i, &mut c.arrays)?;
                    if let Some(first) = seen.insert(s, i) {
                        return Err(Error::invalid(
                            format!("{sp}.step"),
                            format!("step {s} appears twice (also {path}[{first}])"),
                        ));
                    }
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

/// The header's fields: `spec`, `precision` and `conventions` (kept), and the known
/// metadata, type-checked; other keys are a port's own metadata and are ignored.
fn header(v: &Json, path: &str, c: &mut Candidate) -> Result<()> {
    for (key, val) in object(v, path)? {
        let p = format!("{path}.{key}");
        match key.as_str() {
            f::SPEC => {
                object(val, &p)?;
                c.spec = Some(val.clone());
            }
            "precision" => {
                let name = val.as_str().unwrap_or("");
                c.precision = Some(Precision::parse(name).ok_or_else(|| {
                    Error::invalid(
                        &p,
                        format!("must be \"float32\" or \"float64\", got {}", val.show()),
                    )
                })?);
            }
            "conventions" => {
                let mut conv = Conventions::default();
                for (k, x) in object(val, &p)? {
                    let slot = match k.as_str() {
                        "relu_grad_at_zero" => &mut conv.relu_grad_at_zero,
                        "leaky_grad_at_zero" => &mut conv.leaky_grad_at_zero,
                        _ => {
                            return Err(Error::invalid(
                                format!("{p}.{k}"),
                                "unknown key, expected relu_grad_at_zero or leaky_grad_at_zero",
                            ))
                        }
                    };
                    *slot = x.as_f64().ok_or_else(|| {
                        Error::invalid(
                            format!("{p}.{k}"),
                            format!("must be a number, got {}", x.show()),
                        )
                    })?;
                }
                conv.validate()
                    .map_err(|e| e.rename_field(|f| Some(f.replace("Conventions", &p))))?;
                c.conventions = Some(conv);
            }
            "tool" | "version" | "command" | "exactness" if val.as_str().is_none() => {
                return Err(Error::invalid(
                    p,
                    format!("must be a string, got {}", val.show()),
                ));
            }
            "trace_steps" if val.as_whole().is_none() => {
                return Err(Error::invalid(
                    p,
                    format!("must be a whole number ≥ 0, got {}", val.show()),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn object<'v>(v: &'v Json, path: &str) -> Result<&'v [(String, Json)]> {
    v.as_object()
        .ok_or_else(|| Error::invalid(path, format!("must be a JSON object, got {}", v.kind())))
}

/// `{"layers": [{"W": …, "b": …}, …]}` into the parameters at snapshot `at`.
fn layers(v: &Json, path: &str, at: Snapshot, out: &mut BTreeMap<Key, ArrayD<f64>>) -> Result<()> {
    let obj = object(v, path)?;
    if let Some((k, _)) = obj.iter().find(|(k, _)| k != f::LAYERS) {
        return Err(Error::invalid(
            format!("{path}.{k}"),
            "unknown key, expected layers",
        ));
    }
    let list = match v.get(f::LAYERS) {
        Some(Json::Array(list)) => list.as_slice(),
        Some(Json::Numbers { values, .. }) if values.is_empty() => &[],
        _ => {
            return Err(Error::invalid(
                format!("{path}.layers"),
                "must be an array of layers",
            ))
        }
    };
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

/// One step object; returns its step number (`step`, else its position).
fn step(
    v: &Json,
    path: &str,
    position: usize,
    out: &mut BTreeMap<Key, ArrayD<f64>>,
) -> Result<usize> {
    let obj = object(v, path)?;
    let whole_field = |key: &str| -> Result<Option<usize>> {
        match v.get(key) {
            None => Ok(None),
            Some(n) => n
                .as_whole()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    Error::invalid(
                        format!("{path}.{key}"),
                        format!("must be a whole number ≥ 0, got {}", n.show()),
                    )
                }),
        }
    };
    let s = whole_field(f::STEP)?.unwrap_or(position);
    whole_field(f::EPOCH)?;
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
                let list = match val {
                    Json::Array(list) => list.as_slice(),
                    Json::Numbers { values, .. } if values.is_empty() => &[],
                    _ => {
                        return Err(Error::invalid(
                            &kp,
                            "must be an array with one entry per layer",
                        ))
                    }
                };
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
    Ok(s)
}

/// A list of numbers (1-D) or a rectangular list of lists of numbers (2-D).
fn array(v: &Json, path: &str) -> Result<ArrayD<f64>> {
    let numbers = |items: Vec<Item<'_>>, p: &str| -> Result<Vec<f64>> {
        items
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                if matches!(x, Item::Value(Json::Null)) {
                    // JavaScript's JSON.stringify writes NaN and ±Infinity as null.
                    return Ok(f64::NAN);
                }
                x.as_f64().ok_or_else(|| {
                    Error::invalid(
                        format!("{p}[{i}]"),
                        format!("must be a number, got {}", x.kind()),
                    )
                })
            })
            .collect()
    };
    match v {
        Json::Numbers { values, .. } => Ok(ArrayD::from_shape_vec(
            IxDyn(&[values.len()]),
            values.clone(),
        )
        .map_err(|e| Error::invalid(path, e.to_string()))?),
        Json::Array(rows) if rows.first().is_some_and(|r| r.len().is_some()) => {
            let cols = rows[0].len().unwrap_or(0);
            // Sized from the numbers present (one long first row and many short ones
            // must not ask for rows × cols).
            let present: usize = rows.iter().map(|r| r.len().unwrap_or(0).min(cols)).sum();
            let mut data = Vec::with_capacity(present);
            for (r, row) in rows.iter().enumerate() {
                let rp = format!("{path}[{r}]");
                let items = row
                    .items()
                    .ok_or_else(|| Error::invalid(&rp, "must be an array of numbers"))?;
                if items.len() != cols {
                    return Err(Error::invalid(
                        &rp,
                        format!("has {} values, row 0 has {cols} (ragged)", items.len()),
                    ));
                }
                data.extend(numbers(items, &rp)?);
            }
            ArrayD::from_shape_vec(IxDyn(&[rows.len(), cols]), data)
                .map_err(|e| Error::invalid(path, e.to_string()))
        }
        Json::Array(items) => {
            let data = numbers(items.iter().map(Item::Value).collect(), path)?;
            Ok(ArrayD::from_shape_vec(IxDyn(&[data.len()]), data)
                .map_err(|e| Error::invalid(path, e.to_string()))?)
        }
        other => Err(Error::invalid(
            path,
            format!("must be an array, got {}", other.show()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema's shape is checked where it is read: supported versions only, steps
    /// as an array of step objects (an empty array is no steps, an array of numbers is
    /// not steps), non-finite numbers read as values (`null` too) except in indices.
    #[test]
    fn the_trajectory_schema_is_checked_as_it_is_read() {
        let err = |text: &str| format!("{:#}", from_json_str(text, "c").unwrap_err());
        assert!(err(r#"{"schema_version": 3}"#).contains("c.schema_version"));
        assert!(from_json_str(r#"{"schema_version": 2, "loss": [1]}"#, "c").is_ok());
        assert!(err(r#"{"steps": [1, 2]}"#).contains("c.steps: must be an array of steps"));
        assert!(from_json_str(r#"{"steps": [], "loss": [1]}"#, "c").is_ok());
        let c = from_json_str(r#"{"loss": [1, null, NaN, -Infinity]}"#, "c").unwrap();
        let loss = &c.arrays[&Key::EpochLoss];
        assert_eq!(loss[0], 1.0);
        assert!(loss[1].is_nan() && loss[2].is_nan());
        assert_eq!(loss[3], f64::NEG_INFINITY);
    }

    /// The header's declared conventions are read (and validated); its free-text
    /// fields must be strings.
    #[test]
    fn the_header_declares_conventions_and_names_its_tool() {
        let c = from_json_str(
            r#"{"header": {"tool": "t", "conventions": {"relu_grad_at_zero": 0.5}}, "loss": [1]}"#,
            "c",
        )
        .unwrap();
        let relu_half = Conventions {
            relu_grad_at_zero: 0.5,
            ..Conventions::default()
        };
        assert_eq!(c.conventions, Some(relu_half));
        let err = |text: &str| format!("{:#}", from_json_str(text, "c").unwrap_err());
        assert!(err(r#"{"header": {"tool": 3}}"#).contains("c.header.tool: must be a string"));
        assert!(
            err(r#"{"header": {"conventions": {"relu_grad_at_zero": 0.3}}}"#)
                .contains("c.header.conventions.relu_grad_at_zero")
        );
    }
}
