//! A spec's `x` and `y` from files: read once, by the one `.npy` reader, hashed as they
//! are read, and recorded so that a trajectory can refer to them instead of holding
//! their values.
//!
//! In a spec, `x` (and `y`) is inline (an array), a file name (`"x": "train.npz"`: a
//! float64 `.npy`, or the member named like the key of an `.npz`), or a reference:
//!
//! ```json
//! "x": {"file": "/data/mnist.npz", "member": "x", "shape": [10000, 784],
//!       "dtype": "<f8", "sha256": "3f1c…"}
//! ```
//!
//! Only `file` is required. `member` picks an `.npz` member (default: the key, `x` or
//! `y`; not allowed for a `.npy`). `shape`, `dtype` and `sha256`, when given, must match
//! what is read: `sha256` is the SHA-256 of the array's `.npy` bytes — of the file for a
//! `.npy`, of the member as inflated for an `.npz` (`unzip -p F x.npy | sha256sum`). A
//! relative `file` is relative to the spec's folder; in a candidate's header, it is
//! looked for beside the candidate, then in the current folder ([`Places`]). A file in
//! none of the places is an error naming the field, every path tried and the fix.
//! [`DataFile`] is what was read; a spec written out ([`crate::io::spec::Spec`]'s
//! `Serialize`) gives it in this form, with the file's absolute path, so a trajectory's
//! header names the data exactly without holding it; an export places the files in its
//! folder and names them relative to it ([`crate::io::spec_json::Relocated`]).

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::error::{Error, Result};
use crate::io::json::value::Json;
use crate::io::npy;

/// The keys of a data reference.
const KEYS: [&str; 5] = ["file", "member", "shape", "dtype", "sha256"];

/// A data array read from a file: where it is, and enough to know it is the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// The file, made absolute (not canonicalised: symbolic links are kept); in an
    /// export's references, relative to the export's folder.
    pub path: PathBuf,
    /// The `.npz` member read (`None` for a `.npy` file).
    pub member: Option<String>,
    /// The array's shape as stored.
    pub shape: Vec<usize>,
    /// The array's dtype as stored (`<f8`).
    pub dtype: &'static str,
    /// SHA-256 of the array's `.npy` bytes, lowercase hex.
    pub sha256: String,
}

/// Where a spec's `x` and `y` (and its held-out `x_test`, `y_test`) came from: `None`
/// for inline data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// `x`'s file.
    pub x: Option<DataFile>,
    /// `y`'s file.
    pub y: Option<DataFile>,
    /// `x_test`'s file.
    pub x_test: Option<DataFile>,
    /// `y_test`'s file.
    pub y_test: Option<DataFile>,
}

/// What a spec asks of a data file: the file, and optionally the member and what the
/// array must be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Wanted {
    file: String,
    member: Option<String>,
    shape: Option<Vec<usize>>,
    dtype: Option<String>,
    sha256: Option<String>,
}

/// Whether a spec value names a file (a string or a reference object), rather than
/// giving the data inline.
pub fn names_file(v: &Json) -> bool {
    matches!(v, Json::String(_) | Json::Object(_))
}

/// Data already read, by its [`DataFile`]: a reference with the same SHA-256 (and
/// shape) is that array, and is not read again.
pub type Known<'a> = Option<(&'a DataFile, &'a Array2<f64>)>;

/// What an array read from a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Inputs (`x`, `x_test`): float64.
    Inputs,
    /// Targets (`y`, `y_test`): float64 or int64 (converted exactly: `|v| ≤ 2⁵³`).
    /// With `labels`, a 1-D array is a column of class labels, returned `(N, 1)` for
    /// the caller to encode (a `known` array is returned as it is: already encoded).
    Targets {
        /// A 1-D array holds class labels.
        labels: bool,
    },
}

