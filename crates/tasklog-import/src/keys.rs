//! The keys of events already imported, kept beside `import.json` rather
//! than in it.
//!
//! `import.json` is an indexed document, and the index keeps every version
//! of a document in `document_history`. A followed session rewrites it at
//! every import; with one key per model call and content block inside it,
//! its history grew with imports x calls (one 347 KB session followed turn
//! by turn left 1.36 MB of history, issue 25). So the keys live in
//! `.import-keys` in the task folder: a dot-file, which every reader and
//! the index ignore (FORMAT.md §2.3), one key per line, only ever appended
//! to. `import.json`'s `seen_keys_bytes` says how many of its bytes hold
//! committed keys: a run that dies after appending keys and before writing
//! `import.json` leaves a tail that loading ignores and the next save cuts
//! off, so the keys and the rest of the import record always agree
//! (journal.rs has the rest of the crash protocol).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The keys file's name in a task folder.
pub const KEYS_FILE: &str = ".import-keys";

/// The committed keys: the first `committed` bytes of the task's keys file.
/// A file shorter than that lost keys, and importing on would write their
/// events again, so it is an error.
pub(crate) fn load(dir: &Path, committed: u64) -> Result<BTreeSet<String>, String> {
    let mut keys = BTreeSet::new();
    if committed == 0 {
        return Ok(keys);
    }
    let path = dir.join(KEYS_FILE);
    let mut bytes = Vec::with_capacity(committed as usize);
    match open(&path, false).and_then(|f| f.take(committed).read_to_end(&mut bytes)) {
        Ok(_) => {}
        // Reported below as keys lost, like a file cut short.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    if (bytes.len() as u64) < committed {
        return Err(format!(
            "{} holds {} of the {committed} bytes of keys import.json records: the keys of events already imported are lost, and importing on would write those events again; remove the task folder to import its sources anew",
            path.display(),
            bytes.len()
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    keys.extend(text.lines().filter(|k| !k.is_empty()).map(str::to_owned));
    Ok(keys)
}

/// Appends `added` after the first `committed` bytes of the keys file
/// (cutting any tail a crashed run left), makes them durable, and returns
/// the new committed length to record in `import.json`.
pub(crate) fn append(dir: &Path, committed: u64, added: &[String]) -> std::io::Result<u64> {
    let path = dir.join(KEYS_FILE);
    let mut file = open(&path, true)?;
    file.set_len(committed)?;
    let mut text = String::with_capacity(added.iter().map(|k| k.len() + 1).sum());
    for key in added {
        // A key is one line; none of the formats' ids holds a newline, but
        // a key that did would split into two wrong keys.
        text.push_str(&key.replace(['\n', '\r'], " "));
        text.push('\n');
    }
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(committed))?;
    file.write_all(text.as_bytes())?;
    file.sync_data()?;
    Ok(committed + text.len() as u64)
}

/// Opens the keys file without following a symbolic link (a link planted
/// in a task folder must not make the importer write elsewhere).
fn open(path: &Path, write: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .create(write)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crashed_tail_is_ignored_then_cut() {
        let dir = tempfile::tempdir().unwrap();
        let a = append(dir.path(), 0, &["llm:a".into(), "uuid:b#0".into()]).unwrap();
        // A run that died before recording its keys in import.json.
        let crashed = append(dir.path(), a, &["llm:lost".into()]).unwrap();
        assert!(crashed > a);
        let keys = load(dir.path(), a).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(!keys.contains("llm:lost"));
        let b = append(dir.path(), a, &["llm:c".into()]).unwrap();
        let all = std::fs::read_to_string(dir.path().join(KEYS_FILE)).unwrap();
        assert_eq!(all, "llm:a\nuuid:b#0\nllm:c\n");
        assert_eq!(b, all.len() as u64);
    }

    #[test]
    fn lost_keys_are_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let n = append(dir.path(), 0, &["llm:a".into()]).unwrap();
        std::fs::write(dir.path().join(KEYS_FILE), "").unwrap();
        let err = load(dir.path(), n).unwrap_err();
        assert!(
            err.contains(".import-keys") && err.contains("lost"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join(KEYS_FILE)).unwrap();
        assert!(load(dir.path(), n).is_err(), "a missing file lost them too");
        assert!(load(dir.path(), 0).unwrap().is_empty());
    }

    #[test]
    fn a_symbolic_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "").unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join(KEYS_FILE)).unwrap();
        assert!(append(dir.path(), 0, &["k".into()]).is_err());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "");
    }
}
