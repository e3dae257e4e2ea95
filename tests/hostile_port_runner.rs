//! The conformance port runner against a hostile port (issue 20, "Trust, round 3"): a
//! port that swaps its own files for links to `/dev/zero` or for FIFOs, replaces its
//! folders with links to a user's folder, leaves background children, is interrupted,
//! writes terminal codes and invalid UTF-8; and `--port`/`--timeout` values that once
//! broke the runner.
//!
//! Each test's ports are small `sh` scripts written into its scratch folder; every run
//! gets its own `TMPDIR` (where the work folder lives) and is killed if it outlives a
//! generous deadline, so a regression fails the test instead of hanging it.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Scratch, BIN};

/// How long a run may take before the test calls it hung (and kills it).
const DEADLINE: Duration = Duration::from_secs(20);

/// Waits for `child`, killing it (and failing) if it outlives [`DEADLINE`].
fn wait_bounded(mut child: Child, what: &str) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if start.elapsed() > DEADLINE {
            // SIGTERM first, so that a runner that still handles it kills its port.
            if let Ok(pid) = i32::try_from(child.id()) {
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            std::thread::sleep(Duration::from_secs(1));
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} hung: still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Entries of a folder, sorted (none when it is missing).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A run's scratch: `tmp/` is its `TMPDIR`.
struct Run {
    s: Scratch,
}

impl Run {
    fn new(name: &str) -> Run {
        let s = Scratch::new(name);
        std::fs::create_dir_all(s.path("tmp")).expect("create TMPDIR");
        Run { s }
    }

    fn tmp(&self) -> PathBuf {
        self.s.path("tmp")
    }

    /// Writes the port script `name` (run as `sh SCRIPT "{spec}" "{out}"`).
    fn script(&self, name: &str, body: &str) -> PathBuf {
        self.s.file(name, format!("#!/bin/sh\n{body}\n"))
    }

    /// `conformance --port 'sh SCRIPT "{spec}" "{out}"' ARGS`, started.
    fn start(&self, script: &Path, args: &[&str]) -> Child {
        let port = format!("sh '{}' \"{{spec}}\" \"{{out}}\"", script.display());
        Command::new(BIN)
            .arg("conformance")
            .args(["--port", &port])
            .args(args)
            .env("TMPDIR", self.tmp())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start backprop-oracle")
    }

    /// [`Run::start`], waited for (bounded).
    fn conformance(&self, script: &Path, args: &[&str]) -> Output {
        wait_bounded(self.start(script, args), "conformance")
    }

    /// Asserts the run left nothing in its `TMPDIR`.
    fn assert_tmp_empty(&self) {
        assert_eq!(entries(&self.tmp()), Vec::<String>::new(), "left in TMPDIR");
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts exit code `code` and returns stdout.
fn exit_with(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Whether the process `pid` is gone (or a zombie: dead, waiting to be reaped).
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits (bounded) for `pid` to be [`dead`].
fn becomes_dead(pid: i32) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if dead(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_pid(p: &Path) -> i32 {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .parse()
        .expect("a pid")
}

/// Kills `pid` if it is still alive (so a failing test leaves nothing running).
fn reap(pid: i32) {
    if !dead(pid) {
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

// --- Files the port could swap are opened once, never followed, never blocking. ---

/// A port that replaces its `stderr.txt` by a link to `/dev/zero` (or by a FIFO) and
/// fails: its stderr is read through the runner's own handle (its last line is still
/// there), never the link or the FIFO: the run neither reads without bound nor hangs.
#[test]
fn a_stderr_swapped_for_dev_zero_or_a_fifo_is_never_read() {
    let r = Run::new("stderr_swap");
    for swap in [
        "ln -s /dev/zero \"$D/stderr.txt\"",
        "mkfifo \"$D/stderr.txt\"",
    ] {
        let port = r.script(
            "port.sh",
            &format!("D=$(dirname \"$1\")\necho 'the last words' >&2\nrm \"$D/stderr.txt\"\n{swap}\nexit 3"),
        );
        let o = r.conformance(&port, &["--case", "identity", "--timeout", "10"]);
        let out = exit_with(&o, 1);
        assert!(out.contains("exited 3: the last words"), "{swap}: {out}");
        r.assert_tmp_empty();
    }
}

/// A port that puts a link to `/dev/zero`, a FIFO or a link to a file outside in place
/// of its output: refused as not a regular file (the link not followed), at once.
#[test]
fn an_output_swapped_for_a_link_or_a_fifo_is_refused() {
    let r = Run::new("out_swap");
    let outside = r.s.file("outside.json", "{}");
    for (swap, expected) in [
        ("ln -s /dev/zero \"$2\"".to_string(), "symbolic link"),
        ("mkfifo \"$2\"".to_string(), "not a regular file"),
        (
            format!("ln -s '{}' \"$2\"", outside.display()),
            "symbolic link",
        ),
    ] {
        let port = r.script("port.sh", &format!("{swap}\nexit 0"));
        let o = r.conformance(&port, &["--case", "identity", "--timeout", "10"]);
        let out = exit_with(&o, 1);
        assert!(
            out.contains("its output cannot be read") && out.contains(expected),
            "{swap}: {out}"
        );
        r.assert_tmp_empty();
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "{}");
}

/// `open_bounded` (every input file: specs, candidates, data references) opens once
/// with `O_NONBLOCK` and checks the handle: a FIFO or a device is refused at once,
/// whatever was at the path a moment before.
#[test]
fn open_bounded_refuses_a_fifo_and_a_device_without_blocking() {
    let r = Run::new("open_fifo");
    let fifo = r.s.path("fifo.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let (tx, rx) = std::sync::mpsc::channel();
    let f = fifo.clone();
    std::thread::spawn(move || {
        let a = backprop_oracle::io::open_bounded(&f).map(|_| ());
        let b = backprop_oracle::io::open_bounded(Path::new("/dev/zero")).map(|_| ());
        let _ = tx.send((a, b));
    });
    let (a, b) = rx
        .recv_timeout(DEADLINE)
        .expect("open_bounded returned (did not block on the FIFO)");
    let a = a.expect_err("a FIFO is refused").to_string();
    assert!(a.contains("not a regular file"), "{a}");
    let b = b.expect_err("a device is refused").to_string();
    assert!(b.contains("not a regular file"), "{b}");
}

/// `compare` on a candidate that is a FIFO ends at once with exit 2 naming it.
#[test]
fn compare_on_a_fifo_candidate_is_exit_2_without_blocking() {
    let r = Run::new("compare_fifo");
    let fifo = r.s.path("cand.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let child = Command::new(BIN)
        .arg("compare")
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start compare");
    let o = wait_bounded(child, "compare on a FIFO");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("cand.json") && err.contains("not a regular file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

// --- The work folder: fresh, private, and removed only through what the runner made. ---

/// A port that replaces its case folder by a link to a user's folder: the runner never
/// writes into (or deletes from) that folder, later cases run normally, and the work
/// folder is removed.
#[test]
fn a_case_folder_swapped_for_a_link_to_a_user_folder_is_never_written_into() {
    let r = Run::new("case_swap");
    let victim = r.s.path("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("thesis.txt"), "years of work").unwrap();
    let port = r.script(
        "port.sh",
        &format!(
            "D=$(dirname \"$1\")\nrm -rf \"$D\"\nln -s '{}' \"$D\"\nexit 0",
            victim.display()
        ),
    );
    let o = r.conformance(
        &port,
        &["--case", "identity", "--case", "tanh", "--timeout", "10"],
    );
    let out = exit_with(&o, 1);
    assert_eq!(out.matches("its output cannot be read").count(), 2, "{out}");
    assert_eq!(entries(&victim), ["thesis.txt"]);
    assert_eq!(
        std::fs::read_to_string(victim.join("thesis.txt")).unwrap(),
        "years of work"
    );
    r.assert_tmp_empty();
}

/// A port that replaces the whole work folder by a link to a user's folder: later cases
/// are not written there (the runner creates them through its handle on the folder it
/// made), the user's folder is untouched, and the run ends with an error, not a panic.
/// The link the port made is the port's and is left where it put it.
#[test]
fn a_work_folder_swapped_for_a_link_to_a_user_folder_is_never_written_into() {
    let r = Run::new("work_swap");
    let victim = r.s.path("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("thesis.txt"), "years of work").unwrap();
    let port = r.script(
        "port.sh",
        &format!(
            "W=$(dirname \"$(dirname \"$1\")\")\nrm -rf \"$W\"\nln -s '{}' \"$W\"\nexit 0",
            victim.display()
        ),
    );
    let o = r.conformance(
        &port,
        &["--case", "identity", "--case", "tanh", "--timeout", "10"],
    );
    assert!(
        matches!(o.status.code(), Some(1 | 2)),
        "status {:?}: {}",
        o.status,
        text(&o.stderr)
    );
    // At most one error line beside the progress lines of the cases that finished.
    let err = text(&o.stderr);
    let errors = err.lines().filter(|l| !l.starts_with('[')).count();
    assert!(errors <= 1, "{err}");
    assert_eq!(entries(&victim), ["thesis.txt"]);
    for e in entries(&r.tmp()) {
        let p = r.tmp().join(&e);
        assert!(
            std::fs::symlink_metadata(&p)
                .unwrap()
                .file_type()
                .is_symlink(),
            "only the port's link is left in TMPDIR, found {e}"
        );
        std::fs::remove_file(p).unwrap();
    }
}

/// The work folder is created the way `mkdtemp` does: mode 0700, a name with a random
/// part, never an existing folder (a folder with the old pid-only name is untouched).
#[test]
fn the_work_folder_is_fresh_and_private_and_an_existing_name_is_untouched() {
    let r = Run::new("fresh");
    let report = r.s.path("report.txt");
    let port = r.script(
        "port.sh",
        &format!(
            "W=$(dirname \"$(dirname \"$1\")\")\nstat -c '%a %n' \"$W\" > '{}'\nexit 3",
            report.display()
        ),
    );
    let o = r.conformance(&port, &["--case", "identity"]);
    exit_with(&o, 1);
    let line = std::fs::read_to_string(&report).unwrap();
    let (mode, path) = line.trim().split_once(' ').unwrap();
    assert_eq!(mode, "700", "{line}");
    let name = Path::new(path).file_name().unwrap().to_string_lossy();
    let rest = name
        .strip_prefix("backprop-oracle-conformance-")
        .unwrap_or_else(|| panic!("{name}"));
    let (pid, random) = rest.split_once('-').unwrap_or_else(|| panic!("{name}"));
    assert!(pid.parse::<u32>().is_ok() && random.len() >= 8, "{name}");
    r.assert_tmp_empty();

    // The library: a folder with a name already taken is never reused or deleted.
    let parent = r.s.path("parent");
    std::fs::create_dir(&parent).unwrap();
    let old = parent.join(format!(
        "backprop-oracle-conformance-{}",
        std::process::id()
    ));
    std::fs::create_dir(&old).unwrap();
    std::fs::write(old.join("mine.txt"), "x").unwrap();
    let a = backprop_oracle::io::workdir::WorkDir::create(&parent, "backprop-oracle-conformance-")
        .unwrap();
    let b = backprop_oracle::io::workdir::WorkDir::create(&parent, "backprop-oracle-conformance-")
        .unwrap();
    assert_ne!(a.path(), b.path());
    assert!(a.remove() && b.remove());
    assert_eq!(
        entries(&parent),
        [format!(
            "backprop-oracle-conformance-{}",
            std::process::id()
        )]
    );
    assert!(old.join("mine.txt").is_file());
}

// --- The port's process group dies with each case, and with conformance. ---

/// A port that starts `sleep 30 &` (and a child that keeps writing into its folder):
/// both are killed when the case ends, and the work folder is removed.
#[test]
fn background_children_die_when_the_case_ends() {
    let r = Run::new("children");
    let pids = r.s.path("pids");
    let port = r.script(
        "port.sh",
        &format!(
            "D=$(dirname \"$1\")\nsleep 30 &\necho $! > '{p}.sleep'\n\
             (while :; do echo x >> \"$D/junk.txt\"; sleep 0.01; done) &\necho $! > '{p}.writer'\n\
             sleep 0.1\nexit 3",
            p = pids.display()
        ),
    );
    let o = r.conformance(&port, &["--case", "identity", "--timeout", "10"]);
    exit_with(&o, 1);
    let sleep = read_pid(&pids.with_extension("sleep"));
    let writer = read_pid(&pids.with_extension("writer"));
    let (a, b) = (becomes_dead(sleep), becomes_dead(writer));
    reap(sleep);
    reap(writer);
    assert!(a, "the port's `sleep 30 &` ({sleep}) outlived its case");
    assert!(b, "the port's writing child ({writer}) outlived its case");
    r.assert_tmp_empty();
}

/// SIGTERM, SIGINT or SIGHUP to conformance while a port runs: exit 143, 130 or 129, the
/// port and its background child killed, the work folder removed.
#[test]
fn a_signal_kills_the_port_and_removes_the_work_folder() {
    for (sig, code) in [
        (libc::SIGTERM, 143),
        (libc::SIGINT, 130),
        (libc::SIGHUP, 129),
    ] {
        let r = Run::new(&format!("signal{sig}"));
        let pids = r.s.path("pids");
        let port = r.script(
            "port.sh",
            &format!(
                "sleep 30 &\necho $! > '{p}.child'\necho $$ > '{p}.tmp'\nmv '{p}.tmp' '{p}.port'\nwait",
                p = pids.display()
            ),
        );
        let child = r.start(&port, &["--case", "identity", "--timeout", "60"]);
        let port_pid = pids.with_extension("port");
        let start = Instant::now();
        while !port_pid.exists() && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(20));
        }
        let conformance_pid = i32::try_from(child.id()).unwrap();
        unsafe {
            libc::kill(conformance_pid, sig);
        }
        let o = wait_bounded(child, "conformance after a signal");
        let (p, c) = (read_pid(&port_pid), read_pid(&pids.with_extension("child")));
        let (pd, cd) = (becomes_dead(p), becomes_dead(c));
        reap(p);
        reap(c);
        assert_eq!(
            o.status.code(),
            Some(code),
            "signal {sig}: {:?} {}",
            o.status.signal(),
            text(&o.stderr)
        );
        assert!(pd, "signal {sig}: the port ({p}) outlived conformance");
        assert!(
            cd,
            "signal {sig}: the port's child ({c}) outlived conformance"
        );
        r.assert_tmp_empty();
    }
}

/// A hanging port that ignores SIGTERM is killed at the timeout with its group.
#[test]
fn a_port_ignoring_sigterm_is_killed_at_the_timeout() {
    let r = Run::new("timeout");
    let pids = r.s.path("pids");
    let port = r.script(
        "port.sh",
        &format!(
            "trap '' TERM INT HUP\nsleep 30 &\necho $! > '{p}.child'\nwait",
            p = pids.display()
        ),
    );
    let o = r.conformance(&port, &["--case", "identity", "--timeout", "0.5"]);
    let out = exit_with(&o, 1);
    assert!(out.contains("timed out after 0.5 s"), "{out}");
    let c = read_pid(&pids.with_extension("child"));
    let cd = becomes_dead(c);
    reap(c);
    assert!(cd, "the port's child ({c}) outlived the timeout");
    r.assert_tmp_empty();
}

// --- `--port` quoting and `--timeout` range. ---

/// A port that checks its arguments: exits 5 naming them when `$1` is the spec file
/// and `$2` a path in the same folder ending in `out.json`, else 9.
const CHECK_ARGS: &str = "if [ -f \"$1\" ] && [ \"$(dirname \"$1\")\" = \"$(dirname \"$2\")\" ] \
     && [ \"${2##*/}\" = out.json ]; then echo \"args ok: $1\" >&2; exit 5; fi\n\
     echo \"bad args: [$1] [$2]\" >&2; exit 9";

/// `{spec}`/`{out}` bare, in double quotes or in single quotes all reach the port as
/// one argument, unchanged, even under a TMPDIR whose name has a space, quotes and `$`.
#[test]
fn placeholders_in_quotes_are_substituted_for_their_quoting() {
    let r = Run::new("quoting");
    let tmp = r.s.path("t m'p\"$HOME`x`");
    std::fs::create_dir(&tmp).unwrap();
    let script = r.script("port.sh", CHECK_ARGS);
    let s = script.display();
    for template in [
        format!("sh '{s}' {{spec}} {{out}}"),
        format!("sh '{s}' \"{{spec}}\" \"{{out}}\""),
        format!("sh '{s}' '{{spec}}' '{{out}}'"),
        format!("sh '{s}' \"{{spec}}\" '{{out}}'"),
        format!("sh \"{s}\" \\\"\"{{spec}}\" \"{{out}}\" # it's"),
    ] {
        let child = Command::new(BIN)
            .args(["conformance", "--case", "identity", "--port", &template])
            .env("TMPDIR", &tmp)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let o = wait_bounded(child, "conformance");
        let out = exit_with(&o, 1);
        if template.contains("\\\"") {
            // `\"` then `"{spec}"`: the port's $1 starts with a literal quote.
            assert!(out.contains("exited 9: bad args: [\""), "{template}: {out}");
        } else {
            assert!(out.contains("exited 5: args ok: "), "{template}: {out}");
            assert!(out.contains("t m'p\"$HOME`x`"), "{template}: {out}");
        }
        assert_eq!(entries(&tmp), Vec::<String>::new(), "{template}");
    }
}

/// A template with an unclosed quote is refused before any case runs (exit 2, one
/// line naming `--port`).
#[test]
fn a_port_template_with_an_unclosed_quote_is_exit_2() {
    let r = Run::new("unclosed");
    for template in ["port \"{spec}\" '{out}", "port \"{spec} {out}"] {
        let o = Command::new(BIN)
            .args(["conformance", "--port", template])
            .env("TMPDIR", r.tmp())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{template}");
        let err = text(&o.stderr);
        assert!(
            err.starts_with("error: --port: has an unclosed") && err.lines().count() == 1,
            "{err}"
        );
        r.assert_tmp_empty();
    }
}

/// `--timeout` must be finite, > 0 and at most a day: `1e20` (which once panicked),
/// `0`, `-1`, `nan`, `inf` and `86401` are exit 2 with one short line naming the flag.
#[test]
fn out_of_range_timeouts_are_exit_2_with_a_short_message() {
    let r = Run::new("timeouts");
    for t in ["1e20", "0", "-1", "nan", "inf", "86401", "1e300"] {
        let o = Command::new(BIN)
            .args([
                "conformance",
                "--port",
                "true {spec} {out}",
                &format!("--timeout={t}"),
            ])
            .env("TMPDIR", r.tmp())
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "--timeout {t}: {}",
            text(&o.stderr)
        );
        let err = text(&o.stderr);
        assert!(
            err.starts_with("error: --timeout: ") && err.lines().count() == 1 && err.len() < 200,
            "--timeout {t}: {err}"
        );
        r.assert_tmp_empty();
    }
    let port = r.script("port.sh", "exit 3");
    let o = r.conformance(&port, &["--case", "identity", "--timeout", "86400"]);
    exit_with(&o, 1);
}

// --- Control characters never reach a scorecard raw. ---

/// The bytes a hostile port writes to stderr: ANSI colour codes, NUL, a form feed,
/// invalid UTF-8, `]]>` and markup.
const NASTY: &str =
    "printf 'x\\033[31mred\\033[0m \\000nul \\014 \\377\\376 ]]> <b>&amp;\"'\\''\\n' >&2\nexit 4";

/// Whether `c` may appear in an XML 1.0 document.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// A small well-formedness check: only XML characters, a declaration, one root, tags
/// that nest and close in order, attributes quoted, `&` only starting a known entity,
/// no `<` in text or attributes. Returns the text inside `<failure>`.
fn check_xml(xml: &str) -> String {
    if let Some(c) = xml.chars().find(|&c| !xml_char(c)) {
        panic!("character {c:?} is not allowed in XML 1.0: {xml:?}");
    }
    let entities_ok = |t: &str| {
        t.split('&').skip(1).all(|r| {
            ["amp;", "lt;", "gt;", "quot;", "apos;"]
                .iter()
                .any(|e| r.starts_with(e))
        })
    };
    let mut rest = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .expect("an XML declaration first");
    let mut stack: Vec<String> = Vec::new();
    let mut failure = String::new();
    let mut roots = 0;
    while let Some(i) = rest.find('<') {
        let t = &rest[..i];
        assert!(entities_ok(t) && !t.contains('>'), "text {t:?}");
        if stack.last().is_some_and(|s| s == "failure") {
            failure.push_str(t);
        } else {
            assert!(
                t.trim().is_empty(),
                "text outside the elements that hold it: {t:?}"
            );
        }
        let end = i + rest[i..].find('>').expect("a closed tag");
        let tag = &rest[i + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "closing tag in order");
        } else {
            let empty = tag.ends_with('/');
            let tag = tag.trim_end_matches('/').trim_end();
            let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "tag {tag:?}"
            );
            assert!(
                attrs.matches('"').count() % 2 == 0 && !attrs.contains('<') && entities_ok(attrs),
                "attributes {attrs:?}"
            );
            if stack.is_empty() {
                roots += 1;
            }
            if !empty {
                stack.push(name.to_string());
            }
        }
        rest = &rest[end + 1..];
    }
    assert!(
        rest.trim().is_empty() && stack.is_empty() && roots == 1,
        "unclosed {stack:?}"
    );
    failure
}

#[test]
fn junit_is_well_formed_whatever_the_port_writes() {
    // The library's JUnit writer on any text (not only the runner's escaped lines).
    let raw = backprop_oracle::oracle::conformance::CaseResult {
        name: "identity",
        purpose: "a purpose",
        passed: false,
        comparison: None,
        problem: Some("a\u{1b}[31m\0b\u{7}c\u{fffe}]]><&\"'".into()),
        started: true,
        seconds: 0.0,
    };
    let xml = backprop_oracle::oracle::conformance::scorecard_junit(&[raw]);
    let failure = check_xml(&xml);
    assert!(
        failure.contains("a\\u001b[31m\\u0000b\\u0007c\\ufffe]]&gt;&lt;&amp;&quot;&apos;"),
        "{failure}"
    );

    let r = Run::new("junit");
    let port = r.script("port.sh", NASTY);
    let o = r.conformance(&port, &["--case", "identity", "--format", "junit"]);
    let xml = exit_with(&o, 1);
    let failure = check_xml(&xml);
    assert!(failure.contains("exited 4: x\\u001b[31mred"), "{failure}");
    assert!(
        failure.contains("]]&gt; &lt;b&gt;&amp;amp;&quot;&apos;"),
        "{failure}"
    );
    assert!(
        failure.contains('\u{fffd}'),
        "invalid UTF-8 shown as U+FFFD: {failure}"
    );
    r.assert_tmp_empty();
}

#[test]
fn text_and_json_scorecards_hold_no_raw_control_characters() {
    let r = Run::new("controls");
    let port = r.script("port.sh", NASTY);
    let o = r.conformance(&port, &["--case", "identity"]);
    let out = exit_with(&o, 1);
    assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
    assert!(out.contains("x\\u001b[31mred"), "{out}");
    // The progress line on stderr (not a terminal) carries the port's words, escaped.
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(!err.trim_end().chars().any(char::is_control), "{err:?}");
    assert!(
        err.starts_with("[1/1] identity: fail (") && err.contains("exited 4: x\\u001b[31mred"),
        "{err}"
    );
    let o = r.conformance(&port, &["--case", "identity", "--format", "json"]);
    let out = exit_with(&o, 1);
    assert!(!out.trim_end().chars().any(char::is_control), "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let problem = v["cases"][0]["problem"].as_str().unwrap();
    assert!(!problem.chars().any(char::is_control), "{problem:?}");
    assert!(
        problem.starts_with("exited 4: x\\u001b[31mred"),
        "{problem}"
    );
    r.assert_tmp_empty();
}

/// A path with a newline, ESC and other controls in an error: one line, escaped.
#[test]
fn an_error_naming_a_path_with_control_characters_is_one_escaped_line() {
    let r = Run::new("path_controls");
    let name = r.s.path("bad\n\u{1b}[2Jname\u{7}.json");
    let o = Command::new(BIN)
        .arg("compare")
        .arg(&name)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(!err.trim_end().chars().any(char::is_control), "{err:?}");
    assert!(
        err.contains("bad\\u000a\\u001b[2Jname\\u0007.json"),
        "{err}"
    );
    let mut stdout = String::new();
    o.stdout.as_slice().read_to_string(&mut stdout).unwrap();
    assert!(stdout.is_empty());
}
