//! Reading and writing files: the model spec ([`spec`]), NumPy arrays ([`npy`]) and the
//! JSON forms of arrays and networks ([`json`]).
//!
//! Every file is opened through [`open_bounded`]: a regular file (not a folder, device,
//! pipe or socket) of at most [`MAX_BYTES`]. The same limit bounds the memory a run may
//! plan to use.

pub mod data;
pub mod hashing;
pub mod initial;
pub mod json;
pub mod npy;
pub mod outdir;
pub mod spec;
pub mod spec_json;
pub mod targets;
pub(crate) mod values;
pub mod workdir;

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// The largest file read, the largest `.npz` member inflated, and the largest memory a
/// run, a trace or a check may plan to use: 1 GiB.
pub const MAX_BYTES: u64 = 1 << 30;

/// Opens a regular file of at most [`MAX_BYTES`]; returns it with its length.
///
/// The file is opened once and checked through the opened handle (`fstat`), so a file
/// swapped between a check and the open cannot slip through: it is opened with
/// `O_NONBLOCK` (a FIFO put in its place never blocks the open) and refused unless the
/// handle is a regular file.
pub fn open_bounded(path: &Path) -> Result<(File, u64)> {
    open_checked(None, path, path, false)
}

/// [`open_bounded`] for a file another program could have replaced: `name` is opened
/// relative to the folder `dir` (a handle, so a folder swapped for a symbolic link is
/// not followed) without following a symbolic link in its place (`O_NOFOLLOW`); `path`
/// names it in errors.
pub fn open_bounded_in(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &str,
    path: &Path,
) -> Result<(File, u64)> {
    open_checked(Some(dir), Path::new(name), path, true)
}

fn open_checked(
    dir: Option<std::os::fd::BorrowedFd<'_>>,
    name: &Path,
    path: &Path,
    nofollow: bool,
) -> Result<(File, u64)> {
    use rustix::fs::{FileType, Mode, OFlags, CWD};
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    if nofollow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::openat(dir.unwrap_or(CWD), name, flags, Mode::empty()).map_err(|e| {
        if nofollow && e == rustix::io::Errno::LOOP {
            Error::file(path, "is a symbolic link, expected a file")
        } else {
            Error::io(path, e.into())
        }
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::io(path, e.into()))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => return Err(Error::file(path, "is a directory, expected a file")),
        _ => {
            return Err(Error::file(
                path,
                "is not a regular file (a device, pipe or socket)",
            ))
        }
    }
    let len = u64::try_from(st.st_size).unwrap_or(0);
    if len > MAX_BYTES {
        return Err(Error::file(
            path,
            format!("is {len} bytes, larger than the 1 GiB limit"),
        ));
    }
    // Reads of a regular file never block; the flag is cleared all the same.
    let _ = rustix::fs::fcntl_setfl(&fd, OFlags::empty());
    Ok((File::from(fd), len))
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
