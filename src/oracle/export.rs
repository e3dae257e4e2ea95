//! Writing a trajectory for port authors: `trajectory.json`, `reference.npz` and,
//! optionally, one `.npy` per array, all into a folder that appears whole or not at all.
//!
//! `trajectory.json` (schema version 1):
//!
//! ```text
//! { "format": "backprop-oracle trajectory", "schema_version": 1,
//!   "header": {"tool", "version", "command", "spec", "trace_steps", "exactness"},
//!   "initial": {"layers": [{"W": [[…]], "b": […]}, …]},
//!   "loss": [every epoch's total loss],
//!   "final": {"layers": […]},
//!   "steps": [{"step", "epoch", "samples": [i, …],
//!              "forward": [{"z": [[…]], "a": [[…]]} per layer],
//!              "loss": [per sample], "d_output": [[…]],
//!              "backward": [{"dW": [[…]], "db": […], "dx": [[…]]} per layer, layer 0 first],
//!              "after": {"layers": […]}}, …] }
//! ```
//!
//! Numbers are shortest round-trip decimals: parsing them gives back the exact f64.
//!
//! ```
//! use backprop_oracle::oracle::{export::{export, ExportOptions}, record};
//! use backprop_oracle::io::spec::Spec;
//!
//! let spec = Spec { epochs: 10, ..Spec::article() };
//! let trajectory = record(&spec, 2).unwrap();
//! let out = std::env::temp_dir().join(format!("bpo-doc-export-{}", std::process::id()));
//! let opts = ExportOptions { out: out.clone(), force: true, npy: false, command: "doc".into() };
//! let summary = export(&trajectory, &opts).unwrap();
//! assert!(out.join("trajectory.json").is_file() && out.join("reference.npz").is_file());
//! assert_eq!(summary.files, ["trajectory.json", "reference.npz"]);
//! std::fs::remove_dir_all(&out).unwrap();
//! ```

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::io::json::{matrix_json, network_json};
use crate::oracle::schema::{field, FORMAT, SCHEMA_VERSION};
use crate::oracle::Trajectory;

/// What the trajectory promises about exactness (written into the header).
pub const EXACTNESS: &str = "Bit-exact and machine-independent: the Rust reference itself (fixed summation order, \
fused multiply-adds via f64::mul_add, no threads in training). Bit-identical to NumPy/OpenBLAS on x86-64 for the \
article's run and any relu/identity network with fan-in <= 3 and batch size 1 (initial parameters: for every spec). \
Elsewhere expect agreement within ~1e-15 relative per step for relu/identity nets and ~1e-11 where exp/tanh enter, \
growing slowly over training; compare with --rtol 1e-9 or looser (float32 ports: ~1e-5).";

/// Options of [`export`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// The output folder.
    pub out: PathBuf,
    /// Replace an existing folder.
    pub force: bool,
    /// Also write one `.npy` per array into `out/npy/`.
    pub npy: bool,
    /// The command line that made the export (recorded in the header).
    pub command: String,
}

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    /// The files, relative to the output folder.
    pub files: Vec<String>,
    /// Arrays in the `.npz`.
    pub arrays: usize,
}

/// The trajectory as the JSON document described in the module docs.
pub fn trajectory_json(t: &Trajectory, command: &str) -> Value {
    use field as f;
    let steps: Vec<Value> = t
        .steps
        .iter()
        .map(|s| {
            let forward: Vec<Value> =
                s.z.iter()
                    .zip(&s.a)
                    .map(|(z, a)| json!({f::Z: matrix_json(z.view()), f::A: matrix_json(a.view())}))
                    .collect();
            let backward: Vec<Value> = (0..s.dw.len())
                .map(|k| {
                    json!({
                        f::DW: matrix_json(s.dw[k].view()),
                        f::DB: s.db[k].to_vec(),
                        f::DX: matrix_json(s.dx[k].view()),
                    })
                })
                .collect();
            json!({
                f::STEP: s.step,
                f::EPOCH: s.epoch,
                f::SAMPLES: s.samples,
                f::FORWARD: forward,
                f::LOSS: s.loss.to_vec(),
                f::D_OUTPUT: matrix_json(s.d_output.view()),
                f::BACKWARD: backward,
                f::AFTER: network_json(&s.after),
            })
        })
        .collect();
    json!({
        f::FORMAT: FORMAT,
        f::SCHEMA_VERSION: SCHEMA_VERSION,
        f::HEADER: {
            "tool": "backprop-oracle",
            "version": env!("CARGO_PKG_VERSION"),
            "command": command,
            f::SPEC: t.spec.to_json(),
            "trace_steps": t.steps.len(),
            "exactness": EXACTNESS,
        },
        f::INITIAL: network_json(&t.initial),
        f::LOSS: t.loss,
        f::FINAL: network_json(&t.final_),
        f::STEPS: steps,
    })
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path, e)
}

