//! Writing a trajectory for port authors: `trajectory.json`, `reference.npz`,
//! `spec.json`, the data files the spec read (in `data/`) and, optionally, one `.npy` per
//! array, all into a folder that appears whole or not at all ([`OutDir`]): an existing
//! folder is replaced only with `force` and only if it holds nothing but what an export
//! writes ([`export_layout`]); nothing else is ever deleted.
//!
//! The folder is self-contained: it holds no path of the machine that wrote it. Each data
//! file is hard-linked into `data/` (copied where a link cannot be made; two files of one
//! name from different folders become `x.npz` and `x-2.npz`), checked against the
//! SHA-256 it was read with, and referred to as `data/<name>` in `header.spec` and
//! `spec.json`: readers resolve it against the folder of the file that names it, so the
//! folder can be moved or cloned.
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
//! assert_eq!(summary.files, ["trajectory.json", "reference.npz", "spec.json"]);
//! std::fs::remove_dir_all(&out).unwrap();
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::data::{self, DataFile, Sources};
use crate::io::json::write::{Mat, Net, Vector};
use crate::io::outdir::{Allowed, Layout, OutDir};
use crate::io::spec_json::Relocated;
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

/// What an export wrote before it wrote `spec.json` and `data/`: `trajectory.json`,
/// `reference.npz`, and `npy/*.npy`.
#[deprecated(note = "an export also writes spec.json and data/: use `export_layout()`")]
pub const EXPORT_FILES: Allowed = Allowed {
    files: &["trajectory.json", "reference.npz"],
    subdir: Some(("npy", "npy")),
};

/// The folder the data files an export read are placed in.
pub const DATA_DIR: &str = "data";

/// What an export writes, and so all an existing output folder may hold to be replaced
/// with `force`: `trajectory.json`, `reference.npz`, `spec.json`, `npy/*.npy` and
/// `data/*.npy`, `data/*.npz`.
pub fn export_layout() -> Layout {
    Layout {
        files: &["trajectory.json", "reference.npz", "spec.json"],
        subdirs: vec![("npy", vec!["npy"]), (DATA_DIR, vec!["npy", "npz"])],
    }
}

/// The trajectory as the JSON document described in the module docs (a value; the
/// export itself streams it, [`write_trajectory_json`]).
pub fn trajectory_json(t: &Trajectory, command: &str) -> Value {
    serde_json::to_value(Doc {
        t,
        command,
        sources: &t.spec.sources,
    })
    .unwrap_or(Value::Null)
}

/// Writes the trajectory's JSON document to `w`, one array row a line, straight from
/// its arrays (no value tree).
pub fn write_trajectory_json(t: &Trajectory, command: &str, w: impl Write) -> std::io::Result<()> {
    write_doc(t, command, &t.spec.sources, w)
}

fn write_doc(
    t: &Trajectory,
    command: &str,
    sources: &Sources,
    w: impl Write,
) -> std::io::Result<()> {
    let doc = Doc {
        t,
        command,
        sources,
    };
    crate::io::json::write::to_writer_rows(w, &doc).map_err(std::io::Error::other)
}

/// The document, its fields in alphabetical order (as serde_json writes maps);
/// `header.spec` refers to data files by `sources`.
struct Doc<'a> {
    t: &'a Trajectory,
    command: &'a str,
    sources: &'a Sources,
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
        let spec = Relocated {
            spec: &self.0.t.spec,
            sources: self.0.sources,
            sorted: false,
        };
        m.serialize_entry(field::SPEC, &spec)?;
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
/// folder is replaced only with `force`, and only if it holds nothing but what
/// [`export_layout`] allows; a folder that appears during the run is never replaced.
/// The folder is self-contained (module docs): the data files the spec read are placed
/// in `data/` and referred to there, and `spec.json` is the fully resolved spec.
pub fn export(t: &Trajectory, opts: &ExportOptions) -> Result<ExportSummary> {
    let dir = OutDir::prepare(&opts.out, opts.force, export_layout(), "ExportOptions.out")?;
    let (sources, placed) = place_data(&t.spec.sources, dir.path())?;
    let (mut files, arrays) = write_files_as(t, &opts.command, opts.npy, &sources, dir.path())?;
    let spec_path = dir.path().join("spec.json");
    let spec = Relocated {
        spec: &t.spec,
        sources: &sources,
        sorted: true,
    };
    write_json(&spec_path, &spec)?;
    files.insert(2, "spec.json".to_string());
    files.splice(3..3, placed);
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
    write_files_as(t, command, npy, &t.spec.sources, dir)
}

/// [`write_files`], `header.spec` referring to data files by `sources`.
fn write_files_as(
    t: &Trajectory,
    command: &str,
    npy: bool,
    sources: &Sources,
    dir: &Path,
) -> Result<(Vec<String>, usize)> {
    let mut files = vec!["trajectory.json".to_string(), "reference.npz".to_string()];
    let json_path = dir.join("trajectory.json");
    let f = std::fs::File::create(&json_path).map_err(|e| Error::io(&json_path, e))?;
    let mut w = std::io::BufWriter::new(f);
    write_doc(t, command, sources, &mut w)
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

/// Writes `value` as JSON (one array row a line) into the new file `path`.
fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let f = std::fs::File::create_new(path).map_err(|e| Error::io(path, e))?;
    let mut w = std::io::BufWriter::new(f);
    crate::io::json::write::to_writer_rows(&mut w, value)
        .map_err(std::io::Error::other)
        .and_then(|()| w.write_all(b"\n"))
        .and_then(|()| w.flush())
        .map_err(|e| Error::io(path, e))
}

