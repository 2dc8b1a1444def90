//! Retention: removing whole task folders whose work is finished.
//!
//! Only sealed tasks (with `result.json`) are candidates, and their age is
//! the age of `result.json`: a task still being written is never removed.
//! The index follows on its next reconcile (rows move to
//! `superseded_records`, documents to `document_history`), so nothing the
//! index held is silently lost.
//!
//! Removal goes through directory handles, as `compress` does: the root is
//! opened once, the task folder in it without following a symbolic link
//! (`openat` with `O_NOFOLLOW | O_DIRECTORY`), the seal is checked through
//! that handle, and everything below is removed relative to it (`unlinkat`,
//! sub-folders opened the same way). A folder swapped for a link, or for
//! another folder, between the check and the removal cannot make `prune`
//! remove anything but the sealed folder it checked.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::{self, AtFlags, Mode, OFlags};
use rustix::io::Errno;

use tasklog_format::{TaskId, RESULT_DOC};

use crate::error::{Error, Result};
use crate::writer::Writer;

/// A sealed task old enough to remove.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Expired {
    /// The task id (its folder name).
    pub task_id: String,
    /// When `result.json` was last written.
    pub sealed_at: String,
    /// Bytes in the folder.
    pub bytes: u64,
}

impl Writer {
    /// Sealed tasks whose `result.json` is older than `age`, oldest first.
    pub fn expired_tasks(&self, age: Duration) -> Result<Vec<Expired>> {
        let root = self.root();
        let cutoff = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let entries =
            std::fs::read_dir(root).map_err(|e| Error::io(root, "listing log root", e))?;
        let mut expired = Vec::new();
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            // Real folders with valid names only: never follow a symlink out of the root.
            if TaskId::new(&name).is_err() || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let result = entry.path().join(format!("{RESULT_DOC}.json"));
            let Ok(sealed) = std::fs::symlink_metadata(&result).and_then(|m| m.modified()) else {
                continue;
            };
            if sealed <= cutoff {
                expired.push((
                    sealed,
                    Expired {
                        task_id: name,
                        sealed_at: tasklog_format::rfc3339_at(sealed),
                        bytes: folder_bytes(&entry.path()),
                    },
                ));
            }
        }
        expired.sort_by_key(|(sealed, _)| *sealed);
        Ok(expired.into_iter().map(|(_, e)| e).collect())
    }

    /// Removes one sealed task folder. Refuses a task that is not sealed
    /// and a folder that is a symbolic link; works through handles only.
    pub fn remove_sealed(&self, task_id: &str) -> Result<()> {
        let id = TaskId::new(task_id)?;
        let root = self.root();
        let name = id.file_name();
        let path = root.join(&name);
        let root_fd = fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(root, "opening log root", e.into()))?;
        let dir = open_folder(&root_fd, name.as_str(), &path)?;
        let result = format!("{RESULT_DOC}.json");
        let sealed = fs::statat(&dir, result.as_str(), AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| fs::FileType::from_raw_mode(s.st_mode) == fs::FileType::RegularFile);
        if !sealed {
            return Err(Error::NotSealed { path });
        }
        empty_folder(&dir, &path, 0)?;
        // By name, the one step that cannot go through the handle: if the
        // name now holds a link or another folder, this fails (ENOTDIR,
        // ENOTEMPTY) and removes nothing.
        fs::unlinkat(&root_fd, name.as_str(), AtFlags::REMOVEDIR)
            .map_err(|e| Error::io(&path, "removing task folder", e.into()))
    }

    /// The folder of a sealed task: a real folder (not a symbolic link)
    /// holding `result.json`. What `prune` and `compress` may touch.
    pub(crate) fn sealed_task_dir(&self, task_id: &str) -> Result<std::path::PathBuf> {
        let id = TaskId::new(task_id)?;
        let dir = self.root().join(id.file_name());
        let meta = std::fs::symlink_metadata(&dir)
            .map_err(|e| Error::io(&dir, "reading task folder", e))?;
        if meta.file_type().is_symlink() {
            return Err(Error::Symlink { path: dir });
        }
        if !dir.join(format!("{RESULT_DOC}.json")).is_file() {
            return Err(Error::NotSealed { path: dir });
        }
        Ok(dir)
    }
}

/// Most folder levels below a task folder `prune` descends (the layout has
/// one; a deeper tree is not the writer's).
const MAX_DEPTH: usize = 16;

/// Opens `name` in `parent` as a folder, refusing a symbolic link.
fn open_folder<P: rustix::path::Arg>(parent: &OwnedFd, name: P, path: &Path) -> Result<OwnedFd> {
    fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::LOOP | Errno::NOTDIR => Error::Symlink {
            path: path.to_owned(),
        },
        e => Error::io(path, "opening folder", e.into()),
    })
}

/// Removes everything in the folder `dir` (at `path`, for messages),
/// relative to its handle.
fn empty_folder(dir: &OwnedFd, path: &Path, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::io(
            path,
            "removing task folder",
            std::io::Error::other(format!("more than {MAX_DEPTH} folder levels")),
        ));
    }
    for name in entry_names(dir, path)? {
        let child: PathBuf = path.join(String::from_utf8_lossy(name.to_bytes()).as_ref());
        match fs::unlinkat(dir, name.as_c_str(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            // A folder: emptied through its own handle, then removed.
            Err(Errno::ISDIR) => {
                let sub = open_folder(dir, name.as_c_str(), &child)?;
                empty_folder(&sub, &child, depth + 1)?;
                fs::unlinkat(dir, name.as_c_str(), AtFlags::REMOVEDIR)
                    .map_err(|e| Error::io(&child, "removing folder", e.into()))?;
            }
            Err(e) => return Err(Error::io(&child, "removing file", e.into())),
        }
    }
    Ok(())
}

/// The names in `dir` but `.` and `..`, as bytes (any name is removed).
fn entry_names(dir: &OwnedFd, path: &Path) -> Result<Vec<CString>> {
    let listing =
        fs::Dir::read_from(dir).map_err(|e| Error::io(path, "listing folder", e.into()))?;
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| Error::io(path, "listing folder", e.into()))?;
        let name = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
