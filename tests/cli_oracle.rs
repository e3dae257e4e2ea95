//! End-to-end tests of the port oracle: `export`, `compare`, NumPy (`.npy`/`.npz`) data
//! files in the model spec, and `train --plot`. They run the real binary and check its
//! files, stdout, stderr and exit code (0 success, 1 a divergence, 2 bad input or usage).
//!
//! The golden port outputs in `tests/fixtures/port/` were made by an independent NumPy
//! port (`examples/numpy_port.py`); `.npy`/`.npz` inputs are built here byte by byte, so
//! no Python is needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

/// The article's inputs and targets.
const ARTICLE_X: [[f64; 2]; 4] = [[1.0, 2.0], [2.0, 1.0], [3.0, 1.0], [1.0, 3.0]];
const ARTICLE_Y: [f64; 4] = [4.0, 3.0, 5.0, 5.0];

mod common;
use common::{
    crc32, fixture_path as fixture, npy_dict, npy_f64, npy_versioned, run, shape_text, stderr,
    stdout, success, Scratch, BIN,
};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Asserts exit 2 with exactly one line on stderr (`error: …`) and nothing on stdout;
/// returns that line.
fn bad_input(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "exit code; stdout: {}; stderr: {err}",
        stdout(o)
    );
    assert!(o.stdout.is_empty(), "stdout not empty: {}", stdout(o));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one stderr line, got: {err:?}");
    assert!(lines[0].starts_with("error:"), "{err:?}");
    assert!(!err.contains("panicked"), "{err}");
    lines[0].to_string()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable JSON file");
    serde_json::from_str(&text).expect("valid JSON")
}

fn port_trajectory() -> Value {
    read_json(&fixture("port/numpy_port_trajectory.json"))
}

fn compare(candidate: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["compare", p(candidate)];
    args.extend_from_slice(extra);
    run(&args)
}

/// Runs `compare` on `doc` written into the scratch folder as `name`.
fn compare_doc(s: &Scratch, name: &str, doc: &Value) -> Output {
    let path = s.file(name, doc.to_string());
    compare(&path, &[])
}

/// Asserts exit 1 and returns the `first divergence: …` line of stdout.
fn divergence_line(o: &Output) -> String {
    let out = stdout(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "exit code; stdout: {out}; stderr: {}",
        stderr(o)
    );
    assert!(o.stderr.is_empty(), "stderr not empty: {}", stderr(o));
    out.lines()
        .find(|l| l.starts_with("first divergence: "))
        .unwrap_or_else(|| panic!("no first divergence line in {out}"))
        .to_string()
}

/// Parses `expected X, got Y` out of a divergence line.
fn expected_and_got(line: &str) -> (f64, f64) {
    let after = |tag: &str| -> f64 {
        let rest = &line[line.find(tag).unwrap_or_else(|| panic!("{tag} in {line}")) + tag.len()..];
        let num = rest.split([',', ' ']).next().expect("a number");
        num.parse().unwrap_or_else(|_| panic!("{num:?} in {line}"))
    };
    (after("expected "), after("got "))
}

/// Runs `export --out DIR` with `extra` flags.
fn export(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["export", "--out", p(out)];
    args.extend_from_slice(extra);
    run(&args)
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    serde_json::from_value(v.clone()).expect("a matrix of numbers")
}

fn floats(v: &Value) -> Vec<f64> {
    serde_json::from_value(v.clone()).expect("an array of numbers")
}

// ---------------------------------------------------------------------------------------
// Hand-made NumPy files
// ---------------------------------------------------------------------------------------

