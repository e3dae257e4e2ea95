//! The conformance suite: a battery of named cases, each a spec with a purpose, that a
//! port is run on and compared against — so a port author checks every activation,
//! batching rule and numerical corner in one command.
//!
//! For each case the suite writes the case's spec (every key, data inline) to a file,
//! runs the port's command with `{spec}` and `{out}` replaced by that file and by the
//! path where the port must write its output (a `trajectory.json` or an `.npz`), with a
//! timeout, then compares the output against the reference
//! ([`compare_and_diagnose`](crate::oracle::diagnose::compare_and_diagnose)) and keeps the verdict, the first divergence and the
//! diagnosis.
//!
//! # What the runner guarantees, whatever the port does
//!
//! The port runs as the same user and may do anything to the files it is given; the
//! [`Runner`] is written so that none of it makes this program read without bound,
//! hang, write or delete outside what it created, or leave a process or a folder behind.
//!
//! - **A fresh work folder.** `$TMPDIR/backprop-oracle-conformance-<pid>-<random>` is
//!   created like `mkdtemp` ([`WorkDir::create`](crate::io::workdir::WorkDir::create)): mode 0700, `mkdir` that fails if the
//!   name exists (another name is tried), so an existing folder is never reused or
//!   deleted.
//! - **Handles, not paths.** Each case's folder, its `spec.json` and `stderr.txt` are
//!   created through the work folder's handle with `O_EXCL|O_NOFOLLOW` (never over
//!   something that exists, never through a link); a folder the port swapped for a link
//!   to a user's folder is neither written into nor read from. The output `{out}` is
//!   opened once in the case's own folder with `O_NOFOLLOW|O_NONBLOCK` and accepted only
//!   if the opened handle is a regular file of at most 1 GiB (a link to `/dev/zero` or a
//!   FIFO is refused at once). The port's stderr is read through the runner's own
//!   handle on the file it created (its last 64 KiB), never by path.
//! - **Removal stays inside.** After each case, and at the end, entries are removed
//!   through the handles of the folders the runner created: everything inside them
//!   goes, including what the port left there (it is inside a real folder we created),
//!   but a symbolic link is removed as a link and never followed, and subfolders are
//!   entered only as real folders (`O_NOFOLLOW`), to a bounded depth. The work folder's
//!   path is removed only while it still names the folder created; a folder or link
//!   the port put in its place is the port's and is left alone.
//! - **No process outlives the run.** The port runs in its own process group, which is
//!   sent `SIGKILL` when the port exits (before it is reaped, so its id cannot be
//!   reused; background children such as `sleep 30 &` die with the case), at the
//!   timeout, and — through [`crate::io::outdir::remove_registered`], which the CLI
//!   calls on SIGINT, SIGTERM and SIGHUP — before the work folder is removed and the
//!   CLI exits 130, 143 or 129. A child that leaves the group (`setsid`, `setpgid`)
//!   escapes this, as it would a shell's job control.
//! - **Quoting.** `{spec}` and `{out}` are quoted for where they stand in the command,
//!   bare, in `'…'` or in `"…"` ([`Port::command_for`]); an unclosed quote is refused.
//!   The timeout is at most [`MAX_TIMEOUT_SECS`].
//! - **Printable output.** The port's stderr line and every message are shown with
//!   control characters as `\u00XX` escapes ([`crate::error::printable`]), so the
//!   JUnit scorecard is well-formed XML and a terminal is never driven by a port.

use std::path::Path;

use ndarray::{array, Array2};
use serde_json::{json, Value};

use crate::error::{printable, Error, Result};
use crate::io::outdir::{Allowed, OutDir};
use crate::io::spec::Spec;
use crate::nn::activation::Activation::{self, Identity, LeakyRelu, Relu, Sigmoid, Tanh};
use crate::nn::loss::Loss;
use crate::oracle::compare::Comparison;
use crate::oracle::export::write_files;
use crate::oracle::trajectory::record_checked;

pub use crate::oracle::runner::{
    run_case, work_dir, Case, CaseResult, Port, Runner, MAX_TIMEOUT_SECS,
};

/// `n` rows of `cols` deterministic inputs in `[-1, 1)` (a fixed formula, so every
/// port reads the same numbers).
fn grid(n: usize, cols: usize, scale: f64) -> Array2<f64> {
    Array2::from_shape_fn((n, cols), |(r, c)| {
        let v = ((r * 7 + c * 3 + 1) % 13) as f64 / 6.5 - 1.0;
        scale * v
    })
}

