//! A comparison as text and as JSON.

use serde_json::{json, Value};

use crate::oracle::compare::{Comparison, Diagnosis, Divergence};

/// A value as reports print it: sample indices as integers, other numbers in
/// scientific notation.
fn value(d: &Divergence, v: f64) -> String {
    if d.key.is_integer() && v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:e}")
    }
}

/// A candidate's non-finite value, as JSON and Python spell it.
fn non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

fn finite_or_null(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

fn diagnosis_json(d: &Diagnosis) -> Value {
    json!({"kind": d.kind.name(), "name": d.name, "explanation": d.explanation})
}

impl Comparison {
    /// A short human report: what was compared and how, the drift, the first
    /// divergence, and its diagnosis.
    pub fn to_text(&self) -> String {
        let (precision, source) = self.precision;
        let mut s = format!(
            "compared {} arrays ({} values) as {} (from {source}), rtol {:e}, atol {:e} on top of the {} rounding bounds: max abs err {:.3e}, max rel err {:.3e}\n",
            self.arrays,
            self.values,
            precision.name(),
            self.tolerance.rtol,
            self.tolerance.atol,
            precision.name(),
            self.max_abs_err,
            self.max_rel_err
        );
        if self.anchored_steps > 0 {
            let cause = if self.first.is_none() {
                ", accumulated rounding"
            } else {
                ""
            };
            s.push_str(&format!(
                "{} traced step(s) recomputed from the candidate's own parameters; its trajectory is {:.1e} (relative) from the reference's{cause}\n",
                self.anchored_steps, self.drift
            ));
        }
        if !self.conventions.is_default() {
            s.push_str(&format!(
                "conventions: relu'(0) = {}, leaky_relu'(0) = {}\n",
                self.conventions.relu_grad_at_zero, self.conventions.leaky_grad_at_zero
            ));
        }
        match &self.first {
            None => s.push_str(&format!(
                "all within tolerance (the worst value at {} of its bound)\n",
                self.worst_percent()
            )),
            Some(d) => {
                let anchored = match d.key.step() {
                    Some(step) if d.anchored => {
                        format!(", computed from the candidate's own parameters before step {step}")
                    }
                    _ => String::new(),
                };
                match &d.shapes {
                    Some((got, want)) => s.push_str(&format!(
                        "first divergence: {}: has shape {got:?}, the reference's is {want:?} (another batch layout); {} value(s) outside tolerance in all\n",
                        d.quantity, self.divergent
                    )),
                    None if !d.got.is_finite() => s.push_str(&format!(
                        "first divergence: {}: expected {}, got {} (non-finite where the reference is finite: the run diverged here{anchored}); {} value(s) outside tolerance in all\n",
                        d.quantity,
                        value(d, d.expected),
                        non_finite(d.got),
                        self.divergent
                    )),
                    None => s.push_str(&format!(
                        "first divergence: {}: expected {}, got {} (abs err {:.3e}, rel err {:.3e}, allowed {:.3e}{anchored}); {} value(s) outside tolerance in all\n",
                        d.quantity,
                        value(d, d.expected),
                        value(d, d.got),
                        d.abs_err,
                        d.rel_err,
                        d.allowed,
                        self.divergent
                    )),
                }
            }
        }
        for d in &self.diagnosis {
            // `unknown unknown` reads as a stutter: a name equal to its kind is said once.
            let name = if d.name == d.kind.name() {
                String::new()
            } else {
                format!(" {}", d.name)
            };
            s.push_str(&format!(
                "diagnosis: {}{name}: {}\n",
                d.kind.name(),
                d.explanation
            ));
        }
        s
    }

    /// [`Comparison::worst_fraction`] as a percentage ([`percent`]).
    pub fn worst_percent(&self) -> String {
        percent(self.worst_fraction)
    }

    /// The same as JSON.
    pub fn to_json(&self) -> Value {
        let (precision, source) = self.precision;
        json!({
            "passed": self.passed(),
            "arrays": self.arrays,
            "values": self.values,
            "divergent": self.divergent,
            "max_abs_err": finite_or_null(self.max_abs_err),
            "max_rel_err": finite_or_null(self.max_rel_err),
            "worst_fraction_of_bound": finite_or_null(self.worst_fraction),
            "rtol": self.tolerance.rtol,
            "atol": self.tolerance.atol,
            "precision": precision.name(),
            "precision_from": source,
            "conventions": {
                "relu_grad_at_zero": self.conventions.relu_grad_at_zero,
                "leaky_grad_at_zero": self.conventions.leaky_grad_at_zero,
            },
            "anchored_steps": self.anchored_steps,
            "drift": finite_or_null(self.drift),
            "first_divergence": self.first.as_ref().map(|d| json!({
                "quantity": d.quantity,
                "key": d.key.to_string(),
                "index": d.index,
                "expected": finite_or_null(d.expected),
                "got": finite_or_null(d.got),
                "got_non_finite": (d.shapes.is_none() && !d.got.is_finite()).then(|| non_finite(d.got)),
                "abs_err": finite_or_null(d.abs_err),
                "rel_err": finite_or_null(d.rel_err),
                "allowed": finite_or_null(d.allowed),
                "anchored": d.anchored,
                "shapes": d.shapes.as_ref().map(|(g, w)| json!({"candidate": g, "reference": w})),
            })),
            "diagnosis": self.diagnosis.first().map(diagnosis_json),
            "other_explanations": self.diagnosis.iter().skip(1).map(diagnosis_json).collect::<Vec<_>>(),
        })
    }
}

/// A fraction as a percentage with two significant digits below 10% (`55%`, `5.5%`,
/// `0.011%`; `0%` for exactly zero).
pub fn percent(fraction: f64) -> String {
    let pct = 100.0 * fraction;
    if pct == 0.0 || !pct.is_finite() || pct >= 10.0 {
        return format!("{pct:.0}%");
    }
    let decimals = (1.0 - pct.log10().floor()).clamp(0.0, 8.0) as usize;
    format!("{pct:.decimals$}%")
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_keep_two_significant_digits_below_ten() {
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.55), "55%");
        assert_eq!(percent(0.055), "5.5%");
        assert_eq!(percent(0.000_091), "0.0091%");
        assert_eq!(percent(1.25), "125%");
        assert_eq!(percent(f64::INFINITY), "inf%");
    }
}