/// Reads a `.npy` written by `export` (v1, '<f8', C order) back into shape and values.
fn read_npy_f64(bytes: &[u8]) -> (Vec<usize>, Vec<f64>) {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "magic");
    assert_eq!(bytes[6], 1, "version 1");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + len]).expect("text header");
    assert!(header.contains("'descr': '<f8'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("shape");
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a size"))
        .collect();
    let data = &bytes[10 + len..];
    assert_eq!(data.len(), 8 * shape.iter().product::<usize>(), "data size");
    let values = data
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    (shape, values)
}

/// An uncompressed zip archive (as `np.savez` writes) of `(name, bytes)` members.
fn zip_stored(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let u16le = |v: usize| u16::try_from(v).expect("fits u16").to_le_bytes();
    let u32le = |v: usize| u32::try_from(v).expect("fits u32").to_le_bytes();
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let offset = out.len();
        let crc = crc32(data).to_le_bytes();
        // Local file header.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&0u16.to_le_bytes()); // stored
        out.extend_from_slice(&0u16.to_le_bytes()); // time
        out.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
        out.extend_from_slice(&crc);
        out.extend_from_slice(&u32le(data.len()));
        out.extend_from_slice(&u32le(data.len()));
        out.extend_from_slice(&u16le(name.len()));
        out.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // Central directory entry.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        central.extend_from_slice(&20u16.to_le_bytes()); // needed
        central.extend_from_slice(&0u16.to_le_bytes()); // flags
        central.extend_from_slice(&0u16.to_le_bytes()); // stored
        central.extend_from_slice(&0u16.to_le_bytes()); // time
        central.extend_from_slice(&0x21u16.to_le_bytes()); // date
        central.extend_from_slice(&crc);
        central.extend_from_slice(&u32le(data.len()));
        central.extend_from_slice(&u32le(data.len()));
        central.extend_from_slice(&u16le(name.len()));
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&u32le(offset));
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = out.len();
    out.extend_from_slice(&central);
    // End of central directory.
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&u16le(members.len()));
    out.extend_from_slice(&u16le(members.len()));
    out.extend_from_slice(&u32le(central.len()));
    out.extend_from_slice(&u32le(central_offset));
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The article's initial `W1` (3, 2) as NumPy made it (`tests/fixtures/parity/article.json`).
fn numpy_initial_w1() -> Vec<Vec<f64>> {
    let numpy = read_json(&fixture("parity/article.json"));
    matrix(&numpy["initial"]["layers"][0]["W"])
}

fn article_x_flat() -> Vec<f64> {
    ARTICLE_X.iter().flatten().copied().collect()
}

/// A spec using NumPy files for `x` and `y` (relative to the spec file).
fn npy_spec(s: &Scratch, x: &str, y: &str) -> PathBuf {
    let spec = json!({
        "sizes": [2, 3, 1],
        "activations": ["relu", "identity"],
        "x": x,
        "y": y
    });
    s.file("spec.json", spec.to_string())
}

fn train_model(model: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--model", p(model)];
    args.extend_from_slice(extra);
    run(&args)
}

// ---------------------------------------------------------------------------------------
// 1. export
// ---------------------------------------------------------------------------------------

