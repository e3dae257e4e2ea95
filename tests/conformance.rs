//! End-to-end tests of `backprop-oracle conformance`: the real binary runs the toy port
//! (`examples/toy_port.rs`, an independent Rust port with injectable mistakes) on
//! selected cases of the battery, and its scorecard, exit code and files are checked.
//! They fail if a correct port stops passing, if a mistake stops being caught or named,
//! if a broken port (crash, garbage, NaN, hang) is not reported cleanly, or if a run
//! leaves its temporary work folder behind.
//!
//! Every run gets its own `TMPDIR` (the CLI's work folder lives under it), which must be
//! empty again when the run is over.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{stderr, stdout, Scratch, BIN};

/// The battery, in the order it runs.
const CASES: [&str; 25] = [
    "article",
    "article_seed1",
    "identity",
    "relu_at_zero",
    "leaky_relu",
    "leaky_relu_at_zero",
    "sigmoid",
    "tanh",
    "sigmoid_saturated",
    "tanh_saturated",
    "sigmoid_output",
    "multi_output",
    "minibatch_partial",
    "full_batch",
    "batch_larger_than_data",
    "deep",
    "wide",
    "tiny_init",
    "large_init",
    "large_lr",
    "single_sample",
    "long_run",
    "softmax_cross_entropy",
    "softmax_large_logits",
    "binary_cross_entropy",
];

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The toy port's binary. `cargo test` builds the examples into
/// `<target>/<profile>/examples/`, next to this test's `deps/`; when it is missing or
/// older than its source (`cargo test --test conformance` builds no example), it is
/// built here, once, with the same profile.
fn toy_port() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary is in <target>/<profile>/deps/");
        let bin = profile_dir
            .join("examples")
            .join(format!("toy_port{}", std::env::consts::EXE_SUFFIX));
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/toy_port.rs");
        let fresh = || modified(&bin).is_some() && modified(&bin) >= modified(&src);
        if !fresh() {
            let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => "test",
                Some(name) => name,
            };
            let _ = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "--example",
                    "toy_port",
                    "--profile",
                    profile,
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status();
        }
        assert!(
            fresh(),
            "the toy port {} is missing or older than examples/toy_port.rs: build it with \
             `cargo build --example toy_port` (plain `cargo test` builds it)",
            bin.display()
        );
        bin
    })
}

/// The toy port's command line for `--port`, with its own `flags`.
fn port(flags: &str) -> String {
    let bin = toy_port().to_str().expect("a UTF-8 path");
    format!("'{bin}' {flags} --spec {{spec}} --out {{out}}")
}

/// Runs `backprop-oracle conformance ARGS` with `TMPDIR` set to the scratch's `tmp/`,
/// and asserts the run left nothing there.
fn conformance(s: &Scratch, args: &[&str]) -> Output {
    let tmp = s.path("tmp");
    std::fs::create_dir_all(&tmp).expect("create the scratch TMPDIR");
    let o = Command::new(BIN)
        .arg("conformance")
        .args(args)
        .env("TMPDIR", &tmp)
        .output()
        .expect("run backprop-oracle");
    let left = entries(&tmp);
    assert!(
        left.is_empty(),
        "conformance {args:?} left {left:?} in its TMPDIR {}",
        tmp.display()
    );
    o
}

/// Runs the toy port with `flags` on `cases`, plus `extra` arguments.
fn run_port(s: &Scratch, flags: &str, cases: &[&str], extra: &[&str]) -> Output {
    let command = port(flags);
    let mut args = vec!["--port", command.as_str()];
    for c in cases {
        args.extend(["--case", c]);
    }
    args.extend_from_slice(extra);
    conformance(s, &args)
}

/// Asserts `expected` exit code and a stderr of progress lines only ([`progress`]);
/// returns stdout.
fn exit_with(o: &Output, expected: i32) -> String {
    let out = stdout(o);
    assert_eq!(
        o.status.code(),
        Some(expected),
        "exit code; stdout: {out}; stderr: {}",
        stderr(o)
    );
    progress(o);
    out
}

