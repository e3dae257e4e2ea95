//! Memory and work past the plan (issue 20): every output path is planned with the run
//! before any work starts. The loss history is held once (`train --format json` streams
//! from it, plots are decimated from it); `export` writes nothing `compare` would refuse
//! to read back; `compare` plans what it holds for the run it recomputes; a gradient
//! check's work grows with every dimension that drives it (the classes of a softmax
//! head included) and is planned against `--max-steps`.
//!
//! Each refusal runs the real binary in its own scratch folder and must exit 2 with
//! one stderr line naming the key or flag and the figure, print nothing, and leave the
//! folder as it was. Accepted cases are small enough to run in well under a second and
//! assert sizes (points in the SVG, bytes of JSON, peak memory read with `wait4`), not
//! times.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use backprop_oracle::io::spec::Spec;
use backprop_oracle::oracle::trajectory::{check_export, record, trajectory_json_bytes};

mod common;
use common::{refused, stderr, stdout, success, Scratch, BIN};

/// The issue's spec: one weight, one sample, `epochs` epochs (the loss history is all
/// there is to it).
fn tiny(epochs: u64) -> String {
    format!(r#"{{"sizes":[1,1],"activations":["identity"],"x":[[1]],"y":[0.5],"epochs":{epochs}}}"#)
}

/// A 2-3-`classes` softmax net on one sample.
fn softmax(classes: usize) -> String {
    format!(
        r#"{{"sizes":[2,3,{classes}],"activations":["relu","identity"],"loss":"softmax_cross_entropy","x":[[1,2]],"y":[0]}}"#
    )
}

/// Every entry of `dir` (names and sizes), to check that a refusal leaves nothing.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read scratch")
        .map(|e| {
            let e = e.expect("entry");
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            format!("{} ({len})", e.file_name().to_string_lossy())
        })
        .collect();
    v.sort();
    v
}

/// Runs the binary in `dir`.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run backprop-oracle")
}

/// Asserts that `args` run in a scratch folder holding `files` are refused: exit 2, one
/// stderr line containing every `needles`, nothing on stdout, the folder unchanged.
fn assert_refused(test: &str, files: &[(&str, &str)], args: &[&str], needles: &[&str]) -> String {
    let s = Scratch::new(test);
    for (name, text) in files {
        s.file(name, text);
    }
    let before = listing(&s.dir);
    let o = run_in(&s.dir, args);
    let line = refused(&o);
    assert!(stdout(&o).is_empty(), "stdout: {}", stdout(&o));
    for n in needles {
        assert!(
            line.contains(n),
            "{args:?}: {line:?} does not contain {n:?}"
        );
    }
    assert_eq!(listing(&s.dir), before, "{args:?} left something behind");
    line
}

// ---------------------------------------------------------------------------------------
// train
// ---------------------------------------------------------------------------------------

/// A classification run with an evaluation at every epoch holds every evaluation for
/// the JSON output: counted with the run, and named by `--log-every` when it is what
/// is too large.
#[test]
fn train_json_evaluations_are_planned() {
    let spec = r#"{"sizes":[2,2],"activations":["identity"],"loss":"softmax_cross_entropy","x":[[1,2]],"y":[1]}"#;
    let args = [
        "train",
        "--model",
        "c.json",
        "--epochs",
        "20000000",
        "--log-every",
        "1",
    ];
    let mut json = args.to_vec();
    json.extend(["--format", "json"]);
    assert_refused(
        "train_evals_json",
        &[("c.json", spec)],
        &json,
        &["--log-every", "evaluations at logged epochs", "GiB"],
    );
    let mut plot = args.to_vec();
    plot.extend(["--plot-accuracy", "acc.svg"]);
    assert_refused(
        "train_evals_plot",
        &[("c.json", spec)],
        &plot,
        &["--log-every", "evaluations at logged epochs"],
    );
}

/// The loss history alone past the plan is refused, naming the key that set it.
#[test]
fn train_loss_history_past_the_plan_is_refused() {
    assert_refused(
        "train_history",
        &[("s.json", &tiny(200_000_000))],
        &["train", "--model", "s.json", "--format", "json"],
        &["spec.epochs", "loss history", "GiB"],
    );
    assert_refused(
        "train_history_flag",
        &[("s.json", &tiny(1))],
        &["train", "--model", "s.json", "--epochs", "200000000"],
        &["--epochs", "loss history"],
    );
}

