//! Classification end to end through the CLI: the digits example (committed data and
//! spec), labels and probability rows, the held-out set, export/compare of a classifier,
//! and the refusals of inputs a classification loss cannot take (exit 2, one line
//! naming the field).
//!
//! Golden values: NumPy's run of the digits spec, printed by
//! `python3 scripts/make_digits.py --check` (NumPy 2.4.6; the table in
//! `examples/digits/README.md`): epoch-0 loss 1662.878361, last epoch 116.302661, held-out
//! accuracy 350/360, held-out mean loss 0.153598.

use std::path::Path;

use serde_json::{json, Value};

mod common;
use common::{article_spec, run, success, Scratch};

fn digits() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/digits/digits.json")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Asserts exit 2, one stderr line without a panic, starting with `error: {field}`.
fn refused(o: &std::process::Output, field: &str) -> String {
    let err = common::refused(o);
    assert!(err.starts_with(&format!("error: {field}")), "{err}");
    err
}

/// A small softmax classifier spec: 2-4-3 relu/identity, labels, batches of 2.
fn classifier() -> Value {
    json!({
        "sizes": [2, 4, 3], "activations": ["relu", "identity"],
        "loss": "softmax_cross_entropy", "seed": 1, "init_scale": 1.0,
        "x": [[0.5, 1.0], [1.5, -0.5], [-1.0, 0.5], [0.0, -1.5], [2.0, 1.0], [-0.5, -0.5]],
        "y": [0, 1, 2, 1, 0, 2],
        "lr": 0.1, "epochs": 30, "batch_size": 2, "log_every": 10
    })
}

fn with(mut spec: Value, key: &str, value: Value) -> String {
    spec[key] = value;
    spec.to_string()
}

#[test]
fn the_digits_example_reaches_numpys_held_out_accuracy() {
    let o = run(&["train", "--model", p(&digits()), "--format", "json"]);
    let doc: Value = serde_json::from_str(&success(&o)).expect("one JSON object");
    let loss = doc["loss"].as_array().unwrap();
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    assert!(
        rel(loss[0].as_f64().unwrap(), 1662.878361) < 1e-9,
        "{}",
        loss[0]
    );
    assert!(
        rel(loss[9].as_f64().unwrap(), 116.302661) < 1e-8,
        "{}",
        loss[9]
    );
    let last = &doc["evaluation"][9];
    assert_eq!(last["epoch"], 9);
    assert_eq!(last["test_accuracy"].as_f64().unwrap(), 350.0 / 360.0);
    assert!(last["test_accuracy"].as_f64().unwrap() >= 0.95);
    assert!(rel(last["test_loss"].as_f64().unwrap(), 0.153598) < 1e-5);
    assert_eq!(last["accuracy"].as_f64().unwrap(), 1415.0 / 1437.0);
    // The text lines carry the same numbers.
    let text = success(&run(&["train", "--model", p(&digits())]));
    assert!(
        text.ends_with(
            "Final (epoch 9), Accuracy: 98.47%, Test loss: 0.1536, Test accuracy: 97.22%\n"
        ),
        "{text}"
    );
}

#[test]
fn labels_and_one_hot_rows_train_identically() {
    let dir = Scratch::new("labels");
    let labels = dir.file("labels.json", classifier().to_string());
    let rows = json!([
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0, 1, 0],
        [1, 0, 0],
        [0, 0, 1]
    ]);
    let one_hot = dir.file("rows.json", with(classifier(), "y", rows));
    let a = success(&run(&["train", "--model", p(&labels), "--format", "json"]));
    let b = success(&run(&["train", "--model", p(&one_hot), "--format", "json"]));
    let (a, b): (Value, Value) = (
        serde_json::from_str(&a).unwrap(),
        serde_json::from_str(&b).unwrap(),
    );
    assert_eq!(a["loss"], b["loss"]);
    assert_eq!(a["final"], b["final"]);
    assert_eq!(a["evaluation"], b["evaluation"]);
}

#[test]
fn a_classifier_is_exported_and_compared_with_its_held_out_set() {
    let dir = Scratch::new("export");
    let out = dir.path("golden");
    success(&run(&[
        "export",
        "--model",
        p(&digits()),
        "--trace-steps",
        "2",
        "--out",
        p(&out),
    ]));
    let traj: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("trajectory.json")).unwrap())
            .unwrap();
    let header = &traj["header"]["spec"];
    assert_eq!(header["loss"], "softmax_cross_entropy");
    assert_eq!(header["y_test"]["dtype"], "<i8");
    assert_eq!(header["y_test"]["member"], "y_test");
    for cand in ["trajectory.json", "reference.npz"] {
        let o = run(&["compare", p(&out.join(cand)), "--model", p(&digits())]);
        assert!(success(&o).contains("all within tolerance"), "{cand}");
        // And from the header alone (the data read back through the references).
        let o = run(&[
            "compare",
            p(&out.join(cand)),
            "--trust-model",
            "--model",
            p(&digits()),
        ]);
        success(&o);
    }
}

