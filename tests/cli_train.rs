//! End-to-end tests of `backprop-oracle train`: the real binary, its stdout, stderr
//! and exit code (0 success, 2 bad input or usage, 3 divergence).

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::{
    article_spec, article_with, fixture_path as fixture, run, stderr, stdout, success, Scratch,
};

fn run_model(model: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--model", model.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn train_without_args_prints_the_numpy_article_output() {
    let expected = std::fs::read(fixture("article_stdout.txt")).expect("fixture");
    let o = run(&["train"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "stderr: {}", stderr(&o));
    assert_eq!(
        o.stdout,
        expected,
        "stdout differs:\n{}\nexpected:\n{}",
        stdout(&o),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn json_format_prints_one_object_with_loss_params_and_spec() {
    let out = success(&run(&["train", "--format", "json"]));
    assert_eq!(out.lines().count(), 1, "one line of JSON");
    let doc: Value = serde_json::from_str(&out).expect("stdout is JSON");
    let obj = doc.as_object().expect("an object");
    for key in ["loss", "initial", "final", "spec"] {
        assert!(obj.contains_key(key), "missing key {key}");
    }
    let loss = doc["loss"].as_array().expect("loss array");
    assert_eq!(loss.len(), 1000);
    assert!(loss.iter().all(Value::is_number));
    assert_eq!(format!("{:.4}", loss[0].as_f64().unwrap()), "10.8979");

    for which in ["initial", "final"] {
        let layers = doc[which]["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 2, "{which}");
        for l in layers {
            assert!(l["W"].as_array().expect("W").iter().all(Value::is_array));
            assert!(l["b"].as_array().expect("b").iter().all(Value::is_number));
        }
    }
    assert_eq!(doc["spec"]["sizes"], json!([2, 3, 1]));

    let text = std::fs::read_to_string(fixture("parity/article.json")).expect("fixture");
    let numpy: Value = serde_json::from_str(&text).expect("fixture JSON");
    let w0 = |v: &Value| -> Vec<Vec<f64>> {
        serde_json::from_value(v["initial"]["layers"][0]["W"].clone()).expect("W rows")
    };
    assert_eq!(
        w0(&doc),
        w0(&numpy),
        "initial W of layer 0 must equal NumPy's bit for bit"
    );
}

#[test]
fn epochs_and_log_every_flags_limit_the_lines() {
    let out = success(&run(&["train", "--epochs", "3", "--log-every", "1"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("Epoch 0, Loss: 10.8979"));
    assert!(lines[2].starts_with("Epoch 2, Loss: "));
}

#[test]
fn model_file_with_the_article_spec_matches_the_default() {
    let s = Scratch::new("model_file_article");
    let p = s.file("article.json", article_spec().to_string());
    let from_file = success(&run_model(&p, &[]));
    let default = success(&run(&["train"]));
    assert_eq!(from_file, default);
}

#[test]
fn flags_override_the_model_file() {
    let s = Scratch::new("flags_override");
    let p = s.file("spec.json", article_with("epochs", json!(1000)));
    assert_eq!(success(&run_model(&p, &[])).lines().count(), 10);
    let out = success(&run_model(&p, &["--epochs", "200"]));
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn batch_size_two_runs_and_differs_from_per_sample_sgd() {
    let sgd = success(&run(&["train"]));
    let mini = success(&run(&["train", "--batch-size", "2"]));
    assert_eq!(mini.lines().count(), 10);
    assert_ne!(sgd, mini);
    let differing = sgd
        .lines()
        .zip(mini.lines())
        .filter(|(a, b)| a != b)
        .count();
    assert!(differing > 0, "batch size 2 gave the same losses:\n{mini}");
}

#[test]
fn y_as_rows_equals_flat_y() {
    let s = Scratch::new("y_rows");
    let flat = s.file("flat.json", article_spec().to_string());
    let rows = s.file("rows.json", article_with("y", json!([[4], [3], [5], [5]])));
    let a = success(&run_model(&flat, &["--format", "json"]));
    let b = success(&run_model(&rows, &["--format", "json"]));
    assert_eq!(a, b);
}

/// One bad input: the args (with `{model}` replaced by the spec file written from
/// `spec`, if any) and the substring the one-line error must contain.
struct Bad {
    name: &'static str,
    spec: Option<String>,
    args: Vec<String>,
    needle: &'static str,
}

fn bad_spec(name: &'static str, spec: impl Into<String>, needle: &'static str) -> Bad {
    Bad {
        name,
        spec: Some(spec.into()),
        args: vec!["train".into(), "--model".into(), "{model}".into()],
        needle,
    }
}

fn bad_args(name: &'static str, args: &[&str], needle: &'static str) -> Bad {
    Bad {
        name,
        spec: None,
        args: args.iter().map(|s| s.to_string()).collect(),
        needle,
    }
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_field() {
    let s = Scratch::new("bad_input");
    let dir = s.dir.to_str().unwrap().to_string();
    let missing = s
        .dir
        .join("no-such-spec.json")
        .to_str()
        .unwrap()
        .to_string();
    let wide_batch_x: Vec<Value> = (0..4).map(|i| json!([i])).collect();

    let cases = vec![
        bad_spec(
            "invalid JSON syntax",
            r#"{"sizes": [2, 3, 1],"#,
            ".json: EOF while parsing",
        ),
        bad_spec(
            "top-level array",
            "[1, 2, 3]",
            "spec: must be a JSON object",
        ),
        bad_spec("unknown key", article_with("foo", json!(1)), "spec.foo"),
        bad_spec(
            "unknown activation",
            article_with("activations", json!(["softmaxx", "identity"])),
            "spec.activations[0]",
        ),
        bad_spec(
            "activation count mismatch",
            article_with("activations", json!(["relu"])),
            "spec.activations",
        ),
        bad_spec(
            "size zero",
            article_with("sizes", json!([2, 0, 1])),
            "spec.sizes[1]",
        ),
        bad_spec(
            "negative size",
            article_with("sizes", json!([2, -3, 1])),
            "spec.sizes[1]",
        ),
        bad_spec(
            "fractional size",
            article_with("sizes", json!([2, 1.5, 1])),
            "spec.sizes[1]",
        ),
        bad_spec(
            "sizes too short",
            json!({"sizes": [2], "activations": [], "x": [[1, 2]], "y": [1]}).to_string(),
            "spec.sizes",
        ),
        bad_spec(
            "x row of wrong width",
            article_with("x", json!([[1, 2], [2, 1, 0], [3, 1], [1, 3]])),
            "spec.x[1]",
        ),
        bad_spec("x empty", article_with("x", json!([])), "spec.x"),
        bad_spec(
            "y count differs from x",
            article_with("y", json!([4, 3, 5])),
            "spec.y",
        ),
        bad_spec(
            "flat y for a 2-output net",
            json!({"sizes": [2, 3, 2], "activations": ["relu", "identity"],
                   "x": [[1, 2], [2, 1]], "y": [4, 3]})
            .to_string(),
            "spec.y",
        ),
        bad_spec(
            "y row of wrong width",
            json!({"sizes": [2, 3, 2], "activations": ["relu", "identity"],
                   "x": [[1, 2], [2, 1]], "y": [[4, 1], [3]]})
            .to_string(),
            "spec.y[1]",
        ),
        bad_spec(
            "number out of range",
            r#"{"sizes": [2, 3, 1], "activations": ["relu", "identity"], "x": [[1e999, 2]], "y": [1]}"#,
            ".json: number out of range",
        ),
        bad_spec("lr zero in file", article_with("lr", json!(0)), "spec.lr"),
        bad_args("negative --lr", &["train", "--lr", "-0.1"], "--lr"),
        bad_args("--lr nan", &["train", "--lr", "nan"], "--lr"),
        bad_args("--lr inf", &["train", "--lr", "inf"], "--lr"),
        bad_args("--epochs 0", &["train", "--epochs", "0"], "--epochs"),
        bad_args(
            "--batch-size 0",
            &["train", "--batch-size", "0"],
            "--batch-size",
        ),
        bad_args(
            "--log-every 0",
            &["train", "--log-every", "0"],
            "--log-every",
        ),
        bad_spec(
            "epochs 0 in file",
            article_with("epochs", json!(0)),
            "spec.epochs",
        ),
        bad_spec(
            "negative seed",
            article_with("seed", json!(-1)),
            "spec.seed",
        ),
        bad_spec(
            "seed above u32",
            article_with("seed", json!(4294967296u64)),
            "spec.seed",
        ),
        bad_args(
            "--seed above u32",
            &["train", "--seed", "4294967296"],
            "--seed",
        ),
        bad_spec(
            "init_scale zero",
            article_with("init_scale", json!(0)),
            "spec.init_scale",
        ),
        bad_spec(
            "missing x",
            json!({"sizes": [2, 3, 1], "activations": ["relu", "identity"], "y": [1]}).to_string(),
            "spec.x",
        ),
        // 10^10 parameters: refused before anything is allocated (the < 2 s check).
        bad_spec(
            "parameters above 1 GiB",
            json!({"sizes": [1, 100000, 100000, 1], "activations": ["relu", "relu", "identity"],
                   "x": [[0]], "y": [1]})
            .to_string(),
            "spec.sizes",
        ),
        // 15M parameters (480 MiB) fit, but a batch of 4 through 5M units adds 640 MB.
        bad_spec(
            "batch activations above 1 GiB",
            json!({"sizes": [1, 5000000, 1], "activations": ["relu", "identity"],
                   "x": wide_batch_x, "y": [0, 1, 2, 3], "batch_size": 4})
            .to_string(),
            "spec.batch_size",
        ),
        bad_args(
            "--model is a directory",
            &["train", "--model", &dir],
            "is a directory",
        ),
        bad_args(
            "--model is missing",
            &["train", "--model", &missing],
            "no-such-spec.json",
        ),
        bad_spec("loss mae", article_with("loss", json!("mae")), "spec.loss"),
        bad_spec(
            "activation not a string",
            article_with("activations", json!([1, "identity"])),
            "spec.activations[0]",
        ),
        bad_spec(
            "x holds a string",
            article_with("x", json!([[1, "2"], [2, 1], [3, 1], [1, 3]])),
            "spec.x[0][1]",
        ),
        bad_args("unknown flag", &["train", "--bogus"], "--bogus"),
        bad_args("unknown subcommand", &["bogus"], "bogus"),
    ];
    assert!(cases.len() >= 25);

    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let args: Vec<String> = match &case.spec {
            Some(text) => {
                let p = s.file(&format!("case{i}.json"), text);
                let p = p.to_str().unwrap().to_string();
                case.args
                    .iter()
                    .map(|a| if a == "{model}" { p.clone() } else { a.clone() })
                    .collect()
            }
            None => case.args.clone(),
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let start = Instant::now();
        let o = run(&args);
        let elapsed = start.elapsed();
        let err = stderr(&o);
        let line = err.strip_suffix('\n').unwrap_or(&err);
        let mut problems = Vec::new();
        if o.status.code() != Some(2) {
            problems.push(format!("exit code {:?}, expected 2", o.status.code()));
        }
        if line.is_empty() || line.contains('\n') {
            problems.push("stderr is not exactly one line".to_string());
        }
        if !line.contains(case.needle) {
            problems.push(format!("stderr does not mention {:?}", case.needle));
        }
        if line.contains("panicked") {
            problems.push("panicked".to_string());
        }
        if !o.stdout.is_empty() {
            problems.push(format!("stdout not empty: {:?}", stdout(&o)));
        }
        if elapsed > Duration::from_secs(2) {
            problems.push(format!("took {elapsed:?}, expected < 2 s"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {} (stderr: {err:?})",
                case.name,
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn huge_learning_rate_diverges_with_exit_3() {
    let s = Scratch::new("diverge");
    for lr in [json!(1e6), json!(1e300)] {
        let p = s.file("spec.json", article_with("lr", lr.clone()));
        let o = run_model(&p, &[]);
        let err = stderr(&o);
        let line = err.strip_suffix('\n').unwrap_or(&err);
        assert_eq!(o.status.code(), Some(3), "lr {lr}: stderr {err}");
        assert!(
            !line.is_empty() && !line.contains('\n'),
            "lr {lr}: one line expected: {err:?}"
        );
        assert!(
            line.contains("diverged") && line.contains("epoch"),
            "lr {lr}: {err:?}"
        );
        assert!(!line.contains("panicked"));
        let out = stdout(&o);
        for bad in ["NaN", "nan", "inf"] {
            assert!(!out.contains(bad), "lr {lr}: stdout contains {bad}: {out}");
        }
    }
}

#[test]
fn an_overflowing_squared_error_is_divergence_not_inf() {
    let s = Scratch::new("huge-error");
    let p = s.file(
        "spec.json",
        r#"{"sizes": [2, 3, 1], "activations": ["relu", "identity"], "x": [[1, 2], [2, 1]], "y": [1e200, 3]}"#,
    );
    let o = run_model(&p, &[]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        stderr(&o),
        "error: training diverged at epoch 0, sample 0: loss is not finite\n"
    );
    assert!(
        stdout(&o).is_empty(),
        "no epoch line was completed: {}",
        stdout(&o)
    );
}

#[test]
fn help_exits_0() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!o.stdout.is_empty());
    let o = run(&["train", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("--model"));
}
