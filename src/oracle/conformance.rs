//! The conformance suite: a battery of named cases, each a spec with a purpose, that a
//! port is run on and compared against — so a port author checks every activation,
//! batching rule and numerical corner in one command.
//!
//! For each case the suite writes the case's spec (every key, data inline) to a file,
//! runs the port's command with `{spec}` and `{out}` replaced by that file and by the
//! path where the port must write its output (a `trajectory.json` or an `.npz`), with a
//! timeout, then compares the output against the reference
//! ([`compare_and_diagnose`]) and keeps the verdict, the first divergence and the
//! diagnosis.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ndarray::{array, Array2};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::io::outdir::{Allowed, OutDir};
use crate::io::spec::{Overrides, Spec};
use crate::nn::activation::Activation::{self, Identity, LeakyRelu, Relu, Sigmoid, Tanh};
use crate::nn::loss::Loss;
use crate::oracle::candidate::load_candidate;
use crate::oracle::compare::{CompareOptions, Comparison};
use crate::oracle::diagnose::compare_and_diagnose;
use crate::oracle::export::write_files;
use crate::oracle::reference::differences;
use crate::oracle::trajectory::record_checked;

/// One case of the battery.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Its name (`--case NAME`).
    pub name: &'static str,
    /// What it checks, in one line.
    pub purpose: &'static str,
    /// The spec the port runs.
    pub spec: Spec,
}

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

/// How to run a port.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// The command, with `{spec}` and `{out}` (run by `sh -c`).
    pub command: String,
    /// How long one case may run.
    pub timeout: Duration,
    /// The output the port writes: `json` or `npz`.
    pub output: &'static str,
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name.
    pub name: &'static str,
    /// Its purpose.
    pub purpose: &'static str,
    /// Whether the port's output matched the reference.
    pub passed: bool,
    /// The comparison (absent if the port produced no readable output).
    pub comparison: Option<Comparison>,
    /// Why the case failed before a comparison (the port's exit, a timeout, an
    /// unreadable output, a header spec that is not the case's).
    pub problem: Option<String>,
    /// Whether the port's command started: `sh` found and could execute it (it did not
    /// exit 126, "not executable", or 127, "not found").
    pub started: bool,
    /// Seconds the port and the comparison took.
    pub seconds: f64,
}

/// `'…'`-quotes `s` for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `port` on `case` inside `dir` (its own folder) and compares the output.
pub fn run_case(case: &Case, port: &Port, dir: &Path, opts: &CompareOptions) -> Result<CaseResult> {
    let start = Instant::now();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let spec_path = dir.join("spec.json");
    let text = serde_json::to_string_pretty(&case.spec)
        .map_err(|e| Error::file(&spec_path, e.to_string()))?;
    std::fs::write(&spec_path, text).map_err(|e| Error::io(&spec_path, e))?;
    let out_path = dir.join(format!("out.{}", port.output));
    let command = port
        .command
        .replace("{spec}", &shell_quote(&spec_path.to_string_lossy()))
        .replace("{out}", &shell_quote(&out_path.to_string_lossy()));
    let result = |passed, comparison, problem: Option<String>, started| CaseResult {
        name: case.name,
        purpose: case.purpose,
        passed,
        comparison,
        problem,
        started,
        seconds: start.elapsed().as_secs_f64(),
    };
    if let Some((problem, started)) = run_port(&command, port.timeout, &dir.join("stderr.txt"))? {
        return Ok(result(false, None, Some(problem), started));
    }
    let cand = match load_candidate(&out_path) {
        Ok(c) => c,
        Err(e) => {
            return Ok(result(
                false,
                None,
                Some(format!("its output cannot be read: {e:#}")),
                true,
            ))
        }
    };
    if let Some(h) = &cand.spec {
        let header = Spec::from_json(h, "header.spec");
        let diff = match &header {
            Ok(h) => differences(&case.spec, h, &Overrides::default()),
            Err(e) => vec![format!("{e:#}")],
        };
        if !diff.is_empty() {
            return Ok(result(
                false,
                None,
                Some(format!(
                    "its header.spec is not the case's spec: {}",
                    diff.join(", ")
                )),
                true,
            ));
        }
    }
    match compare_and_diagnose(&case.spec, &cand, opts) {
        Ok(cmp) => Ok(result(cmp.passed(), Some(cmp), None, true)),
        Err(e) => Ok(result(
            false,
            None,
            Some(format!("its output does not fit the case: {e:#}")),
            true,
        )),
    }
}

/// Runs `command` with `sh -c` and a timeout (the whole process group is killed);
/// `None` when it exited 0, else why not and whether it started at all (see
/// [`CaseResult::started`]). Its stderr goes to `stderr`.
fn run_port(command: &str, timeout: Duration, stderr: &Path) -> Result<Option<(String, bool)>> {
    let err_file = std::fs::File::create(stderr).map_err(|e| Error::io(stderr, e))?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ok(Some((format!("cannot start sh: {e}"), false))),
    };
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                kill_group(&mut child);
                let why = format!("timed out after {} s", timeout.as_secs_f64());
                return Ok(Some((why, true)));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Ok(Some((format!("cannot wait for it: {e}"), true))),
        }
    };
    if status.success() {
        return Ok(None);
    }
    let last = std::fs::read_to_string(stderr)
        .unwrap_or_default()
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect::<String>();
    let how = match status.code() {
        Some(c) => format!("exited {c}"),
        None => "was killed by a signal".to_string(),
    };
    let started = !matches!(status.code(), Some(126 | 127));
    let why = if last.is_empty() {
        how
    } else {
        format!("{how}: {last}")
    };
    Ok(Some((why, started)))
}

fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
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

/// The scorecard as JSON: `{"passed", "failed", "cases": [{"name", "purpose",
/// "passed", "first_divergence", "diagnosis", "problem", "seconds"}]}`.
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
    s
}

/// The scorecard as JUnit XML (one `<testcase>` per case), for a port's CI.
pub fn scorecard_junit(results: &[CaseResult]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
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

/// A fresh, empty work folder for a run of the suite under the system's temporary
/// folder.
pub fn work_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!(
        "backprop-oracle-conformance-{}",
        std::process::id()
    ));
    if d.exists() {
        std::fs::remove_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    }
    std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    Ok(d)
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
