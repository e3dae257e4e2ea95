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
//!
//! # What the runner guarantees, whatever the port does
//!
//! The port runs as the same user and may do anything to the files it is given; the
//! [`Runner`] is written so that none of it makes this program read without bound,
//! hang, write or delete outside what it created, or leave a process or a folder behind.
//!
//! - **A fresh work folder.** `$TMPDIR/backprop-oracle-conformance-<pid>-<random>` is
//!   created like `mkdtemp` ([`WorkDir::create`]): mode 0700, `mkdir` that fails if the
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

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ndarray::{array, Array2};
use serde_json::{json, Value};

use crate::error::{printable, short, Error, Result};
use crate::io::outdir::{Allowed, OutDir};
use crate::io::spec::{Overrides, Spec};
use crate::io::workdir::{create_file_in, empty_dir, make_dir_in, remove_entry, WorkDir};
use crate::nn::activation::Activation::{self, Identity, LeakyRelu, Relu, Sigmoid, Tanh};
use crate::nn::loss::Loss;
use crate::oracle::candidate::load_candidate_from;
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

/// The longest `--timeout` a case may be given: one day.
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// How to run a port.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// The command, with `{spec}` and `{out}` (run by `sh -c`; see [`Port::command_for`]
    /// for how the paths are quoted).
    pub command: String,
    /// How long one case may run.
    pub timeout: Duration,
    /// The output the port writes: `json` or `npz`.
    pub output: &'static str,
}

impl Port {
    /// A port with its command template checked ([`Port::check_command`], errors name
    /// `Port.command`) and its timeout in seconds checked ([`Port::timeout_from_secs`],
    /// errors name `Port.timeout`).
    pub fn new(command: &str, timeout_secs: f64, output: &'static str) -> Result<Port> {
        Port::check_command(command)?;
        Ok(Port {
            command: command.to_string(),
            timeout: Port::timeout_from_secs(timeout_secs)?,
            output,
        })
    }

    /// A timeout of `secs` seconds: finite, > 0 and at most [`MAX_TIMEOUT_SECS`] (errors
    /// name `Port.timeout`).
    pub fn timeout_from_secs(secs: f64) -> Result<Duration> {
        if !(secs.is_finite() && secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
            return Err(Error::invalid(
                "Port.timeout",
                format!(
                    "must be a number of seconds > 0 and ≤ {} (one day), got {}",
                    short(MAX_TIMEOUT_SECS),
                    short(secs)
                ),
            ));
        }
        Ok(Duration::from_secs_f64(secs))
    }

    /// Checks a command template: it holds `{spec}` and `{out}`, no NUL byte, and its
    /// quotes are closed (errors name `Port.command`).
    pub fn check_command(command: &str) -> Result<()> {
        if !command.contains("{spec}") || !command.contains("{out}") {
            return Err(Error::invalid(
                "Port.command",
                format!(
                    "must contain {{spec}} and {{out}}, got {:?}",
                    printable(command, false)
                ),
            ));
        }
        if command.contains('\0') {
            return Err(Error::invalid("Port.command", "holds a NUL byte"));
        }
        substitute(command, "spec", "out").map(|_| ())
    }

    /// The command to run: the template with `{spec}` and `{out}` replaced by the paths,
    /// quoted for where each placeholder stands, so a path with spaces or quotes arrives
    /// as one argument, unchanged:
    ///
    /// - bare (`port {spec}`): the path in single quotes, `'/tmp/…/spec.json'`;
    /// - inside single quotes (`'{spec}'`): the path as it is, each `'` in it written
    ///   `'\''`;
    /// - inside double quotes (`"{spec}"`): the path with `\`, `"`, `$` and `` ` ``
    ///   escaped by a backslash.
    ///
    /// The quoting is tracked the way `sh` reads it (backslash escapes, `'…'`, `"…"`,
    /// `#` comments);
    /// a placeholder inside `$(…)` or backquotes within double quotes is quoted as if
    /// in the double quotes. A template whose quotes are not closed is refused (errors
    /// name `Port.command`).
    pub fn command_for(&self, spec: &Path, out: &Path) -> Result<String> {
        substitute(
            &self.command,
            &spec.to_string_lossy(),
            &out.to_string_lossy(),
        )
    }
}