/// Places every data file of `sources` in `dir/data/` (once per file, however many of
/// `x`, `y`, `x_test`, `y_test` it holds): hard-linked where possible, else copied, then
/// checked against the SHA-256 each array was read with. Returns the references
/// relative to `dir` (`data/<name>`) and the files written.
fn place_data(sources: &Sources, dir: &Path) -> Result<(Sources, Vec<String>)> {
    let mut out = sources.clone();
    // (the file as read, its name in `data/`)
    let mut placed: Vec<(PathBuf, String)> = Vec::new();
    for slot in [&mut out.x, &mut out.y, &mut out.x_test, &mut out.y_test] {
        let Some(file) = slot.as_mut() else {
            continue;
        };
        let name = match placed.iter().find(|(p, _)| *p == file.path) {
            Some((_, name)) => name.clone(),
            None => {
                let name = unique_name(file, &placed);
                let data_dir = dir.join(DATA_DIR);
                if placed.is_empty() {
                    std::fs::create_dir(&data_dir).map_err(|e| Error::io(&data_dir, e))?;
                }
                link_or_copy(&file.path, &data_dir.join(&name))?;
                placed.push((file.path.clone(), name.clone()));
                name
            }
        };
        let at = dir.join(DATA_DIR).join(&name);
        data::verify(file, &at)?;
        file.path = PathBuf::from(format!("{DATA_DIR}/{name}"));
    }
    let files = placed
        .into_iter()
        .map(|(_, name)| format!("{DATA_DIR}/{name}"))
        .collect();
    Ok((out, files))
}

/// The name of `file` in `data/`: its own, ending in `.npz` or `.npy` as it was read (a
/// `.npy` read from `x.dat` becomes `x.dat.npy`), and `-2`, `-3`, … before the
/// extension when another file already has it.
fn unique_name(file: &DataFile, placed: &[(PathBuf, String)]) -> String {
    let ext = if file.member.is_some() { "npz" } else { "npy" };
    let base = file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".to_string());
    let stem = base
        .strip_suffix(&format!(".{ext}"))
        .filter(|s| !s.is_empty())
        .unwrap_or(&base);
    let taken = |n: &str| placed.iter().any(|(_, m)| m == n);
    let mut name = format!("{stem}.{ext}");
    let mut k = 2;
    while taken(&name) {
        name = format!("{stem}-{k}.{ext}");
        k += 1;
    }
    name
}

/// Hard-links the file `from` (its target, if it is a symbolic link) as the new file
/// `to`, or copies it when a link cannot be made (another file system, no permission).
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    let real = std::fs::canonicalize(from).map_err(|e| Error::io(from, e))?;
    if std::fs::hard_link(&real, to).is_ok() {
        return Ok(());
    }
    copy_new(&real, to)
}

/// Copies the file `from` (at most [`crate::io::MAX_BYTES`], read through
/// [`crate::io::open_bounded`]) into the new file `to`.
fn copy_new(from: &Path, to: &Path) -> Result<()> {
    let (f, len) = crate::io::open_bounded(from)?;
    let out = std::fs::File::create_new(to).map_err(|e| Error::io(to, e))?;
    let mut w = std::io::BufWriter::new(out);
    std::io::copy(&mut std::io::Read::take(f, len), &mut w).map_err(|e| Error::io(from, e))?;
    w.flush().map_err(|e| Error::io(to, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, member: Option<&str>) -> DataFile {
        DataFile {
            path: PathBuf::from(path),
            member: member.map(String::from),
            shape: vec![4, 2],
            dtype: "<f8",
            sha256: "0".repeat(64),
        }
    }

    #[test]
    fn data_files_of_one_name_are_named_apart_and_end_as_they_are_read() {
        let mut placed = Vec::new();
        for (path, member, want) in [
            ("/a/x.npz", Some("x"), "x.npz"),
            ("/b/x.npz", Some("x"), "x-2.npz"),
            ("/c/x.npz", Some("y"), "x-3.npz"),
            ("/a/x.npy", None, "x.npy"),
            ("/a/x.dat", None, "x.dat.npy"),
            ("/a/.npy", None, ".npy.npy"),
        ] {
            let name = unique_name(&file(path, member), &placed);
            assert_eq!(name, want, "{path}");
            placed.push((PathBuf::from(path), name));
        }
    }

    #[test]
    fn a_copy_is_a_new_file_with_the_same_bytes_and_never_replaces_one() {
        let d = std::env::temp_dir().join(format!("bpo-export-copy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("x.npy"), b"bytes").unwrap();
        copy_new(&d.join("x.npy"), &d.join("copy.npy")).unwrap();
        assert_eq!(std::fs::read(d.join("copy.npy")).unwrap(), b"bytes");
        std::fs::write(d.join("theirs.npy"), b"theirs").unwrap();
        assert!(copy_new(&d.join("x.npy"), &d.join("theirs.npy")).is_err());
        assert_eq!(std::fs::read(d.join("theirs.npy")).unwrap(), b"theirs");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
