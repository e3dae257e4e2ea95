//! Comparing a port's output with the reference, in time order, to name the first
//! number that diverges ([`crate::oracle::diagnose`] then names the mistake).
//!
//! A candidate is a `trajectory.json` (the export schema) or an `.npz` with the
//! documented keys — any subset of either. Every array the candidate holds is compared
//! element by element, walking the reference's time order: initial parameters, each
//! traced step (forward, loss, backward from the last layer down, updated parameters),
//! epoch losses, final parameters. A value passes when
//! `|got − expected| ≤ bound + atol + rtol·|expected|`:
//!
//! * **initial parameters** against the reference's; the bound is their rounding to the
//!   port's precision (`u·|expected|`);
//! * **a traced step** whose starting parameters the candidate holds (its `initial` for
//!   step 0, else the previous step's `after`) against that step **re-anchored**:
//!   recomputed from the candidate's own parameters ([`crate::oracle::anchor`]); the
//!   bound is the first-order rounding bound of that one step in the port's precision
//!   ([`crate::oracle::rounding`]). A correct float32 port passes every step however far
//!   its trajectory has drifted; a wrong step fails at once;
//! * **everything else** (steps without their starting parameters, epoch losses, final
//!   parameters) against the reference run. In float32 the bound is a multiple of the
//!   drift of the reference's *twin*, the run with its data and, after every update,
//!   its parameters rounded to float32 ([`crate::oracle::drift::drift_bound`]),
//!   plus, for epoch losses, the rounding of the loss evaluations themselves
//!   ([`crate::oracle::drift::loss_drift_bound`]) and, for steps, that step's own
//!   rounding bound.
//!
//! The slack `atol`, `rtol` defaults by precision
//! ([`Precision::default_slack`]); the precision is the candidate's declared one
//! (`header.precision`, an `.npz` whose members are all float32), else float32 when
//! every value is a float32 number, else float64. An `.npz` that mixes float32 and
//! float64 members is judged member by member, each by its own dtype's bounds
//! ([`judged_as`]): one float32 member never loosens the others'. Sample indices must match exactly; a different batch
//! layout is a divergence. A candidate that cannot be read, has an unknown array, a
//! parameter of the wrong shape, or a non-finite number is an error (exit 2), named
//! precisely; a difference is a result (exit 1).
//!
//! ```
//! use backprop_oracle::io::spec::Spec;
//! use backprop_oracle::oracle::candidate::from_json_str;
//! use backprop_oracle::oracle::compare::{compare, CompareOptions};
//! use backprop_oracle::run::{train, Engine};
//!
//! let spec = Spec { epochs: 3, ..Spec::article() };
//! // A port that got the first epoch's loss slightly wrong.
//! let reference = train(&spec, Engine::Reference, &mut ()).unwrap();
//! let port = serde_json::json!({"loss": [reference.loss[0] * (1.0 + 1e-6), reference.loss[1]]});
//! let candidate = from_json_str(&port.to_string(), "port").unwrap();
//! let result = compare(&spec, &candidate, &CompareOptions::default()).unwrap();
//! assert_eq!(result.first.unwrap().quantity, "epoch 0 loss");
//! ```

use std::collections::BTreeMap;

use ndarray::ArrayD;

use crate::error::{Error, Result};
use crate::io::spec::Spec;
use crate::oracle::anchor::{state_before, step_from};
use crate::oracle::candidate::Candidate;
use crate::oracle::drift::{drift_bound, loss_drift_bound, record_rounded, Twin};
use crate::oracle::precision::Precision;
use crate::oracle::rounding::step_bounds;
use crate::oracle::schema::{Key, Snapshot, StepArray};
use crate::oracle::trajectory::{check_trace, record_variant, total_steps, StepRecord, Trajectory};
use crate::tolerance::Tolerance;
use crate::variant::{Bug, Conventions, Variant};

/// The kind of an explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A catalogue bug.
    Bug,
    /// Another derivative convention at `z = 0`.
    Convention,
    /// Floating-point precision only.
    Precision,
    /// Another initialisation layout.
    Initialisation,
    /// Another batch layout.
    Batching,
    /// Another spec value (named).
    Spec,
    /// Nothing known reproduces the candidate.
    Unknown,
}