/// The progress lines a run wrote to stderr (not a terminal here), one per finished case
/// in order, `[i/n] NAME: pass (S.S s)` or `[i/n] NAME: fail (S.S s)[: WHY]`, and nothing
/// else: returns each case's name and whether it passed.
fn progress(o: &Output) -> Vec<(String, bool)> {
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    let mut cases = Vec::new();
    for (k, line) in lines.iter().enumerate() {
        let bad = || format!("progress line {k}: {line:?} in:\n{err}");
        assert!(!line.chars().any(char::is_control), "{}", bad());
        let rest = line
            .strip_prefix(&format!("[{}/{}] ", k + 1, lines.len()))
            .unwrap_or_else(|| panic!("{}", bad()));
        let (name, rest) = rest.split_once(": ").unwrap_or_else(|| panic!("{}", bad()));
        let (verdict, rest) = rest.split_once(" (").unwrap_or_else(|| panic!("{}", bad()));
        let (secs, why) = rest
            .split_once(" s)")
            .unwrap_or_else(|| panic!("{}", bad()));
        assert!(
            secs.parse::<f64>().is_ok_and(|t| t >= 0.0)
                && secs.split_once('.').is_some_and(|(_, d)| d.len() == 1),
            "{}",
            bad()
        );
        let passed = match verdict {
            "pass" => true,
            "fail" => false,
            _ => panic!("{}", bad()),
        };
        assert!(
            why.is_empty() || (!passed && why.starts_with(": ")),
            "{}",
            bad()
        );
        cases.push((name.to_string(), passed));
    }
    cases
}

/// Case `name`'s lines in a text scorecard: its `PASS`/`FAIL` line, then its indented
/// detail lines (problem, first divergence, diagnoses).
fn case_block<'a>(scorecard: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines = scorecard.lines().skip_while(|l| {
        !((l.starts_with("PASS  ") || l.starts_with("FAIL  "))
            && l[6..].split_whitespace().next() == Some(name))
    });
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no line for case {name} in:\n{scorecard}"));
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("      ")))
        .collect()
}

/// Asserts case `name` failed in `scorecard`, and returns its detail lines, trimmed.
fn failed_details<'a>(scorecard: &'a str, name: &str) -> Vec<&'a str> {
    let block = case_block(scorecard, name);
    assert!(
        block[0].starts_with("FAIL"),
        "{name} should fail:\n{scorecard}"
    );
    block[1..].iter().map(|l| l.trim()).collect()
}

/// Runs the toy port with `--mistake MISTAKE` on `run = (dtype, traced steps, case)`, and asserts the case fails (exit 1), judged in that precision, with
/// `diagnosis: <expected>…` as its first diagnosis.
fn caught(s: &Scratch, mistake: &str, run: (&str, usize, &str), expected: &str) {
    let (dtype, trace, case) = run;
    let flags = format!("--dtype {dtype} --trace-steps {trace} --mistake {mistake}");
    let out = exit_with(&run_port(s, &flags, &[case], &[]), 1);
    let what = format!("{mistake} ({dtype}, --trace-steps {trace}) on {case}:\n{out}");
    assert!(out.ends_with("0 of 1 cases passed\n"), "{what}");
    let precision = if dtype == "f32" { "float32" } else { "float64" };
    assert!(
        case_block(&out, case)[0].ends_with(&format!("[{precision}]")),
        "judged as {precision}: {what}"
    );
    let details = failed_details(&out, case);
    assert!(
        details.iter().any(|l| l.starts_with("first divergence: ")),
        "{what}"
    );
    let first = details
        .iter()
        .find(|l| l.starts_with("diagnosis: "))
        .unwrap_or_else(|| panic!("no diagnosis: {what}"));
    assert!(
        first.starts_with(&format!("diagnosis: {expected}")),
        "expected `diagnosis: {expected}…`, got `{first}`: {what}"
    );
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names in a folder, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------
// The battery and a correct port
// ---------------------------------------------------------------------------------------

/// `--list` prints the 25 cases, one line each, name first, in the order they run.
#[test]
fn list_names_the_25_cases_in_order() {
    let s = Scratch::new("list");
    let out = exit_with(&conformance(&s, &["--list"]), 0);
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(names, CASES, "{out}");
    assert!(
        out.lines().all(|l| l.len() > 30),
        "each line has a purpose: {out}"
    );
}

/// The correct port passes in float64 (detected from its header) on the cases that
/// pin the article, partial batches, relu at 0, a deep mixed net, one sample and a long
/// run; the scorecard says so.
#[test]
fn correct_port_passes_selected_cases_in_f64() {
    let s = Scratch::new("f64");
    let cases = [
        "article",
        "minibatch_partial",
        "relu_at_zero",
        "leaky_relu_at_zero",
        "full_batch",
        "deep",
        "single_sample",
        "long_run",
    ];
    let out = exit_with(&run_port(&s, "--dtype f64", &cases, &[]), 0);
    assert!(out.starts_with("conformance of: "), "{out}");
    for c in cases {
        let block = case_block(&out, c);
        assert_eq!(block.len(), 1, "{out}");
        assert!(
            block[0].starts_with("PASS") && block[0].contains("[float64, worst value at "),
            "{out}"
        );
    }
    assert!(out.ends_with("8 of 8 cases passed\n"), "{out}");
}

/// The correct port computing in float32 passes the whole battery, judged as float32
/// (the one full run of the battery here).
#[test]
fn correct_port_passes_the_whole_battery_in_f32() {
    let s = Scratch::new("f32");
    let o = run_port(&s, "--dtype f32", &[], &[]);
    let out = exit_with(&o, 0);
    let lines = progress(&o);
    let names: Vec<&str> = lines.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, CASES, "one progress line per case, in order");
    assert!(lines.iter().all(|(_, passed)| *passed), "{lines:?}");
    for c in CASES {
        let block = case_block(&out, c);
        assert!(
            block[0].starts_with("PASS") && block[0].contains("[float32, worst value at "),
            "{out}"
        );
    }
    assert!(out.ends_with("25 of 25 cases passed\n"), "{out}");
}

