//! Issue 22 point 5, "Fixtures travel": `export --out DIR` writes a self-contained
//! folder — `trajectory.json`, `reference.npz`, `spec.json` and the data files it read,
//! in `DIR/data/`, referred to relative to the folder with their SHA-256 — that compares
//! after being moved, from any working directory. A relative data path in a candidate's
//! header is looked for beside the candidate, then in the current folder; a missing data
//! file is one error line naming the field, the places tried and the fix.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

mod common;
use common::{article_spec, fixture_path, refused, success, Scratch, BIN};

/// `sha256sum article_x.npy` (= `unzip -p article.npz x.npy | sha256sum`).
const X_SHA256: &str = "3c2f246b9a9b8b7d1b279f1264f49cb3d538e3634915b95a780fdcaa227300c9";

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Runs the binary in the working directory `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run backprop-oracle")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn mkdir(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    dir.to_path_buf()
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A folder `src/` with the article's data as `article.npz` (`x`, `y`) and
/// `held/article_x.npy`, and a spec (50 epochs) reading `x`, `y`, and `x_test`, `y_test`
/// from them; returns the folder.
fn data_folder(s: &Scratch) -> PathBuf {
    let src = mkdir(&s.path("src"));
    std::fs::copy(fixture_path("data/article.npz"), src.join("article.npz")).unwrap();
    mkdir(&src.join("held"));
    std::fs::copy(
        fixture_path("data/article_x.npy"),
        src.join("held/article_x.npy"),
    )
    .unwrap();
    let mut spec = article_spec();
    spec["x"] = json!("article.npz");
    spec["y"] = json!("article.npz");
    spec["x_test"] = json!("held/article_x.npy");
    spec["y_test"] = json!({"file": "article.npz", "member": "y"});
    spec["epochs"] = json!(50);
    std::fs::write(src.join("spec.json"), spec.to_string()).unwrap();
    src
}

/// The exported folder moved away compares from another working directory, by a
/// relative and by an absolute path; its `.npz` compares headerless with its own
/// `spec.json`; no output file holds a path of the exporting folder.
#[test]
fn an_export_moved_elsewhere_compares_from_any_folder() {
    let s = Scratch::new("moved");
    let src = data_folder(&s);
    success(&run_in(
        &src,
        &["export", "--model", "spec.json", "--out", "golden"],
    ));
    let golden = src.join("golden");
    assert_eq!(
        files(&golden),
        [
            "data/article.npz",
            "data/article_x.npy",
            "reference.npz",
            "spec.json",
            "trajectory.json"
        ]
    );
    // Hard-linked (the scratch folder is one file system), byte for byte the source.
    let linked = std::fs::metadata(golden.join("data/article.npz")).unwrap();
    assert_eq!(
        linked.ino(),
        std::fs::metadata(src.join("article.npz")).unwrap().ino()
    );
    let header = &read_json(&golden.join("trajectory.json"))["header"];
    assert_eq!(
        header["spec"]["x_test"],
        json!({"dtype": "<f8", "file": "data/article_x.npy", "sha256": X_SHA256, "shape": [4, 2]})
    );
    assert_eq!(header["spec"]["y"]["file"], json!("data/article.npz"));
    assert_eq!(
        header["command"],
        json!("backprop-oracle export --model spec.json --out golden")
    );
    // spec.json is the fully resolved spec (every key), its data by the same references.
    let spec = read_json(&golden.join("spec.json"));
    assert_eq!(spec["x_test"], header["spec"]["x_test"]);
    assert_eq!(spec["log_every"], json!(100));

    // Moved (as a clone would), then compared from elsewhere.
    let elsewhere = mkdir(&s.path("elsewhere"));
    let moved = elsewhere.join("moved");
    std::fs::rename(&golden, &moved).unwrap();
    let other = mkdir(&s.path("other"));
    for traj in [
        "../elsewhere/moved/trajectory.json",
        p(&moved.join("trajectory.json")),
    ] {
        let text = success(&run_in(&other, &["compare", traj]));
        assert!(text.contains("all within tolerance"), "{text}");
    }
    let text = success(&run_in(
        &other,
        &[
            "compare",
            "../elsewhere/moved/reference.npz",
            "--model",
            "../elsewhere/moved/spec.json",
        ],
    ));
    assert!(text.contains("all within tolerance"), "{text}");
    // The data went with the folder: the originals are not needed.
    std::fs::remove_dir_all(&src).unwrap();
    success(&run_in(
        &other,
        &["compare", "../elsewhere/moved/trajectory.json"],
    ));

    // No output file holds the exporting folder's path (nor the scratch folder's).
    let needles = [p(&src).to_string(), p(&s.dir).to_string()];
    for f in files(&moved) {
        let bytes = std::fs::read(moved.join(&f)).unwrap();
        for needle in &needles {
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "{f} holds {needle}");
        }
    }
}

/// Two data files of one name from different folders get two names; a data file that
/// already lives in the folder (a re-export from the folder's own spec) is placed again;
/// `--force` still refuses a folder holding a file an export does not write.
#[test]
fn data_files_are_named_apart_and_a_folder_re_exports_from_its_own_spec() {
    let s = Scratch::new("names");
    let a = mkdir(&s.path("a"));
    let b = mkdir(&s.path("b"));
    std::fs::copy(fixture_path("data/article_x.npy"), a.join("x.npy")).unwrap();
    std::fs::copy(fixture_path("data/article_x.npy"), b.join("x.npy")).unwrap();
    let mut spec = article_spec();
    spec["x"] = json!("a/x.npy");
    spec["x_test"] = json!("b/x.npy");
    spec["y_test"] = spec["y"].clone();
    spec["epochs"] = json!(5);
    s.file("spec.json", spec.to_string());
    success(&run_in(
        &s.dir,
        &["export", "--model", "spec.json", "--out", "golden"],
    ));
    let golden = s.path("golden");
    let doc = read_json(&golden.join("trajectory.json"));
    assert_eq!(doc["header"]["spec"]["x"]["file"], json!("data/x.npy"));
    assert_eq!(
        doc["header"]["spec"]["x_test"]["file"],
        json!("data/x-2.npy")
    );

    // Re-exported over itself from its own spec: the data lives in the folder.
    success(&run_in(
        &s.path("a"),
        &[
            "export",
            "--model",
            "../golden/spec.json",
            "--out",
            "../golden",
            "--force",
            "--npy",
        ],
    ));
    assert!(files(&golden).contains(&"data/x-2.npy".to_string()));
    assert!(files(&golden).contains(&"npy/loss.npy".to_string()));
    success(&run_in(&b, &["compare", "../golden/trajectory.json"]));
    assert!(s.hidden_entries().is_empty(), "{:?}", s.hidden_entries());

    // A file an export does not write, in data/: not replaced.
    std::fs::write(golden.join("data/notes.txt"), "mine").unwrap();
    let err = refused(&run_in(
        &s.dir,
        &[
            "export",
            "--model",
            "spec.json",
            "--out",
            "golden",
            "--force",
        ],
    ));
    assert!(err.contains("data/notes.txt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(golden.join("data/notes.txt")).unwrap(),
        "mine"
    );
}

/// A port that copies its spec's relative data path into its header: the path is
/// looked for beside the candidate first, then in the current folder.
#[test]
fn a_relative_data_path_in_a_candidates_header_resolves_beside_the_candidate() {
    let s = Scratch::new("relative");
    let src = data_folder(&s);
    success(&run_in(
        &src,
        &["export", "--model", "spec.json", "--out", "golden"],
    ));
    // The port's folder: its output, naming its data as its spec does.
    let port = mkdir(&s.path("port"));
    let mut doc = read_json(&src.join("golden/trajectory.json"));
    let header = &mut doc["header"]["spec"];
    header["x"] = json!("digits200.npz");
    header["y"] = json!("digits200.npz");
    header["x_test"] = json!("data/held_x.npy");
    header["y_test"] = json!({"file": "digits200.npz", "member": "y"});
    std::fs::write(port.join("out.json"), doc.to_string()).unwrap();
    std::fs::copy(src.join("article.npz"), port.join("digits200.npz")).unwrap();
    mkdir(&port.join("data"));
    std::fs::copy(src.join("held/article_x.npy"), port.join("data/held_x.npy")).unwrap();
    let other = mkdir(&s.path("other"));
    success(&run_in(&other, &["compare", "../port/out.json"]));
    // Not beside the candidate, but in the current folder: found there.
    std::fs::rename(port.join("data"), other.join("data")).unwrap();
    success(&run_in(&other, &["compare", "../port/out.json"]));
    // In neither: the field, both places and the fix, on one line.
    std::fs::remove_dir_all(other.join("data")).unwrap();
    let err = refused(&run_in(&other, &["compare", "../port/out.json"]));
    assert!(
        err.starts_with("error: candidate.header.spec.x_test: no file \"data/held_x.npy\""),
        "{err}"
    );
    let beside = std::path::absolute(other.join("../port/data/held_x.npy")).unwrap();
    let here = other.join("data/held_x.npy");
    assert!(
        err.contains(&format!("{} (beside the candidate)", beside.display()))
            && err.contains(&format!("{} (the current folder)", here.display())),
        "{err}"
    );
    assert!(err.contains("give as the model a spec"), "{err}");
}

/// A missing data file is exit 2 and one line naming the field (`….file` for a
/// reference), every place tried and the fix — for a candidate's header and for a
/// spec; a data file that moved is still found by its digest through `--model`.
#[test]
fn a_missing_data_file_names_the_field_the_places_tried_and_the_fix() {
    let s = Scratch::new("missing");
    let src = data_folder(&s);
    success(&run_in(
        &src,
        &["export", "--model", "spec.json", "--out", "golden"],
    ));
    let golden = src.join("golden");
    std::fs::remove_file(golden.join("data/article_x.npy")).unwrap();
    let other = mkdir(&s.path("other"));
    let err = refused(&run_in(
        &other,
        &["compare", p(&golden.join("trajectory.json"))],
    ));
    assert!(
        err.starts_with(
            "error: candidate.header.spec.x_test.file: no file \"data/article_x.npy\": tried "
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{} (beside the candidate)",
            golden.join("data/article_x.npy").display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{} (the current folder)",
            other.join("data/article_x.npy").display()
        )),
        "{err}"
    );
    assert!(
        err.contains("put the file there, or give as the model a spec that names where"),
        "{err}"
    );
    // The spec that names where the data is now: matched by digest, not read.
    success(&run_in(
        &other,
        &[
            "compare",
            p(&golden.join("trajectory.json")),
            "--model",
            p(&src.join("spec.json")),
        ],
    ));
    // A spec naming a missing file: the field, the path tried and the fix.
    std::fs::remove_file(src.join("held/article_x.npy")).unwrap();
    let err = refused(&run_in(
        &other,
        &["train", "--model", p(&src.join("spec.json"))],
    ));
    assert_eq!(
        err.trim_end(),
        format!(
            "error: spec.x_test: no file \"held/article_x.npy\": tried {}; put the file there, \
             or correct the path in the spec (a relative path is relative to the spec's folder)",
            src.join("held/article_x.npy").display()
        )
    );
}

/// A data file named through a symbolic link is placed as the file it names (a link
/// would not travel), and compares after the link and its target are gone.
#[test]
fn a_data_file_named_through_a_symbolic_link_is_placed_as_its_target() {
    let s = Scratch::new("symlink");
    let store = mkdir(&s.path("store"));
    std::fs::copy(fixture_path("data/article_x.npy"), store.join("x.npy")).unwrap();
    std::os::unix::fs::symlink("store/x.npy", s.path("link.npy")).unwrap();
    let mut spec = article_spec();
    spec["x"] = json!("link.npy");
    spec["epochs"] = json!(5);
    s.file("spec.json", spec.to_string());
    success(&run_in(
        &s.dir,
        &["export", "--model", "spec.json", "--out", "golden"],
    ));
    let placed = s.path("golden/data/link.npy");
    assert!(std::fs::symlink_metadata(&placed).unwrap().is_file());
    std::fs::remove_dir_all(&store).unwrap();
    std::fs::remove_file(s.path("link.npy")).unwrap();
    success(&run_in(&s.dir, &["compare", "golden/trajectory.json"]));
}

/// `data::verify` passes a copy holding the digest the array was read with, and names a
/// copy that changed (an export then fails, leaving nothing).
#[test]
fn a_placed_copy_is_checked_against_the_digest_it_was_read_with() {
    use backprop_oracle::io::data::{verify, DataFile};
    let s = Scratch::new("verify");
    let x = s.file(
        "x.npy",
        std::fs::read(fixture_path("data/article_x.npy")).unwrap(),
    );
    let file = DataFile {
        path: x.clone(),
        member: None,
        shape: vec![4, 2],
        dtype: "<f8",
        sha256: X_SHA256.to_string(),
    };
    verify(&file, &x).unwrap();
    let npz = DataFile {
        path: fixture_path("data/article.npz"),
        member: Some("x".into()),
        ..file.clone()
    };
    verify(&npz, &fixture_path("data/article.npz")).unwrap();
    let mut bytes = std::fs::read(&x).unwrap();
    let last = bytes.len() - 8;
    bytes[last..].copy_from_slice(&4.0f64.to_le_bytes());
    std::fs::write(&x, &bytes).unwrap();
    let err = verify(&file, &x).unwrap_err().to_string();
    assert!(
        err.contains(X_SHA256) && err.contains("changed meanwhile"),
        "{err}"
    );
}