/// Writes the trajectory into `opts.out`. Everything is first written into a sibling
/// temporary folder, which is then renamed into place, so an interrupted export never
/// leaves a partial folder; an existing folder is replaced only with `force`.
pub fn export(t: &Trajectory, opts: &ExportOptions) -> Result<ExportSummary> {
    let out = &opts.out;
    if out.exists() && !opts.force {
        return Err(Error::invalid(
            "ExportOptions.out",
            format!("{} exists; pass --force to replace it", out.display()),
        ));
    }
    if out.exists() && !out.is_dir() {
        return Err(Error::invalid(
            "ExportOptions.out",
            format!("{} exists and is not a folder", out.display()),
        ));
    }
    let name = out
        .file_name()
        .ok_or_else(|| {
            Error::invalid(
                "ExportOptions.out",
                format!("{} has no folder name", out.display()),
            )
        })?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::invalid(
            "ExportOptions.out",
            format!("the parent folder {} does not exist", parent.display()),
        ));
    }
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = write_all(t, opts, &tmp);
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if out.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &old).map_err(|e| io(out, e))?;
        std::fs::rename(&tmp, out).map_err(|e| io(out, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
    } else {
        std::fs::rename(&tmp, out).map_err(|e| io(out, e))?;
    }
    Ok(summary)
}

fn write_all(t: &Trajectory, opts: &ExportOptions, dir: &Path) -> Result<ExportSummary> {
    std::fs::create_dir(dir).map_err(|e| io(dir, e))?;
    let mut files = vec!["trajectory.json".to_string(), "reference.npz".to_string()];
    let doc = trajectory_json(t, &opts.command);
    let json_path = dir.join("trajectory.json");
    let text =
        serde_json::to_string_pretty(&doc).map_err(|e| Error::file(&json_path, e.to_string()))?;
    std::fs::write(&json_path, text + "\n").map_err(|e| io(&json_path, e))?;

    let (ints, floats): (Vec<_>, Vec<_>) = t
        .quantities()
        .into_iter()
        .partition(|(key, _)| key.is_integer());
    let floats: Vec<(String, ArrayD<f64>)> = floats
        .into_iter()
        .map(|(k, a)| (k.to_string(), a))
        .collect();
    let ints: Vec<(String, ArrayD<i64>)> = ints
        .into_iter()
        .map(|(k, a)| (k.to_string(), a.mapv(|v| v as i64)))
        .collect();
    crate::io::npy::write_npz(&dir.join("reference.npz"), &floats, &ints)?;
    if opts.npy {
        let npy_dir = dir.join("npy");
        std::fs::create_dir(&npy_dir).map_err(|e| io(&npy_dir, e))?;
        for (key, a) in &floats {
            crate::io::npy::write_f64(&npy_dir.join(format!("{key}.npy")), a)?;
            files.push(format!("npy/{key}.npy"));
        }
        for (key, a) in &ints {
            crate::io::npy::write_i64(&npy_dir.join(format!("{key}.npy")), a)?;
            files.push(format!("npy/{key}.npy"));
        }
    }
    Ok(ExportSummary {
        files,
        arrays: floats.len() + ints.len(),
    })
}