#[test]
fn export_writes_trajectory_json_with_the_schema_and_reference_npz() {
    let s = Scratch::new("export_schema");
    let out = s.path("golden");
    let text = success(&export(&out, &[]));
    assert!(text.starts_with("wrote "), "{text}");
    assert!(out.join("reference.npz").is_file(), "reference.npz");
    assert!(!out.join("npy").exists(), "no npy/ without --npy");

    let doc = read_json(&out.join("trajectory.json"));
    assert_eq!(doc["format"], json!("backprop-oracle trajectory"));
    assert_eq!(doc["schema_version"], json!(2));
    let header = doc["header"].as_object().expect("header object");
    for key in [
        "tool",
        "version",
        "command",
        "spec",
        "trace_steps",
        "exactness",
    ] {
        assert!(header.contains_key(key), "header.{key} missing");
    }
    assert_eq!(doc["header"]["tool"], json!("backprop-oracle"));
    assert_eq!(doc["header"]["version"], json!(env!("CARGO_PKG_VERSION")));
    assert!(doc["header"]["command"]
        .as_str()
        .expect("command string")
        .contains("export"));
    assert!(doc["header"]["exactness"].is_string());
    assert_eq!(doc["header"]["trace_steps"], json!(8));
    assert_eq!(doc["header"]["spec"]["sizes"], json!([2, 3, 1]));
    assert_eq!(doc["header"]["spec"]["epochs"], json!(1000));

    for which in ["initial", "final"] {
        let layers = doc[which]["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 2, "{which}");
    }
    assert_eq!(doc["loss"].as_array().expect("loss").len(), 1000);

    let steps = doc["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 8, "8 traced steps by default");
    let keys = [
        "step", "epoch", "samples", "forward", "loss", "d_output", "backward", "after",
    ];
    for (i, st) in steps.iter().enumerate() {
        let obj = st.as_object().expect("step object");
        let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
        got.sort_unstable();
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "steps[{i}] keys");
        assert_eq!(st["step"], json!(i));
        assert_eq!(st["epoch"], json!(i / 4), "four samples per epoch");
        assert_eq!(st["samples"], json!([i % 4]), "batch size 1, data order");
        assert_eq!(st["forward"].as_array().expect("forward").len(), 2);
        assert_eq!(st["backward"].as_array().expect("backward").len(), 2);
        assert_eq!(matrix(&st["backward"][0]["dW"]).len(), 3, "dW1 is (3, 2)");
        assert_eq!(st["after"]["layers"].as_array().expect("after").len(), 2);
    }
    assert!(s.hidden_entries().is_empty(), "{:?}", s.hidden_entries());
}

#[test]
fn export_npy_writes_one_npy_per_array() {
    let s = Scratch::new("export_npy");
    let out = s.path("golden");
    let text = success(&export(&out, &["--npy"]));
    let npy = out.join("npy");
    for name in [
        "W1_init",
        "b1_init",
        "W2_final",
        "loss",
        "step0_dW1",
        "step7_a2",
        "step0_samples",
    ] {
        assert!(npy.join(format!("{name}.npy")).is_file(), "{name}.npy");
    }
    let count = std::fs::read_dir(&npy).expect("npy dir").count();
    // 4 initial + 4 final + loss, and per step: samples, z/a ×2, loss, dyhat,
    // dW/db/dx ×2, W/b ×2 = 17.
    assert_eq!(count, 4 + 4 + 1 + 8 * 17, "one file per array");
    assert!(
        text.contains(&format!("({count} arrays in reference.npz")),
        "as many .npy files as .npz arrays: {text}"
    );

    let doc = read_json(&out.join("trajectory.json"));
    let (shape, values) =
        read_npy_f64(&std::fs::read(npy.join("W1_init.npy")).expect("W1_init.npy"));
    assert_eq!(shape, vec![3, 2]);
    let w1: Vec<f64> = matrix(&doc["initial"]["layers"][0]["W"]).concat();
    assert_eq!(
        values, w1,
        "W1_init.npy equals trajectory.json's initial W1"
    );
    let (shape, values) =
        read_npy_f64(&std::fs::read(npy.join("step0_dW1.npy")).expect("step0_dW1.npy"));
    assert_eq!(shape, vec![3, 2]);
    assert_eq!(
        values,
        matrix(&doc["steps"][0]["backward"][0]["dW"]).concat()
    );
    assert!(s.hidden_entries().is_empty(), "{:?}", s.hidden_entries());
}

#[test]
fn export_trace_steps_3_records_three_steps() {
    let s = Scratch::new("export_trace3");
    let out = s.path("golden");
    success(&export(&out, &["--trace-steps", "3"]));
    let doc = read_json(&out.join("trajectory.json"));
    assert_eq!(doc["steps"].as_array().expect("steps").len(), 3);
    assert_eq!(doc["header"]["trace_steps"], json!(3));
    assert_eq!(doc["loss"].as_array().expect("loss").len(), 1000);
}

#[test]
fn export_into_an_existing_folder_without_force_is_refused_and_leaves_it_untouched() {
    let s = Scratch::new("export_exists");
    let out = s.path("golden");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("keep.txt"), "mine").expect("marker");
    let line = bad_input(&export(&out, &[]));
    assert!(line.contains("--force"), "{line}");
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("still a folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["keep.txt".to_string()], "contents untouched");
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).expect("marker"),
        "mine"
    );
    assert!(s.hidden_entries().is_empty(), "{:?}", s.hidden_entries());
}