/// Where a data file named by a relative path is looked for, in order, and what to do
/// when it is in none of them.
#[derive(Debug, Clone, Copy)]
pub struct Places<'a> {
    /// Folders, each with what it is for the error (`"beside the candidate"`).
    pub dirs: &'a [(&'a Path, &'a str)],
    /// The fix the error ends with, when the file is in none of them.
    pub fix: &'a str,
}

/// The fix suggested for a missing file named by a spec.
pub const SPEC_FIX: &str =
    "put the file there, or correct the path in the spec (a relative path is relative to the spec's folder)";

/// Reads `x`, `y`, `x_test` or `y_test` (`key`) from the file that `v` names (a string
/// or a reference; see the module docs), relative to `base`: float64 (int64 allowed
/// for targets, [`Role`]), 2-D `(N, cols)` (or 1-D when `cols == 1`, or labels),
/// non-empty, finite. A reference whose `sha256` is `known`'s is `known`'s array (the
/// same bytes). Errors name `field` (and the file).
pub fn read(
    v: &Json,
    base: &Path,
    field: (&str, &str),
    want: (usize, Role),
    known: Known<'_>,
) -> Result<(Array2<f64>, DataFile)> {
    let places = Places {
        dirs: &[(base, "")],
        fix: SPEC_FIX,
    };
    read_from(v, places, field, want, known)
}

/// [`read`], a relative file looked for in each of `places` in turn (the first that
/// holds it is read). A file in none of them is an error naming the field (`….file` for
/// a reference), every path tried, and `places.fix`.
pub fn read_from(
    v: &Json,
    places: Places<'_>,
    (key, field): (&str, &str),
    (cols, role): (usize, Role),
    known: Known<'_>,
) -> Result<(Array2<f64>, DataFile)> {
    let wanted = wanted(v, field)?;
    if wanted.file.trim().is_empty() {
        return Err(Error::invalid(field, "names no file (empty string)"));
    }
    // Read (and named in errors) as found, relative to one of `places`; recorded absolute.
    let (given, found) = locate(&wanted.file, places);
    let path = std::path::absolute(&given).unwrap_or_else(|_| given.clone());
    let is_npz = wanted.file.ends_with(".npz");
    let member = match (&wanted.member, is_npz) {
        (Some(m), true) => Some(m.clone()),
        (None, true) => Some(key.to_string()),
        (Some(_), false) => {
            return Err(Error::invalid(
                format!("{field}.member"),
                "is only for an .npz file",
            ))
        }
        (None, false) => None,
    };
    if let (Some(sha), Some((file, array))) = (&wanted.sha256, known) {
        let same = *sha == file.sha256
            && wanted.shape.as_ref().is_none_or(|s| *s == file.shape)
            && wanted.dtype.as_deref().is_none_or(|d| d == file.dtype)
            && array.ncols() == cols;
        if same {
            let file = DataFile {
                path,
                member,
                ..file.clone()
            };
            return Ok((array.clone(), file));
        }
    }
    if let Err(tried) = found {
        let field = match v {
            Json::Object(_) => format!("{field}.file"),
            _ => field.to_string(),
        };
        return Err(Error::invalid(
            field,
            format!("no file {:?}: tried {tried}; {}", wanted.file, places.fix),
        ));
    }
    let (raw, sha256) = match &member {
        Some(m) => npy::Npz::open(&given)?.read_hashed(m, crate::io::MAX_BYTES)?,
        None => npy::read_hashed(&given)?,
    };
    let what = format!("{field} ({})", given.display());
    let dtype = raw.dtype().descr();
    let shape = raw_shape(&raw);
    let mismatch = |k: &str, recorded: String, found: String| {
        Error::invalid(
            format!("{field}.{k}"),
            format!("is {recorded}, but {} holds {found} (the data changed, or the reference names another file)", what_file(&given, &member)),
        )
    };
    if let Some(want) = &wanted.shape {
        if *want != shape {
            return Err(mismatch(
                "shape",
                format!("{want:?}"),
                format!("shape {shape:?}"),
            ));
        }
    }
    if let Some(want) = &wanted.dtype {
        if want != dtype {
            return Err(mismatch(
                "dtype",
                format!("{want:?}"),
                format!("dtype {dtype:?}"),
            ));
        }
    }
    if let Some(want) = &wanted.sha256 {
        if *want != sha256 {
            return Err(mismatch(
                "sha256",
                want.clone(),
                format!("SHA-256 {sha256}"),
            ));
        }
    }
    let labels = role == Role::Targets { labels: true };
    let raw = match raw {
        npy::NpyArray::F64(a) => a,
        npy::NpyArray::I64(a) if role != Role::Inputs => {
            if let Some(v) = a.iter().find(|v| v.unsigned_abs() > 1 << 53) {
                return Err(Error::invalid(
                    &what,
                    format!("holds the integer {v}, which float64 cannot hold exactly"),
                ));
            }
            npy::NpyArray::I64(a).into_f64()
        }
        _ => {
            let expected = match role {
                Role::Inputs => "float64 (\"<f8\")",
                Role::Targets { .. } => "float64 (\"<f8\") or int64 (\"<i8\")",
            };
            return Err(Error::invalid(
                &what,
                format!("has dtype {dtype:?}, expected {expected}"),
            ));
        }
    };
    let labels = labels && raw.ndim() == 1;
    if raw.ndim() == 1 && cols != 1 && !labels {
        return Err(Error::invalid(
            what,
            format!(
                "is 1-D {:?}, but needs one row of {cols} values per sample",
                raw.shape()
            ),
        ));
    }
    let m = npy::as_matrix(raw, &what)?;
    if m.nrows() == 0 {
        return Err(Error::invalid(
            what,
            "needs at least one sample, got 0 rows",
        ));
    }
    if m.ncols() != cols && !labels {
        return Err(Error::invalid(
            what,
            format!("has {} columns, expected {cols}", m.ncols()),
        ));
    }
    if let Some(((r, c), v)) = m.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid(
            format!("{what}[{r}][{c}]"),
            format!("must be finite, got {v}"),
        ));
    }
    let file = DataFile {
        path,
        member,
        shape,
        dtype,
        sha256,
    };
    Ok((m, file))
}