#[test]
fn inputs_a_classification_loss_cannot_take_are_refused_naming_the_field() {
    let dir = Scratch::new("refused");
    let spec = |name: &str, text: String| dir.file(name, text);
    let train = |path: &Path| run(&["train", "--model", p(path)]);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "act",
            with(classifier(), "activations", json!(["relu", "relu"])),
            "spec.activations[1]: must be identity",
        ),
        (
            "one",
            {
                let mut s = classifier();
                s["sizes"] = json!([2, 4, 1]);
                s["y"] = json!([0, 0, 0, 0, 0, 0]);
                s.to_string()
            },
            "spec.sizes[2]: must be ≥ 2",
        ),
        (
            "range",
            with(classifier(), "y", json!([0, 1, 3, 1, 0, 2])),
            "spec.y[2]: must be a class label",
        ),
        (
            "frac",
            with(classifier(), "y", json!([0, 1, 1.5, 1, 0, 2])),
            "spec.y[2]: must be a class label",
        ),
        (
            "neg",
            with(classifier(), "y", json!([0, -1, 1, 1, 0, 2])),
            "spec.y[1]: must be a class label",
        ),
        (
            "sum",
            with(
                classifier(),
                "y",
                json!([
                    [0.5, 0.2, 0.2],
                    [0, 1, 0],
                    [0, 0, 1],
                    [0, 1, 0],
                    [1, 0, 0],
                    [0, 0, 1]
                ]),
            ),
            "spec.y[0]: must sum to 1",
        ),
        (
            "bce",
            {
                let mut s = classifier();
                s["loss"] = json!("binary_cross_entropy");
                s["y"] = json!([
                    [0, 1, 0],
                    [1, 1, 0],
                    [0, 0, 2],
                    [0, 1, 0],
                    [1, 0, 0],
                    [0, 0, 1]
                ]);
                s.to_string()
            },
            "spec.y[2][2]: must be in [0, 1]",
        ),
        (
            "test_alone",
            with(classifier(), "x_test", json!([[0.0, 0.0]])),
            "spec.y_test: is required when x_test is given",
        ),
        (
            "test_label",
            {
                let mut s = classifier();
                s["x_test"] = json!([[0.0, 0.0], [1.0, 1.0]]);
                s["y_test"] = json!([0, 7]);
                s.to_string()
            },
            "spec.y_test[1]: must be a class label",
        ),
        (
            "test_rows",
            {
                let mut s = classifier();
                s["x_test"] = json!([[0.0, 0.0], [1.0, 1.0]]);
                s["y_test"] = json!([0]);
                s.to_string()
            },
            "spec.y_test: has 1 targets for 2 samples",
        ),
        (
            "loss",
            with(classifier(), "loss", json!("cross_entropy")),
            "spec.loss: unknown loss",
        ),
    ];
    for (name, text, needle) in cases {
        let path = spec(&format!("{name}.json"), text);
        let o = train(&path);
        let err = refused(&o, "spec.");
        assert!(err.contains(needle), "{name}: {err}");
    }
    // Flags that make no sense for the spec's loss.
    let mse = dir.file("mse.json", article_spec().to_string());
    let o = run(&[
        "train",
        "--model",
        p(&mse),
        "--plot-accuracy",
        p(&dir.path("a.svg")),
    ]);
    refused(&o, "--plot-accuracy: needs a classification loss");
    assert!(!dir.path("a.svg").exists());
    let ce = dir.file("ce.json", classifier().to_string());
    let o = run(&[
        "gradient-check",
        "--model",
        p(&ce),
        "--inject-bug",
        "mse-without-2",
    ]);
    refused(&o, "--inject-bug: mse-without-2 is a mistake in mse code");
}

#[test]
fn integer_arrays_are_targets_only() {
    let dir = Scratch::new("int64");
    // An int64 .npy as y (labels) is read; as x it is refused, naming the file.
    let labels = dir.file(
        "y.npy",
        common::npy_versioned(
            1,
            &common::npy_dict("<i8", "(6,)"),
            &[0i64, 1, 2, 1, 0, 2]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    );
    let spec = dir.file("s.json", with(classifier(), "y", json!(p(&labels))));
    success(&run(&["train", "--model", p(&spec)]));
    let ints = dir.file(
        "x.npy",
        common::npy_versioned(
            1,
            &common::npy_dict("<i8", "(6, 2)"),
            &[0i64; 12]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    );
    let spec = dir.file("t.json", with(classifier(), "x", json!(p(&ints))));
    let err = refused(&run(&["train", "--model", p(&spec)]), "spec.x");
    assert!(err.contains("expected float64"), "{err}");
}
