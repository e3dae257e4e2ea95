//! Check reports: per tensor, the coordinates checked, the largest errors against each
//! oracle, the worst element with its three values, kinks, and the verdict; as a text
//! table or as JSON with the same content.

use serde_json::{json, Value};

use crate::check::triage::{ElementCheck, Verdict};

/// How many failing elements a tensor report keeps in full.
pub const KEEP_FAILURES: usize = 10;

/// Where an element was checked: the training point and the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Parameters after this many epochs of training.
    pub epoch: usize,
    /// The batch's first sample (data order).
    pub first_sample: usize,
    /// The batch's number of samples.
    pub batch_len: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.batch_len == 1 {
            write!(f, "epoch {}, sample {}", self.epoch, self.first_sample)
        } else {
            let last = self.first_sample + self.batch_len - 1;
            write!(
                f,
                "epoch {}, samples {}..={last}",
                self.epoch, self.first_sample
            )
        }
    }
}

/// The aggregated check of one tensor (all its checked elements, points and batches).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorReport {
    /// The tensor, e.g. `layers[0].W`.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// What was checked: `gradient`, `direction` or `update`.
    pub kind: String,
    /// Element checks done.
    pub checked: usize,
    /// Element checks an exhaustive run would do (elements × points × batches).
    pub total: usize,
    /// Largest `|claimed − dual|`.
    pub max_abs_dual: f64,
    /// Largest `|claimed − dual| / max(|claimed|, |dual|)`.
    pub max_rel_dual: f64,
    /// Largest `|claimed − fd|`.
    pub max_abs_fd: f64,
    /// Largest `|claimed − fd| / max(|claimed|, |fd|)`.
    pub max_rel_fd: f64,
    /// The worst element: the most severe verdict, then the largest error.
    pub worst: Option<(ElementCheck, Option<Location>)>,
    /// Elements whose finite-difference probe crossed a kink.
    pub kinks: usize,
    /// Elements whose finite difference needed a retry (noise).
    pub fd_noise: usize,
    /// Failing elements.
    pub failures: usize,
    /// The first failing elements, in full.
    pub first_failures: Vec<(ElementCheck, Option<Location>)>,
    /// Set when the claimed tensor has the wrong shape (then nothing else was compared).
    pub shape_error: Option<String>,
}

fn rel(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if a == b {
        0.0
    } else if scale == 0.0 || !scale.is_finite() {
        f64::INFINITY
    } else {
        (a - b).abs() / scale
    }
}

fn severity(e: &ElementCheck) -> (Verdict, f64, f64) {
    (e.verdict, rel(e.claimed, e.dual), rel(e.claimed, e.fd))
}

impl TensorReport {
    /// An empty report for a tensor.
    pub fn new(name: impl Into<String>, shape: Vec<usize>, kind: &str) -> Self {
        TensorReport {
            name: name.into(),
            shape,
            kind: kind.into(),
            checked: 0,
            total: 0,
            max_abs_dual: 0.0,
            max_rel_dual: 0.0,
            max_abs_fd: 0.0,
            max_rel_fd: 0.0,
            worst: None,
            kinks: 0,
            fd_noise: 0,
            failures: 0,
            first_failures: Vec::new(),
            shape_error: None,
        }
    }

    /// Adds one element check.
    pub fn add(&mut self, e: ElementCheck, at: Option<Location>) {
        self.checked += 1;
        let nan_max = |m: f64, v: f64| if v.is_nan() { f64::INFINITY } else { m.max(v) };
        self.max_abs_dual = nan_max(self.max_abs_dual, (e.claimed - e.dual).abs());
        self.max_rel_dual = nan_max(self.max_rel_dual, rel(e.claimed, e.dual));
        if !e.fd.is_nan() || e.claimed.is_nan() {
            self.max_abs_fd = nan_max(self.max_abs_fd, (e.claimed - e.fd).abs());
            self.max_rel_fd = nan_max(self.max_rel_fd, rel(e.claimed, e.fd));
        }
        if e.kink.is_some() {
            self.kinks += 1;
        }
        if e.verdict == Verdict::FdNoise {
            self.fd_noise += 1;
        }
        if e.verdict.fails() {
            self.failures += 1;
            if self.first_failures.len() < KEEP_FAILURES {
                self.first_failures.push((e.clone(), at));
            }
        }
        let worse = match &self.worst {
            None => true,
            Some((w, _)) => {
                severity(&e).partial_cmp(&severity(w)) == Some(std::cmp::Ordering::Greater)
            }
        };
        if worse {
            self.worst = Some((e, at));
        }
    }

    /// Marks the claimed tensor as having the wrong shape.
    pub fn set_shape_error(&mut self, claimed: &[usize]) {
        self.shape_error = Some(format!(
            "claimed gradient has shape {claimed:?}, the tensor has {:?}",
            self.shape
        ));
        self.failures += 1;
    }

    /// Whether every element passed (kinks and FD noise pass).
    pub fn passed(&self) -> bool {
        self.failures == 0 && self.shape_error.is_none()
    }

    /// The tensor's verdict: the most severe element verdict.
    pub fn verdict(&self) -> String {
        if let Some(s) = &self.shape_error {
            return format!("backward bug: {s}");
        }
        match &self.worst {
            None => "nothing checked".into(),
            Some((w, _)) if w.verdict.fails() => w.verdict.label().into(),
            Some(_) if self.kinks > 0 => format!("verified ({} kinks)", self.kinks),
            Some(_) => "verified".into(),
        }
    }

