//! Compression of finished streams: `X.jsonl` becomes `X.jsonl.gz`, the
//! same stream for the indexer (same checkpoint, same rows).
//!
//! Order of operations, so that a crash at any instant leaves each stream
//! readable exactly once: the plain file is locked (as an append locks it,
//! so no record slips in between the copy and the removal), gzipped into a
//! temp file in the same folder, fsynced, renamed to `X.jsonl.gz`, the
//! folder fsynced; only then is the plain file removed and the folder
//! fsynced again (and a byte added to the removed file, for the writers
//! that still hold it: see the end of `compress_stream`). While both exist
//! the plain file is the stream (readers ignore the `.gz`), and running
//! compress again redoes the copy. A writer that held the plain file open
//! finds it unlinked under the lock and is refused ([`Error::Compressed`])
//! instead of appending into a removed file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use fs2::FileExt as _;
use tasklog_format::{classify_entry, EntryKind, COMPRESSED_SUFFIX};

use crate::document::sync_dir;
use crate::error::{Error, Result};
use crate::writer::Writer;

/// One stream compressed (or that a dry run would compress).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompressedStream {
    /// `<task>/<stream>.jsonl`, relative to the root.
    pub path: String,
    /// Size of the plain file.
    pub bytes: u64,
    /// Size of the `.gz` (0 in a dry run).
    pub compressed_bytes: u64,
}

/// The compressed twin of a stream path: `X.jsonl` → `X.jsonl.gz`.
pub(crate) fn gz_path(plain: &Path) -> PathBuf {
    let mut s = plain.as_os_str().to_owned();
    s.push(COMPRESSED_SUFFIX);
    PathBuf::from(s)
}

impl Writer {
    /// Compresses every plain stream of one sealed task (documents stay
    /// plain). With `dry_run`, lists them and changes nothing. Refuses a
    /// task that is not sealed.
    pub fn compress_sealed(&self, task_id: &str, dry_run: bool) -> Result<Vec<CompressedStream>> {
        let dir = self.sealed_task_dir(task_id)?;
        if !dry_run {
            remove_stale_temp_files(&dir)?;
        }
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, "listing task folder", e))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| matches!(classify_entry(n), EntryKind::Stream(_)))
            .collect();
        names.sort();
        let mut done = Vec::new();
        for name in names {
            let plain = dir.join(&name);
            let bytes = std::fs::metadata(&plain).map_or(0, |m| m.len());
            let compressed_bytes = if dry_run {
                0
            } else {
                compress_stream(&dir, &plain)?
            };
            done.push(CompressedStream {
                path: format!("{task_id}/{name}"),
                bytes,
                compressed_bytes,
            });
        }
        Ok(done)
    }
}

/// How old a temp file must be before `compress` counts it as left by a
/// crash: writes of a document or a `.gz` take far less, so a file this
/// old is no write in progress.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes the temp files (`.tmp-*`) of a sealed task that a crash left
/// behind (a compress or a document write killed midway): every reader
/// ignores them, but they hold disk space.
fn remove_stale_temp_files(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "listing task folder", e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_temp = name
            .to_str()
            .is_some_and(|n| n.starts_with(tasklog_format::TEMP_PREFIX));
        let stale = entry
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_TEMP);
        if is_temp && stale {
            let path = entry.path();
            std::fs::remove_file(&path)
                .map_err(|e| Error::io(&path, "removing a stale temp file", e))?;
            tracing::info!(path = %path.display(), "removed a temp file left by a crash");
        }
    }
    Ok(())
}

