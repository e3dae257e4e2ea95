//! A private work folder that another program (a port under test) writes into, handled
//! so that nothing that program does makes this one follow a symbolic link, block on a
//! FIFO, or delete anything outside the folders it created.
//!
//! - [`WorkDir::create`] makes a fresh folder the way `mkdtemp` does: a new name with a
//!   random part, created with `mkdir` (mode 0700), which fails if the name exists — a
//!   collision is retried with another name; an existing folder is never reused or
//!   deleted.
//! - Everything inside is reached through directory handles ([`make_dir_in`],
//!   [`create_file_in`], [`crate::io::open_bounded_in`]), never by path, and never
//!   through a symbolic link (`O_NOFOLLOW`): a folder the other program swapped for a
//!   link to somewhere else is not written into or read from.
//! - [`empty_dir`] removes the entries of a folder *through its handle*: a symbolic link
//!   is removed as a link (what it points to is untouched), a subfolder is entered only
//!   when it opens as a real folder without following a link, to a bounded depth. So
//!   what is removed is only ever inside a real folder this program created.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// How deep [`empty_dir`] goes into folders left in a work folder.
pub const MAX_DEPTH: usize = 32;

/// A folder created fresh by [`WorkDir::create`], held open.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    fd: OwnedFd,
    dev: u64,
    ino: u64,
}

/// A random 64-bit number (std's randomly keyed hasher, the process id and the time).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

impl WorkDir {
    /// Creates `parent/<prefix><pid>-<random>` (mode 0700), retrying another name if one
    /// exists; never touches an existing folder.
    pub fn create(parent: &Path, prefix: &str) -> Result<WorkDir> {
        for _ in 0..100 {
            let path = parent.join(format!(
                "{prefix}{}-{:012x}",
                std::process::id(),
                random() & 0xffff_ffff_ffff
            ));
            match rustix::fs::mkdir(&path, Mode::from_raw_mode(0o700)) {
                Ok(()) => {}
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(Error::io(&path, e.into())),
            }
            let fd = rustix::fs::openat(CWD, &path, dir_flags(), Mode::empty())
                .map_err(|e| Error::io(&path, e.into()))?;
            let st = rustix::fs::fstat(&fd).map_err(|e| Error::io(&path, e.into()))?;
            return Ok(WorkDir {
                path,
                fd,
                dev: st.st_dev,
                ino: st.st_ino,
            });
        }
        Err(Error::file(
            parent,
            "has no unused name for a work folder after 100 tries",
        ))
    }

    /// Where it was created.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its handle.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Removes what it holds ([`empty_dir`]), then the folder itself if its path still
    /// names it (a folder moved away is left where it is, emptied; whatever now has its
    /// name is not ours and is left alone). Retries a little while entries remain (a
    /// process that was killed may still be finishing a write). Returns whether it is
    /// gone.
    pub fn remove(&self) -> bool {
        for _ in 0..50 {
            empty_dir(self.fd(), 0);
            match rustix::fs::statat(CWD, &self.path, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_dev == self.dev && st.st_ino == self.ino => {}
                _ => return false,
            }
            match rustix::fs::unlinkat(CWD, &self.path, AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => return true,
                Err(Errno::NOTEMPTY) => std::thread::sleep(std::time::Duration::from_millis(10)),
                Err(_) => return false,
            }
        }
        false
    }
}

fn cname(name: &str, path: &Path) -> Result<CString> {
    CString::new(name).map_err(|_| Error::file(path, "has a NUL byte in its name"))
}

/// Creates the folder `name` (mode 0700) inside `dir` and opens it; fails if `name`
/// exists. `path` names it in errors.
pub fn make_dir_in(dir: BorrowedFd<'_>, name: &str, path: &Path) -> Result<OwnedFd> {
    let c = cname(name, path)?;
    rustix::fs::mkdirat(dir, c.as_c_str(), Mode::from_raw_mode(0o700))
        .map_err(|e| Error::io(path, e.into()))?;
    rustix::fs::openat(dir, c.as_c_str(), dir_flags(), Mode::empty())
        .map_err(|e| Error::io(path, e.into()))
}