/// `'…'`-quotes `s` for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// [`Port::command_for`] on strings.
fn substitute(template: &str, spec: &str, out: &str) -> Result<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let mut state = Quote::None;
    let mut s = String::with_capacity(template.len() + spec.len() + out.len());
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        let placeholder = [("{spec}", spec), ("{out}", out)]
            .into_iter()
            .find(|(p, _)| rest.starts_with(p));
        if let Some((p, path)) = placeholder {
            match state {
                Quote::None => s.push_str(&shell_quote(path)),
                Quote::Single => s.push_str(&path.replace('\'', r"'\''")),
                Quote::Double => {
                    for ch in path.chars() {
                        if matches!(ch, '\\' | '"' | '$' | '`') {
                            s.push('\\');
                        }
                        s.push(ch);
                    }
                }
            }
            rest = &rest[p.len()..];
            continue;
        }
        let mut len = c.len_utf8();
        let word_start = s
            .chars()
            .next_back()
            .is_none_or(|p| p.is_whitespace() || ";&|()".contains(p));
        match (state, c) {
            // A comment runs to the end of the line, quotes and all.
            (Quote::None, '#') if word_start => len = rest.find('\n').unwrap_or(rest.len()),
            (Quote::None | Quote::Double, '\\') => {
                // The escaped character is copied with it (unless it starts a placeholder).
                if let Some(next) = rest[1..].chars().next() {
                    if !rest[1..].starts_with("{spec}") && !rest[1..].starts_with("{out}") {
                        len += next.len_utf8();
                    }
                }
            }
            (Quote::None, '\'') => state = Quote::Single,
            (Quote::None, '"') => state = Quote::Double,
            (Quote::Single, '\'') | (Quote::Double, '"') => state = Quote::None,
            _ => {}
        }
        s.push_str(&rest[..len]);
        rest = &rest[len..];
    }
    if state != Quote::None {
        return Err(Error::invalid(
            "Port.command",
            format!(
                "has an unclosed {} quote: {:?}",
                if state == Quote::Single { "'" } else { "\"" },
                printable(template, false)
            ),
        ));
    }
    Ok(s)
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

/// What a run shares with its signal clean-up ([`crate::io::outdir::register_hook`]).
#[derive(Debug, Default)]
struct State {
    /// The running port's process group.
    group: Option<rustix::process::Pid>,
    /// Set once the run is being cleaned up: no port is started after it.
    stopped: bool,
    /// The work folder (taken when removed).
    work: Option<WorkDir>,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Kills the port's process group, then removes the work folder: what a run does when
/// it ends, and what a signal does to it.
fn stop(shared: &Shared) {
    let mut st = lock(shared);
    st.stopped = true;
    if let Some(g) = st.group.take() {
        let _ = rustix::process::kill_process_group(g, rustix::process::Signal::KILL);
    }
    if let Some(w) = st.work.take() {
        w.remove();
    }
}

/// A run of the suite: a fresh work folder (`$TMPDIR/backprop-oracle-conformance-<pid>-<random>`,
/// see the module docs) in which each case runs in its own folder, removed when the case
/// ends; the folder and any running port are cleaned up when the runner is dropped and
/// on a signal that [`crate::io::outdir::remove_registered`] handles.
#[derive(Debug)]
pub struct Runner {
    shared: Shared,
    hook: u64,
    path: PathBuf,
}

impl Runner {
    /// Creates the work folder under [`std::env::temp_dir`] (which honours `TMPDIR`).
    pub fn new() -> Result<Runner> {
        let work = WorkDir::create(&std::env::temp_dir(), "backprop-oracle-conformance-")?;
        let path = work.path().to_path_buf();
        let shared: Shared = Arc::new(Mutex::new(State {
            work: Some(work),
            ..State::default()
        }));
        let s = shared.clone();
        let hook = crate::io::outdir::register_hook(Arc::new(move || stop(&s)));
        Ok(Runner { shared, hook, path })
    }