    /// The report as a small text table (one row) plus the worst element.
    pub fn to_text(&self) -> String {
        table(std::slice::from_ref(self))
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let elem = |(e, at): &(ElementCheck, Option<Location>)| {
            json!({
                "index": e.index,
                "at": at.map(|l| json!({"epoch": l.epoch, "first_sample": l.first_sample, "batch_len": l.batch_len})),
                "claimed": finite_or_null(e.claimed),
                "dual": finite_or_null(e.dual),
                "fd": finite_or_null(e.fd),
                "fd_step": e.fd_step,
                "kink": e.kink.map(|k| if k.user {
                    json!({"user": true, "distance": k.distance})
                } else {
                    json!({"layer": k.layer, "unit": k.unit, "sample": k.sample, "distance": k.distance})
                }),
                "verdict": e.verdict.label(),
            })
        };
        json!({
            "name": self.name,
            "kind": self.kind,
            "shape": self.shape,
            "checked": self.checked,
            "total": self.total,
            "max_abs_err_dual": finite_or_null(self.max_abs_dual),
            "max_rel_err_dual": finite_or_null(self.max_rel_dual),
            "max_abs_err_fd": finite_or_null(self.max_abs_fd),
            "max_rel_err_fd": finite_or_null(self.max_rel_fd),
            "kinks": self.kinks,
            "fd_noise": self.fd_noise,
            "failures": self.failures,
            "shape_error": self.shape_error,
            "worst": self.worst.as_ref().map(elem),
            "first_failures": self.first_failures.iter().map(elem).collect::<Vec<_>>(),
            "passed": self.passed(),
            "verdict": self.verdict(),
        })
    }
}

/// NaN and infinities are not JSON numbers: they become `null` (and the check fails).
fn finite_or_null(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

fn index_str(idx: &[usize]) -> String {
    idx.iter().map(|i| format!("[{i}]")).collect()
}

/// A text table of tensor reports, then one line per failing or worst element.
pub fn table(reports: &[TensorReport]) -> String {
    let mut out = String::new();
    let name_w = reports
        .iter()
        .map(|r| r.name.len() + r.kind.len() + 1)
        .max()
        .unwrap_or(6)
        .max(6);
    out.push_str(&format!(
        "{:<name_w$}  {:<10}  {:>15}  {:>9} {:>9}  {:>9} {:>9}  {:>5}  verdict\n",
        "tensor", "shape", "checked", "abs(dual)", "rel(dual)", "abs(fd)", "rel(fd)", "kinks"
    ));
    for r in reports {
        let label = if r.kind == "gradient" {
            r.name.clone()
        } else {
            format!("{} {}", r.name, r.kind)
        };
        let shape = format!("{:?}", r.shape).replace('[', "(").replace(']', ")");
        let (abs_fd, rel_fd) = if r.kind == "update" {
            ("-".to_string(), "-".to_string())
        } else {
            (
                format!("{:.1e}", r.max_abs_fd),
                format!("{:.1e}", r.max_rel_fd),
            )
        };
        out.push_str(&format!(
            "{label:<name_w$}  {shape:<10}  {:>15}  {:>9.1e} {:>9.1e}  {abs_fd:>9} {rel_fd:>9}  {:>5}  {}\n",
            format!("{}/{}", r.checked, r.total),
            r.max_abs_dual,
            r.max_rel_dual,
            r.kinks,
            r.verdict()
        ));
    }
    for r in reports {
        if let Some(s) = &r.shape_error {
            out.push_str(&format!("  {}: {s}\n", r.name));
        }
        let shown: Vec<&(ElementCheck, Option<Location>)> = if r.failures > 0 {
            r.first_failures.iter().take(3).collect()
        } else if r.kind == "update" {
            Vec::new()
        } else {
            r.worst.iter().collect()
        };
        for (e, at) in shown {
            let at = at.map(|l| format!(" at {l}")).unwrap_or_default();
            let what = if e.verdict.fails() {
                e.verdict.label()
            } else {
                "worst"
            };
            let mut line = if r.kind == "update" {
                format!(
                    "  {what}: {}{}{at}: the step moved it by {:.12e}, θ − lr·g (exact g) moves it by {:.12e}",
                    r.name,
                    index_str(&e.index),
                    e.claimed,
                    e.dual
                )
            } else {
                let which = if r.kind == "direction" {
                    " direction"
                } else {
                    ""
                };
                format!(
                    "  {what}: {}{which}{}{at}: claimed {:.12e}, dual {:.12e}, fd {:.6e} (step {:.1e})",
                    r.name,
                    index_str(&e.index),
                    e.claimed,
                    e.dual,
                    e.fd,
                    e.fd_step
                )
            };
            if let Some(k) = e.kink {
                line.push_str(&if k.user {
                    format!("; kink of f at distance {:.1e}", k.distance)
                } else {
                    format!(
                        "; kink: layers[{}] unit {} sample {} at |z| = {:.1e}",
                        k.layer, k.unit, k.sample, k.distance
                    )
                });
            }
            out.push_str(&line);
            out.push('\n');
        }
        if r.failures > 3 {
            out.push_str(&format!(
                "  … {} failing elements in {} in all\n",
                r.failures, r.name
            ));
        }
    }
    out
}
