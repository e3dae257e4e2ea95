//! The `gradient-check` subcommand, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_backprop-oracle"))
        .arg("gradient-check")
        .args(args)
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_spec(name: &str, json: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bpo-gc-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("spec.json");
    std::fs::write(&p, json).unwrap();
    p
}

#[test]
fn default_check_of_the_article_network_verifies_every_tensor() {
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for t in [
        "layers[0].W",
        "layers[0].b",
        "layers[1].W",
        "layers[1].b",
        "x ",
    ] {
        assert!(out.contains(t), "table lists {t}:\n{out}");
    }
    assert!(
        out.contains("verified: all 9 tensors agree with both oracles"),
        "{out}"
    );
}

#[test]
fn checks_along_training_verify_too() {
    let o = run(&["--at-epochs", "0,500,999", "--mode", "sampled"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("at epochs [0, 500, 999]"));
}

#[test]
fn an_injected_bug_exits_1_and_names_the_corrupted_tensors() {
    let o = run(&["--inject-bug", "relu-mask-inverted"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with(
            "FAILED: layers[0].W (backward bug), layers[0].b (backward bug), x (backward bug)"
        ),
        "{last}"
    );
    assert!(
        !last.contains("layers[1].W (backward bug)"),
        "layer 1 is not corrupted: {last}"
    );
    assert!(
        out.contains("backward bug: layers[0].W["),
        "the failing element is shown: {out}"
    );
}

#[test]
fn an_update_bug_is_localised_to_the_updates() {
    let o = run(&["--inject-bug", "stale-weights"]);
    assert_eq!(o.status.code(), Some(1));
    let last = stdout(&o).lines().last().unwrap().to_string();
    assert_eq!(
        last,
        "FAILED: layers[0].W update (update bug), layers[0].b update (update bug)"
    );
}

#[test]
fn a_bug_that_cannot_matter_here_is_explained() {
    let o = run(&["--inject-bug", "mse-without-size"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("went undetected because with one output, 1/m = 1"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn list_bugs_names_at_least_eight() {
    let o = run(&["--list-bugs"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).lines().count() >= 8);
    assert!(stdout(&o).contains("dw-transposed"));
}

#[test]
fn json_output_has_the_same_content() {
    let o = run(&["--format", "json", "--inject-bug", "update-plus"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    assert_eq!(v["passed"], false);
    let tensors = v["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 9);
    let w0 = &tensors[0];
    assert_eq!(w0["name"], "layers[0].W");
    assert_eq!(w0["shape"], serde_json::json!([3, 2]));
    assert_eq!(w0["checked"], 24);
    assert!(w0["worst"]["dual"].is_number());
    let upd = tensors
        .iter()
        .find(|t| t["kind"] == "update" && t["name"] == "layers[0].W")
        .unwrap();
    assert_eq!(upd["verdict"], "update bug");
    assert!(stderr(&o).is_empty(), "no progress bar in JSON mode");
}

#[test]
fn a_probe_crossing_a_relu_kink_is_reported_not_failed() {
    // z = W·x + b with x = 1e-7: probes of b and x with h ≈ 6e-6 cross z = 0.
    let p = temp_spec(
        "kink",
        r#"{"sizes": [1, 1, 1], "activations": ["relu", "identity"], "x": [[1e-7], [0.0]], "y": [1, 2]}"#,
    );
    let o = run(&["--model", p.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let kinks: u64 = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kinks"].as_u64().unwrap())
        .sum();
    assert!(kinks >= 2, "kinks found: {kinks}");
    let b0 = &v["tensors"][1];
    assert_eq!(b0["name"], "layers[0].b");
    assert!(
        b0["verdict"].as_str().unwrap().starts_with("verified"),
        "{b0}"
    );
    let o = run(&["--model", p.to_str().unwrap()]);
    assert!(stdout(&o).contains("crossed a relu kink"), "{}", stdout(&o));
    std::fs::remove_dir_all(p.parent().unwrap()).ok();
}

#[test]
fn bad_check_input_exits_2_with_one_line() {
    for (args, needle) in [
        (vec!["--inject-bug", "nope"], "--inject-bug"),
        (vec!["--at-epochs", "2000"], "--at-epochs"),
        (vec!["--rtol", "nan"], "--rtol"),
        (vec!["--atol", "-1"], "--atol"),
        (vec!["--step", "2"], "--step"),
        (vec!["--mode", "sampled", "--samples", "0"], "--samples"),
        (
            vec!["--mode", "directional", "--directions", "0"],
            "--directions",
        ),
        (vec!["--batch-size", "0"], "--batch-size"),
        (vec!["--mode", "fast"], "--mode"),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn a_check_point_with_an_infinite_loss_is_refused_not_verified() {
    // (ŷ − 1e200)² overflows: the loss is inf although every input is finite.
    let p = temp_spec(
        "inf-loss",
        r#"{"sizes": [2, 3, 1], "activations": ["relu", "identity"], "x": [[1, 2], [2, 1]], "y": [1e200, 3]}"#,
    );
    let o = run(&["--model", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).starts_with("error: loss: is not finite at epoch 0, sample 0"),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("verified"));
    std::fs::remove_dir_all(p.parent().unwrap()).ok();
}

/// The sampled and directional modes check at most 8 batches of an epoch, evenly spread
/// (the first and the partial last one included) and say so; `--batches K` sets the
/// number in any mode; the exhaustive mode checks every batch by default.
#[test]
fn sampled_modes_check_a_spread_of_batches_and_say_so() {
    // 21 samples in batches of 2: 11 batches, the last one of a single sample.
    let x: Vec<String> = (0..21)
        .map(|i| format!("[{}, {}]", i % 5, (i * 3) % 7))
        .collect();
    let y: Vec<String> = (0..21).map(|i| format!("{}", i % 4)).collect();
    let spec = temp_spec(
        "batches",
        &format!(
            r#"{{"sizes": [2, 3, 1], "activations": ["tanh", "identity"], "x": [{}], "y": [{}], "batch_size": 2}}"#,
            x.join(","),
            y.join(",")
        ),
    );
    let spec = spec.to_str().unwrap();
    let json = |args: &[&str]| {
        let mut all = vec!["--model", spec, "--format", "json"];
        all.extend_from_slice(args);
        let o = run(&all);
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        (
            v["batches"].as_u64().unwrap(),
            v["epoch_batches"].as_u64().unwrap(),
        )
    };
    assert_eq!(json(&["--mode", "sampled"]), (8, 11));
    assert_eq!(json(&["--mode", "directional"]), (8, 11));
    assert_eq!(json(&[]), (11, 11));
    assert_eq!(json(&["--batches", "3"]), (3, 11));
    assert_eq!(json(&["--mode", "sampled", "--batches", "50"]), (11, 11));
    let o = run(&["--model", spec, "--mode", "sampled"]);
    let out = stdout(&o);
    assert!(out.contains("8 of 11 (evenly spread) batch(es)"), "{out}");
    let o = run(&["--model", spec, "--batches", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--batches") && stderr(&o).contains("≥ 1"),
        "{}",
        stderr(&o)
    );
}
