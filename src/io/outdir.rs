//! Writing an output folder that appears whole or not at all, without ever deleting or
//! replacing anything the program did not write.
//!
//! An [`OutDir`] is prepared for a target folder `D`:
//!
//! 1. `D`'s name must be a plain folder name whose parent exists. If `D` exists, it may
//!    be replaced only when the caller allows it (`--force`) **and** `D` is a real folder
//!    that holds nothing but what this kind of output writes ([`Allowed`]); otherwise
//!    the error names the first unexpected entry and `D` is left untouched.
//! 2. Files are written into a temporary sibling, `.<name>.bpo-tmp-<pid>` (the name is
//!    shortened so that long target names still fit the 255-byte limit). The temporary
//!    folder is registered process-wide, so a signal handler can remove it
//!    ([`remove_registered`]), and is removed on every failure path (`Drop`).
//! 3. Before that, temporary folders left in the same parent by processes that are gone
//!    (a `SIGKILL`ed export) are removed if they hold nothing but output files; the
//!    caller is told which ([`OutDir::removed_stale`]).
//! 4. [`OutDir::commit`] moves the folder into place with one atomic rename that never
//!    replaces what it did not check: `renameat2(RENAME_NOREPLACE)` for a new `D` (a `D`
//!    that appeared meanwhile is left alone and the export fails), and
//!    `renameat2(RENAME_EXCHANGE)` to swap in the new folder for a checked old one, whose
//!    known files are then deleted one by one (anything unexpected that appeared in it
//!    meanwhile is kept, in a visible sibling folder).

use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// What an output folder may hold: top-level files, and one subfolder of files with one
/// extension. A folder holding anything else is not replaced. (A [`Layout`] allows more
/// subfolders; every `Allowed` is one.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// Regular files allowed at the top level.
    pub files: &'static [&'static str],
    /// A subfolder and the extension of the regular files allowed in it.
    pub subdir: Option<(&'static str, &'static str)>,
}

/// What an output folder may hold: top-level files, and subfolders each holding regular
/// files with one of its extensions. A folder holding anything else is not replaced, and
/// only these entries are ever deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Regular files allowed at the top level.
    pub files: &'static [&'static str],
    /// Subfolders, each with the extensions (without the dot) of the regular files
    /// allowed in it.
    pub subdirs: Vec<(&'static str, Vec<&'static str>)>,
}

impl From<Allowed> for Layout {
    fn from(a: Allowed) -> Layout {
        Layout {
            files: a.files,
            subdirs: a.subdir.map(|(s, e)| (s, vec![e])).into_iter().collect(),
        }
    }
}

impl Layout {
    /// Whether a regular file `name` in a subfolder with extensions `exts` is allowed.
    fn allows_in(exts: &[&str], name: &str) -> bool {
        exts.iter().any(|e| name.ends_with(&format!(".{e}")))
    }

    /// The first entry of the folder `dir` that an output of this kind does not write,
    /// as a path relative to `dir` (`None`: every entry is expected).
    fn unexpected(&self, dir: &Path) -> Result<Option<String>> {
        for (name, meta) in read_dir_sorted(dir)? {
            if self.files.contains(&name.as_str()) && meta.is_file() {
                continue;
            }
            if let Some((sub, exts)) = self.subdirs.iter().find(|(s, _)| *s == name) {
                if meta.is_dir() {
                    for (inner, m) in read_dir_sorted(&dir.join(sub))? {
                        if !(m.is_file() && Layout::allows_in(exts, &inner)) {
                            return Ok(Some(format!("{sub}/{inner}")));
                        }
                    }
                    continue;
                }
            }
            return Ok(Some(name));
        }
        Ok(None)
    }