/// Targets for `x`: `m` smooth functions of the inputs.
fn targets(x: &Array2<f64>, m: usize) -> Array2<f64> {
    Array2::from_shape_fn((x.nrows(), m), |(r, k)| {
        let row = x.row(r);
        let s: f64 = row
            .iter()
            .enumerate()
            .map(|(c, v)| v * (1.0 + (c + k) as f64 * 0.5))
            .sum();
        (0.5 * s).tanh() + 0.1 * k as f64
    })
}

/// One-hot class targets for `x`: the class of each row is the largest of its `m`
/// [`targets`] (a fixed rule, so every port reads the same labels).
fn classes(x: &Array2<f64>, m: usize) -> Array2<f64> {
    let t = targets(x, m);
    Array2::from_shape_fn((x.nrows(), m), |(r, k)| {
        let row = t.row(r);
        let best = (0..m).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        f64::from(u8::from(k == best))
    })
}

/// 0/1 targets for `x`: the sign of each of its `m` [`targets`] less their mean 0.1·k.
fn binary(x: &Array2<f64>, m: usize) -> Array2<f64> {
    let t = targets(x, m);
    Array2::from_shape_fn(t.dim(), |(r, k)| {
        f64::from(u8::from(t[[r, k]] > 0.1 * k as f64))
    })
}

fn net(
    sizes: &[usize],
    acts: &[Activation],
    x: Array2<f64>,
    m: usize,
    f: impl FnOnce(&mut Spec),
) -> Spec {
    let y = targets(&x, m);
    let mut spec = Spec {
        sizes: sizes.to_vec(),
        activations: acts.to_vec(),
        x,
        y,
        lr: 0.05,
        epochs: 40,
        batch_size: 1,
        log_every: 10,
        ..Spec::article()
    };
    f(&mut spec);
    spec
}