#[test]
fn export_with_force_replaces_only_an_earlier_export() {
    let s = Scratch::new("export_force");
    let out = s.path("golden");
    // A folder an export did not write is never replaced, with or without --force.
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("keep.txt"), "old").expect("marker");
    let o = export(&out, &["--force", "--trace-steps", "2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("keep.txt"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "old"
    );
    std::fs::remove_file(out.join("keep.txt")).expect("rm marker");
    // An empty folder, then an earlier export (with npy/), are replaced.
    success(&export(&out, &["--force", "--trace-steps", "2", "--npy"]));
    let doc = read_json(&out.join("trajectory.json"));
    assert_eq!(doc["steps"].as_array().expect("steps").len(), 2);
    assert!(out.join("reference.npz").is_file() && out.join("npy").is_dir());
    success(&export(&out, &["--force"]));
    let doc = read_json(&out.join("trajectory.json"));
    assert_eq!(doc["steps"].as_array().expect("steps").len(), 8);
    assert!(
        !out.join("npy").exists(),
        "the earlier npy/ went with the earlier export"
    );
    assert!(s.hidden_entries().is_empty(), "{:?}", s.hidden_entries());
}

#[test]
fn export_leaves_no_temporary_folders_after_success_or_failure() {
    let s = Scratch::new("export_no_tmp");
    let out = s.path("golden");
    success(&export(&out, &["--npy"]));
    assert!(
        s.hidden_entries().is_empty(),
        "after success: {:?}",
        s.hidden_entries()
    );
    bad_input(&export(&out, &["--npy"]));
    assert!(
        s.hidden_entries().is_empty(),
        "after refusal: {:?}",
        s.hidden_entries()
    );
    success(&export(&out, &["--npy", "--force"]));
    assert!(
        s.hidden_entries().is_empty(),
        "after --force: {:?}",
        s.hidden_entries()
    );
    // A bad model fails after --out is accepted.
    let model = s.file("bad.json", "{\"sizes\": [2, 0, 1]}");
    bad_input(&run(&[
        "export",
        "--out",
        p(&s.path("other")),
        "--model",
        p(&model),
    ]));
    assert!(!s.path("other").exists());
    // --out naming an existing file, with --force.
    let file = s.file("plain.txt", "x");
    bad_input(&export(&file, &["--force"]));
    assert!(
        s.hidden_entries().is_empty(),
        "after failures: {:?}",
        s.hidden_entries()
    );
}

#[test]
fn export_out_with_a_missing_parent_is_exit_2() {
    let s = Scratch::new("export_no_parent");
    let out = s.path("missing").join("golden");
    let line = bad_input(&export(&out, &[]));
    assert!(line.contains("--out"), "{line}");
    assert!(!s.path("missing").exists());
    assert!(s.hidden_entries().is_empty(), "{:?}", s.hidden_entries());
}

#[test]
fn exported_initial_w1_and_loss_equal_numpy_exactly() {
    let s = Scratch::new("export_numpy_exact");
    let out = s.path("golden");
    success(&export(&out, &[]));
    let doc = read_json(&out.join("trajectory.json"));
    let numpy = read_json(&fixture("parity/article.json"));
    assert_eq!(
        matrix(&doc["initial"]["layers"][0]["W"]),
        numpy_initial_w1(),
        "initial W1 bit for bit"
    );
    let ours = floats(&doc["loss"]);
    let theirs = floats(&numpy["loss"]);
    assert_eq!(ours.len(), theirs.len());
    for (e, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "epoch {e}: {a} vs NumPy {b}");
    }
}

// ---------------------------------------------------------------------------------------
// 2. compare
// ---------------------------------------------------------------------------------------

#[test]
fn compare_numpy_port_trajectory_passes() {
    let out = success(&compare(&fixture("port/numpy_port_trajectory.json"), &[]));
    assert!(out.contains("all within tolerance"), "{out}");
}

#[test]
fn compare_numpy_port_npz_passes() {
    // An .npz holds no spec: name it (the article's run, built in).
    let out = success(&compare(
        &fixture("port/numpy_port_reference.npz"),
        &["--model", "article"],
    ));
    assert!(out.contains("all within tolerance"), "{out}");
}

#[test]
fn compare_minibatch_trajectory_passes_with_its_header_spec() {
    let out = success(&compare(&fixture("port/minibatch_trajectory.json"), &[]));
    assert!(out.contains("all within tolerance"), "{out}");
}