impl Kind {
    /// `bug`, `convention`, `precision`, `initialisation`, `batching`, `spec`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bug => "bug",
            Kind::Convention => "convention",
            Kind::Precision => "precision",
            Kind::Initialisation => "initialisation",
            Kind::Batching => "batching",
            Kind::Spec => "spec",
            Kind::Unknown => "unknown",
        }
    }
}

/// One explanation of a divergence.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    /// Its kind.
    pub kind: Kind,
    /// Its name: a bug's catalogue name, `relu'(0) = 0.5`, a spec key, …
    pub name: String,
    /// One sentence.
    pub explanation: String,
}

/// How to compare.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CompareOptions {
    /// The port's precision (`None`: detected from the candidate).
    pub precision: Option<Precision>,
    /// The slack on top of the derived bounds (`None`: the precision's default).
    pub slack: Option<Tolerance>,
    /// The reference's derivative conventions at `z = 0` (`None`: the candidate's
    /// declared ones, else the reference's own).
    pub conventions: Option<Conventions>,
}

/// The first element outside the tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// The array.
    pub key: Key,
    /// The element (empty for a whole-array difference, e.g. a batch layout).
    pub index: Vec<usize>,
    /// Human name, e.g. `step 3, layers[0].dW[1][0]` (for an `.npz` candidate, its key
    /// first: `step3_dW1[1][0] (step 3, layers[0].dW[1][0])`).
    pub quantity: String,
    /// The reference value.
    pub expected: f64,
    /// The candidate's value.
    pub got: f64,
    /// `|got − expected|`.
    pub abs_err: f64,
    /// `|got − expected| / |expected|` (infinite when `expected = 0`).
    pub rel_err: f64,
    /// What was allowed: `bound + atol + rtol·|expected|`.
    pub allowed: f64,
    /// Whether `expected` was recomputed from the candidate's own parameters.
    pub anchored: bool,
    /// For a different batch layout: the candidate's shape and the reference's.
    pub shapes: Option<(Vec<usize>, Vec<usize>)>,
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
    /// Largest relative error over everything compared (large on values near zero,
    /// which is why the verdict uses per-value bounds).
    pub max_rel_err: f64,
    /// Largest `|got − expected| / allowed` over everything compared: how much of its
    /// bound the worst value used (below 1 when everything passed).
    pub worst_fraction: f64,
    /// The slack used on top of the derived bounds.
    pub tolerance: Tolerance,
    /// The precision the candidate was compared in, and where it came from.
    pub precision: (Precision, &'static str),
    /// The members of an `.npz` that mixes float32 and float64 members judged as
    /// float64 (the rest as `precision`): see [`judged_as`].
    pub judged_f64: Vec<Key>,
    /// The slack on top of the derived bounds for the members in `judged_f64`.
    pub tolerance_f64: Tolerance,
    /// The reference's derivative conventions at `z = 0`.
    pub conventions: Conventions,
    /// Traced steps compared re-anchored at the candidate's own parameters.
    pub anchored_steps: usize,
    /// How far the re-anchored steps' parameters are from the reference run (largest
    /// `|candidate − reference| / max |reference|` over the arrays): the accumulated
    /// rounding of a correct port.
    pub drift: f64,
    /// What explains the divergence, when diagnosed
    /// ([`compare_and_diagnose`](crate::oracle::diagnose::compare_and_diagnose)).
    pub diagnosis: Vec<Diagnosis>,
    /// Whether the candidate is an `.npz` (names are then its keys).
    pub npz: bool,
}

impl Comparison {
    /// Whether everything compared is within the tolerance.
    pub fn passed(&self) -> bool {
        self.first.is_none()
    }

    /// The precision to compare a replay of this candidate in: the one used, or, for
    /// an archive judged member by member, `None` (each member again by its dtype).
    pub fn replay_precision(&self) -> Option<Precision> {
        (self.precision.1 != MEMBER_BY_MEMBER).then_some(self.precision.0)
    }
}

