//! Data safety, measured on the real binary: signals during an export leave nothing
//! behind, a killed export's temporary folder is removed by the next export, and the
//! peak memory of runs the plans accept stays bounded (each child's maximum resident
//! set size is read with `wait4`, the kernel's own account — not guessed).
//!
//! The bound of the project is 1.5 GB for any input a plan accepts; the tests below
//! hold each case to a much tighter bound derived from its data, so that a second copy
//! of the data (a file held as bytes and as an array, a JSON value tree) fails them.
//!
//! Linux carries a process's peak RSS across `exec` (a spawned child starts from its
//! parent's high-water mark), so a child's measured peak is at least this test
//! process's own: the tests write their large inputs a piece at a time and never hold
//! them, keeping that floor at a few MiB.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

mod common;
use common::{Scratch, BIN};

/// What a measured child did.
struct Measured {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident set size, in MiB.
    peak_mib: f64,
}

/// Reaps `child` with `wait4`, returning its exit status and peak RSS (KiB).
fn wait4(child: &Child) -> (libc::c_int, i64) {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child (its pid), with valid pointers to locals.
    let r = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(r, child.id() as libc::pid_t, "wait4 failed");
    (status, usage.ru_maxrss)
}

/// Runs the binary in `dir`; after `kill_after` (if given) sends SIGKILL. Returns the
/// outcome with the child's peak memory. (The child is reaped by `wait4`, not by
/// `Child::wait`.)
#[allow(clippy::zombie_processes)]
fn measured(dir: &Path, args: &[&str], kill_after: Option<Duration>) -> Measured {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let killer = kill_after.map(|d| {
        let pid = child.id() as libc::pid_t;
        std::thread::spawn(move || {
            std::thread::sleep(d);
            // SAFETY: signals our own child (possibly already exited: harmless).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })
    });
    let (status, kib) = wait4(&child);
    if let Some(k) = killer {
        k.join().expect("killer");
    }
    Measured {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        stdout: t_out.join().expect("stdout"),
        stderr: t_err.join().expect("stderr"),
        peak_mib: kib as f64 / 1024.0,
    }
}

/// A spec whose export writes a large `trajectory.json` (so that writing takes a
/// while): a 32-64-10 net on 64 samples, batch 16, many traced steps.
fn slow_export_spec() -> String {
    let x: Vec<Vec<f64>> = (0..64)
        .map(|r| {
            (0..32)
                .map(|c| ((r * 7 + c * 3) % 11) as f64 / 11.0 - 0.5)
                .collect()
        })
        .collect();
    let y: Vec<Vec<f64>> = (0..64)
        .map(|r| (0..10).map(|c| f64::from(u8::from(r % 10 == c))).collect())
        .collect();
    json!({"sizes": [32, 64, 10], "activations": ["relu", "identity"], "x": x, "y": y,
           "epochs": 100, "batch_size": 16, "lr": 0.05, "init_scale": 0.1})
    .to_string()
}

/// Spawns an export of the slow spec to `golden` and waits until its temporary folder
/// exists (the writing has started); returns the child and the folder's name.
fn export_until_writing(s: &Scratch) -> (Child, String) {
    s.file("slow.json", slow_export_spec());
    let child = Command::new(BIN)
        .args([
            "export",
            "--model",
            "slow.json",
            "--out",
            "golden",
            "--trace-steps",
            "400",
            "--npy",
        ])
        .current_dir(&s.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn export");
    let tmp = format!(".golden.bpo-tmp-{}", child.id());
    let start = Instant::now();
    while !s.path(&tmp).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the export never started writing"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    (child, tmp)
}

#[test]
fn sigint_sigterm_sighup_during_an_export_leave_nothing_behind() {
    for (name, sig) in [
        ("int", libc::SIGINT),
        ("term", libc::SIGTERM),
        ("hup", libc::SIGHUP),
    ] {
        let s = Scratch::new(&format!("signal_{name}"));
        let (mut child, tmp) = export_until_writing(&s);
        // SAFETY: signals our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(128 + sig), "signal {sig}: {status:?}");
        assert!(!s.path(&tmp).exists(), "signal {sig}: {tmp} left behind");
        assert!(
            !s.path("golden").exists(),
            "signal {sig}: a partial golden/"
        );
        assert!(s.hidden_entries().is_empty(), "{:?}", s.hidden_entries());
    }
}

#[test]
fn a_killed_exports_folder_is_removed_by_the_next_export() {
    let s = Scratch::new("sigkill");
    let (mut child, tmp) = export_until_writing(&s);
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    assert!(
        s.path(&tmp).is_dir(),
        "SIGKILL cannot clean up: {tmp} stays"
    );
    let o = measured(
        &s.dir,
        &[
            "export",
            "--model",
            "slow.json",
            "--out",
            "golden",
            "--trace-steps",
            "2",
        ],
        None,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("note: removed") && o.stderr.contains(&tmp),
        "says so on stderr: {}",
        o.stderr
    );
    assert!(!s.path(&tmp).exists());
    assert!(s.hidden_entries().is_empty(), "{:?}", s.hidden_entries());
    assert!(s.path("golden/trajectory.json").is_file());
}

#[test]
fn huge_directions_run_in_bounded_memory() {
    let s = Scratch::new("directions");
    // 16,000,000 directions are within the check bound (and, with a raised --max-steps,
    // the work budget); they are drawn and checked a chunk at a time, so memory does not
    // grow with them (it grew past 6 GB before).
    let o = measured(
        &s.dir,
        &[
            "gradient-check",
            "--mode",
            "directional",
            "--directions",
            "16000000",
            "--max-steps",
            "100000000000",
        ],
        Some(Duration::from_secs(4)),
    );
    assert_eq!(
        o.signal,
        Some(libc::SIGKILL),
        "still running after 4 s: {}",
        o.stderr
    );
    assert!(o.peak_mib < 100.0, "peak {:.0} MiB", o.peak_mib);
    // 10^12 directions are refused by the work bound, at once.
    let o = measured(
        &s.dir,
        &[
            "gradient-check",
            "--mode",
            "directional",
            "--directions",
            "1000000000000",
        ],
        None,
    );
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.starts_with("error: --directions:"), "{}", o.stderr);
}

#[test]
fn the_checker_refuses_networks_its_plan_cannot_hold_and_holds_those_it_accepts() {
    let s = Scratch::new("checker_memory");
    let spec = |n: usize| {
        json!({"sizes": [n, n, 1], "activations": ["relu", "identity"],
               "x": [vec![0.5; n]], "y": [1.0], "init_scale": 0.01})
        .to_string()
    };
    // 5000-5000-1: 25 million parameters; its copies (f64, dual, updated, gradients)
    // and one direction probe per thread would need several GiB: refused by the plan.
    s.file("big.json", spec(5000));
    let o = measured(
        &s.dir,
        &[
            "gradient-check",
            "--model",
            "big.json",
            "--mode",
            "directional",
            "--directions",
            "1",
        ],
        None,
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.starts_with("error: sizes:"), "{}", o.stderr);
    assert!(
        o.peak_mib < 300.0,
        "refused before allocating: {:.0} MiB",
        o.peak_mib
    );
    // 1500-1500-1 (2.25 million parameters) is accepted; its measured peak stays far
    // below the 1.5 GB bound.
    s.file("mid.json", spec(1500));
    let o = measured(
        &s.dir,
        &[
            "gradient-check",
            "--model",
            "mid.json",
            "--mode",
            "directional",
            "--directions",
            "2",
        ],
        None,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(o.peak_mib < 600.0, "peak {:.0} MiB", o.peak_mib);
}

#[test]
fn a_large_npy_is_never_held_as_bytes_and_as_an_array() {
    let s = Scratch::new("npy_memory");
    // x: (4 Mi, 2) float64 = 64 MiB, y: (4 Mi,) = 32 MiB, both sparse files of zeros
    // behind a real header.
    let rows = 4 << 20;
    for (name, shape, cols) in [
        ("x.npy", format!("({rows}, 2)"), 2usize),
        ("y.npy", format!("({rows},)"), 1),
    ] {
        let bytes = common::npy_versioned(1, &common::npy_dict("<f8", &shape), &[]);
        let header = bytes.len() as u64;
        let f = std::fs::File::create(s.path(name)).expect("create");
        std::io::Write::write_all(&mut &f, &bytes).expect("header");
        f.set_len(header + 8 * (rows * cols) as u64)
            .expect("sparse data");
    }
    s.file(
        "spec.json",
        json!({"sizes": [2, 1, 1], "activations": ["relu", "identity"], "x": "x.npy",
               "y": "y.npy", "epochs": 1, "batch_size": 1024})
        .to_string(),
    );
    let o = measured(&s.dir, &["train", "--model", "spec.json"], None);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    // 96 MiB of data (measured: about 100 MiB in all); holding x's bytes and its
    // array at once, as before, took 132 MiB.
    assert!(
        o.peak_mib < 120.0,
        "peak {:.0} MiB for 96 MiB of data",
        o.peak_mib
    );
}

/// Writes a spec with `rows` samples of 4 features inline (about 13 bytes of JSON a
/// number) to `path`, a row at a time (this process never holds it).
fn write_inline_spec(path: &Path, rows: usize) {
    use std::io::Write;
    let f = std::fs::File::create(path).expect("create spec");
    let mut w = std::io::BufWriter::new(f);
    write!(
        w,
        r#"{{"sizes": [4, 3, 1], "activations": ["tanh", "identity"], "epochs": 1, "batch_size": 256, "x": ["#
    )
    .unwrap();
    for r in 0..rows {
        let v = r as f64 / rows as f64;
        let sep = if r == 0 { "" } else { "," };
        write!(w, "{sep}[{v:?},{:?},{:?},0.125]", 1.0 - v, 0.25 + v / 3.0).unwrap();
    }
    write!(w, r#"], "y": ["#).unwrap();
    for r in 0..rows {
        let sep = if r == 0 { "" } else { "," };
        write!(w, "{sep}{:?}", (r % 7) as f64 / 7.0).unwrap();
    }
    write!(w, "]}}").unwrap();
    w.flush().unwrap();
}

#[test]
fn a_large_inline_spec_exports_and_compares_in_memory_proportional_to_its_numbers() {
    let s = Scratch::new("inline_memory");
    write_inline_spec(&s.path("spec.json"), 1_000_000);
    let mib = std::fs::metadata(s.path("spec.json")).unwrap().len() as f64 / (1 << 20) as f64;
    assert!(mib > 60.0, "{mib:.0} MiB of JSON");
    let o = measured(
        &s.dir,
        &[
            "export",
            "--model",
            "spec.json",
            "--out",
            "golden",
            "--trace-steps",
            "2",
        ],
        None,
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    // 5 million numbers are 40 MiB as f64; the export took over 1.5 GB before (a JSON
    // value tree of the spec, then of the trajectory, then its text). Measured here:
    // about 135 MiB.
    assert!(
        o.peak_mib < 3.0 * mib,
        "export peak {:.0} MiB for {mib:.0} MiB of JSON",
        o.peak_mib
    );
    let json_mib = std::fs::metadata(s.path("golden/trajectory.json"))
        .unwrap()
        .len() as f64
        / (1 << 20) as f64;
    // The exported trajectory (its header inlines the data) compared against itself.
    let o = measured(
        &s.dir,
        &[
            "compare",
            "golden/trajectory.json",
            "--max-steps",
            "100000000",
        ],
        None,
    );
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    // Proportional to the numbers (5 million, 38 MiB as f64), not to the text: measured
    // here, about 180 MiB, both for 130 MiB of JSON one number a line (schema 1's
    // layout) and for 70 MiB one row a line (today's).
    let numbers_mib = 5e6 * 8.0 / (1 << 20) as f64;
    assert!(
        o.peak_mib < 6.0 * numbers_mib,
        "compare peak {:.0} MiB for {json_mib:.0} MiB of JSON ({numbers_mib:.0} MiB of numbers)",
        o.peak_mib
    );
}
