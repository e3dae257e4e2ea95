//! Running a port on one case of the conformance battery: [`Port`] (the command and its
//! quoting), [`Runner`] (a work folder and the port's process group) and
//! [`CaseResult`]. What the runner guarantees, whatever the port does, is in
//! [`crate::oracle::conformance`]'s docs.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{printable, short, Error, Result};
use crate::io::spec::{Overrides, Spec};
use crate::io::workdir::{create_file_in, empty_dir, make_dir_in, remove_entry, WorkDir};
use crate::oracle::against::differences;
use crate::oracle::candidate::load_candidate_from;
use crate::oracle::candidate::Candidate;
use crate::oracle::compare::{CompareOptions, Comparison};
use crate::oracle::diagnose::compare_and_diagnose;

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
    // A port that exits non-zero (a run that diverged, say) may still have written its
    // output: it is judged all the same, its exit status reported beside the verdict.
    let exited = (!status.success()).then(|| {
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
        (why, started)
    });
    if let Some((why, false)) = exited {
        return Ok(result(false, None, Some(why), false));
    }
    // The output is opened in the case's own folder (not through a link put in its
    // place), without following a link, and must be a regular file of bounded size.
    let cand = crate::io::open_bounded_in(dir, &out_name, &out_path)
        .and_then(|(f, _)| load_candidate_from(f, &out_path));
    let (passed, comparison, problem) = match (cand, exited) {
        (Ok(cand), exited) => {
            let (passed, comparison, problem) = judge(case, &cand, opts);
            match exited {
                Some((why, _)) => {
                    let problem = problem.map_or(why.clone(), |p| format!("{why}; {p}"));
                    (false, comparison, Some(problem))
                }
                None => (passed, comparison, problem),
            }
        }
        // Nothing readable from a port that failed: its exit is the problem.
        (Err(_), Some((why, _))) => (false, None, Some(why)),
        (Err(e), None) => (
            false,
            None,
            Some(format!(
                "its output cannot be read: {}",
                printable(&format!("{e:#}"), false)
            )),
        ),
    };
    Ok(result(passed, comparison, problem, true))
}

/// A port's output judged against its case: its header's spec must be the case's, then
/// it is compared and diagnosed. Returns whether it passed, the comparison, and the
/// problem that stopped the comparison.
fn judge(
    case: &Case,
    cand: &Candidate,
    opts: &CompareOptions,
) -> (bool, Option<Comparison>, Option<String>) {
    if let Some(h) = &cand.spec {
        let header = Spec::from_json(h, "header.spec");
        let diff = match &header {
            Ok(h) => differences(&case.spec, h, &Overrides::default()),
            Err(e) => vec![format!("{e:#}")],
        };
        if !diff.is_empty() {
            let why = format!(
                "its header.spec is not the case's spec: {}",
                printable(&diff.join(", "), false)
            );
            return (false, None, Some(why));
        }
    }
    match compare_and_diagnose(&case.spec, cand, opts) {
        Ok(cmp) => (cmp.passed(), Some(cmp), None),
        Err(e) => {
            let why = format!(
                "its output does not fit the case: {}",
                printable(&format!("{e:#}"), false)
            );
            (false, None, Some(why))
        }
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

/// A fresh, empty work folder under the system's temporary folder, created the way
/// `mkdtemp` does (a new name, mode 0700; an existing folder is never reused or
/// deleted). The caller removes it; [`Runner`] does all of this itself.
pub fn work_dir() -> Result<PathBuf> {
    let w = WorkDir::create(&std::env::temp_dir(), "backprop-oracle-conformance-")?;
    Ok(w.path().to_path_buf())
}
