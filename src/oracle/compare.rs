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
//! use backprop_oracle::io::spec::Spec;
//! use backprop_oracle::oracle::candidate::from_json_str;
//! use backprop_oracle::oracle::compare::compare;
//! use backprop_oracle::run::{train, Engine};
//! use backprop_oracle::tolerance::Tolerance;
//!
//! let spec = Spec { epochs: 3, ..Spec::article() };
//! // A port that got the first epoch's loss slightly wrong.
//! let reference = train(&spec, Engine::Reference, &mut ()).unwrap();
//! let port = serde_json::json!({"loss": [reference.loss[0] * (1.0 + 1e-6), reference.loss[1]]});
//! let candidate = from_json_str(&port.to_string(), "port").unwrap();
//! let result = compare(&spec, &candidate, Tolerance { rtol: 1e-9, atol: 1e-12 }).unwrap();
//! assert_eq!(result.first.unwrap().quantity, "epoch 0 loss");
//! ```

use std::path::Path;

use ndarray::Dimension;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::spec::{Overrides, Spec};
use crate::oracle::candidate::Candidate;
use crate::oracle::schema::Key;
use crate::oracle::trajectory::{record_checked, total_steps};
use crate::tolerance::Tolerance;

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

/// The default work budget for recomputing a run that a candidate's own header
/// describes, in parameter-updates × batch rows (see [`run_work`]): about a second of
/// reference training.
pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;

/// The work of recomputing `spec`'s run: every update step changes every parameter
/// once per row of its batch, so `epochs × samples × parameters` in all.
pub fn run_work(spec: &Spec) -> u128 {
    let params: u128 = spec
        .sizes
        .windows(2)
        .map(|io| io[1] as u128 * (io[0] as u128 + 1))
        .sum();
    spec.epochs as u128 * spec.x.nrows() as u128 * params
}

/// The spec to compare against: `model` if given, else the candidate's header spec,
/// else the article's; then the overrides. A spec taken from the candidate's header
/// (untrusted input) may describe at most `max_steps` of work ([`run_work`]); a spec
/// file the caller names is trusted.
pub fn reference_spec(
    model: Option<&Path>,
    cand: &Candidate,
    overrides: &Overrides,
    max_steps: u64,
) -> Result<Spec> {
    match (model, &cand.spec) {
        (None, Some(v)) => {
            let spec = Spec::from_json(v, "candidate.header.spec")?.with_overrides(overrides)?;
            let work = run_work(&spec);
            if work > max_steps as u128 {
                return Err(Error::invalid(
                    "max_steps",
                    format!(
                        "the candidate's header.spec describes a run of {work} parameter-updates × batch rows \
                         (epochs × samples × parameters), more than this budget of {max_steps}; \
                         give a spec you trust as the model instead, or raise the budget"
                    ),
                ));
            }
            Ok(spec)
        }
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
    let reference = record_checked(spec, need, "candidate steps")?;
    let qs = reference.quantities();
    if let Some(unknown) = cand
        .arrays
        .keys()
        .find(|k| !qs.iter().any(|(key, _)| key == *k))
    {
        return Err(Error::invalid(
            format!("candidate array {:?}", unknown.to_string()),
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
    for (key, data) in &qs {
        let Some(got) = cand.arrays.get(key) else {
            continue;
        };
        let expected_shape = data.shape();
        let ok_shape = got.shape() == expected_shape
            || (*key == Key::EpochLoss && got.ndim() == 1 && got.len() <= data.len());
        if !ok_shape {
            return Err(Error::invalid(
                format!("candidate {}", key.describe(&[])),
                format!("has shape {:?}, expected {:?}", got.shape(), expected_shape),
            ));
        }
        cmp.arrays += 1;
        let exact = key.is_integer();
        for (idx, &g) in got.indexed_iter() {
            let e = data[&idx];
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
                        quantity: key.describe(idx.slice()),
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
            .map(|(k, _)| *k);
        return Err(match empty {
            Some(Key::EpochLoss) => {
                Error::invalid("candidate loss", "is empty: nothing to compare")
            }
            Some(k) => Error::invalid(
                format!("candidate {}", k.describe(&[])),
                "is empty: nothing to compare",
            ),
            None => Error::invalid("candidate", "holds no value to compare"),
        });
    }
    Ok(cmp)
}