/// The battery, in the order it runs.
pub fn cases() -> Vec<Case> {
    let c = |name, purpose, spec| Case {
        name,
        purpose,
        spec,
    };
    // Step 0 runs the zero row with zero biases: every hidden z is exactly 0, and the
    // target 0.5 (not the 0 that `targets` gives a zero row) makes dL/da nonzero there,
    // so db of the hidden layer is dL/da · act'(0): the convention decides it.
    let zero_row = array![[0.0, 0.0], [1.0, 2.0], [2.0, 1.0], [-1.0, 0.5]];
    let at_zero = |s: &mut Spec| {
        s.epochs = 20;
        s.y.mapv_inplace(|v| v + 0.5);
    };
    vec![
        c("article", "the article's 2-3-1 relu net, per-sample SGD over 1000 epochs (float64 ports: bit for bit or a few ulps)", Spec::article()),
        c("article_seed1", "the article initialised with seed 1 (np.random.seed, then randn per layer in order)", Spec { seed: 1, ..Spec::article() }),
        c("identity", "a linear 3-1 net: no activation, the plain least-squares gradient", net(&[3, 1], &[Identity], grid(6, 3, 1.0), 1, |_| {})),
        c("relu_at_zero", "relu at exactly z = 0 (a zero input row, zero biases, a target of 0.5 there): the derivative's convention there", net(&[2, 3, 1], &[Relu, Identity], zero_row.clone(), 1, at_zero)),
        c("leaky_relu", "leaky_relu hidden layer (slope 0.01 below zero)", net(&[3, 5, 1], &[LeakyRelu, Identity], grid(8, 3, 1.0), 1, |_| {})),
        c("leaky_relu_at_zero", "leaky_relu at exactly z = 0 (a zero input row, zero biases, a target of 0.5 there): its derivative's convention there", net(&[2, 3, 1], &[LeakyRelu, Identity], zero_row, 1, at_zero)),
        c("sigmoid", "sigmoid hidden layer", net(&[3, 4, 1], &[Sigmoid, Identity], grid(8, 3, 1.0), 1, |_| {})),
        c("tanh", "tanh hidden layer", net(&[3, 4, 1], &[Tanh, Identity], grid(8, 3, 1.0), 1, |_| {})),
        c("sigmoid_saturated", "sigmoid with |z| > 30: saturated units (exp must not overflow; σ' taken as σ(1 − σ) loses its digits there, within its rounding bound)", net(&[2, 3, 1], &[Sigmoid, Identity], grid(6, 2, 40.0), 1, |s| s.epochs = 20)),
        c("tanh_saturated", "tanh with |z| > 30: saturated units (exp must not overflow; tanh' taken as 1 − tanh² loses its digits there, within its rounding bound)", net(&[2, 3, 1], &[Tanh, Identity], grid(6, 2, 40.0), 1, |s| s.epochs = 20)),
        c("sigmoid_output", "a sigmoid output layer under MSE", net(&[3, 4, 2], &[Tanh, Sigmoid], grid(8, 3, 1.0), 2, |_| {})),
        c("multi_output", "three outputs: the MSE's mean over outputs (the 1/m)", net(&[3, 4, 3], &[Tanh, Identity], grid(8, 3, 1.0), 3, |_| {})),
        c("minibatch_partial", "batches of 3 over 7 samples: the last batch of each epoch has 1 sample", net(&[2, 4, 1], &[Relu, Identity], grid(7, 2, 1.0), 1, |s| s.batch_size = 3)),
        c("full_batch", "one batch of all 8 samples: the batch mean and the bias gradient summed over rows", net(&[3, 4, 2], &[Tanh, Identity], grid(8, 3, 1.0), 2, |s| s.batch_size = 8)),
        c("batch_larger_than_data", "batch_size 10 over 5 samples: one batch of 5", net(&[2, 3, 1], &[Sigmoid, Identity], grid(5, 2, 1.0), 1, |s| s.batch_size = 10)),
        c("deep", "five layers: tanh, sigmoid, leaky_relu, relu, identity", net(&[3, 5, 4, 4, 3, 1], &[Tanh, Sigmoid, LeakyRelu, Relu, Identity], grid(8, 3, 1.0), 1, |s| s.batch_size = 2)),
        c("wide", "a wide 8-48-4 relu layer in batches of 4", net(&[8, 48, 4], &[Relu, Identity], grid(16, 8, 1.0), 4, |s| {
            s.batch_size = 4;
            s.init_scale = 0.3;
        })),
        c("tiny_init", "init_scale 1e-3: tiny weights and tiny gradients", net(&[3, 4, 1], &[Tanh, Identity], grid(8, 3, 1.0), 1, |s| s.init_scale = 1e-3)),
        c("large_init", "init_scale 5: large pre-activations and gradients", net(&[3, 4, 1], &[Tanh, Identity], grid(8, 3, 1.0), 1, |s| {
            s.init_scale = 5.0;
            s.lr = 0.005;
        })),
        c("large_lr", "the article at lr 0.03, close to where it stops converging", Spec { lr: 0.03, ..Spec::article() }),
        c("single_sample", "one sample, one output, many steps", net(&[2, 3, 1], &[Relu, Identity], array![[0.5, -1.5]], 1, |s| s.epochs = 200)),
        c("long_run", "2000 epochs of a small tanh net: rounding drift over a long run", net(&[2, 3, 1], &[Tanh, Identity], grid(5, 2, 1.0), 1, |s| {
            s.epochs = 2000;
            s.lr = 0.02;
        })),
        c("softmax_cross_entropy", "a 4-class softmax cross-entropy on logits, batches of 3 over 9 samples: (softmax − y)/B", net(&[3, 5, 4], &[Tanh, Identity], grid(9, 3, 1.0), 4, |s| {
            s.loss = Loss::SoftmaxCrossEntropy;
            s.y = classes(&s.x, 4);
            s.batch_size = 3;
            s.lr = 0.2;
        })),
        c("softmax_large_logits", "softmax cross-entropy on logits in the hundreds (init_scale 40): exp overflows unless the max is subtracted first", net(&[3, 5, 3], &[Relu, Identity], grid(6, 3, 1.0), 3, |s| {
            s.loss = Loss::SoftmaxCrossEntropy;
            s.y = classes(&s.x, 3);
            s.init_scale = 40.0;
            s.lr = 1e-4;
            s.batch_size = 2;
            s.epochs = 10;
        })),
        c("binary_cross_entropy", "two independent sigmoid outputs under binary cross-entropy on logits, batches of 4: (σ − y)/(mB)", net(&[2, 4, 2], &[Relu, Identity], grid(8, 2, 1.0), 2, |s| {
            s.loss = Loss::BinaryCrossEntropy;
            s.y = binary(&s.x, 2);
            s.batch_size = 4;
            s.lr = 0.2;
        })),
    ]
}

