//! Reading NumPy `.npy` and `.npz` files safely, and writing them.
//!
//! Every read is bounded before anything large is allocated: files over
//! [`crate::io::MAX_BYTES`] are refused by size, `.npz` members by their declared size, and a
//! `.npy` header's shape must match the bytes that follow it exactly. Only
//! little-endian float64 (`'<f8'`) arrays are read as data (and `'<i8'` for sample
//! indices); anything else is named in the error.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::ReadNpyExt;

use crate::error::{Error, Result};
use crate::io::{open_bounded, MAX_BYTES};

/// The parsed header of a `.npy` document.
#[derive(Debug, Clone, PartialEq)]
struct Header {
    descr: String,
}

/// Parses and checks a `.npy` header: magic, version, `descr`, `shape`, and that the
/// data that follows has exactly `8·Π shape` bytes.
fn header(bytes: &[u8], what: &str) -> Result<Header> {
    let bad = |p: &str| Error::invalid(what, format!("is not a valid .npy file: {p}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic (truncated or not NumPy)"));
    }
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(&format!("unsupported format version {v}"))),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("truncated header"))?;
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| bad("header is not text"))?;
    for key in ["descr", "fortran_order", "shape"] {
        if text.matches(&format!("'{key}'")).count() > 1 {
            return Err(bad(&format!("the header has '{key}' more than once")));
        }
    }
    let field = |key: &str| -> Option<&str> {
        let i = text.find(&format!("'{key}'"))?;
        let rest = &text[i + key.len() + 2..];
        Some(rest[rest.find(':')? + 1..].trim_start())
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\'').and_then(|r| r.split('\'').next()))
        .ok_or_else(|| bad("no 'descr' in the header"))?
        .to_string();
    let shape_text = field("shape")
        .and_then(|r| r.strip_prefix('(').and_then(|r| r.split(')').next()))
        .ok_or_else(|| bad("no 'shape' in the header"))?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(&format!("shape entry {s:?} is not a size")))
        })
        .collect::<Result<_>>()?;
    if descr != "<f8" && descr != "<i8" {
        return Err(Error::invalid(
            what,
            format!("has dtype {descr:?}, expected float64 ('<f8')"),
        ));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|c| c.checked_mul(8))
        .ok_or_else(|| bad("shape overflows"))?;
    let data = bytes.len() - end;
    if count != data {
        return Err(bad(&format!(
            "header shape {shape:?} needs {count} data bytes, the file has {data} (truncated or corrupt)"
        )));
    }
    Ok(Header { descr })
}

/// A float64 array from `.npy` bytes; `what` names the source in errors.
pub fn f64_from_npy_bytes(bytes: &[u8], what: &str) -> Result<ArrayD<f64>> {
    let h = header(bytes, what)?;
    if h.descr != "<f8" {
        return Err(Error::invalid(
            what,
            format!("has dtype {:?}, expected float64 ('<f8')", h.descr),
        ));
    }
    ArrayD::<f64>::read_npy(bytes)
        .map_err(|e| Error::invalid(what, format!("cannot be read as float64: {e}")))
}

/// An int64 array from `.npy` bytes (sample indices); `what` names the source.
pub fn i64_from_npy_bytes(bytes: &[u8], what: &str) -> Result<ArrayD<i64>> {
    let h = header(bytes, what)?;
    if h.descr != "<i8" {
        return Err(Error::invalid(
            what,
            format!("has dtype {:?}, expected int64 ('<i8')", h.descr),
        ));
    }
    ArrayD::<i64>::read_npy(bytes)
        .map_err(|e| Error::invalid(what, format!("cannot be read as int64: {e}")))
}

/// Reads a whole `.npy` file as float64.
pub fn read_f64(path: &Path) -> Result<ArrayD<f64>> {
    let (mut f, len) = open_bounded(path)?;
    let mut bytes = Vec::with_capacity(len as usize);
    f.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    f64_from_npy_bytes(&bytes, &path.display().to_string())
}

/// The members of an `.npz` archive, read on demand.
pub struct Npz {
    path: PathBuf,
    zip: zip::ZipArchive<File>,
    /// Member names without the `.npy` suffix, sorted.
    pub names: Vec<String>,
}