#[test]
fn compare_names_a_perturbed_gradient_as_the_first_divergence() {
    let s = Scratch::new("compare_perturbed_grad");
    let mut doc = port_trajectory();
    let orig = doc["steps"][3]["backward"][0]["dW"][1][0]
        .as_f64()
        .expect("a number");
    let bumped = orig + 1e-6;
    doc["steps"][3]["backward"][0]["dW"][1][0] = json!(bumped);
    let o = compare_doc(&s, "perturbed.json", &doc);
    let line = divergence_line(&o);
    assert!(
        line.starts_with("first divergence: step 3, layers[0].dW[1][0]: expected "),
        "{line}"
    );
    let (expected, got) = expected_and_got(&line);
    assert_eq!(expected, orig, "{line}");
    assert_eq!(got, bumped, "{line}");
    assert!(line.contains("1 value(s) outside tolerance"), "{line}");
}

#[test]
fn compare_reports_the_earliest_divergence_in_time_order() {
    let s = Scratch::new("compare_time_order");
    let mut doc = port_trajectory();
    let orig = doc["steps"][3]["backward"][0]["dW"][1][0]
        .as_f64()
        .expect("a number");
    doc["steps"][3]["backward"][0]["dW"][1][0] = json!(orig + 1e-6);
    // A much larger error later in time (the final parameters; "final" also comes
    // before "steps" in the file).
    let w = doc["final"]["layers"][0]["W"][0][0]
        .as_f64()
        .expect("a number");
    doc["final"]["layers"][0]["W"][0][0] = json!(w + 1.0);
    let line = divergence_line(&compare_doc(&s, "perturbed.json", &doc));
    assert!(
        line.starts_with("first divergence: step 3, layers[0].dW[1][0]: expected "),
        "{line}"
    );
    assert!(line.contains("2 value(s) outside tolerance"), "{line}");
}

#[test]
fn compare_names_a_perturbed_forward_activation() {
    let s = Scratch::new("compare_perturbed_forward");
    let mut doc = port_trajectory();
    let orig = doc["steps"][5]["forward"][1]["a"][0][0]
        .as_f64()
        .expect("a number");
    doc["steps"][5]["forward"][1]["a"][0][0] = json!(orig + 1e-6);
    let line = divergence_line(&compare_doc(&s, "perturbed.json", &doc));
    assert!(
        line.starts_with("first divergence: step 5, layers[1].a[0][0]: expected "),
        "{line}"
    );
    let (expected, _) = expected_and_got(&line);
    assert_eq!(expected, orig, "{line}");
}

#[test]
fn compare_subset_with_only_loss_passes() {
    let s = Scratch::new("compare_only_loss");
    let doc = json!({"loss": port_trajectory()["loss"].clone()});
    let path = s.file("loss.json", doc.to_string());
    let out = success(&compare(&path, &["--model", "article"]));
    assert!(out.contains("all within tolerance"), "{out}");
}

#[test]
fn compare_subset_with_only_final_passes() {
    let s = Scratch::new("compare_only_final");
    let doc = json!({"final": port_trajectory()["final"].clone()});
    let path = s.file("final.json", doc.to_string());
    let out = success(&compare(&path, &["--model", "article"]));
    assert!(out.contains("all within tolerance"), "{out}");
}

#[test]
fn compare_exported_files_pass_at_zero_tolerance() {
    let s = Scratch::new("compare_exported_exact");
    let out = s.path("golden");
    success(&export(&out, &["--trace-steps", "5"]));
    for file in ["trajectory.json", "reference.npz"] {
        let args = ["--rtol", "0", "--atol", "0", "--model", "article"];
        let text = success(&compare(&out.join(file), &args));
        assert!(text.contains("all within tolerance"), "{file}: {text}");
    }
}

#[test]
fn compare_hand_made_npz_with_numpy_initial_w1_passes() {
    // A control for the hand-made zip writer used by the unknown-array test.
    let s = Scratch::new("compare_hand_npz");
    let w1 = numpy_initial_w1().concat();
    let npz = zip_stored(&[("W1_init.npy", npy_f64(&[3, 2], &w1))]);
    let path = s.file("w1.npz", npz);
    let out = success(&compare(
        &path,
        &["--rtol", "0", "--atol", "0", "--model", "article"],
    ));
    assert!(out.contains("all within tolerance"), "{out}");
}