/// The expected values of the candidate's arrays: re-anchored steps (with their
/// rounding bounds), the reference run, and its float32-rounded twin (for drift).
struct Expectations<'a> {
    spec: &'a Spec,
    cand: &'a Candidate,
    variant: Variant,
    u: f64,
    reference: Trajectory,
    rounded: Option<Twin>,
    anchored: BTreeMap<usize, Option<(StepRecord, StepRecord)>>,
    /// The rounding bounds of the reference's own steps, for steps not anchored.
    step_rounding: BTreeMap<usize, Option<StepRecord>>,
}

impl Expectations<'_> {
    /// The anchored record and bounds of step `s`, if the candidate holds its start.
    fn anchored(&mut self, s: usize) -> Option<&(StepRecord, StepRecord)> {
        let (spec, cand, variant, u) = (self.spec, self.cand, self.variant, self.u);
        self.anchored
            .entry(s)
            .or_insert_with(|| {
                let before = state_before(cand, spec, s)?;
                let rec = step_from(spec, variant, &before, s);
                let bounds = step_bounds(spec, &variant, &before, &rec, u);
                Some((rec, bounds))
            })
            .as_ref()
    }

    /// The rounding bound of the reference's step `s` computed from its own parameters.
    fn step_rounding(&mut self, s: usize) -> Option<&StepRecord> {
        let (spec, variant, u, reference) = (self.spec, self.variant, self.u, &self.reference);
        self.step_rounding
            .entry(s)
            .or_insert_with(|| {
                let before = reference.network(Snapshot::before(s))?;
                Some(step_bounds(spec, &variant, before, reference.step(s)?, u))
            })
            .as_ref()
    }

    /// The expected array for `key`, its per-element bound, and whether it is anchored.
    fn expected(&mut self, key: Key) -> Option<(ArrayD<f64>, ArrayD<f64>, bool)> {
        if let Some(s) = key.step() {
            if let Some((rec, bounds)) = self.anchored(s) {
                return Some((rec.get(key)?, bounds.get(key)?, true));
            }
        }
        let e = self.reference.get(key)?;
        let bound = match (key, &self.rounded) {
            (Key::Param(Snapshot::Initial, _, _), _) => e.mapv(|v| self.u * v.abs()),
            (Key::EpochLoss, Some(t)) => ArrayD::from_shape_vec(
                e.raw_dim(),
                loss_drift_bound(&self.reference.loss, &t.run.loss, &t.loss_eval, self.u),
            )
            .ok()?,
            (Key::Param(snapshot, _, _), Some(t)) => drift_bound(
                &e,
                self.reference.network(snapshot)?,
                t.run.network(snapshot)?,
                self.u,
            ),
            (_, Some(t)) => {
                // A step array that is not anchored: the drift of the parameters it
                // was computed from, relative to its own size, plus its own rounding.
                let before = Snapshot::before(key.step()?);
                let (r, t) = (self.reference.network(before)?, t.run.network(before)?);
                let drift = drift_bound(&e, r, t, self.u);
                drift + self.step_rounding(key.step()?)?.get(key)?
            }
            (_, None) => e.mapv(|v| self.u * v.abs()),
        };
        Some((e, bound, false))
    }
}

/// Whether a step array is laid out by the batch (its first axis has one row a sample).
fn batch_shaped(key: Key) -> bool {
    matches!(
        key,
        Key::Step(
            _,
            StepArray::Samples
                | StepArray::Z(_)
                | StepArray::A(_)
                | StepArray::Loss
                | StepArray::DOutput
                | StepArray::Dx(_)
        )
    )
}

/// The precision to compare `cand` in, and where it came from.
pub fn precision_of(cand: &Candidate, forced: Option<Precision>) -> (Precision, &'static str) {
    let (precision, source, _) = judged_as(cand, forced);
    (precision, source)
}

/// Where the precision came from when an `.npz` mixes float32 and float64 members.
pub const MEMBER_BY_MEMBER: &str = "the .npz dtypes, member by member";

/// Whether `a` holds float32 numbers widened to float64: some value has a fraction
/// (whole numbers prove nothing) and every value is a float32 number.
fn widened_f32(a: &ArrayD<f64>) -> bool {
    a.iter().any(|v| v.fract() != 0.0) && Precision::F32.holds(a.iter())
}