/// How each case's spec gives the network's initial parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Init {
    /// `seed` and `init_scale`: the port draws them with NumPy's legacy generator
    /// (the test of its generator; docs/generator.md).
    #[default]
    Seeded,
    /// `initial`: the parameters themselves, drawn by the reference, so that a port in
    /// any language needs no generator.
    Given,
}

impl Init {
    /// `seeded` or `given`, as `--init` and the scorecards spell it.
    pub fn name(self) -> &'static str {
        match self {
            Init::Seeded => "seeded",
            Init::Given => "given",
        }
    }
}

impl Case {
    /// The case with its spec giving its initial parameters as `init` says: under
    /// [`Init::Given`], `initial` holds the parameters that `seed` and `init_scale` draw
    /// (the same run, so the same expected trajectory).
    pub fn with_init(mut self, init: Init) -> Result<Case> {
        if init == Init::Given && self.spec.initial.is_none() {
            let net = crate::run::network(&self.spec)?;
            self.spec.initial = Some(crate::io::initial::Initial {
                layers: net.layers.into_iter().map(|l| (l.w, l.b)).collect(),
            });
        }
        Ok(self)
    }
}

/// [`select`], each case's spec giving its initial parameters as `init` says
/// ([`Case::with_init`]).
pub fn select_with(names: &[String], init: Init) -> Result<Vec<Case>> {
    select(names)?
        .into_iter()
        .map(|c| c.with_init(init))
        .collect()
}

/// The cases named in `names` (all when empty); an unknown name is an error.
pub fn select(names: &[String]) -> Result<Vec<Case>> {
    let all = cases();
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|c| c.name == n).cloned().ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|c| c.name).collect();
                Error::invalid(
                    "case",
                    format!("unknown case {n:?}, expected one of {}", known.join(", ")),
                )
            })
        })
        .collect()
}

/// A battery's results with how it ran, written as text, JSON or JUnit XML.
#[derive(Debug, Clone, Copy)]
pub struct Scorecard<'a> {
    /// The port's command template.
    pub command: &'a str,
    /// How the cases gave their initial parameters.
    pub init: Init,
    /// The results, in the order the cases ran.
    pub results: &'a [CaseResult],
}

impl Scorecard<'_> {
    /// [`scorecard_text`], its first line saying how the cases were initialised.
    pub fn text(&self) -> String {
        scorecard_text(
            &format!(
                "{} (initial parameters: {})",
                self.command,
                self.init.name()
            ),
            self.results,
        )
    }

    /// [`scorecard_json`] with `"init": "seeded"|"given"`.
    pub fn json(&self) -> Value {
        let mut v = scorecard_json(self.results);
        v["init"] = json!(self.init.name());
        v
    }

    /// [`scorecard_junit`], the suite's properties saying how the cases were initialised.
    pub fn junit(&self) -> String {
        let xml = scorecard_junit(self.results);
        let property = format!(
            "  <properties>\n    <property name=\"init\" value=\"{}\"/>\n  </properties>\n",
            self.init.name()
        );
        match xml
            .find(">\n  <testcase")
            .or_else(|| xml.find(">\n</testsuite>"))
        {
            Some(i) => format!("{}{property}{}", &xml[..i + 2], &xml[i + 2..]),
            None => xml,
        }
    }
}

/// The scorecard as JSON: `{"passed", "failed", "cases": [{"name", "purpose",
/// "passed", "first_divergence", "diagnosis", "problem", "seconds"}]}` (a seeded run's;
/// [`Scorecard::json`] adds `"init"`).
pub fn scorecard_json(results: &[CaseResult]) -> Value {
    let passed = results.iter().filter(|r| r.passed).count();
    json!({
        "passed": passed,
        "failed": results.len() - passed,
        "cases": results.iter().map(|r| {
            let cmp = r.comparison.as_ref().map(Comparison::to_json);
            json!({
                "name": r.name,
                "purpose": r.purpose,
                "passed": r.passed,
                "first_divergence": cmp.as_ref().map_or(Value::Null, |c| c["first_divergence"].clone()),
                "diagnosis": cmp.as_ref().map_or(Value::Null, |c| c["diagnosis"].clone()),
                "precision": cmp.as_ref().map_or(Value::Null, |c| c["precision"].clone()),
                "max_rel_err": cmp.as_ref().map_or(Value::Null, |c| c["max_rel_err"].clone()),
                "worst_fraction_of_bound": cmp
                    .as_ref()
                    .map_or(Value::Null, |c| c["worst_fraction_of_bound"].clone()),
                "problem": r.problem,
                "seconds": r.seconds,
            })
        }).collect::<Vec<_>>(),
    })
}