// ---------------------------------------------------------------------------------------
// 3. compare: bad input
// ---------------------------------------------------------------------------------------

#[test]
fn compare_truncated_json_is_exit_2() {
    let s = Scratch::new("bad_truncated_json");
    let text = std::fs::read(fixture("port/numpy_port_trajectory.json")).expect("fixture");
    let path = s.file("half.json", &text[..text.len() / 2]);
    let line = bad_input(&compare(&path, &[]));
    assert!(line.contains("half.json"), "{line}");
}

#[test]
fn compare_garbled_bytes_is_exit_2() {
    let s = Scratch::new("bad_garbled");
    let bytes: Vec<u8> = (0..1024u32).map(|i| (i * 151 % 256) as u8).collect();
    let path = s.file("garbled.json", bytes);
    let line = bad_input(&compare(&path, &[]));
    assert!(line.contains("garbled.json"), "{line}");
}

#[test]
fn compare_string_instead_of_number_names_the_path() {
    let s = Scratch::new("bad_string_number");
    let mut doc = port_trajectory();
    doc["steps"][0]["loss"][0] = json!("0.5");
    let line = bad_input(&compare_doc(&s, "t.json", &doc));
    assert!(line.contains("steps[0].loss[0]"), "{line}");
    assert!(line.contains("number"), "{line}");
}

#[test]
fn compare_unknown_top_level_key_is_exit_2() {
    let s = Scratch::new("bad_unknown_key");
    let mut doc = port_trajectory();
    doc["weights"] = json!([1, 2]);
    let line = bad_input(&compare_doc(&s, "t.json", &doc));
    assert!(line.contains("weights"), "{line}");
    assert!(line.contains("unknown key"), "{line}");
}

#[test]
fn compare_ragged_matrix_is_exit_2() {
    let s = Scratch::new("bad_ragged");
    let mut doc = port_trajectory();
    doc["initial"]["layers"][0]["W"][1] = json!([0.5]);
    let line = bad_input(&compare_doc(&s, "t.json", &doc));
    assert!(line.contains("initial.layers[0].W[1]"), "{line}");
    assert!(line.contains("ragged"), "{line}");
}

#[test]
fn compare_wrong_shape_names_the_quantity() {
    let s = Scratch::new("bad_shape");
    let mut doc = port_trajectory();
    let w: Vec<Vec<f64>> = matrix(&doc["initial"]["layers"][0]["W"]);
    doc["initial"]["layers"][0]["W"] = json!(w.iter().map(|r| vec![r[0]]).collect::<Vec<_>>());
    let line = bad_input(&compare_doc(&s, "t.json", &doc));
    assert!(line.contains("initial layers[0].W"), "{line}");
    assert!(line.contains("shape"), "{line}");
}

#[test]
fn compare_step_beyond_the_run_is_exit_2() {
    let s = Scratch::new("bad_step_index");
    let mut doc = port_trajectory();
    doc["steps"][0]["step"] = json!(999_999);
    let line = bad_input(&compare_doc(&s, "t.json", &doc));
    assert!(line.contains("999999"), "{line}");
}

#[test]
fn compare_truncated_npz_is_exit_2() {
    let s = Scratch::new("bad_truncated_npz");
    let bytes = std::fs::read(fixture("port/numpy_port_reference.npz")).expect("fixture");
    let path = s.file("cut.npz", &bytes[..1000]);
    let line = bad_input(&compare(&path, &[]));
    assert!(line.contains("cut.npz"), "{line}");
}

#[test]
fn compare_npz_with_an_unknown_array_is_exit_2() {
    let s = Scratch::new("bad_npz_unknown");
    let w1 = numpy_initial_w1().concat();
    let npz = zip_stored(&[
        ("W1_init.npy", npy_f64(&[3, 2], &w1)),
        ("velocity.npy", npy_f64(&[2], &[1.0, 2.0])),
    ]);
    let path = s.file("extra.npz", npz);
    let line = bad_input(&compare(&path, &[]));
    assert!(line.contains("velocity"), "{line}");
}

