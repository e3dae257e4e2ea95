//! Reading and writing files: the model spec ([`spec`]), NumPy arrays ([`npy`]) and the
//! JSON forms of arrays and networks ([`json`]).
//!
//! Every file is opened through [`open_bounded`]: a regular file (not a folder, device,
//! pipe or socket) of at most [`MAX_BYTES`]. The same limit bounds the memory a run may
//! plan to use.

pub mod data;
pub mod hashing;
pub mod json;
pub mod npy;
pub mod outdir;
pub mod spec;
pub mod targets;

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// The largest file read, the largest `.npz` member inflated, and the largest memory a
/// run, a trace or a check may plan to use: 1 GiB.
pub const MAX_BYTES: u64 = 1 << 30;

/// Opens a regular file of at most [`MAX_BYTES`]; returns it with its length.
pub fn open_bounded(path: &Path) -> Result<(File, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::file(path, "is a directory, expected a file"));
    }
    if !meta.is_file() {
        return Err(Error::file(
            path,
            "is not a regular file (a device, pipe or socket)",
        ));
    }
    if meta.len() > MAX_BYTES {
        return Err(Error::file(
            path,
            format!("is {} bytes, larger than the 1 GiB limit", meta.len()),
        ));
    }
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok((f, meta.len()))
}

/// Reads a UTF-8 text file of at most [`MAX_BYTES`], with errors naming the file.
pub fn read_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let (mut f, len) = open_bounded(path)?;
    let mut bytes = Vec::with_capacity(len as usize);
    // A file that grew after its size was checked is still read only up to the limit.
    (&mut f)
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(Error::file(
            path,
            "grew larger than the 1 GiB limit while being read",
        ));
    }
    String::from_utf8(bytes).map_err(|e| Error::file(path, format!("is not UTF-8 text ({e})")))
}