    /// The work folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `port` on `case` in a new folder of the work folder, compares its output,
    /// and removes the folder.
    pub fn run(&self, case: &Case, port: &Port, opts: &CompareOptions) -> Result<CaseResult> {
        let case_path = self.path.join(case.name);
        let case_fd = {
            let st = lock(&self.shared);
            match (&st.work, st.stopped) {
                (Some(w), false) => make_dir_in(w.fd(), case.name, &case_path)?,
                _ => return Err(interrupted()),
            }
        };
        let result = run_in(&self.shared, case, port, case_fd.as_fd(), &case_path, opts);
        let st = lock(&self.shared);
        empty_dir(case_fd.as_fd(), 0);
        if let Some(w) = &st.work {
            if let Ok(name) = std::ffi::CString::new(case.name) {
                remove_entry(w.fd(), &name, 0);
            }
        }
        result
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        stop(&self.shared);
        crate::io::outdir::unregister_hook(self.hook);
    }
}

fn interrupted() -> Error {
    Error::invalid("conformance", "the run was interrupted")
}

/// Runs `port` on `case` inside `dir` (its own folder, created if missing; it must not
/// hold a `spec.json` or `stderr.txt` already) and compares the output. The files are
/// left in `dir`; the port's process group is killed when it ends. [`Runner::run`] is
/// this inside a work folder that is removed afterwards.
pub fn run_case(case: &Case, port: &Port, dir: &Path, opts: &CompareOptions) -> Result<CaseResult> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let flags = rustix::fs::OFlags::RDONLY
        | rustix::fs::OFlags::DIRECTORY
        | rustix::fs::OFlags::NOFOLLOW
        | rustix::fs::OFlags::CLOEXEC;
    let fd = rustix::fs::openat(rustix::fs::CWD, dir, flags, rustix::fs::Mode::empty())
        .map_err(|e| Error::io(dir, e.into()))?;
    let shared: Shared = Arc::default();
    let r = run_in(&shared, case, port, fd.as_fd(), dir, opts);
    stop(&shared);
    r
}

/// The most of a failing port's stderr read for its last line: its last 64 KiB.
const STDERR_TAIL: u64 = 64 * 1024;

