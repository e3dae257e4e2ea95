//! Writing a trajectory for port authors: `trajectory.json`, `reference.npz` and,
//! optionally, one `.npy` per array, all into a folder that appears whole or not at all
//! ([`OutDir`]): an existing folder is replaced only with `force` and only if it holds
//! nothing but what an export writes ([`EXPORT_FILES`]); nothing else is ever deleted.
//!
//! `trajectory.json` (schema version 2; `header.spec`'s `x`/`y` are references to their
//! files when they were read from one, [`crate::io::data`]), objects indented and each
//! array of numbers on one line ([`crate::io::json::write::to_writer_rows`]):
//!
//! ```text
//! { "format": "backprop-oracle trajectory", "schema_version": 2,
//!   "header": {"tool", "version", "command", "spec", "trace_steps", "exactness",
//!              "precision": "float64",
//!              "conventions": {"relu_grad_at_zero", "leaky_grad_at_zero"}},
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

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::json::write::{Mat, Net, Vector};
use crate::io::outdir::{Allowed, OutDir};
use crate::oracle::schema::{field, FORMAT, SCHEMA_VERSION};
use crate::oracle::trajectory::{StepRecord, Trajectory};

/// What the trajectory promises about exactness (written into the header).
pub const EXACTNESS: &str = "Bit-exact and machine-independent: the Rust reference itself (fixed summation order, \
fused multiply-adds via f64::mul_add, no threads in training). Bit-identical to NumPy on x86-64 with OpenBLAS's SkylakeX \
kernels for the article's run and any relu/identity network with fan-in <= 3 and batch size 1 (with its Haswell/Zen \
kernels NumPy differs by ~1e-13; initial parameters: for every spec). Elsewhere a float64 port agrees within ~1e-15 \
relative per step for relu/identity nets and ~1e-11 where exp/tanh enter. compare judges each traced step from the \
port's own parameters within derived rounding bounds for its precision (float64 or float32; see the README), so no \
tolerance needs to be chosen.";

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
    /// Temporary folders of earlier, killed exports that were removed.
    pub removed_stale: Vec<PathBuf>,
    /// Where unexpected entries of a replaced folder were kept (they appeared while the
    /// export ran; never deleted).
    pub kept: Option<PathBuf>,
}

/// What an export writes, and so all an existing output folder may hold to be replaced
/// with `force`: `trajectory.json`, `reference.npz`, and `npy/*.npy`.
pub const EXPORT_FILES: Allowed = Allowed {
    files: &["trajectory.json", "reference.npz"],
    subdir: Some(("npy", "npy")),
};

/// The trajectory as the JSON document described in the module docs (a value; the
/// export itself streams it, [`write_trajectory_json`]).
pub fn trajectory_json(t: &Trajectory, command: &str) -> Value {
    serde_json::to_value(Doc { t, command }).unwrap_or(Value::Null)
}

/// Writes the trajectory's JSON document to `w`, one array row a line, straight from
/// its arrays (no value tree).
pub fn write_trajectory_json(t: &Trajectory, command: &str, w: impl Write) -> std::io::Result<()> {
    crate::io::json::write::to_writer_rows(w, &Doc { t, command }).map_err(std::io::Error::other)
}

/// The document, its fields in alphabetical order (as serde_json writes maps).
struct Doc<'a> {
    t: &'a Trajectory,
    command: &'a str,
}

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use field as f;
        let t = self.t;
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry(f::FINAL, &Net(&t.final_))?;
        m.serialize_entry(f::FORMAT, FORMAT)?;
        m.serialize_entry(f::HEADER, &Header(self))?;
        m.serialize_entry(f::INITIAL, &Net(&t.initial))?;
        m.serialize_entry(f::LOSS, &t.loss)?;
        m.serialize_entry(f::SCHEMA_VERSION, &SCHEMA_VERSION)?;
        m.serialize_entry(f::STEPS, &Steps(&t.steps))?;
        m.end()
    }
}

struct Header<'a>(&'a Doc<'a>);

impl Serialize for Header<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("command", self.0.command)?;
        let c = self.0.t.conventions;
        m.serialize_entry(
            "conventions",
            &BTreeMap::from([
                ("leaky_grad_at_zero", c.leaky_grad_at_zero),
                ("relu_grad_at_zero", c.relu_grad_at_zero),
            ]),
        )?;
        m.serialize_entry("exactness", EXACTNESS)?;
        m.serialize_entry("precision", "float64")?;
        m.serialize_entry(field::SPEC, &self.0.t.spec)?;
        m.serialize_entry("tool", "backprop-oracle")?;
        m.serialize_entry("trace_steps", &self.0.t.steps.len())?;
        m.serialize_entry("version", env!("CARGO_PKG_VERSION"))?;
        m.end()
    }
}

