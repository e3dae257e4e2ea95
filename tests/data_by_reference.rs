//! Trajectories refer to their data files instead of holding them (schema version 2):
//! `export` records each file's name, member, shape, dtype and SHA-256 in
//! `header.spec`; `compare` reads the data through that reference and checks the hash;
//! a spec may give the same reference itself. Version 1 files are still read.
//!
//! The golden SHA-256 digests are coreutils' `sha256sum` of the NumPy-written fixtures
//! in `tests/fixtures/data/` (see its README for both commands).

use std::path::Path;

use serde_json::{json, Value};

mod common;
use common::{article_spec, fixture_path, refused, run, stdout, success, Scratch};

/// `sha256sum article_x.npy` (= `unzip -p article.npz x.npy | sha256sum`).
const X_SHA256: &str = "3c2f246b9a9b8b7d1b279f1264f49cb3d538e3634915b95a780fdcaa227300c9";
/// `unzip -p article.npz y.npy | sha256sum`.
const Y_SHA256: &str = "5ba75a282af14355a5679e1e17d077f3c2f7d0a85acc95d74115a73d1f9139c4";

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The article's spec with `x` and `y` replaced, 50 epochs.
fn spec_with(x: Value, y: Value) -> Value {
    let mut s = article_spec();
    s["x"] = x;
    s["y"] = y;
    s["epochs"] = json!(50);
    s
}