/// Compresses one stream (see the module doc); returns the `.gz`'s size.
fn compress_stream(dir: &Path, plain: &Path) -> Result<u64> {
    // Opened for appending too (see the end), read-only when that is not allowed.
    let open = |append: bool| {
        OpenOptions::new()
            .read(true)
            .append(append)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(plain)
    };
    let source = open(true)
        .or_else(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => open(false),
            _ => Err(e),
        })
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Error::Symlink {
                path: plain.to_owned(),
            },
            _ => Error::io(plain, "opening stream", e),
        })?;
    source
        .lock_exclusive()
        .map_err(|e| Error::io(plain, "locking stream", e))?;
    let gz = gz_path(plain);
    let tmp = tempfile::Builder::new()
        .prefix(tasklog_format::TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, "creating temp file", e))?;
    let written = gzip(&source, tmp.as_file()).map_err(|e| Error::io(&gz, "compressing", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), "syncing compressed stream", e))?;
    tmp.persist(&gz)
        .map_err(|e| Error::io(&gz, "renaming compressed stream", e.error))?;
    sync_dir(dir)?;
    // The .gz is durable: the plain file may go.
    std::fs::remove_file(plain).map_err(|e| Error::io(plain, "removing plain stream", e))?;
    sync_dir(dir)?;
    // A writer that opened the stream before keeps the removed file. One
    // byte added to it (no newline: a reader that opened it before sees a
    // partial line and ignores it) changes its length, which sends every
    // such writer's next append down its slow path, where it finds the file
    // removed and refuses (stream.rs). Cheaper than a check per append.
    let _ = (&source).write_all(b" ");
    let _ = fs2::FileExt::unlock(&source);
    Ok(written)
}

fn gzip(source: &File, out: &File) -> io::Result<u64> {
    let mut enc = GzEncoder::new(
        BufWriter::with_capacity(1 << 20, out),
        Compression::default(),
    );
    io::copy(&mut io::BufReader::with_capacity(1 << 20, source), &mut enc)?;
    let mut buf = enc.finish()?;
    buf.flush()?;
    out.metadata().map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WriterOptions;

    #[test]
    fn a_compressed_stream_refuses_appends_even_through_an_open_handle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = Writer::open(dir.path(), WriterOptions::default()).expect("writer");
        let task = writer.task("t").expect("task");
        task.append_json("events", br#"{"event":"a"}"#, crate::Durability::Default)
            .expect("append");
        task.final_result("completed", serde_json::json!({}))
            .expect("seal");
        let done = writer.compress_sealed("t", false).expect("compress");
        assert_eq!(done.len(), 1);
        let plain = dir.path().join("t/events.jsonl");
        assert!(!plain.exists() && gz_path(&plain).exists());
        // The handle the writer keeps open points at the removed file.
        let err = task
            .append_json("events", br#"{"event":"b"}"#, crate::Durability::Default)
            .expect_err("refused");
        assert!(matches!(err, Error::Compressed { .. }), "{err}");
        assert!(err.is_refusal());
        // A fresh writer is refused before creating a plain file.
        let fresh = Writer::open(dir.path(), WriterOptions::default()).expect("writer");
        let err = fresh
            .task("t")
            .expect("task")
            .append_json("events", br#"{"event":"c"}"#, crate::Durability::Default)
            .expect_err("refused");
        assert!(matches!(err, Error::Compressed { .. }), "{err}");
        assert!(!plain.exists());
        // A temp file left by a crash long ago goes; a recent one stays.
        let stale = dir.path().join("t/.tmp-old123");
        let fresh_tmp = dir.path().join("t/.tmp-new456");
        std::fs::write(&stale, b"x").expect("stale");
        std::fs::write(&fresh_tmp, b"x").expect("fresh");
        let long_ago = std::time::SystemTime::now() - STALE_TEMP * 2;
        File::options()
            .write(true)
            .open(&stale)
            .and_then(|f| f.set_modified(long_ago))
            .expect("age");
        writer.compress_sealed("t", false).expect("compress again");
        assert!(!stale.exists() && fresh_tmp.exists());
        // Not sealed: refused.
        writer.task("open").expect("task");
        assert!(matches!(
            writer.compress_sealed("open", false),
            Err(Error::NotSealed { .. })
        ));
    }
}