/// How `cand` is judged: the precision, where it came from, and the members judged as
/// float64 although the precision is float32.
///
/// The forced precision applies to every member; else a declared one (`header.precision`,
/// an `.npz` whose floating-point members are all float32); else an `.npz` that mixes
/// float32 and float64 members is judged **member by member**: a float32 member by
/// float32 bounds, a float64 member by float64 bounds unless its values are float32
/// numbers widened to float64 ([`MEMBER_BY_MEMBER`]; never all by the loosest, which
/// would let a float64 member off by 3e-8 pass); else float32 when every value is a
/// float32 number, else float64.
pub fn judged_as(
    cand: &Candidate,
    forced: Option<Precision>,
) -> (Precision, &'static str, Vec<Key>) {
    if let Some(p) = forced {
        return (p, "given", Vec::new());
    }
    if let Some(p) = cand.precision {
        let source = if cand.npz {
            "the .npz dtype"
        } else {
            "the header"
        };
        return (p, source, Vec::new());
    }
    if cand.stored.values().any(|&p| p == Precision::F32) {
        let as_f64: Vec<Key> = cand
            .stored
            .iter()
            .filter(|&(k, &p)| p == Precision::F64 && !cand.arrays.get(k).is_some_and(widened_f32))
            .map(|(k, _)| *k)
            .collect();
        if as_f64.is_empty() {
            return (
                Precision::F32,
                "the .npz dtypes (its float64 members hold float32 numbers)",
                as_f64,
            );
        }
        return (Precision::F32, MEMBER_BY_MEMBER, as_f64);
    }
    let floats = cand
        .arrays
        .iter()
        .filter(|(k, _)| !k.is_integer())
        .flat_map(|(_, a)| a.iter());
    let any_fraction = cand
        .arrays
        .iter()
        .filter(|(k, _)| !k.is_integer())
        .any(|(_, a)| a.iter().any(|v| v.fract() != 0.0));
    if any_fraction && Precision::F32.holds(floats) {
        (
            Precision::F32,
            "the values (all are float32 numbers)",
            Vec::new(),
        )
    } else {
        (Precision::F64, "the values", Vec::new())
    }
}

/// Recomputes the reference for `spec` and compares the candidate with it (see the
/// module docs).
pub fn compare(spec: &Spec, cand: &Candidate, opts: &CompareOptions) -> Result<Comparison> {
    compare_as(spec, cand, opts, None)
}

/// [`compare`] against the reference with `bug` injected (`None`: the reference).
///
/// Three jobs, in order: settle how to compare and refuse what cannot be compared,
/// record the expectations (the run, its float32 twin), and walk every element the
/// candidate holds into a [`Comparison`].
pub fn compare_as(
    spec: &Spec,
    cand: &Candidate,
    opts: &CompareOptions,
    bug: Option<Bug>,
) -> Result<Comparison> {
    let setup = Setup::new(spec, cand, opts, bug)?;
    let (keys, exp, exp_f64) = setup.expectations()?;
    let cmp = setup.walk(keys, exp, exp_f64)?;
    if cmp.values == 0 && cmp.first.is_none() {
        return Err(nothing_compared(cand));
    }
    Ok(cmp)
}

/// How a candidate is compared, settled and validated before anything is recomputed.
struct Setup<'a> {
    spec: &'a Spec,
    cand: &'a Candidate,
    precision: Precision,
    /// Where the precision came from.
    source: &'static str,
    /// The members of a mixed archive judged as float64 ([`judged_as`]).
    as_f64: Vec<Key>,
    conventions: Conventions,
    variant: Variant,
    tolerance: Tolerance,
    /// The slack of the members judged as float64 in a mixed archive.
    tolerance_f64: Tolerance,
    /// The steps the reference run must trace.
    need: usize,
}