#[test]
fn compare_directory_as_candidate_is_exit_2() {
    let s = Scratch::new("bad_dir");
    let dir = s.path("cand.json");
    std::fs::create_dir(&dir).expect("mkdir");
    let line = bad_input(&compare(&dir, &[]));
    assert!(line.contains("directory"), "{line}");
}

#[test]
fn compare_missing_file_is_exit_2() {
    let s = Scratch::new("bad_missing");
    let line = bad_input(&compare(&s.path("nowhere.json"), &[]));
    assert!(line.contains("nowhere.json"), "{line}");
}

#[test]
fn compare_negative_rtol_is_exit_2() {
    let line = bad_input(&compare(
        &fixture("port/numpy_port_trajectory.json"),
        &["--rtol", "-1"],
    ));
    assert!(line.contains("--rtol"), "{line}");
}

// ---------------------------------------------------------------------------------------
// 4. NumPy files in the model spec
// ---------------------------------------------------------------------------------------

#[test]
fn spec_with_x_and_y_npy_files_gives_the_article_output() {
    let s = Scratch::new("spec_npy");
    s.file("x.npy", npy_f64(&[4, 2], &article_x_flat()));
    s.file("y.npy", npy_f64(&[4], &ARTICLE_Y));
    let spec = npy_spec(&s, "x.npy", "y.npy");
    let expected = std::fs::read(fixture("article_stdout.txt")).expect("fixture");
    // Run from elsewhere: the paths are relative to the spec file, not the cwd.
    let o = Command::new(BIN)
        .args(["train", "--model", p(&spec)])
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run");
    assert_eq!(success(&o).as_bytes(), expected.as_slice());
    // The JSON output (losses, parameters, resolved spec) equals the default run's,
    // except that the resolved spec refers to the data files instead of copying them
    // (the digests: `sha256sum` of NumPy's own files with these bytes, see
    // tests/fixtures/data/README.md).
    let mut ours: Value =
        serde_json::from_str(&success(&train_model(&spec, &["--format", "json"]))).unwrap();
    let mut default: Value =
        serde_json::from_str(&success(&run(&["train", "--format", "json"]))).unwrap();
    let abs = |name: &str| {
        std::path::absolute(s.path(name))
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        ours["spec"]["x"],
        json!({"dtype": "<f8", "file": abs("x.npy"), "shape": [4, 2],
               "sha256": "3c2f246b9a9b8b7d1b279f1264f49cb3d538e3634915b95a780fdcaa227300c9"})
    );
    assert_eq!(
        ours["spec"]["y"],
        json!({"dtype": "<f8", "file": abs("y.npy"), "shape": [4],
               "sha256": "5ba75a282af14355a5679e1e17d077f3c2f7d0a85acc95d74115a73d1f9139c4"})
    );
    for key in ["x", "y"] {
        ours["spec"][key] = Value::Null;
        default["spec"][key] = Value::Null;
    }
    assert_eq!(ours, default);
}

#[test]
fn spec_with_x_and_y_from_one_npz_gives_the_article_output() {
    let s = Scratch::new("spec_npz");
    let npz = zip_stored(&[
        ("x.npy", npy_f64(&[4, 2], &article_x_flat())),
        ("y.npy", npy_f64(&[4, 1], &ARTICLE_Y)),
    ]);
    s.file("data.npz", npz);
    let spec = npy_spec(&s, "data.npz", "data.npz");
    let expected = std::fs::read(fixture("article_stdout.txt")).expect("fixture");
    assert_eq!(
        success(&train_model(&spec, &[])).as_bytes(),
        expected.as_slice()
    );
}

#[test]
fn spec_npy_with_int64_dtype_is_exit_2_naming_file_and_float64() {
    let s = Scratch::new("spec_npy_dtype");
    let data: Vec<u8> = [1i64, 2, 2, 1, 3, 1, 1, 3]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    s.file(
        "x.npy",
        npy_versioned(1, &npy_dict("<i8", &shape_text(&[4, 2])), &data),
    );
    s.file("y.npy", npy_f64(&[4], &ARTICLE_Y));
    let line = bad_input(&train_model(&npy_spec(&s, "x.npy", "y.npy"), &[]));
    assert!(line.contains("x.npy"), "{line}");
    assert!(line.contains("float64"), "{line}");
}