/// The scorecard as text: a line per case, the failing ones with their first
/// divergence and diagnosis.
pub fn scorecard_text(command: &str, results: &[CaseResult]) -> String {
    let mut s = format!("conformance of: {command}\n");
    let width = results.iter().map(|r| r.name.len()).max().unwrap_or(4);
    for r in results {
        let verdict = if r.passed { "PASS" } else { "FAIL" };
        let detail = match &r.comparison {
            Some(c) if r.passed => format!(
                "{}, worst value at {} of its bound",
                c.precision.0.name(),
                c.worst_percent()
            ),
            Some(c) => c.precision.0.name().to_string(),
            None => String::new(),
        };
        s.push_str(&format!("{verdict}  {:<width$}  {}", r.name, r.purpose));
        if !detail.is_empty() {
            s.push_str(&format!(" [{detail}]"));
        }
        s.push('\n');
        if !r.passed {
            if let Some(p) = &r.problem {
                s.push_str(&format!("      {p}\n"));
            }
            if let Some(c) = &r.comparison {
                for line in c
                    .to_text()
                    .lines()
                    .filter(|l| l.starts_with("first divergence") || l.starts_with("diagnosis"))
                {
                    s.push_str(&format!("      {line}\n"));
                }
            }
        }
    }
    let passed = results.iter().filter(|r| r.passed).count();
    s.push_str(&format!("{passed} of {} cases passed\n", results.len()));
    printable(&s, true).into_owned()
}

/// The scorecard as JUnit XML (one `<testcase>` per case), for a port's CI.
pub fn scorecard_junit(results: &[CaseResult]) -> String {
    // Control characters (which XML 1.0 forbids even as references) are written as
    // visible `\u00XX` text first, then the markup characters as entities.
    let esc = |s: &str| {
        printable(s, true)
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;")
    };
    let failed = results.iter().filter(|r| !r.passed).count();
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"backprop-oracle conformance\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{total:.3}\">\n",
        results.len()
    );
    for r in results {
        s.push_str(&format!(
            "  <testcase classname=\"conformance\" name=\"{}\" time=\"{:.3}\">\n",
            esc(r.name),
            r.seconds
        ));
        if !r.passed {
            let mut detail = r.problem.clone().unwrap_or_default();
            if let Some(c) = &r.comparison {
                detail.push_str(&c.to_text());
            }
            let message = detail
                .lines()
                .find(|l| l.starts_with("diagnosis"))
                .or(detail.lines().find(|l| l.starts_with("first divergence")))
                .unwrap_or(detail.lines().next().unwrap_or("failed"));
            s.push_str(&format!(
                "    <failure message=\"{}\">{}: {}\n{}</failure>\n",
                esc(message),
                esc(r.name),
                esc(r.purpose),
                esc(&detail)
            ));
        }
        s.push_str("  </testcase>\n");
    }
    s.push_str("</testsuite>\n");
    s
}

/// Writes every case into a new folder `out`, one folder per case holding its
/// `spec.json` and its reference `trajectory.json` and `reference.npz` (with
/// `trace_steps` traced steps), for ports that cannot be driven by a command. The
/// folder appears whole or not at all, and an existing one is never replaced.
pub fn export_cases(cases: &[Case], out: &Path, trace_steps: usize, command: &str) -> Result<()> {
    let allowed = Allowed {
        files: &[],
        subdir: None,
    };
    let dir = OutDir::prepare(out, false, allowed, "export_cases.out")?;
    for case in cases {
        let d = dir.path().join(case.name);
        std::fs::create_dir(&d).map_err(|e| Error::io(&d, e))?;
        let spec_path = d.join("spec.json");
        let text = serde_json::to_string_pretty(&case.spec)
            .map_err(|e| Error::file(&spec_path, e.to_string()))?;
        std::fs::write(&spec_path, text).map_err(|e| Error::io(&spec_path, e))?;
        let t = record_checked(&case.spec, trace_steps, "trace_steps")?;
        write_files(&t, command, false, &d)?;
        let purpose = d.join("purpose.txt");
        std::fs::write(&purpose, format!("{}\n", case.purpose))
            .map_err(|e| Error::io(&purpose, e))?;
    }
    dir.commit()?;
    Ok(())
}
