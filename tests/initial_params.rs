//! The spec key `initial`: a network's initial parameters given instead of drawn from
//! `seed` and `init_scale` (issue 22). The article's parameters as NumPy drew them
//! (`tests/fixtures/parity/article.json`, made by `scripts/gen_parity.py`) given this
//! way must print the article's ten lines exactly, in every form the key takes; the
//! key is refused beside `seed`/`init_scale` and `--seed`, and every malformed value is
//! exit 2 with one line naming the field.

use std::process::{Command, Output};

use serde_json::{json, Value};

mod common;
use common::{fixture_json, fixture_path, stderr, stdout, Scratch, BIN};

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run backprop-oracle")
}

/// The article's spec with NumPy's initial parameters under `initial` and no seed.
fn article_given() -> Value {
    let fixture = fixture_json("parity/article.json");
    let mut spec = fixture["spec"].clone();
    let obj = spec.as_object_mut().expect("spec object");
    obj.remove("seed");
    obj.remove("init_scale");
    obj.insert("initial".into(), fixture["initial"].clone());
    spec
}

fn write(s: &Scratch, name: &str, v: &Value) -> String {
    s.file(name, v.to_string())
        .to_str()
        .expect("UTF-8")
        .to_string()
}

/// Exit 2, nothing on stdout, one stderr line that starts with `error: {field}` and
/// holds `words`.
fn refused(o: &Output, field: &str, words: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(o.stdout.is_empty(), "stdout: {}", stdout(o));
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("error: {field}")) && err.contains(words),
        "expected `error: {field}…{words}…`, got {err}"
    );
}

