//! Which other processes hold a file open for writing, read from `/proc`.
//!
//! `compress` must not take a stream away from a process that may still
//! write to it: lines written into a removed file are lost. Writers that
//! follow the append protocol are refused after compression (stream.rs),
//! but any other tool (`>>` in a shell, a logger holding a descriptor)
//! keeps writing into the removed file. Linux names every open descriptor
//! in `/proc/<pid>/fd` and its access mode in `/proc/<pid>/fdinfo`, which is
//! the one place that sees them all. Processes of other users are visible
//! only to root; where `/proc` is absent (not Linux) the scan finds nobody
//! and the quiet time alone protects the stream (docs/RETENTION.md).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A file's identity: (device, inode).
pub(crate) type FileId = (u64, u64);

/// The processes (other than this one) holding a descriptor open for
/// writing (`O_WRONLY` or `O_RDWR`) on one of `targets`: file → a pid.
pub(crate) fn open_for_writing(targets: &[FileId]) -> HashMap<FileId, u32> {
    let mut found = HashMap::new();
    if targets.is_empty() {
        return found;
    }
    let own = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for proc_entry in procs.flatten() {
        let Some(pid) = proc_entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        // Another user's process, or one that just ended: not visible.
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let link = fd.path();
            // Sockets, pipes and anonymous inodes are no streams; skipping
            // them by name saves a stat each.
            if std::fs::read_link(&link).is_ok_and(|t| !t.is_absolute()) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&link) else {
                continue;
            };
            let id = (meta.dev(), meta.ino());
            if !targets.contains(&id) || found.contains_key(&id) {
                continue;
            }
            let info = proc_entry.path().join("fdinfo").join(fd.file_name());
            if opened_for_writing(&info) {
                found.insert(id, pid);
            }
        }
    }
    found
}

/// Whether `/proc/<pid>/fdinfo/<fd>` says the descriptor may write. An
/// unreadable one counts as writing: when unsure, leave the stream plain.
fn opened_for_writing(fdinfo: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(fdinfo) else {
        return true;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_none_or(|flags| flags & 0o3 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_holding_a_file_for_appending_is_found_and_a_reader_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (w, r) = (dir.path().join("w"), dir.path().join("r"));
        std::fs::write(&w, b"").expect("w");
        std::fs::write(&r, b"").expect("r");
        let id = |p: &Path| {
            let m = std::fs::metadata(p).expect("meta");
            (m.dev(), m.ino())
        };
        // This process is never counted: a child holds the descriptors.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3>>\"$1\" 4<\"$2\"; echo ready; read _")
            .arg("sh")
            .arg(&w)
            .arg(&r)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().expect("stdout")),
            &mut line,
        )
        .expect("ready");
        let found = open_for_writing(&[id(&w), id(&r)]);
        drop(child.stdin.take());
        let _ = child.wait();
        assert_eq!(found.get(&id(&w)), Some(&child.id()), "{found:?}");
        assert!(!found.contains_key(&id(&r)), "{found:?}");
        // Gone with the child.
        assert!(open_for_writing(&[id(&w)]).is_empty());
    }
}