impl<'a> Setup<'a> {
    /// The precision, conventions and slack; refuses a step past the run, invalid
    /// conventions or slack, and a trace too large to hold.
    fn new(
        spec: &'a Spec,
        cand: &'a Candidate,
        opts: &CompareOptions,
        bug: Option<Bug>,
    ) -> Result<Self> {
        let total = total_steps(spec);
        if let Some(last) = cand.last_step().filter(|&s| s >= total) {
            return Err(Error::invalid(
                "candidate",
                format!("has step {last} but the run makes only {total} updates"),
            ));
        }
        let (precision, source, as_f64) = judged_as(cand, opts.precision);
        let conventions = opts.conventions.or(cand.conventions).unwrap_or_default();
        conventions.validate()?;
        let tolerance = opts.slack.unwrap_or(precision.default_slack());
        tolerance.validate("CompareOptions.slack")?;
        let need = cand.steps_needed();
        check_trace(spec, need, "candidate steps")?;
        Ok(Setup {
            spec,
            cand,
            precision,
            source,
            as_f64,
            conventions,
            variant: Variant { bug, conventions },
            tolerance,
            tolerance_f64: opts.slack.unwrap_or(Precision::F64.default_slack()),
            need,
        })
    }

    /// Records the reference run, refuses a candidate array it does not have, and
    /// returns every key in time order with the expectations in the comparison's
    /// precision (with the float32 twin for what cannot be re-anchored) and, for a mixed
    /// archive, in float64 for its float64 members.
    fn expectations(&self) -> Result<(Vec<Key>, Expectations<'a>, Option<Expectations<'a>>)> {
        let (spec, need, variant) = (self.spec, self.need, self.variant);
        let reference = record_variant(spec, need, variant)?;
        let keys = Key::all(spec.sizes.len() - 1, reference.steps.iter().map(|r| r.step));
        if let Some(unknown) = self.cand.arrays.keys().find(|k| !keys.contains(k)) {
            return Err(Error::invalid(
                format!("candidate array {:?}", unknown.to_string()),
                "is not a reference quantity (see the README for the names)",
            ));
        }
        // The reference's own drift under rounding, for what cannot be re-anchored.
        let rounded = if self.precision == Precision::F32 {
            Some(record_rounded(spec, need, variant, self.precision)?)
        } else {
            None
        };
        let expectations = |u, reference, rounded| Expectations {
            spec,
            cand: self.cand,
            variant,
            u,
            reference,
            rounded,
            anchored: BTreeMap::new(),
            step_rounding: BTreeMap::new(),
        };
        // The float64 members of a mixed archive are judged by float64 bounds.
        let exp_f64 = (!self.as_f64.is_empty())
            .then(|| expectations(Precision::F64.unit_roundoff(), reference.clone(), None));
        let exp = expectations(self.precision.unit_roundoff(), reference, rounded);
        Ok((keys, exp, exp_f64))
    }

    /// Walks `keys` in time order, every element of each array the candidate holds
    /// against its expectation; refuses a parameter of the wrong shape.
    fn walk(
        self,
        keys: Vec<Key>,
        mut exp: Expectations<'a>,
        mut exp_f64: Option<Expectations<'a>>,
    ) -> Result<Comparison> {
        let cand = self.cand;
        let mut cmp = Comparison {
            first: None,
            arrays: 0,
            values: 0,
            divergent: 0,
            max_abs_err: 0.0,
            max_rel_err: 0.0,
            worst_fraction: 0.0,
            tolerance: self.tolerance,
            precision: (self.precision, self.source),
            judged_f64: Vec::new(),
            tolerance_f64: self.tolerance_f64,
            conventions: self.conventions,
            anchored_steps: 0,
            drift: 0.0,
            diagnosis: Vec::new(),
            npz: cand.npz,
        };
        let mut anchored_steps = std::collections::BTreeSet::new();
        for key in keys {
            let Some(got) = cand.arrays.get(&key) else {
                continue;
            };
            let (member, tolerance) = match &mut exp_f64 {
                Some(e) if self.as_f64.contains(&key) => (e, self.tolerance_f64),
                _ => (&mut exp, self.tolerance),
            };
            let Some((expected, bound, anchored)) = member.expected(key) else {
                continue;
            };
            if anchored {
                anchored_steps.insert(key.step());
                if let Some(direct) = member.reference.get(key) {
                    cmp.drift = cmp.drift.max(normwise(got, &direct));
                }
            }
            let ok_shape = got.shape() == expected.shape()
                || (key == Key::EpochLoss && got.ndim() == 1 && got.len() <= expected.len());
            if ok_shape {
                cmp.walk_array(key, got, &expected, &bound, tolerance, anchored);
            } else if batch_shaped(key) {
                cmp.layout_differs(key, got, &expected, anchored);
            } else {
                return Err(Error::invalid(
                    format!("candidate {}", key.describe(&[])),
                    format!(
                        "has shape {:?}, expected {:?}",
                        got.shape(),
                        expected.shape()
                    ),
                ));
            }
        }
        cmp.anchored_steps = anchored_steps.len();
        cmp.judged_f64 = self.as_f64;
        Ok(cmp)
    }
}