    /// Deletes exactly the entries of `dir` this kind of output writes, then `dir` if it
    /// is empty; returns whether it is gone.
    fn delete_known(&self, dir: &Path) -> bool {
        for f in self.files {
            let p = dir.join(f);
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
                let _ = std::fs::remove_file(p);
            }
        }
        for (sub, exts) in &self.subdirs {
            let s = dir.join(sub);
            if std::fs::symlink_metadata(&s).is_ok_and(|m| m.is_dir()) {
                if let Ok(entries) = read_dir_sorted(&s) {
                    for (name, m) in entries {
                        if m.is_file() && Layout::allows_in(exts, &name) {
                            let _ = std::fs::remove_file(s.join(name));
                        }
                    }
                }
                let _ = std::fs::remove_dir(&s);
            }
        }
        std::fs::remove_dir(dir).is_ok()
    }

    /// Whether this layout allows nothing (a folder that is never replaced).
    fn is_empty(&self) -> bool {
        self.files.is_empty() && self.subdirs.is_empty()
    }
}

/// A folder's entries (name, metadata without following links), sorted by name.
fn read_dir_sorted(dir: &Path) -> Result<Vec<(String, std::fs::Metadata)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let meta = std::fs::symlink_metadata(e.path()).map_err(|err| Error::io(e.path(), err))?;
        out.push((e.file_name().to_string_lossy().into_owned(), meta));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Temporary folders and files of this process, removed by [`remove_registered`].
static REGISTERED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Clean-up actions of this process (a conformance run's: kill the port's process
/// group, remove its work folder), run first by [`remove_registered`].
type Hook = std::sync::Arc<dyn Fn() + Send + Sync>;
static HOOKS: Mutex<Vec<(u64, Hook)>> = Mutex::new(Vec::new());
static NEXT_HOOK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Registers a clean-up action for [`remove_registered`] (for a signal handler); returns
/// its id for [`unregister_hook`].
pub fn register_hook(hook: Hook) -> u64 {
    let id = NEXT_HOOK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match HOOKS.lock() {
        Ok(mut v) => v.push((id, hook)),
        Err(p) => p.into_inner().push((id, hook)),
    }
    id
}

/// Forgets a clean-up action (its work is done).
pub fn unregister_hook(id: u64) {
    match HOOKS.lock() {
        Ok(mut v) => v.retain(|(i, _)| *i != id),
        Err(p) => p.into_inner().retain(|(i, _)| *i != id),
    }
}

/// Runs every registered clean-up action ([`register_hook`]), then removes every
/// temporary folder or file this process is writing (for a signal handler that is about
/// to end the process). Safe to call at any time.
pub fn remove_registered() {
    let hooks: Vec<Hook> = match HOOKS.lock() {
        Ok(v) => v.iter().map(|(_, h)| h.clone()).collect(),
        Err(p) => p.into_inner().iter().map(|(_, h)| h.clone()).collect(),
    };
    for h in hooks {
        h();
    }
    let paths: Vec<PathBuf> = match REGISTERED.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    };
    for p in paths {
        // The writer may still be adding files: retry until the folder is gone.
        for _ in 0..100 {
            let r = match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p),
                Ok(_) => std::fs::remove_file(&p),
                Err(e) => Err(e),
            };
            match r {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => continue,
                _ => break,
            }
        }
    }
}

/// Registers a temporary file or folder this process is writing, for
/// [`remove_registered`].
pub fn register(p: &Path) {
    if let Ok(mut v) = REGISTERED.lock() {
        v.push(p.to_path_buf());
    }
}

/// Forgets a registered temporary (it was moved into place or removed).
pub fn unregister(p: &Path) {
    if let Ok(mut v) = REGISTERED.lock() {
        v.retain(|q| q != p);
    }
}

/// The marker in temporary folder names: `.<name>.bpo-tmp-<pid>`.
const TMP_MARK: &str = ".bpo-tmp-";

/// A temporary output folder on its way to replacing (or creating) a target folder.
#[derive(Debug)]
pub struct OutDir {
    target: PathBuf,
    tmp: PathBuf,
    /// Whether the target existed (checked, and allowed to be replaced).
    replace: bool,
    allowed: Layout,
    removed_stale: Vec<PathBuf>,
    done: bool,
}