/// The path of `file` among `places` (as [`read_from`] looks for a data file), or the
/// error naming `field`, every path tried and `places.fix`.
pub(crate) fn find(file: &str, places: Places<'_>, field: &str) -> Result<PathBuf> {
    match locate(file, places) {
        (p, Ok(())) => Ok(p),
        (_, Err(tried)) => Err(Error::invalid(
            field,
            format!("no file {file:?}: tried {tried}; {}", places.fix),
        )),
    }
}

/// The first of the places `file` may be in that holds it (`Ok`), else the first place
/// and every path tried, for the error (`Err`). An absolute `file` has one place.
fn locate(file: &str, places: Places<'_>) -> (PathBuf, std::result::Result<(), String>) {
    let mut tried: Vec<(PathBuf, &str)> = Vec::new();
    let here = [(Path::new(""), "")];
    let dirs = if Path::new(file).is_absolute() || places.dirs.is_empty() {
        &here[..]
    } else {
        places.dirs
    };
    for &(dir, what) in dirs {
        let p = dir.join(file);
        let abs = std::path::absolute(&p).unwrap_or_else(|_| p.clone());
        if tried
            .iter()
            .any(|(q, _)| std::path::absolute(q).ok().as_ref() == Some(&abs))
        {
            continue;
        }
        // Anything but "not there" (a folder, no permission) is read, and reported.
        match std::fs::metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => tried.push((p, what)),
            _ => return (p, Ok(())),
        }
    }
    let list: Vec<String> = tried
        .iter()
        .map(|(p, what)| {
            let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            if what.is_empty() {
                abs.display().to_string()
            } else {
                format!("{} ({what})", abs.display())
            }
        })
        .collect();
    (tried[0].0.clone(), Err(list.join(" and ")))
}