/// Creates the new file `name` (mode 0600, read and write) inside `dir`: fails if
/// anything, a symbolic link included, has that name. `path` names it in errors.
pub fn create_file_in(dir: BorrowedFd<'_>, name: &str, path: &Path) -> Result<File> {
    let c = cname(name, path)?;
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(dir, c.as_c_str(), flags, Mode::from_raw_mode(0o600))
        .map(File::from)
        .map_err(|e| Error::io(path, e.into()))
}

/// Removes every entry of the folder `dir` (a handle), without following symbolic
/// links: a link is removed as a link; a subfolder is opened with `O_NOFOLLOW`, emptied
/// the same way (to [`MAX_DEPTH`] levels below `depth`), then removed. Returns whether
/// the folder was left empty.
pub fn empty_dir(dir: BorrowedFd<'_>, depth: usize) -> bool {
    // A folder the other program made read-only is made writable again (it is ours).
    let _ = rustix::fs::fchmod(dir, Mode::from_raw_mode(0o700));
    for _ in 0..3 {
        let Ok(d) = rustix::fs::Dir::read_from(dir) else {
            return false;
        };
        let names: Vec<CString> = d
            .filter_map(std::result::Result::ok)
            .map(|e| e.file_name().to_owned())
            .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
            .collect();
        if names.is_empty() {
            return true;
        }
        for n in &names {
            remove_entry(dir, n, depth);
        }
    }
    false
}

/// Removes the entry `name` of `dir` (see [`empty_dir`]); returns whether it is gone.
pub fn remove_entry(dir: BorrowedFd<'_>, name: &CStr, depth: usize) -> bool {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => true,
        Err(Errno::ISDIR | Errno::PERM) if depth < MAX_DEPTH => {
            let Ok(sub) = rustix::fs::openat(dir, name, dir_flags(), Mode::empty()) else {
                return false;
            };
            empty_dir(sub.as_fd(), depth + 1);
            matches!(
                rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR),
                Ok(()) | Err(Errno::NOENT)
            )
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bpo-workdir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn removal_never_follows_links_and_stays_inside() {
        let s = scratch("links");
        let outside = s.join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), "mine").unwrap();
        let w = WorkDir::create(&s, "w-").unwrap();
        let sub = make_dir_in(w.fd(), "case", &w.path().join("case")).unwrap();
        create_file_in(sub.as_fd(), "spec.json", Path::new("spec.json")).unwrap();
        assert!(create_file_in(sub.as_fd(), "spec.json", Path::new("spec.json")).is_err());
        std::os::unix::fs::symlink(&outside, w.path().join("case/link")).unwrap();
        std::os::unix::fs::symlink(&outside, w.path().join("top-link")).unwrap();
        std::fs::create_dir_all(w.path().join("case/deep/er")).unwrap();
        std::fs::write(w.path().join("case/deep/er/f"), "x").unwrap();
        assert!(w.remove());
        assert!(!w.path().exists());
        assert_eq!(
            std::fs::read_to_string(outside.join("keep.txt")).unwrap(),
            "mine"
        );
        let _ = std::fs::remove_dir_all(&s);
    }

    #[test]
    fn a_folder_put_in_its_place_is_left_alone() {
        let s = scratch("swap");
        let w = WorkDir::create(&s, "w-").unwrap();
        let moved = s.join("moved");
        std::fs::rename(w.path(), &moved).unwrap();
        std::fs::create_dir(w.path()).unwrap();
        std::fs::write(w.path().join("theirs.txt"), "x").unwrap();
        assert!(!w.remove());
        assert!(w.path().join("theirs.txt").is_file());
        let _ = std::fs::remove_dir_all(&s);
    }
}