impl OutDir {
    /// Checks the target `out` (errors name `field`), removes stale temporary folders of
    /// dead processes next to it, and creates this process's temporary folder.
    pub fn prepare(
        out: &Path,
        force: bool,
        allowed: impl Into<Layout>,
        field: &str,
    ) -> Result<OutDir> {
        let allowed: Layout = allowed.into();
        let (parent, name) = split_target(out, field)?;
        let target = parent.join(&name);
        let replace = match std::fs::symlink_metadata(&target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io(&target, e)),
            Ok(_) if !force => {
                let problem = if allowed.is_empty() {
                    format!(
                        "{} exists; name a folder that does not exist yet (it is never replaced)",
                        out.display()
                    )
                } else {
                    format!("{} exists; pass --force to replace it", out.display())
                };
                return Err(Error::invalid(field, problem));
            }
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::invalid(
                    field,
                    format!(
                    "{} is a symbolic link; only a folder that an earlier export wrote is replaced",
                    out.display()
                ),
                ))
            }
            Ok(m) if !m.is_dir() => {
                return Err(Error::invalid(
                    field,
                    format!("{} exists and is not a folder", out.display()),
                ))
            }
            Ok(_) => {
                if let Some(entry) = allowed.unexpected(&target)? {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "{} holds {entry:?}, which an export does not write; it is not replaced (move it away or choose another folder)",
                            out.display()
                        ),
                    ));
                }
                true
            }
        };
        let removed_stale = remove_stale(&parent, &allowed);
        let prefix = shorten(&name, 200);
        let tmp = parent.join(format!(".{prefix}{TMP_MARK}{}", std::process::id()));
        register(&tmp);
        if std::fs::symlink_metadata(&tmp).is_ok() {
            // Left by an earlier process with this same id, which is gone.
            allowed.delete_known(&tmp);
        }
        let dir = OutDir {
            target,
            tmp,
            replace,
            allowed,
            removed_stale,
            done: false,
        };
        std::fs::create_dir(&dir.tmp).map_err(|e| Error::io(&dir.tmp, e))?;
        Ok(dir)
    }

    /// The temporary folder to write into.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Temporary folders of dead processes removed while preparing.
    pub fn removed_stale(&self) -> &[PathBuf] {
        &self.removed_stale
    }

    /// Moves the written folder into place. Returns a folder that held the replaced
    /// output's unexpected leftovers, if any (kept, never deleted).
    pub fn commit(mut self) -> Result<Option<PathBuf>> {
        let kept = if self.replace {
            exchange(&self.tmp, &self.target)?;
            // `tmp` now holds the old output: delete what an export writes, keep the rest.
            if self.allowed.delete_known(&self.tmp) {
                None
            } else {
                let keep = PathBuf::from(format!(
                    "{}.replaced-{}",
                    self.target.display(),
                    std::process::id()
                ));
                std::fs::rename(&self.tmp, &keep).map_err(|e| Error::io(&self.tmp, e))?;
                Some(keep)
            }
        } else {
            rename_noreplace(&self.tmp, &self.target).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::file(
                        &self.target,
                        "appeared while the export was running; it was left untouched",
                    )
                } else {
                    Error::io(&self.target, e)
                }
            })?;
            None
        };
        self.done = true;
        unregister(&self.tmp);
        Ok(kept)
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
            unregister(&self.tmp);
        }
    }
}

/// `out` as (its parent folder, its plain name); the parent must be a folder.
fn split_target(out: &Path, field: &str) -> Result<(PathBuf, String)> {
    let mut comps: Vec<Component> = out.components().collect();
    let name = match comps.pop() {
        Some(Component::Normal(n)) => n.to_string_lossy().into_owned(),
        _ => {
            return Err(Error::invalid(
                field,
                format!("{} has no folder name", out.display()),
            ))
        }
    };
    let parent: PathBuf = comps.iter().collect();
    let parent = if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent
    };
    if !parent.is_dir() {
        return Err(Error::invalid(
            field,
            format!("the parent folder {} does not exist", parent.display()),
        ));
    }
    Ok((parent, name))
}