#[test]
fn the_article_from_given_parameters_prints_the_article_lines() {
    let s = Scratch::new("given");
    let expected = std::fs::read(fixture_path("article_stdout.txt")).expect("fixture");
    let spec = write(&s, "spec.json", &article_given());
    let o = run(&["train", "--model", &spec]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, expected);

    // The resolved spec gives `initial` back (inline) and neither seed nor init_scale.
    let o = run(&[
        "train", "--model", &spec, "--format", "json", "--epochs", "1",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let keys: Vec<&str> = v["spec"]
        .as_object()
        .expect("spec")
        .keys()
        .map(String::as_str)
        .collect();
    assert!(keys.contains(&"initial"), "{keys:?}");
    assert!(
        !keys.contains(&"seed") && !keys.contains(&"init_scale"),
        "{keys:?}"
    );
    assert_eq!(v["spec"]["initial"], article_given()["initial"]);
    assert_eq!(v["initial"], article_given()["initial"]);
}

#[test]
fn initial_from_an_npz_relative_to_the_spec() {
    let s = Scratch::new("npz");
    let expected = std::fs::read(fixture_path("article_stdout.txt")).expect("fixture");
    // The article's export: its reference.npz holds W1_init, b1_init, W2_init, b2_init.
    let out = s.path("golden");
    let o = run(&["export", "--out", out.to_str().expect("UTF-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut spec = article_given();
    for (name, initial) in [
        ("a.json", json!("golden/reference.npz")),
        ("b.json", json!({"file": "golden/reference.npz"})),
    ] {
        spec["initial"] = initial;
        let path = write(&s, name, &spec);
        // Run from elsewhere: the file is relative to the spec's folder.
        let o = Command::new(BIN)
            .args(["train", "--model", &path])
            .current_dir(std::env::temp_dir())
            .output()
            .expect("run");
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert_eq!(o.stdout, expected, "{name}");
    }
    spec["initial"] = json!("golden/missing.npz");
    let path = write(&s, "c.json", &spec);
    refused(
        &run(&["train", "--model", &path]),
        "spec.initial",
        "missing.npz",
    );
}

#[test]
fn initial_is_one_source_of_truth() {
    let s = Scratch::new("one_source");
    for key in ["seed", "init_scale"] {
        let mut spec = article_given();
        spec[key] = json!(1);
        let path = write(&s, "spec.json", &spec);
        let o = run(&["train", "--model", &path]);
        refused(&o, "spec.initial", &format!("spec.{key}"));
    }
    let path = write(&s, "spec.json", &article_given());
    refused(
        &run(&["train", "--model", &path, "--seed", "3"]),
        "--seed",
        "initial",
    );
}

#[test]
fn malformed_initial_values_name_their_field() {
    let s = Scratch::new("malformed");
    let w0 = |w: Value| json!({"layers": [{"W": w, "b": [0, 0, 0]}, {"W": [[1, 2, 3]], "b": [0]}]});
    let cases = [
        (json!(3), "spec.initial", "must be an object"),
        (
            json!({"layers": []}),
            "spec.initial.layers",
            "has 0 layers, the network has 2",
        ),
        (
            json!({"layers": [], "x": 1}),
            "spec.initial",
            "exactly one key",
        ),
        (
            w0(json!([[1, 2], [3, 4]])),
            "spec.initial.layers[0].W",
            "has 2 rows",
        ),
        (
            w0(json!([[1, 2], [3, 4], [5]])),
            "spec.initial.layers[0].W[2]",
            "has 1 values, expected 2",
        ),
        (
            w0(json!([[1, 2], [3, 4], [5, "x"]])),
            "spec.initial.layers[0].W[2][1]",
            "must be a number",
        ),
        (
            json!({"layers": [{"W": [[1, 2], [3, 4], [5, 6]], "b": [0, 0]}, {"W": [[1, 2, 3]], "b": [0]}]}),
            "spec.initial.layers[0].b",
            "has 2 values, expected 3",
        ),
        (
            json!({"layers": [{"W": [[1, 2], [3, 4], [5, 6]]}, {"W": [[1, 2, 3]], "b": [0]}]}),
            "spec.initial.layers[0].b",
            "is required",
        ),
        (
            json!({"layers": [{"W": [[1, 2], [3, 4], [5, 6]], "b": [0, 0, 0], "c": 1}, {"W": [[1, 2, 3]], "b": [0]}]}),
            "spec.initial.layers[0].c",
            "unknown key",
        ),
    ];
    for (initial, field, words) in cases {
        let mut spec = article_given();
        spec["initial"] = initial.clone();
        let path = s.file("spec.json", spec.to_string());
        let o = run(&["train", "--model", path.to_str().expect("UTF-8")]);
        refused(&o, field, words);
    }
}

/// `export` and `compare` run from the given parameters too: the trajectory's header
/// gives them, and comparing the export with itself passes.
#[test]
fn export_and_compare_honour_initial() {
    let s = Scratch::new("export");
    let spec = write(&s, "spec.json", &article_given());
    let out = s.path("g");
    let o = run(&[
        "export",
        "--model",
        &spec,
        "--out",
        out.to_str().expect("UTF-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("trajectory.json")).expect("trajectory"),
    )
    .expect("JSON");
    assert_eq!(t["header"]["spec"]["initial"], article_given()["initial"]);
    assert_eq!(t["initial"], article_given()["initial"]);
    let o = run(&[
        "compare",
        out.join("trajectory.json").to_str().expect("UTF-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The same trajectory against the seeded article: the header and the model differ
    // in where the initial parameters come from, which is named.
    let o = run(&[
        "compare",
        out.join("trajectory.json").to_str().expect("UTF-8"),
        "--model",
        "article",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("initial (model seed 0 init_scale 1, header given)"),
        "{err}"
    );
}

/// `docs/ports.md` for port authors: its spec with `initial` is one `train` accepts, and
/// its `$ backprop-oracle …` session prints what the doc shows (run in a new folder).
#[test]
fn the_ports_doc_runs_as_shown() {
    let s = Scratch::new("ports_doc");
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ports.md"),
    )
    .expect("docs/ports.md");
    let blocks: Vec<&str> = doc.split("```").skip(1).step_by(2).collect();
    let spec = blocks
        .iter()
        .filter_map(|b| b.strip_prefix("json\n"))
        .find(|b| b.contains("\"initial\""))
        .expect("a spec with initial");
    let path = s.file("spec.json", spec);
    let o = run(&["train", "--model", path.to_str().expect("UTF-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut sessions = 0;
    for block in &blocks {
        for chunk in block.split("$ backprop-oracle ").skip(1) {
            let (command, shown) = chunk.split_once('\n').expect("a command line");
            let o = Command::new(BIN)
                .args(command.split_whitespace())
                .current_dir(&s.dir)
                .output()
                .expect("run");
            assert_eq!(format!("{}{}", stdout(&o), stderr(&o)), shown, "{command}");
            assert_eq!(o.status.code(), Some(0), "{command}");
            sessions += 1;
        }
    }
    assert!(sessions >= 1, "no $ session in docs/ports.md");
}
