//! Helpers shared by the integration tests: reading the NumPy-made fixtures, scratch folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use backprop_oracle::spec::Spec;
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
    Spec::from_value(&fixture["spec"], "spec").expect("fixture spec is valid")
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