/// With stderr not a terminal (a CI log), every finished case is one line on stderr,
/// `[i/n] NAME: pass (S.S s)` or `… fail (S.S s): WHY` with the scorecard's reasons,
/// whatever the scorecard's format; stdout holds the scorecard alone.
#[test]
fn stderr_gets_one_progress_line_per_finished_case_when_not_a_terminal() {
    let s = Scratch::new("progress");
    let cases = ["identity", "full_batch", "tanh"];
    for format in ["text", "json", "junit"] {
        let o = run_port(
            &s,
            "--mistake bias-grad-mean",
            &cases,
            &["--format", format],
        );
        let out = exit_with(&o, 1);
        let lines = progress(&o);
        let want = [
            ("identity".to_string(), true),
            ("full_batch".to_string(), false),
            ("tanh".to_string(), true),
        ];
        assert_eq!(lines, want, "{format}: {}", stderr(&o));
        let err = stderr(&o);
        let fail = err.lines().nth(1).expect("a second line");
        assert!(
            fail.starts_with("[2/3] full_batch: fail (")
                && fail.contains("): first divergence: ")
                && fail.contains("; diagnosis: bug bias-grad-mean"),
            "{format}: {fail}"
        );
        assert!(
            !out.contains("[1/3]"),
            "{format}: progress on stdout: {out}"
        );
        if format == "text" {
            for (name, passed) in &lines {
                let verdict = if *passed { "PASS" } else { "FAIL" };
                assert!(case_block(&out, name)[0].starts_with(verdict), "{out}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Each mistake caught and named
// ---------------------------------------------------------------------------------------

/// Updating each layer before back-propagating through it: named from a traced step
/// (float32 and float64) and from the losses and parameters alone (`--trace-steps 0`).
#[test]
fn stale_weights_is_caught_and_named() {
    let s = Scratch::new("stale");
    let named = "bug stale-weights";
    for run in [
        ("f32", 8, "deep"),
        ("f64", 8, "full_batch"),
        ("f32", 0, "tanh"),
    ] {
        caught(&s, "stale-weights", run, named);
    }
}

/// dL/dŷ without the 2: named from a traced step and from the whole run.
#[test]
fn mse_without_2_is_caught_and_named() {
    let s = Scratch::new("mse2");
    let named = "bug mse-without-2";
    for run in [
        ("f32", 8, "multi_output"),
        ("f64", 8, "article"),
        ("f32", 0, "multi_output"),
    ] {
        caught(&s, "mse-without-2", run, named);
    }
}

/// The softmax cross-entropy's batch gradient summed instead of averaged: named as the
/// catalogue's `batch-sum-not-mean`, from a traced step and from the whole run.
#[test]
fn cross_entropy_summed_over_the_batch_is_caught_and_named() {
    let s = Scratch::new("cesum");
    for run in [
        ("f32", 8, "softmax_cross_entropy"),
        ("f64", 0, "softmax_cross_entropy"),
    ] {
        caught(&s, "ce-sum-not-mean", run, "bug batch-sum-not-mean");
    }
}

/// The softmax normalised over the batch instead of the classes.
#[test]
fn softmax_over_the_wrong_axis_is_caught_and_named() {
    let s = Scratch::new("axis");
    for run in [
        ("f32", 8, "softmax_cross_entropy"),
        ("f64", 8, "softmax_cross_entropy"),
    ] {
        caught(&s, "softmax-wrong-axis", run, "bug softmax-wrong-axis");
    }
}

/// The bias gradient averaged over the batch instead of summed (only batches of 2 or
/// more can show it).
#[test]
fn bias_grad_mean_is_caught_and_named() {
    let s = Scratch::new("biasmean");
    let named = "bug bias-grad-mean";
    for run in [("f32", 8, "full_batch"), ("f64", 8, "minibatch_partial")] {
        caught(&s, "bias-grad-mean", run, named);
    }
}

/// W drawn as randn(in, out).T.
#[test]
fn init_transposed_is_caught_and_named() {
    let s = Scratch::new("transposed");
    let named = "initialisation transposed: W is drawn as randn(in, out).T";
    for run in [("f32", 8, "article"), ("f64", 8, "deep")] {
        caught(&s, "init-transposed", run, named);
    }
}

/// The last partial batch of every epoch skipped (DataLoader(drop_last=True)), named
/// from the batch layout and from the whole run.
#[test]
fn drop_last_batch_is_caught_and_named() {
    let s = Scratch::new("droplast");
    let named = "batching drop-last-batch: the last partial batch of every epoch (1 of 7 samples)";
    for run in [
        ("f32", 8, "minibatch_partial"),
        ("f64", 0, "minibatch_partial"),
    ] {
        caught(&s, "drop-last-batch", run, named);
    }
}

/// Another seed: the seed it used is named.
#[test]
fn wrong_seed_is_caught_and_named() {
    let s = Scratch::new("seed");
    let named = |used, spec| {
        format!("spec seed: the initial weights are those of seed {used}, the spec says {spec}")
    };
    caught(&s, "wrong-seed", ("f32", 8, "article"), &named(1, 0));
    caught(&s, "wrong-seed", ("f64", 8, "article_seed1"), &named(2, 1));
}

/// Another learning rate in the update: the rate it used is named.
#[test]
fn lr_typo_is_caught_and_named() {
    let s = Scratch::new("lr");
    let named = |used, spec| format!("spec lr: the update uses lr = {used}, the spec says {spec}");
    caught(
        &s,
        "lr-typo",
        ("f32", 8, "article"),
        &named("0.015000", "0.01"),
    );
    caught(
        &s,
        "lr-typo",
        ("f64", 8, "deep"),
        &named("0.075000", "0.05"),
    );
}

/// relu'(0) = 0.5 (jnp.maximum): named as a convention, from a step and the whole run.
#[test]
fn relu_half_is_caught_and_named_as_a_convention() {
    let s = Scratch::new("reluhalf");
    let named = "convention relu'(0) = 0.5";
    for run in [("f32", 8, "relu_at_zero"), ("f64", 0, "relu_at_zero")] {
        caught(&s, "relu-half", run, named);
    }
}

/// leaky_relu'(0) = 1 (jax.nn.leaky_relu): named as a convention.
#[test]
fn leaky_one_is_caught_and_named_as_a_convention() {
    let s = Scratch::new("leakyone");
    let named = "convention leaky_relu'(0) = 1";
    for run in [
        ("f32", 8, "leaky_relu_at_zero"),
        ("f64", 8, "leaky_relu_at_zero"),
    ] {
        caught(&s, "leaky-one", run, named);
    }
}

/// Compared under its own convention (`--relu-grad-at-zero 0.5`), the relu-half port
/// passes the case that exists to tell the conventions apart.
#[test]
fn relu_half_passes_under_its_convention() {
    let s = Scratch::new("reluhalfok");
    for dtype in ["f32", "f64"] {
        let flags = format!("--dtype {dtype} --mistake relu-half");
        let o = run_port(
            &s,
            &flags,
            &["relu_at_zero"],
            &["--relu-grad-at-zero", "0.5"],
        );
        let out = exit_with(&o, 0);
        assert!(out.ends_with("1 of 1 cases passed\n"), "{out}");
    }
}

// ---------------------------------------------------------------------------------------
// Scorecard formats
// ---------------------------------------------------------------------------------------

/// `--format json`: one JSON object with the counts and, per case, its name, purpose,
/// verdict, first divergence, first diagnosis, precision, max rel err, problem and time.
/// bias-grad-mean cannot matter with one sample per batch (identity passes) and is named
/// on full_batch.
#[test]
fn json_scorecard_has_a_verdict_and_diagnosis_per_case() {
    let s = Scratch::new("json");
    let o = run_port(
        &s,
        "--mistake bias-grad-mean",
        &["identity", "full_batch"],
        &["--format", "json"],
    );
    let out = exit_with(&o, 1);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        (v["passed"].as_u64(), v["failed"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 2);
    let keys = [
        "diagnosis",
        "first_divergence",
        "max_rel_err",
        "name",
        "passed",
        "precision",
        "problem",
        "purpose",
        "seconds",
        "worst_fraction_of_bound",
    ];
    for c in cases {
        let mut got: Vec<&str> = c
            .as_object()
            .expect("a case object")
            .keys()
            .map(String::as_str)
            .collect();
        got.sort_unstable();
        assert_eq!(got, keys, "{c}");
        assert!(c["purpose"].as_str().is_some_and(|p| !p.is_empty()), "{c}");
        assert!(c["seconds"].as_f64().is_some_and(|t| t >= 0.0), "{c}");
        assert_eq!(c["precision"], "float64", "{c}");
        assert!(c["problem"].is_null(), "{c}");
    }
    let (ok, bad) = (&cases[0], &cases[1]);
    assert_eq!(
        (ok["name"].as_str(), ok["passed"].as_bool()),
        (Some("identity"), Some(true))
    );
    assert!(
        ok["diagnosis"].is_null() && ok["first_divergence"].is_null(),
        "{ok}"
    );
    assert_eq!(
        (bad["name"].as_str(), bad["passed"].as_bool()),
        (Some("full_batch"), Some(false))
    );
    assert_eq!(bad["diagnosis"]["kind"], "bug", "{bad}");
    assert_eq!(bad["diagnosis"]["name"], "bias-grad-mean", "{bad}");
    assert!(
        bad["diagnosis"]["explanation"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{bad}"
    );
    let key = bad["first_divergence"]["key"].as_str().unwrap_or("");
    assert!(key.starts_with("step0_"), "{bad}");
}

/// An attribute's value in a start tag's attribute text.
fn attr<'a>(attrs: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(" {key}=\"");
    let padded_start = format!(" {attrs}").find(&pat)?;
    let rest = &attrs[padded_start + pat.len() - 1..];
    rest.split('"').next()
}

/// A small well-formedness check of an XML document (declaration, one root, tags that
/// nest and close in order, quoted attributes, entities only where `&` appears):
/// returns each element as `(depth, name, attribute text)`, in document order.
fn xml_elements(xml: &str) -> Vec<(usize, String, String)> {
    let text_ok = |t: &str| {
        t.split('&').skip(1).all(|r| {
            ["amp;", "lt;", "gt;", "quot;", "apos;"]
                .iter()
                .any(|e| r.starts_with(e))
        })
    };
    let mut rest = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .expect("an XML declaration first");
    let (mut stack, mut out) = (Vec::<String>::new(), Vec::new());
    while let Some(i) = rest.find('<') {
        assert!(text_ok(&rest[..i]), "text {:?}", &rest[..i]);
        assert!(
            !stack.is_empty() || rest[..i].trim().is_empty(),
            "text outside the root"
        );
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
                attrs.matches('"').count() % 2 == 0 && !attrs.contains('<'),
                "attributes {attrs:?}"
            );
            assert!(text_ok(attrs), "attributes {attrs:?}");
            assert!(
                !stack.is_empty() || out.is_empty(),
                "a second root element {name}"
            );
            out.push((stack.len(), name.to_string(), attrs.to_string()));
            if !empty {
                stack.push(name.to_string());
            }
        }
        rest = &rest[end + 1..];
    }
    assert!(
        rest.trim().is_empty() && stack.is_empty(),
        "unclosed {stack:?}"
    );
    out
}

/// `--format junit`: well-formed XML, a `<testsuite>` with the counts, one `<testcase>`
/// per case and a `<failure>` (naming the diagnosis) inside the failing one only.
#[test]
fn junit_scorecard_is_well_formed_with_one_testcase_per_case() {
    let s = Scratch::new("junit");
    let o = run_port(
        &s,
        "--mistake bias-grad-mean",
        &["identity", "full_batch"],
        &["--format", "junit"],
    );
    let out = exit_with(&o, 1);
    let el = xml_elements(&out);
    let (_, root, attrs) = &el[0];
    assert_eq!(root, "testsuite", "{out}");
    assert_eq!(
        (attr(attrs, "tests"), attr(attrs, "failures")),
        (Some("2"), Some("1")),
        "{out}"
    );
    let cases: Vec<&str> = el
        .iter()
        .filter(|(d, n, _)| *d == 1 && n == "testcase")
        .map(|(_, _, a)| attr(a, "name").expect("a testcase name"))
        .collect();
    assert_eq!(cases, ["identity", "full_batch"], "{out}");
    assert_eq!(
        el.len(),
        6,
        "testsuite, its properties (one: init), two testcases, one failure: {out}"
    );
    let (depth, name, attrs) = &el[2];
    assert_eq!((*depth, name.as_str()), (2, "property"), "{out}");
    assert_eq!(
        (attr(attrs, "name"), attr(attrs, "value")),
        (Some("init"), Some("seeded")),
        "{out}"
    );
    let (depth, name, attrs) = &el[5];
    assert_eq!((*depth, name.as_str()), (2, "failure"), "{out}");
    assert!(
        attr(attrs, "message").is_some_and(|m| m.contains("bug bias-grad-mean")),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------
// Broken ports
// ---------------------------------------------------------------------------------------

/// A port that exits 3: the case fails with the exit code and its last stderr line
/// (text and JSON), and the run exits 1.
#[test]
fn a_crashing_port_fails_the_case_with_its_exit_code_and_stderr() {
    let s = Scratch::new("crash");
    let out = exit_with(&run_port(&s, "--mistake crash", &["identity"], &[]), 1);
    let details = failed_details(&out, "identity");
    assert_eq!(
        details,
        ["exited 3: toy_port: simulated crash: index out of range in layer 1"],
        "{out}"
    );
    let o = run_port(&s, "--mistake crash", &["identity"], &["--format", "json"]);
    let v: Value = serde_json::from_str(&exit_with(&o, 1)).expect("JSON");
    let problem = v["cases"][0]["problem"].as_str().unwrap_or("");
    assert!(
        problem.starts_with("exited 3: toy_port: simulated crash"),
        "{v}"
    );
}

/// A port that writes invalid JSON: the case fails as unreadable.
#[test]
fn a_port_writing_garbage_fails_as_unreadable() {
    let s = Scratch::new("garbage");
    let out = exit_with(&run_port(&s, "--mistake garbage", &["identity"], &[]), 1);
    let details = failed_details(&out, "identity");
    assert!(
        details[0].starts_with("its output cannot be read: "),
        "{out}"
    );
    assert_eq!(details.len(), 1, "{out}");
}

/// A port that writes a NaN epoch loss (the literal `NaN`): judged, not refused — the
/// case fails at that epoch's loss, the value said to be non-finite.
#[test]
fn a_port_writing_nan_fails_naming_the_value() {
    let s = Scratch::new("nan");
    let out = exit_with(&run_port(&s, "--mistake nan", &["identity"], &[]), 1);
    let details = failed_details(&out, "identity");
    assert!(
        details[0].starts_with("first divergence: epoch 39 loss: expected ")
            && details[0].contains(", got NaN (non-finite where the reference is finite"),
        "{out}"
    );
}

/// A stale-weights port diverges on five cases of the battery (its epoch loss overflows,
/// it exits 3 after writing its run, non-finite values as `NaN`/`Infinity` and `null`):
/// those are judged like the rest, their exit reported beside the verdict, and every
/// case of the battery is named `stale-weights`, in float64 and in float32.
#[test]
fn a_diverging_port_is_judged_and_named_on_every_case() {
    let s = Scratch::new("diverging");
    for dtype in ["f64", "f32"] {
        let flags = format!("--dtype {dtype} --mistake stale-weights");
        let out = exit_with(&run_port(&s, &flags, &[], &[]), 1);
        assert!(out.ends_with("0 of 25 cases passed\n"), "{out}");
        let mut exited = Vec::new();
        for case in CASES {
            let details = failed_details(&out, case);
            if details[0].starts_with("exited 3: toy_port: training diverged") {
                exited.push(case);
            }
            assert!(
                details
                    .iter()
                    .any(|l| l.starts_with("diagnosis: bug stale-weights")),
                "{dtype} {case}: {details:?}"
            );
        }
        let diverged = [
            "article",
            "article_seed1",
            "relu_at_zero",
            "leaky_relu_at_zero",
            "large_lr",
        ];
        assert_eq!(exited, diverged, "{dtype}: {out}");
    }
}

/// Processes still running (not zombies) whose command line mentions `marker`.
fn live_processes_mentioning(marker: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let p = e.ok()?.path();
        let cmd = std::fs::read(p.join("cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let stat = std::fs::read_to_string(p.join("stat")).ok()?;
        let state = stat
            .rsplit(')')
            .next()?
            .split_whitespace()
            .next()?
            .to_string();
        (cmd.contains(marker) && state != "Z").then_some(cmd)
    })
    .collect()
}

/// A port that hangs: with `--timeout 1` the case fails as timed out within seconds,
/// and the port's whole process group is gone.
#[test]
fn a_hanging_port_times_out_and_is_killed() {
    let s = Scratch::new("sleep");
    let start = Instant::now();
    let o = run_port(&s, "--mistake sleep", &["identity"], &["--timeout", "1"]);
    let took = start.elapsed();
    let out = exit_with(&o, 1);
    assert_eq!(
        failed_details(&out, "identity"),
        ["timed out after 1 s"],
        "{out}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // The port's spec path is under this test's TMPDIR.
    let marker = s.path("tmp").to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !live_processes_mentioning(&marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(live_processes_mentioning(&marker), Vec::<String>::new());
}

/// A `--port` whose command does not exist: exit 2, one `error:` line naming --port,
/// nothing on stdout.
#[test]
fn a_port_command_that_does_not_exist_is_exit_2() {
    let s = Scratch::new("nonexistent");
    let o = conformance(
        &s,
        &[
            "--port",
            "/nonexistent/port {spec} {out}",
            "--case",
            "identity",
        ],
    );
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout: {}; stderr: {err}",
        stdout(&o)
    );
    assert!(o.stdout.is_empty(), "{}", stdout(&o));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("error: --port: "), "{err}");
    assert!(lines[0].contains("/nonexistent/port"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Files: exported cases, the work folder
// ---------------------------------------------------------------------------------------

/// `--export-cases DIR` writes a new folder with one folder per case (its spec, purpose,
/// expected trajectory with the traced steps asked for, and .npz), leaving no temporary
/// folder beside it.
#[test]
fn export_cases_writes_every_case_into_a_new_folder() {
    let s = Scratch::new("export");
    let dir = s.path("cases");
    let d = dir.to_str().expect("UTF-8");
    let out = exit_with(
        &conformance(&s, &["--export-cases", d, "--trace-steps", "2"]),
        0,
    );
    assert!(out.starts_with("wrote 25 cases into "), "{out}");
    assert_eq!(entries(&dir), {
        let mut c = CASES.map(String::from).to_vec();
        c.sort();
        c
    });
    for case in CASES {
        let cd = dir.join(case);
        assert_eq!(
            entries(&cd),
            [
                "purpose.txt",
                "reference.npz",
                "spec.json",
                "trajectory.json"
            ],
            "{case}"
        );
        let spec = read_json(&cd.join("spec.json"));
        let t = read_json(&cd.join("trajectory.json"));
        assert_eq!(t["format"], "backprop-oracle trajectory", "{case}");
        assert_eq!(
            t["header"]["spec"], spec,
            "{case}: the trajectory is the spec's"
        );
        assert_eq!(t["steps"].as_array().map(Vec::len), Some(2), "{case}");
        let epochs = spec["epochs"].as_u64().expect("epochs");
        assert_eq!(
            t["loss"].as_array().map(Vec::len),
            Some(epochs as usize),
            "{case}"
        );
    }
    assert_eq!(entries(&s.dir), ["cases", "tmp"], "nothing else beside it");
}

/// `--export-cases` into an existing folder it did not write: exit 2 with one `error:`
/// line naming the folder, and the folder's files untouched.
#[test]
fn export_cases_refuses_an_existing_folder_and_leaves_it_untouched() {
    let s = Scratch::new("exportexisting");
    let dir = s.path("mine");
    std::fs::create_dir(&dir).expect("create");
    std::fs::write(dir.join("notes.txt"), "my notes\n").expect("write");
    let d = dir.to_str().expect("UTF-8");
    let o = conformance(&s, &["--export-cases", d]);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout: {}; stderr: {err}",
        stdout(&o)
    );
    assert!(o.stdout.is_empty(), "{}", stdout(&o));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(d),
        "{err}"
    );
    assert_eq!(entries(&dir), ["notes.txt"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt"))
            .ok()
            .as_deref(),
        Some("my notes\n")
    );
    assert_eq!(
        entries(&s.dir),
        ["mine", "tmp"],
        "no temporary folder beside it"
    );
}

/// The work folder (`$TMPDIR/backprop-oracle-conformance-<pid>`) really is where the
/// ports run, and it is removed after a run whose cases pass, fail, crash or cannot be
/// read ([`conformance`] checks `TMPDIR` is empty after every run).
#[test]
fn the_work_folder_is_removed_after_passing_and_failing_runs() {
    let s = Scratch::new("workdir");
    let tmp = s.path("tmp").to_string_lossy().into_owned();
    let out = exit_with(&run_port(&s, "--mistake garbage", &["identity"], &[]), 1);
    let details = failed_details(&out, "identity");
    assert!(
        details[0].contains(&format!("{tmp}/backprop-oracle-conformance-")),
        "the port ran under TMPDIR {tmp}: {out}"
    );
    exit_with(
        &run_port(&s, "", &["identity", "minibatch_partial"], &[]),
        0,
    );
    exit_with(
        &run_port(&s, "--mistake mse-without-2", &["identity"], &[]),
        1,
    );
    exit_with(
        &run_port(&s, "--mistake crash", &["identity", "tanh"], &[]),
        1,
    );
    assert_eq!(entries(&s.path("tmp")), Vec::<String>::new());
}

/// The refusal of an existing folder names `--export-cases` and gives advice that works
/// for `conformance` (it once said `out: DIR exists; pass --force to replace it`, a flag
/// `conformance` does not have).
#[test]
fn export_cases_refusal_names_the_flag_and_no_missing_option() {
    let s = Scratch::new("exportflag");
    let dir = s.path("mine");
    std::fs::create_dir(&dir).expect("create");
    std::fs::write(dir.join("notes.txt"), "my notes\n").expect("write");
    let o = conformance(&s, &["--export-cases", dir.to_str().expect("UTF-8")]);
    let err = stderr(&o);
    assert!(err.starts_with("error: --export-cases: "), "{err}");
    assert!(!err.contains("--force"), "{err}");
    assert!(
        err.contains("name a folder that does not exist yet"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Initial parameters given (`--init given`) and a wrong generator (issue 22)
// ---------------------------------------------------------------------------------------

/// `--init given`: each case's spec holds `initial` (no seed, no init_scale), a correct
/// port passes reading it, and every scorecard format says which mode ran.
#[test]
fn init_given_passes_and_the_scorecard_says_so() {
    let s = Scratch::new("init_given");
    let cases = ["article", "deep", "softmax_cross_entropy"];
    let out = exit_with(&run_port(&s, "", &cases, &["--init", "given"]), 0);
    assert!(
        out.lines()
            .next()
            .is_some_and(|l| l.ends_with("(initial parameters: given)")),
        "{out}"
    );
    assert!(out.ends_with("3 of 3 cases passed\n"), "{out}");
    let seeded = exit_with(&run_port(&s, "", &["article"], &[]), 0);
    assert!(
        seeded
            .lines()
            .next()
            .is_some_and(|l| l.ends_with("(initial parameters: seeded)")),
        "{seeded}"
    );
    let json: Value = serde_json::from_str(&exit_with(
        &run_port(
            &s,
            "",
            &["article"],
            &["--init", "given", "--format", "json"],
        ),
        0,
    ))
    .expect("JSON scorecard");
    assert_eq!(json["init"], "given");
    let xml = exit_with(&run_port(&s, "", &["article"], &["--format", "junit"]), 0);
    assert!(
        xml.contains("<property name=\"init\" value=\"seeded\"/>"),
        "{xml}"
    );

    // --export-cases writes the same specs.
    let d = s.path("cases");
    exit_with(
        &conformance(
            &s,
            &[
                "--export-cases",
                d.to_str().expect("UTF-8"),
                "--case",
                "article",
                "--init",
                "given",
            ],
        ),
        0,
    );
    // Its trajectories record the command without this machine's paths.
    let t = read_json(&d.join("article/trajectory.json"));
    assert_eq!(
        t["header"]["command"],
        "backprop-oracle conformance --export-cases cases --case article --init given"
    );
    let spec = read_json(&d.join("article/spec.json"));
    assert!(
        spec.get("seed").is_none() && spec.get("init_scale").is_none(),
        "{spec}"
    );
    // NumPy's draw for the article (tests/fixtures/parity/article.json, scripts/gen_parity.py).
    let numpy = common::fixture_json("parity/article.json");
    assert_eq!(spec["initial"], numpy["initial"]);
}

/// A port whose generator is wrong (the Box–Muller pair in the textbook order) and whose
/// training is right: every case of the battery fails at the first initial weight and is
/// diagnosed `initialisation generator`, in float64 and float32; under `--init given`
/// the same port passes every case.
#[test]
fn a_wrong_generator_is_named_on_every_case_and_passes_given() {
    let s = Scratch::new("generator");
    for dtype in ["f64", "f32"] {
        let flags = format!("--dtype {dtype} --mistake bad-generator");
        let out = exit_with(&run_port(&s, &flags, &[], &[]), 1);
        assert!(out.ends_with("0 of 25 cases passed\n"), "{dtype}: {out}");
        for case in CASES {
            let details = failed_details(&out, case);
            let first = details.iter().find(|l| l.starts_with("diagnosis: "));
            assert!(
                first.is_some_and(|l| l.starts_with(
                    "diagnosis: initialisation generator: only the initial parameters differ"
                )),
                "{dtype} {case}: {details:?}"
            );
            assert!(
                details
                    .iter()
                    .any(|l| l.starts_with("first divergence: initial layers[0].W[0][0]")),
                "{dtype} {case}: {details:?}"
            );
        }
        let out = exit_with(&run_port(&s, &flags, &[], &["--init", "given"]), 0);
        assert!(out.ends_with("25 of 25 cases passed\n"), "{dtype}: {out}");
    }
    // Another slip, uniform draws where normals belong (a `Math.random` port): the
    // diagnosis does not depend on how the weights were drawn.
    let out = exit_with(&run_port(&s, "--mistake uniform-init", &[], &[]), 1);
    for case in CASES {
        assert!(
            failed_details(&out, case)
                .iter()
                .any(|l| l.starts_with("diagnosis: initialisation generator")),
            "uniform-init {case}: {out}"
        );
    }
}