/// The first at most `max` bytes of `name`, at a character boundary.
fn shorten(name: &str, max: usize) -> &str {
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Removes `.*.bpo-tmp-<pid>` folders in `parent` whose process is gone and which hold
/// nothing but output files; returns them.
fn remove_stale(parent: &Path, allowed: &Layout) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = read_dir_sorted(parent) else {
        return removed;
    };
    for (name, meta) in entries {
        let Some(pid) = name
            .rsplit_once(TMP_MARK)
            .filter(|(head, _)| head.starts_with('.'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !meta.is_dir() || process_alive(pid) {
            continue;
        }
        let path = parent.join(&name);
        if matches!(allowed.unexpected(&path), Ok(None)) && allowed.delete_known(&path) {
            removed.push(path);
        }
    }
    removed
}

/// Whether a process with this id exists (it may belong to someone else).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Some(p) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        match rustix::process::test_kill_process(p) {
            Ok(()) => true,
            Err(e) => e != rustix::io::Errno::SRCH,
        }
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// Renames `from` to `to` unless `to` exists (atomically where the system can).
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            // File systems without renameat2 flags: fall back to check-then-rename.
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(e.into()),
        }
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
    }
    std::fs::rename(from, to)
}

/// Swaps `a` and `b` atomically (both exist).
fn exchange(a: &Path, b: &Path) -> Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(()),
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
            Err(e) => return Err(Error::io(b, e.into())),
        }
    }
    // Without an atomic exchange: move the checked old folder aside, then the new in.
    let aside = a.with_extension("old");
    std::fs::rename(b, &aside).map_err(|e| Error::io(b, e))?;
    if let Err(e) = std::fs::rename(a, b) {
        let _ = std::fs::rename(&aside, b);
        return Err(Error::io(b, e));
    }
    std::fs::rename(&aside, a).map_err(|e| Error::io(a, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT: Allowed = Allowed {
        files: &["trajectory.json", "reference.npz"],
        subdir: Some(("npy", "npy")),
    };

    /// A fresh scratch folder for one test.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bpo-outdir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write_export(dir: &Path) {
        std::fs::write(dir.join("trajectory.json"), "{}").unwrap();
        std::fs::write(dir.join("reference.npz"), "npz").unwrap();
        std::fs::create_dir_all(dir.join("npy")).unwrap();
        std::fs::write(dir.join("npy/loss.npy"), "npy").unwrap();
    }

    fn entries(dir: &Path) -> Vec<String> {
        read_dir_sorted(dir)
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect()
    }

    #[test]
    fn a_new_folder_appears_whole() {
        let d = scratch("new");
        let out = d.join("golden");
        let dir = OutDir::prepare(&out, false, EXPORT, "out").unwrap();
        write_export(dir.path());
        assert_eq!(dir.commit().unwrap(), None);
        assert_eq!(entries(&out), ["npy", "reference.npz", "trajectory.json"]);
        assert_eq!(entries(&d), ["golden"]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_folder_that_appears_meanwhile_is_never_replaced() {
        let d = scratch("race");
        let out = d.join("golden");
        let dir = OutDir::prepare(&out, false, EXPORT, "out").unwrap();
        write_export(dir.path());
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("thesis.txt"), "mine").unwrap();
        let e = dir.commit().unwrap_err().to_string();
        assert!(e.contains("appeared while the export was running"), "{e}");
        assert_eq!(
            std::fs::read_to_string(out.join("thesis.txt")).unwrap(),
            "mine"
        );
        assert_eq!(entries(&d), ["golden"], "the temporary folder is removed");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn force_replaces_only_what_an_export_wrote() {
        let d = scratch("force");
        let out = d.join("golden");
        std::fs::create_dir(&out).unwrap();
        write_export(&out);
        std::fs::create_dir(out.join("sub")).unwrap();
        std::fs::write(out.join("sub/data.csv"), "1,2").unwrap();
        // Without --force, or with a user's file inside, nothing is touched.
        assert!(OutDir::prepare(&out, false, EXPORT, "out").is_err());
        let e = OutDir::prepare(&out, true, EXPORT, "out")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"sub\""), "{e}");
        std::fs::write(out.join("npy/notes.txt"), "x").unwrap();
        std::fs::remove_dir_all(out.join("sub")).unwrap();
        let e = OutDir::prepare(&out, true, EXPORT, "out")
            .unwrap_err()
            .to_string();
        assert!(e.contains("npy/notes.txt"), "{e}");
        std::fs::remove_file(out.join("npy/notes.txt")).unwrap();
        assert_eq!(
            entries(&d),
            ["golden"],
            "refusals leave no temporary folder"
        );
        // An earlier export alone is replaced.
        let dir = OutDir::prepare(&out, true, EXPORT, "out").unwrap();
        std::fs::write(dir.path().join("trajectory.json"), "new").unwrap();
        assert_eq!(dir.commit().unwrap(), None);
        assert_eq!(entries(&out), ["trajectory.json"]);
        assert_eq!(
            std::fs::read_to_string(out.join("trajectory.json")).unwrap(),
            "new"
        );
        assert_eq!(entries(&d), ["golden"]);
        // A symbolic link is not followed or replaced.
        std::os::unix::fs::symlink(&out, d.join("link")).unwrap();
        assert!(OutDir::prepare(&d.join("link"), true, EXPORT, "out").is_err());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn what_appears_in_a_replaced_folder_meanwhile_is_kept() {
        let d = scratch("keep");
        let out = d.join("golden");
        std::fs::create_dir(&out).unwrap();
        write_export(&out);
        let dir = OutDir::prepare(&out, true, EXPORT, "out").unwrap();
        std::fs::write(dir.path().join("trajectory.json"), "new").unwrap();
        std::fs::write(out.join("late.txt"), "mine").unwrap();
        let kept = dir.commit().unwrap().expect("kept");
        assert_eq!(
            std::fs::read_to_string(kept.join("late.txt")).unwrap(),
            "mine"
        );
        assert_eq!(
            entries(&kept),
            ["late.txt"],
            "the old export's own files are gone"
        );
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn stale_temporary_folders_of_dead_processes_are_removed_if_they_are_ours() {
        let d = scratch("stale");
        let dead = d.join(format!(".golden{TMP_MARK}2147483646"));
        std::fs::create_dir(&dead).unwrap();
        write_export(&dead);
        let foreign = d.join(format!(".other{TMP_MARK}2147483645"));
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("thesis.txt"), "mine").unwrap();
        let dir = OutDir::prepare(&d.join("golden"), false, EXPORT, "out").unwrap();
        assert_eq!(dir.removed_stale(), std::slice::from_ref(&dead));
        assert!(!dead.exists());
        assert!(
            foreign.join("thesis.txt").is_file(),
            "never a folder with other files"
        );
        drop(dir);
        assert_eq!(entries(&d), [format!(".other{TMP_MARK}2147483645")]);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn names_up_to_the_file_system_limit_work() {
        let d = scratch("long");
        let name = "g".repeat(255);
        let dir = OutDir::prepare(&d.join(&name), false, EXPORT, "out").unwrap();
        assert!(dir.path().file_name().unwrap().len() <= 255);
        std::fs::write(dir.path().join("trajectory.json"), "{}").unwrap();
        dir.commit().unwrap();
        assert!(d.join(&name).join("trajectory.json").is_file());
        for bad in [d.join("."), d.join(".."), PathBuf::from("/")] {
            assert!(
                OutDir::prepare(&bad, true, EXPORT, "out").is_err(),
                "{bad:?}"
            );
        }
        std::fs::remove_dir_all(d).unwrap();
    }
}