fn write_spec(dir: &Scratch, name: &str, spec: &Value) -> std::path::PathBuf {
    dir.file(name, serde_json::to_string(spec).unwrap())
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `export` of a spec whose data come from an `.npz` places the file in the folder and
/// writes its path there, member, shape, dtype and SHA-256 into `header.spec` — not the
/// values — and says schema version 2; `compare` reads the data back through the
/// reference.
#[test]
fn export_refers_to_its_data_files_and_compare_reads_them_back() {
    let dir = Scratch::new("refers");
    let npz = fixture_path("data/article.npz");
    let spec = write_spec(
        &dir,
        "spec.json",
        &spec_with(json!(p(&npz)), json!(p(&npz))),
    );
    let out = dir.path("golden");
    success(&run(&["export", "--model", p(&spec), "--out", p(&out)]));
    let doc = read_json(&out.join("trajectory.json"));
    assert_eq!(doc["schema_version"], json!(2));
    let header_spec = &doc["header"]["spec"];
    assert_eq!(
        header_spec["x"],
        json!({"dtype": "<f8", "file": "data/article.npz", "member": "x",
               "sha256": X_SHA256, "shape": [4, 2]})
    );
    assert_eq!(
        header_spec["y"],
        json!({"dtype": "<f8", "file": "data/article.npz", "member": "y",
               "sha256": Y_SHA256, "shape": [4]})
    );
    // The same run from inline data: the same numbers (only the header differs).
    let inline = write_spec(
        &dir,
        "inline.json",
        &spec_with(article_spec()["x"].clone(), article_spec()["y"].clone()),
    );
    let out_inline = dir.path("inline");
    success(&run(&[
        "export",
        "--model",
        p(&inline),
        "--out",
        p(&out_inline),
    ]));
    let mut a = doc.clone();
    let mut b = read_json(&out_inline.join("trajectory.json"));
    a["header"] = Value::Null;
    b["header"] = Value::Null;
    assert_eq!(a, b);
    assert_eq!(
        std::fs::read(out.join("reference.npz")).unwrap(),
        std::fs::read(out_inline.join("reference.npz")).unwrap()
    );
    // compare from the header alone, and against the inline spec (same values).
    let text = success(&run(&["compare", p(&out.join("trajectory.json"))]));
    assert!(text.contains("all within tolerance"), "{text}");
    success(&run(&[
        "compare",
        p(&out.join("trajectory.json")),
        "--model",
        p(&inline),
    ]));
}

/// A `.npy` data file is referred to without a member; a file changed after the export
/// is refused by its hash, naming the field, the file and both digests.
#[test]
fn a_data_file_changed_after_the_export_is_named_by_its_hash() {
    let dir = Scratch::new("changed");
    let x = dir.file(
        "x.npy",
        std::fs::read(fixture_path("data/article_x.npy")).unwrap(),
    );
    let spec = write_spec(
        &dir,
        "spec.json",
        &spec_with(json!("x.npy"), article_spec()["y"].clone()),
    );
    let out = dir.path("golden");
    success(&run(&["export", "--model", p(&spec), "--out", p(&out)]));
    let doc = read_json(&out.join("trajectory.json"));
    let xref = &doc["header"]["spec"]["x"];
    assert_eq!(xref["sha256"], json!(X_SHA256));
    assert!(xref.get("member").is_none(), "{xref}");
    assert_eq!(doc["header"]["spec"]["y"], json!([4.0, 3.0, 5.0, 5.0]));
    // One input value changed in place: same size, same header, another hash.
    let mut bytes = std::fs::read(&x).unwrap();
    let last = bytes.len() - 8;
    bytes[last..].copy_from_slice(&4.0f64.to_le_bytes());
    std::fs::write(&x, &bytes).unwrap();
    let err = refused(&run(&["compare", p(&out.join("trajectory.json"))]));
    assert!(err.contains("candidate.header.spec.x.sha256"), "{err}");
    assert!(err.contains(X_SHA256) && err.contains("x.npy"), "{err}");
    assert!(err.contains("the data changed"), "{err}");
}

/// A port author who moved the data (here, out of the exported folder) compares with a
/// model spec that names the new place: the header's reference to the old place is
/// matched by its hash, not read.
#[test]
fn a_header_reference_with_the_models_hash_is_not_read_again() {
    let dir = Scratch::new("moved");
    let old = dir.file(
        "old.npz",
        std::fs::read(fixture_path("data/article.npz")).unwrap(),
    );
    let spec = write_spec(
        &dir,
        "spec.json",
        &spec_with(json!("old.npz"), json!("old.npz")),
    );
    let out = dir.path("golden");
    success(&run(&["export", "--model", p(&spec), "--out", p(&out)]));
    std::fs::remove_file(&old).unwrap();
    std::fs::rename(out.join("data/old.npz"), dir.path("new.npz")).unwrap();
    let moved = write_spec(
        &dir,
        "moved.json",
        &spec_with(json!("new.npz"), json!("new.npz")),
    );
    success(&run(&[
        "compare",
        p(&out.join("trajectory.json")),
        "--model",
        p(&moved),
    ]));
    // Without the model the header's file is needed, and its absence is named.
    let err = refused(&run(&["compare", p(&out.join("trajectory.json"))]));
    assert!(err.contains("old.npz"), "{err}");
}

/// A spec may give a reference itself: with the right digest it trains exactly as
/// the inline data; every wrong or unknown part is refused, naming its field.
#[test]
fn references_in_a_spec_are_checked_field_by_field() {
    let dir = Scratch::new("spec-refs");
    let npz = fixture_path("data/article.npz");
    let npy = fixture_path("data/article_x.npy");
    let y = article_spec()["y"].clone();
    let train = |x: Value| {
        let spec = write_spec(&dir, "spec.json", &spec_with(x, y.clone()));
        run(&["train", "--model", p(&spec)])
    };
    let inline = stdout(&train(article_spec()["x"].clone()));
    let good = json!({"file": p(&npz), "member": "x", "shape": [4, 2], "dtype": "<f8", "sha256": X_SHA256});
    assert_eq!(success(&train(good)), inline);
    assert_eq!(
        success(&train(json!({"file": p(&npy), "sha256": X_SHA256}))),
        inline
    );
    let wrong = "0".repeat(64);
    for (x, field, says) in [
        (
            json!({"file": p(&npz), "sha256": wrong}),
            "spec.x.sha256",
            "the data changed",
        ),
        (
            json!({"file": p(&npz), "shape": [4, 3]}),
            "spec.x.shape",
            "[4, 2]",
        ),
        (
            json!({"file": p(&npz), "dtype": "<f4"}),
            "spec.x.dtype",
            "<f8",
        ),
        (
            json!({"file": p(&npy), "member": "x"}),
            "spec.x.member",
            "only for an .npz",
        ),
        (
            json!({"file": p(&npz), "member": "z"}),
            "[z]",
            "no such member",
        ),
        (
            json!({"file": p(&npz), "colour": 1}),
            "spec.x.colour",
            "unknown key",
        ),
        (json!({"sha256": X_SHA256}), "spec.x.file", "required"),
        (
            json!({"file": p(&npz), "sha256": "ABC"}),
            "spec.x.sha256",
            "64 lowercase hex",
        ),
        (
            json!({"file": p(&npz), "shape": [4, -2]}),
            "spec.x.shape[1]",
            "whole number",
        ),
        (json!({"file": 3}), "spec.x.file", "must be a string"),
    ] {
        let err = refused(&train(x.clone()));
        assert!(err.contains(field) && err.contains(says), "{x}: {err}");
    }
}

/// Schema version 1 files (the committed NumPy port output) are still read; other
/// versions are refused, naming the versions read.
#[test]
fn version_1_is_still_read_and_others_are_refused() {
    let v1 = fixture_path("port/numpy_port_trajectory.json");
    assert_eq!(read_json(&v1)["schema_version"], json!(1));
    success(&run(&["compare", p(&v1), "--model", "article"]));
    let dir = Scratch::new("versions");
    let mut doc = read_json(&v1);
    doc["schema_version"] = json!(3);
    let c = dir.file("c.json", doc.to_string());
    let err = refused(&run(&["compare", p(&c), "--model", "article"]));
    assert!(
        err.contains("c.json.schema_version") && err.contains("versions 1 to 2"),
        "{err}"
    );
}