/// Checks that the file `at` holds `file`'s array (the same SHA-256 of its `.npy`
/// bytes, of `file.member` for an `.npz`), reading it with the one reader: for a copy
/// or link of a data file that was read before (it may have changed meanwhile).
pub fn verify(file: &DataFile, at: &Path) -> Result<()> {
    let sha256 = match &file.member {
        Some(m) => npy::Npz::open(at)?.read_hashed(m, crate::io::MAX_BYTES)?.1,
        None => npy::read_hashed(at)?.1,
    };
    if sha256 == file.sha256 {
        Ok(())
    } else {
        Err(Error::file(
            at,
            format!(
                "holds SHA-256 {sha256}, but {} held {} when it was read (the data file changed meanwhile)",
                what_file(&file.path, &file.member),
                file.sha256
            ),
        ))
    }
}

fn what_file(path: &Path, member: &Option<String>) -> String {
    match member {
        Some(m) => format!("{}[{m}]", path.display()),
        None => path.display().to_string(),
    }
}

fn raw_shape(a: &npy::NpyArray) -> Vec<usize> {
    match a {
        npy::NpyArray::F64(a) => a.shape().to_vec(),
        npy::NpyArray::F32(a) => a.shape().to_vec(),
        npy::NpyArray::I64(a) => a.shape().to_vec(),
    }
}

/// The reference `v` (a file name, or an object with the keys in the module docs).
fn wanted(v: &Json, field: &str) -> Result<Wanted> {
    let obj = match v {
        Json::String(file) => {
            return Ok(Wanted {
                file: file.clone(),
                ..Wanted::default()
            })
        }
        Json::Object(obj) => obj,
        other => {
            return Err(Error::invalid(
                field,
                format!(
                    "must be an array, a file name or a file reference, got {}",
                    other.kind()
                ),
            ))
        }
    };
    let mut w = Wanted::default();
    let mut file = None;
    for (k, val) in obj {
        let path = format!("{field}.{k}");
        let text = || {
            val.as_str().map(str::to_string).ok_or_else(|| {
                Error::invalid(&path, format!("must be a string, got {}", val.kind()))
            })
        };
        match k.as_str() {
            "file" => file = Some(text()?),
            "member" => w.member = Some(text()?),
            "dtype" => w.dtype = Some(text()?),
            "sha256" => {
                let s = text()?;
                if s.len() != 64
                    || !s
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(Error::invalid(
                        &path,
                        format!("must be 64 lowercase hex digits, got {s:?}"),
                    ));
                }
                w.sha256 = Some(s);
            }
            "shape" => {
                let items = val.items().ok_or_else(|| {
                    Error::invalid(
                        &path,
                        format!("must be an array of whole numbers, got {}", val.kind()),
                    )
                })?;
                let dims = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| {
                        d.as_whole()
                            .and_then(|d| usize::try_from(d).ok())
                            .ok_or_else(|| {
                                Error::invalid(
                                    format!("{path}[{i}]"),
                                    format!("must be a whole number, got {}", d.show()),
                                )
                            })
                    })
                    .collect::<Result<Vec<usize>>>()?;
                w.shape = Some(dims);
            }
            _ => {
                return Err(Error::invalid(
                    &path,
                    format!("unknown key, expected one of {}", KEYS.join(", ")),
                ))
            }
        }
    }
    w.file =
        file.ok_or_else(|| Error::invalid(format!("{field}.file"), "is required but missing"))?;
    Ok(w)
}

/// The reference form (module docs), keys in alphabetical order.
impl Serialize for DataFile {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("dtype", self.dtype)?;
        m.serialize_entry("file", &self.path.to_string_lossy())?;
        if let Some(member) = &self.member {
            m.serialize_entry("member", member)?;
        }
        m.serialize_entry("sha256", &self.sha256)?;
        m.serialize_entry("shape", &self.shape)?;
        m.end()
    }
}
