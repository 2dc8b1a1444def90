//! Which entries of the log root are task folders.
//!
//! One rule for the full listing, the watcher's folder events and `status`:
//! a task folder is a real directory (not a symbolic link) whose name is a
//! valid task id and does not start with a dot. A symbolic link with a task
//! folder's name is not followed (the indexer reads only what is under the
//! root), but it is reported by name, since its owner meant it as a task.

use std::path::Path;

use tasklog_format::TaskId;

use crate::error::{Error, Result};

/// What one entry of the root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Folder {
    /// A task folder to index.
    Task,
    /// A symbolic link named like a task folder: reported, not followed.
    Symlink,
    /// Anything else (gone, a file, a dotfile, an invalid name): not a task.
    NotTask,
}

/// The reason recorded for a symbolic link named like a task folder.
pub(crate) const SYMLINK_FOLDER: &str =
    "symbolic link, not followed: a task folder must be a real folder under the root";

/// Whether `name` may name a task folder at all.
fn task_name(name: &str) -> bool {
    !name.starts_with('.') && TaskId::new(name).is_ok()
}

fn classify(name: &str, file_type: Option<std::fs::FileType>) -> Folder {
    match file_type {
        _ if !task_name(name) => Folder::NotTask,
        Some(t) if t.is_dir() => Folder::Task,
        Some(t) if t.is_symlink() => Folder::Symlink,
        _ => Folder::NotTask,
    }
}

/// What `root/name` is now (one `lstat`).
pub(crate) fn classify_folder(root: &Path, name: &str) -> Folder {
    classify(
        name,
        std::fs::symlink_metadata(root.join(name))
            .ok()
            .map(|m| m.file_type()),
    )
}

/// One listing of the root.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Task folders, sorted.
    pub tasks: Vec<String>,
    /// Symbolic links named like task folders, sorted.
    pub symlinks: Vec<String>,
    /// Other entries (files, dotfiles, invalid names), and the symlinks.
    pub skipped: u64,
}

/// Lists the root. A missing root is an empty one: the watcher waits for it
/// to come back.
pub(crate) fn task_folders(root: &Path) -> Result<Listing> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Listing::default()),
        Err(e) => return Err(Error::io(root, "listing log root", e)),
    };
    let mut listing = Listing::default();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(root, "listing log root", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            listing.skipped += 1;
            continue;
        };
        match classify(name, entry.file_type().ok()) {
            Folder::Task => listing.tasks.push(name.to_owned()),
            Folder::Symlink => {
                listing.skipped += 1;
                listing.symlinks.push(name.to_owned());
            }
            Folder::NotTask => listing.skipped += 1,
        }
    }
    listing.tasks.sort_unstable();
    listing.symlinks.sort_unstable();
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_folders_with_task_names_are_tasks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir(root.join("a")).expect("a");
        std::fs::create_dir(root.join(".a")).expect(".a");
        std::fs::write(root.join("f"), b"").expect("f");
        std::os::unix::fs::symlink(root.join("a"), root.join("link")).expect("link");
        let listing = task_folders(root).expect("list");
        assert_eq!(listing.tasks, ["a"]);
        assert_eq!(listing.symlinks, ["link"]);
        assert_eq!(listing.skipped, 3);
        let cases = [
            ("a", Folder::Task),
            (".a", Folder::NotTask),
            ("f", Folder::NotTask),
            ("link", Folder::Symlink),
            ("missing", Folder::NotTask),
        ];
        for (name, expect) in cases {
            assert_eq!(classify_folder(root, name), expect, "{name}");
        }
        assert_eq!(
            task_folders(&root.join("gone")).expect("gone").tasks.len(),
            0
        );
    }
}
