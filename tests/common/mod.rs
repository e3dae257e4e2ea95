//! Helpers shared by the integration tests: reading the NumPy-made fixtures, scratch folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use backprop_oracle::io::spec::Spec;
use ndarray::{Array1, Array2};
use serde_json::Value;

/// `tests/fixtures/<rel>`.
pub fn fixture_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A fixture parsed as JSON.
pub fn fixture_json(rel: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(rel)).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// One layer's `W (out, in)` and `b (out)` from `{"W": [[…]], "b": […]}`.
pub fn layer_params(v: &Value) -> (Array2<f64>, Array1<f64>) {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v["W"].clone()).expect("W rows");
    let b: Vec<f64> = serde_json::from_value(v["b"].clone()).expect("b");
    let (r, c) = (rows.len(), rows[0].len());
    let w = Array2::from_shape_vec((r, c), rows.concat()).expect("rectangular W");
    (w, Array1::from(b))
}

/// `{"layers": [...]}` as a list of `(W, b)`.
pub fn params(v: &Value) -> Vec<(Array2<f64>, Array1<f64>)> {
    v["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(layer_params)
        .collect()
}

/// The parity fixture names, from `tests/fixtures/parity/*.json`.
pub fn parity_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_path("parity"))
        .expect("parity dir")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "json").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    names
}

/// A parity fixture's spec.
pub fn parity_spec(fixture: &Value) -> Spec {
    Spec::from_json_str(&fixture["spec"].to_string(), "spec").expect("fixture spec is valid")
}

/// `|a − b| / max(|a|, |b|)`, 0 when both are 0.
pub fn rel_err(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).abs() / scale
    }
}

/// A per-test scratch folder under the system temp dir (named after the test binary, the
/// test and the process), removed on drop.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "backprop-oracle-{}-{test}-{}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch { dir }
    }

    /// `name` inside the scratch folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `bytes` to `name` in the scratch folder and returns its path.
    pub fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, bytes).expect("write scratch file");
        p
    }

    /// Names in the scratch folder that start with '.' (temporary export folders).
    pub fn hidden_entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .expect("read scratch dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| n.starts_with('.'))
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `backprop-oracle` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_backprop-oracle");

/// Runs the binary with `args` and waits for it.
pub fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .output()
        .expect("run backprop-oracle")
}

/// A child's stdout as UTF-8.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

/// A child's stderr as UTF-8.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// Asserts exit 0 with nothing on stderr and returns stdout.
pub fn success(o: &std::process::Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "exit code; stdout: {}; stderr: {}",
        stdout(o),
        stderr(o)
    );
    assert!(o.stderr.is_empty(), "stderr not empty: {}", stderr(o));
    stdout(o)
}

/// The article's model as a JSON spec, `y` flat.
pub fn article_spec() -> Value {
    serde_json::json!({
        "sizes": [2, 3, 1],
        "activations": ["relu", "identity"],
        "x": [[1, 2], [2, 1], [3, 1], [1, 3]],
        "y": [4, 3, 5, 5]
    })
}

/// `article_spec()` with `key` replaced (or added), serialised.
pub fn article_with(key: &str, value: Value) -> String {
    let mut v = article_spec();
    v[key] = value;
    v.to_string()
}

/// A `.npy` document of format `version`.0: magic, version, header length, the header
/// dict padded with spaces and ending in '\n' so that the preamble is a multiple of 64
/// bytes, then `data`.
pub fn npy_versioned(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.push(version);
    out.push(0);
    out.extend_from_slice(
        &u16::try_from(header.len())
            .expect("short header")
            .to_le_bytes(),
    );
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A `.npy` header's shape tuple: `(n,)` or `(a, b, …)`.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A `.npy` header dict, C order.
pub fn npy_dict(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

/// Little-endian float64 bytes.
pub fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A little-endian float64 `.npy` (v1).
pub fn npy_f64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), values.len());
    npy_versioned(1, &npy_dict("<f8", &shape_text(shape)), &f64_bytes(values))
}

/// CRC-32 (IEEE), as zip needs.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Asserts a refusal: exit 2 and one stderr line without a panic; returns the line.
#[allow(dead_code)]
pub fn refused(o: &std::process::Output) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout {} stderr {err}",
        stdout(o)
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}