/// A long run's loss curve is drawn from at most 4096 points (the lowest and highest of
/// each bucket of epochs), and says so on its axis.
#[test]
fn train_plot_of_many_epochs_is_decimated() {
    let s = Scratch::new("train_plot_decimated");
    s.file("s.json", tiny(300_000));
    let o = run_in(
        &s.dir,
        &[
            "train",
            "--model",
            "s.json",
            "--log-every",
            "100000",
            "--plot",
            "loss.svg",
        ],
    );
    success(&o);
    let svg = std::fs::read_to_string(s.path("loss.svg")).expect("plot written");
    let most = svg
        .split("points=\"")
        .skip(1)
        .map(|p| p.split('"').next().unwrap_or("").split_whitespace().count())
        .max()
        .expect("a polyline");
    assert!(most <= 4096, "{most} points");
    assert!(most > 100, "{most} points");
    assert!(
        svg.contains("drawn as their lowest and highest value"),
        "the axis does not say the curve is decimated"
    );
    assert!(svg.len() < 1 << 20, "{} bytes", svg.len());
}

/// `--format json` is streamed from the loss history: every epoch's loss is there, and
/// the peak memory is the history's and not a value tree's or a text copy's (which
/// took some 60 bytes an epoch). (The child is reaped by `wait4`, not `Child::wait`.)
#[test]
#[allow(clippy::zombie_processes)]
fn train_json_is_streamed() {
    let s = Scratch::new("train_json_streamed");
    let epochs = 2_000_000;
    s.file("s.json", tiny(epochs));
    let out = std::fs::File::create(s.path("out.json")).expect("create output");
    let child = Command::new(BIN)
        .args(["train", "--model", "s.json", "--format", "json"])
        .current_dir(&s.dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let (status, peak_kib) = wait4(&child);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let peak_mib = peak_kib as f64 / 1024.0;
    // 16 MB of history; a value tree and a text copy would add some 120 MB.
    assert!(peak_mib < 64.0, "peak {peak_mib:.0} MiB");
    let text = std::fs::read_to_string(s.path("out.json")).expect("output");
    let v: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
    assert_eq!(v["loss"].as_array().map(Vec::len), Some(epochs as usize));
    assert_eq!(v["spec"]["epochs"], epochs);
}

/// Reaps `child` with `wait4`: its exit status and peak RSS (KiB).
fn wait4(child: &std::process::Child) -> (libc::c_int, i64) {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child (its pid), with valid pointers to locals.
    let r = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(r, child.id() as libc::pid_t, "wait4 failed");
    (status, usage.ru_maxrss)
}

// ---------------------------------------------------------------------------------------
// export and compare
// ---------------------------------------------------------------------------------------

/// The issue's export (50M epochs, no traced steps) would write a trajectory.json that
/// its own compare refuses: refused before training, naming the key and the figure,
/// and no output folder is made.
#[test]
fn export_past_what_compare_reads_is_refused() {
    assert_refused(
        "export_file",
        &[("s.json", &tiny(50_000_000))],
        &[
            "export",
            "--model",
            "s.json",
            "--trace-steps",
            "0",
            "--out",
            "out",
        ],
        &[
            "spec.epochs",
            "trajectory.json could be",
            "MiB",
            "compare reads",
        ],
    );
    // Under the file limit, but more than compare plans to hold to read it back.
    assert_refused(
        "export_compare",
        &[("s.json", &tiny(1))],
        &[
            "export", "--model", "s.json", "--epochs", "20000000", "--out", "out",
        ],
        &[
            "--epochs",
            "comparing a port against this export would need",
            "MiB",
        ],
    );
}

/// `compare` plans the run it recomputes against the candidate it read: a spec of 50M
/// epochs is refused before training, whether it comes from `--model` (naming
/// `--epochs` or `spec.epochs`) or from the candidate's header.
#[test]
fn compare_past_the_plan_is_refused() {
    let cand = r#"{"loss": [0.25]}"#;
    assert_refused(
        "compare_model",
        &[("s.json", &tiny(50_000_000)), ("c.json", cand)],
        &["compare", "c.json", "--model", "s.json"],
        &[
            "spec.epochs",
            "comparing against this run would need",
            "MiB",
        ],
    );
    assert_refused(
        "compare_flag",
        &[("s.json", &tiny(1)), ("c.json", cand)],
        &[
            "compare", "c.json", "--model", "s.json", "--epochs", "50000000",
        ],
        &["--epochs", "50000000 epochs"],
    );
    let header = format!(
        r#"{{"header": {{"spec": {}}}, "loss": [0.25]}}"#,
        tiny(50_000_000)
    );
    assert_refused(
        "compare_header",
        &[("c.json", &header)],
        &["compare", "c.json", "--max-steps", "1000000000000"],
        &["candidate.header.spec.epochs", "MiB"],
    );
}

/// What export writes stays within its planned size, and a spec the export plan
/// accepts is one compare's plan accepts.
#[test]
fn export_size_is_within_its_plan() {
    let spec = Spec {
        epochs: 3000,
        ..Spec::article()
    };
    check_export(&spec, 8, "epochs", "trace_steps").expect("a small export is accepted");
    let t = record(&spec, 8).expect("record");
    let s = Scratch::new("export_size");
    let out = s.path("out");
    let opts = backprop_oracle::oracle::export::ExportOptions {
        out: out.clone(),
        force: false,
        npy: false,
        command: "backprop-oracle export --epochs 3000".into(),
    };
    backprop_oracle::oracle::export::export(&t, &opts).expect("export");
    let written = std::fs::metadata(out.join("trajectory.json"))
        .expect("trajectory.json")
        .len() as u128;
    let planned: u128 = trajectory_json_bytes(&spec, 8).iter().map(|p| p.1).sum();
    assert!(
        written <= planned,
        "wrote {written} bytes, planned {planned}"
    );
    let o = run_in(
        &s.dir,
        &[
            "compare",
            "out/trajectory.json",
            "--model",
            "article",
            "--epochs",
            "3000",
        ],
    );
    success(&o);
}

// ---------------------------------------------------------------------------------------
// gradient-check
// ---------------------------------------------------------------------------------------

/// A sampled check of a softmax head checks every bias of the last layer, each probe
/// recomputing every class's loss: 10⁶ classes is ~3·10¹² units of work, refused
/// before anything is computed, naming `--max-steps` and the count.
#[test]
fn gradient_check_work_grows_with_the_classes() {
    let line = assert_refused(
        "gc_classes",
        &[("g.json", &softmax(1_000_000))],
        &["gradient-check", "--model", "g.json", "--mode", "sampled"],
        &[
            "--max-steps",
            "units of work",
            "layers[1].b: 1000000 checks",
        ],
    );
    assert!(line.contains("3000229000336"), "{line}");
    // Directions over the wide layer: the same.
    assert_refused(
        "gc_classes_directional",
        &[("g.json", &softmax(1_000_000))],
        &[
            "gradient-check",
            "--model",
            "g.json",
            "--mode",
            "directional",
            "--directions",
            "100000",
        ],
        &["--max-steps", "units of work"],
    );
}

/// The budget is the flag's: a small check passes under the default and is refused
/// under a smaller `--max-steps`; training to a late `--at-epochs` counts.
#[test]
fn gradient_check_budget_is_the_flag() {
    let s = Scratch::new("gc_budget");
    s.file("g.json", softmax(50));
    let args = ["gradient-check", "--model", "g.json", "--mode", "sampled"];
    let o = run_in(&s.dir, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut small = args.to_vec();
    small.extend(["--max-steps", "1000"]);
    let line = assert_refused(
        "gc_budget_small",
        &[("g.json", &softmax(50))],
        &small,
        &["--max-steps", "budget of 1000"],
    );
    assert!(line.contains("units of work"), "{line}");
    let mut long = args.to_vec();
    // 10⁸ epochs fit the memory plan; training 209 parameters to them is 2·10¹⁰.
    long.extend(["--epochs", "100000000", "--at-epochs", "100000000"]);
    assert_refused(
        "gc_budget_training",
        &[("g.json", &softmax(50))],
        &long,
        &["--max-steps", "training to epoch 100000000: 20900000209"],
    );
}