impl Npz {
    /// Opens an `.npz` (plain or compressed, as `np.savez`/`np.savez_compressed` write).
    pub fn open(path: &Path) -> Result<Npz> {
        let (f, _) = open_bounded(path)?;
        let zip = zip::ZipArchive::new(f)
            .map_err(|e| Error::file(path, format!("is not a valid .npz (zip) archive: {e}")))?;
        let mut names: Vec<String> = zip
            .file_names()
            .map(|n| n.strip_suffix(".npy").unwrap_or(n).to_string())
            .collect();
        names.sort();
        Ok(Npz {
            path: path.to_path_buf(),
            zip,
            names,
        })
    }

    fn member_bytes(&mut self, name: &str) -> Result<Vec<u8>> {
        let what = format!("{}[{name}]", self.path.display());
        let file_name = if self.zip.file_names().any(|n| n == name) {
            name.to_string()
        } else {
            format!("{name}.npy")
        };
        let mut entry = self
            .zip
            .by_name(&file_name)
            .map_err(|e| Error::invalid(&what, format!("cannot be read: {e}")))?;
        if entry.size() > MAX_BYTES {
            return Err(Error::invalid(
                &what,
                format!("is {} bytes, larger than the 1 GiB limit", entry.size()),
            ));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        (&mut entry)
            .take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::invalid(&what, format!("cannot be read: {e}")))?;
        Ok(bytes)
    }

    /// A float64 member.
    pub fn f64(&mut self, name: &str) -> Result<ArrayD<f64>> {
        let bytes = self.member_bytes(name)?;
        f64_from_npy_bytes(&bytes, &format!("{}[{name}]", self.path.display()))
    }

    /// An int64 member.
    pub fn i64(&mut self, name: &str) -> Result<ArrayD<i64>> {
        let bytes = self.member_bytes(name)?;
        i64_from_npy_bytes(&bytes, &format!("{}[{name}]", self.path.display()))
    }

    /// Every member as float64 (int64 members converted exactly when `|v| < 2⁵³`).
    pub fn all_f64(&mut self) -> Result<BTreeMap<String, ArrayD<f64>>> {
        let mut out = BTreeMap::new();
        for name in self.names.clone() {
            let bytes = self.member_bytes(&name)?;
            let what = format!("{}[{name}]", self.path.display());
            let arr = match header(&bytes, &what)?.descr.as_str() {
                "<i8" => i64_from_npy_bytes(&bytes, &what)?.mapv(|v| v as f64),
                _ => f64_from_npy_bytes(&bytes, &what)?,
            };
            out.insert(name, arr);
        }
        Ok(out)
    }
}

/// Writes arrays into an `.npz` (uncompressed, as `np.savez`), in the given order.
pub fn write_npz(
    path: &Path,
    arrays: &[(String, ArrayD<f64>)],
    ints: &[(String, ArrayD<i64>)],
) -> Result<()> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = ndarray_npy::NpzWriter::new(f);
    let err = |e: ndarray_npy::WriteNpzError| Error::file(path, e.to_string());
    for (name, a) in arrays {
        w.add_array(name.as_str(), a).map_err(err)?;
    }
    for (name, a) in ints {
        w.add_array(name.as_str(), a).map_err(err)?;
    }
    w.finish().map_err(err)?;
    Ok(())
}

/// Writes one float64 `.npy`.
pub fn write_f64(path: &Path, a: &ArrayD<f64>) -> Result<()> {
    ndarray_npy::write_npy(path, a).map_err(|e| Error::file(path, e.to_string()))
}

/// Writes one int64 `.npy`.
pub fn write_i64(path: &Path, a: &ArrayD<i64>) -> Result<()> {
    ndarray_npy::write_npy(path, a).map_err(|e| Error::file(path, e.to_string()))
}

/// A 2-D view of a 1-D or 2-D array (`(n,)` becomes `(n, 1)`), or an error naming `what`.
pub fn as_matrix(a: ArrayD<f64>, what: &str) -> Result<ndarray::Array2<f64>> {
    let shape = a.shape().to_vec();
    let a = match shape.len() {
        1 => a
            .into_shape_with_order(IxDyn(&[shape[0], 1]))
            .map_err(|e| Error::invalid(what, e.to_string()))?,
        2 => a,
        n => {
            return Err(Error::invalid(
                what,
                format!("must be 1-D or 2-D, got {n}-D shape {shape:?}"),
            ))
        }
    };
    a.into_dimensionality::<ndarray::Ix2>()
        .map_err(|e| Error::invalid(what, e.to_string()))
}