impl Comparison {
    /// Compares one array element by element (`tolerance` on top of each element's
    /// `bound`; integer arrays exactly), counting and keeping the first divergence.
    fn walk_array(
        &mut self,
        key: Key,
        got: &ArrayD<f64>,
        expected: &ArrayD<f64>,
        bound: &ArrayD<f64>,
        tolerance: Tolerance,
        anchored: bool,
    ) {
        self.arrays += 1;
        let exact = key.is_integer();
        // A flat walk in row-major order (the index is worked out only to name a
        // divergence): `bound` has the expected values' shape.
        let values = got.iter().zip(expected.iter()).zip(bound.iter());
        for (at, ((&g, &e), &b)) in values.enumerate() {
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
            self.values += 1;
            let reported = |v: f64| if v.is_finite() { v } else { 0.0 }; // non-finite: a divergence
            self.max_abs_err = self.max_abs_err.max(reported(abs));
            if rel.is_finite() {
                self.max_rel_err = self.max_rel_err.max(rel);
            }
            let allowed = if exact { 0.0 } else { tolerance.allowed(e, b) };
            let ok = if exact {
                g == e
            } else {
                tolerance.accepts_with(g, e, b)
            };
            if abs > 0.0 && abs.is_finite() {
                self.worst_fraction = self.worst_fraction.max(abs / allowed);
            }
            if !ok {
                self.divergent += 1;
                if self.first.is_none() {
                    let index = crate::oracle::unravel(at, got.shape());
                    self.first = Some(Divergence {
                        key,
                        quantity: name(key, &index, self.npz),
                        index,
                        expected: e,
                        got: g,
                        abs_err: abs,
                        rel_err: rel,
                        allowed,
                        anchored,
                        shapes: None,
                    });
                }
            }
        }
    }

    /// Counts a batch-shaped array of another shape: a different batch layout, a
    /// divergence of the whole array.
    fn layout_differs(
        &mut self,
        key: Key,
        got: &ArrayD<f64>,
        expected: &ArrayD<f64>,
        anchored: bool,
    ) {
        self.arrays += 1;
        self.divergent += 1;
        if self.first.is_none() {
            self.first = Some(Divergence {
                key,
                index: Vec::new(),
                quantity: name(key, &[], self.npz),
                expected: f64::NAN,
                got: f64::NAN,
                abs_err: f64::INFINITY,
                rel_err: f64::INFINITY,
                allowed: 0.0,
                anchored,
                shapes: Some((got.shape().to_vec(), expected.shape().to_vec())),
            });
        }
    }
}

/// The error of a candidate with no value to compare, naming an empty array if any.
fn nothing_compared(cand: &Candidate) -> Error {
    let empty = cand
        .arrays
        .iter()
        .find(|(_, a)| a.is_empty())
        .map(|(k, _)| *k);
    match empty {
        Some(Key::EpochLoss) => Error::invalid("candidate loss", "is empty: nothing to compare"),
        Some(k) => Error::invalid(
            format!("candidate {}", k.describe(&[])),
            "is empty: nothing to compare",
        ),
        None => Error::invalid("candidate", "holds no value to compare"),
    }
}

/// `max |a − b| / max |b|` (0 when equal).
fn normwise(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    if a.shape() != b.shape() {
        return 0.0;
    }
    let diff = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .filter(|d| d.is_finite())
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    if diff == 0.0 || scale == 0.0 {
        0.0
    } else {
        diff / scale
    }
}

/// The element's name: the human one for a JSON candidate, the key first for an
/// `.npz` (`step3_dW1[1][0] (step 3, layers[0].dW[1][0])`).
pub fn name(key: Key, index: &[usize], npz: bool) -> String {
    let human = key.describe(index);
    if npz {
        let idx: String = index.iter().map(|i| format!("[{i}]")).collect();
        format!("{key}{idx} ({human})")
    } else {
        human
    }
}