/// [`run_case`] in the open folder `dir` (at `dir_path`).
fn run_in(
    shared: &Shared,
    case: &Case,
    port: &Port,
    dir: BorrowedFd<'_>,
    dir_path: &Path,
    opts: &CompareOptions,
) -> Result<CaseResult> {
    let start = Instant::now();
    let spec_path = dir_path.join("spec.json");
    let out_name = format!("out.{}", port.output);
    let out_path = dir_path.join(&out_name);
    let err_path = dir_path.join("stderr.txt");
    let command = port.command_for(&spec_path, &out_path)?;
    let text = serde_json::to_string_pretty(&case.spec)
        .map_err(|e| Error::file(&spec_path, e.to_string()))?;
    let result = |passed, comparison, problem: Option<String>, started| CaseResult {
        name: case.name,
        purpose: case.purpose,
        passed,
        comparison,
        problem,
        started,
        seconds: start.elapsed().as_secs_f64(),
    };
    // The spec and stderr files are created (never over something that exists) and the
    // port started under the lock, so a signal's clean-up either comes first (and
    // nothing starts) or finds the port's group to kill.
    let (mut child, stderr) = {
        let mut st = lock(shared);
        if st.stopped {
            return Err(interrupted());
        }
        let mut spec = create_file_in(dir, "spec.json", &spec_path)?;
        spec.write_all(text.as_bytes())
            .map_err(|e| Error::io(&spec_path, e))?;
        drop(spec);
        let stderr = create_file_in(dir, "stderr.txt", &err_path)?;
        let for_port = stderr.try_clone().map_err(|e| Error::io(&err_path, e))?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(for_port);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        match cmd.spawn() {
            Ok(c) => {
                st.group = i32::try_from(c.id())
                    .ok()
                    .and_then(rustix::process::Pid::from_raw);
                (c, stderr)
            }
            Err(e) => {
                let why = format!("cannot start sh: {}", printable(&e.to_string(), false));
                return Ok(result(false, None, Some(why), false));
            }
        }
    };
    let waited = wait_port(&mut child, port.timeout);
    // The whole group is killed (background children too) before the port is reaped, so
    // its id cannot have been reused.
    {
        let mut st = lock(shared);
        if let Some(g) = st.group.take() {
            let _ = rustix::process::kill_process_group(g, rustix::process::Signal::KILL);
        }
    }
    let status = child.wait();
    if let Err(why) = waited {
        return Ok(result(false, None, Some(why), true));
    }
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            let why = format!("cannot wait for it: {}", printable(&e.to_string(), false));
            return Ok(result(false, None, Some(why), true));
        }
    };
    if !status.success() {
        let last = last_line(&stderr);
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
        return Ok(result(false, None, Some(why), started));
    }
    // The output is opened in the case's own folder (not through a link put in its
    // place), without following a link, and must be a regular file of bounded size.
    let cand = crate::io::open_bounded_in(dir, &out_name, &out_path)
        .and_then(|(f, _)| load_candidate_from(f, &out_path));
    let cand = match cand {
        Ok(c) => c,
        Err(e) => {
            return Ok(result(
                false,
                None,
                Some(format!(
                    "its output cannot be read: {}",
                    printable(&format!("{e:#}"), false)
                )),
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
                    printable(&diff.join(", "), false)
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
            Some(format!(
                "its output does not fit the case: {}",
                printable(&format!("{e:#}"), false)
            )),
            true,
        )),
    }
}

/// Waits for `child` to exit, without reaping it (`waitid` with `WNOWAIT`, so its
/// process group can still be killed by its id), for at most `timeout`; an error says
/// why not.
fn wait_port(
    child: &mut std::process::Child,
    timeout: Duration,
) -> std::result::Result<(), String> {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return Err("has no process id".into());
    };
    let start = Instant::now();
    let opts = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    loop {
        match waitid(WaitId::Pid(pid), opts) {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "timed out after {} s",
                short(timeout.as_secs_f64())
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last non-empty line of the port's stderr (read through the runner's own handle,
/// so a file swapped in its place is never read; only its last [`STDERR_TAIL`] bytes),
/// at most 300 characters, control characters escaped.
fn last_line(stderr: &std::fs::File) -> String {
    use std::os::unix::fs::FileExt;
    let len = stderr.metadata().map_or(0, |m| m.len());
    let from = len.saturating_sub(STDERR_TAIL);
    let mut buf = vec![0; usize::try_from(len - from).unwrap_or(0)];
    let n = stderr.read_at(&mut buf, from).unwrap_or(0);
    buf.truncate(n);
    let text = String::from_utf8_lossy(&buf);
    let last: String = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    printable(&last, false).into_owned()
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

/// A fresh, empty work folder under the system's temporary folder, created the way
/// `mkdtemp` does (a new name, mode 0700; an existing folder is never reused or
/// deleted). The caller removes it; [`Runner`] does all of this itself.
pub fn work_dir() -> Result<PathBuf> {
    let w = WorkDir::create(&std::env::temp_dir(), "backprop-oracle-conformance-")?;
    Ok(w.path().to_path_buf())
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