struct Steps<'a>(&'a [StepRecord]);

impl Serialize for Steps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use field as f;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for r in self.0 {
            seq.serialize_element(&StepDoc(r))?;
        }
        return seq.end();

        struct StepDoc<'a>(&'a StepRecord);
        impl Serialize for StepDoc<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let r = self.0;
                let layers = r.dw.len();
                let backward: Vec<BTreeMap<&str, Arr>> = (0..layers)
                    .map(|k| {
                        BTreeMap::from([
                            (f::DW, Arr::M(Mat(r.dw[k].view()))),
                            (f::DB, Arr::V(Vector(r.db[k].view()))),
                            (f::DX, Arr::M(Mat(r.dx[k].view()))),
                        ])
                    })
                    .collect();
                let forward: Vec<BTreeMap<&str, Arr>> =
                    r.z.iter()
                        .zip(&r.a)
                        .map(|(z, a)| {
                            BTreeMap::from([
                                (f::A, Arr::M(Mat(a.view()))),
                                (f::Z, Arr::M(Mat(z.view()))),
                            ])
                        })
                        .collect();
                let mut m = s.serialize_map(Some(8))?;
                m.serialize_entry(f::AFTER, &Net(&r.after))?;
                m.serialize_entry(f::BACKWARD, &backward)?;
                m.serialize_entry(f::D_OUTPUT, &Mat(r.d_output.view()))?;
                m.serialize_entry(f::EPOCH, &r.epoch)?;
                m.serialize_entry(f::FORWARD, &forward)?;
                m.serialize_entry(f::LOSS, &Vector(r.loss.view()))?;
                m.serialize_entry(f::SAMPLES, &r.samples)?;
                m.serialize_entry(f::STEP, &r.step)?;
                m.end()
            }
        }
    }
}

/// A matrix or a vector, for maps of both.
enum Arr<'a> {
    M(Mat<'a>),
    V(Vector<'a>),
}

impl Serialize for Arr<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Arr::M(m) => m.serialize(s),
            Arr::V(v) => v.serialize(s),
        }
    }
}

/// Writes the trajectory into `opts.out`, through a temporary sibling folder that is
/// moved into place only when everything is written (see [`OutDir`]): an existing
/// folder is replaced only with `force`, and only if it holds nothing but
/// [`EXPORT_FILES`]; a folder that appears during the run is never replaced.
pub fn export(t: &Trajectory, opts: &ExportOptions) -> Result<ExportSummary> {
    let dir = OutDir::prepare(&opts.out, opts.force, EXPORT_FILES, "ExportOptions.out")?;
    let (files, arrays) = write_files(t, &opts.command, opts.npy, dir.path())?;
    let removed_stale = dir.removed_stale().to_vec();
    let kept = dir.commit()?;
    Ok(ExportSummary {
        files,
        arrays,
        removed_stale,
        kept,
    })
}

/// Writes the trajectory's files into the existing folder `dir`: `trajectory.json`,
/// `reference.npz` and, with `npy`, `npy/<key>.npy`; returns the files and the number
/// of arrays.
pub fn write_files(
    t: &Trajectory,
    command: &str,
    npy: bool,
    dir: &Path,
) -> Result<(Vec<String>, usize)> {
    let mut files = vec!["trajectory.json".to_string(), "reference.npz".to_string()];
    let json_path = dir.join("trajectory.json");
    let f = std::fs::File::create(&json_path).map_err(|e| Error::io(&json_path, e))?;
    let mut w = std::io::BufWriter::new(f);
    write_trajectory_json(t, command, &mut w)
        .and_then(|()| w.write_all(b"\n"))
        .and_then(|()| w.flush())
        .map_err(|e| Error::io(&json_path, e))?;

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
    if npy {
        let npy_dir = dir.join("npy");
        std::fs::create_dir(&npy_dir).map_err(|e| Error::io(&npy_dir, e))?;
        for (key, a) in &floats {
            crate::io::npy::write_f64(&npy_dir.join(format!("{key}.npy")), a)?;
            files.push(format!("npy/{key}.npy"));
        }
        for (key, a) in &ints {
            crate::io::npy::write_i64(&npy_dir.join(format!("{key}.npy")), a)?;
            files.push(format!("npy/{key}.npy"));
        }
    }
    Ok((files, floats.len() + ints.len()))
}