#[test]
fn spec_npy_with_truncated_data_is_exit_2() {
    let s = Scratch::new("spec_npy_truncated");
    let mut bytes = npy_f64(&[4, 2], &article_x_flat());
    bytes.truncate(bytes.len() - 12);
    s.file("x.npy", bytes);
    s.file("y.npy", npy_f64(&[4], &ARTICLE_Y));
    let line = bad_input(&train_model(&npy_spec(&s, "x.npy", "y.npy"), &[]));
    assert!(line.contains("x.npy"), "{line}");
}

#[test]
fn spec_npy_x_with_three_columns_is_exit_2_naming_spec_x() {
    let s = Scratch::new("spec_npy_cols");
    let x: Vec<f64> = ARTICLE_X.iter().flat_map(|r| [r[0], r[1], 0.0]).collect();
    s.file("x.npy", npy_f64(&[4, 3], &x));
    s.file("y.npy", npy_f64(&[4], &ARTICLE_Y));
    let line = bad_input(&train_model(&npy_spec(&s, "x.npy", "y.npy"), &[]));
    assert!(line.contains("spec.x"), "{line}");
    assert!(line.contains('3'), "{line}");
}

#[test]
fn spec_npy_with_nan_is_exit_2_naming_the_element() {
    let s = Scratch::new("spec_npy_nan");
    let mut x = article_x_flat();
    x[5] = f64::NAN; // row 2, column 1
    s.file("x.npy", npy_f64(&[4, 2], &x));
    s.file("y.npy", npy_f64(&[4], &ARTICLE_Y));
    let line = bad_input(&train_model(&npy_spec(&s, "x.npy", "y.npy"), &[]));
    assert!(line.contains("spec.x"), "{line}");
    assert!(line.contains("[2][1]"), "{line}");
    assert!(line.contains("finite"), "{line}");
}

// ---------------------------------------------------------------------------------------
// 5. train --plot
// ---------------------------------------------------------------------------------------

fn assert_svg(path: &Path) -> String {
    let svg = std::fs::read_to_string(path).expect("plot written");
    assert!(
        svg.trim_start().starts_with("<svg"),
        "{}",
        &svg[..svg.len().min(200)]
    );
    assert!(
        svg.contains("<polyline") || svg.contains("<path"),
        "a line in the SVG"
    );
    assert!(svg.trim_end().ends_with("</svg>"), "complete SVG");
    svg
}

#[test]
fn train_plot_writes_an_svg() {
    let s = Scratch::new("plot_svg");
    let svg = s.path("loss.svg");
    success(&run(&["train", "--plot", p(&svg)]));
    assert_svg(&svg);
}

#[test]
fn train_plot_log_scale_writes_an_svg() {
    let s = Scratch::new("plot_log");
    let lin = s.path("lin.svg");
    let log = s.path("log.svg");
    success(&run(&["train", "--plot", p(&lin)]));
    success(&run(&["train", "--plot", p(&log), "--log-scale"]));
    let log_text = assert_svg(&log);
    assert_ne!(
        log_text,
        std::fs::read_to_string(&lin).expect("lin"),
        "a log scale draws a different plot"
    );
}

#[test]
fn train_log_scale_without_plot_is_a_usage_error() {
    let o = run(&["train", "--log-scale"]);
    bad_input(&o);
}

#[test]
fn train_log_scale_without_plot_error_names_plot() {
    let line = bad_input(&run(&["train", "--log-scale"]));
    assert!(line.contains("--plot"), "{line}");
}

#[test]
fn train_plot_does_not_change_stdout() {
    let s = Scratch::new("plot_stdout");
    let expected = std::fs::read(fixture("article_stdout.txt")).expect("fixture");
    let plain = success(&run(&["train"]));
    let plotted = success(&run(&["train", "--plot", p(&s.path("loss.svg"))]));
    assert_eq!(plotted, plain);
    assert_eq!(plotted.as_bytes(), expected.as_slice());
    assert_eq!(plotted.lines().count(), 10);
}
