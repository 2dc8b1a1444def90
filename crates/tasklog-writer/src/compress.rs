//! Compression of finished streams: `X.jsonl` becomes `X.jsonl.gz`, the
//! same stream for the indexer (same checkpoint, same rows).
//!
//! Order of operations, so that a crash at any instant leaves each stream
//! readable exactly once: the plain file is locked (as an append locks it,
//! so no record slips in between the copy and the removal), gzipped into a
//! temp file in the same folder, fsynced, renamed to `X.jsonl.gz`, the
//! folder fsynced; only then is the plain file removed and the folder
//! fsynced again (and a byte added to the removed file, for the writers
//! that still hold it: see the end of `finish_compress`). While both exist
//! the plain file is the stream (readers ignore the `.gz`), and running
//! compress again redoes the copy. A writer that held the plain file open
//! finds it unlinked under the lock and is refused ([`Error::Compressed`])
//! instead of appending into a removed file.
//!
//! Only a stream nobody is writing is compressed: its own last write (its
//! mtime) must be older than the quiet time, no other process may hold it
//! open for writing (`/proc`, see `open_writers.rs`), and its lock must be
//! free. A tool that does not follow the append protocol (`>>` in a shell)
//! would otherwise keep writing into the removed file and lose those lines.
//! The checks run again after the copy, under the lock and before the
//! rename: a stream that grew, or that a process opened for writing, while
//! it was copied is left plain and its temp file removed.
//!
//! Reading `/proc` visits every descriptor of every process, so it is done
//! twice per batch of tasks, not per stream (`batch.rs`): once before the
//! copies, once after all of them and before any rename.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;
use flate2::Compression;
use fs2::FileExt as _;
use rustix::fs::{self, AtFlags, Mode, OFlags};
use tasklog_format::{classify_entry, EntryKind, COMPRESSED_SUFFIX};

use crate::error::{Error, Result};
use crate::open_writers::{open_for_writing, FileId};
use crate::writer::Writer;

mod batch;

/// One stream compressed (or that a dry run would compress).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompressedStream {
    /// `<task>/<stream>.jsonl`, relative to the root.
    pub path: String,
    /// Size of the plain file.
    pub bytes: u64,
    /// Size of the `.gz` (0 in a dry run or when skipped).
    pub compressed_bytes: u64,
    /// Why the stream was left plain (written within the quiet time, open
    /// for writing by a process, locked, written during the copy); `None`
    /// when it was compressed (or a dry run would compress it).
    pub skipped: Option<String>,
}

/// How long `compress` waits for a stream's lock: an append holds it for
/// microseconds, so a lock held this long is a writer that keeps it.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The compressed twin of a stream path: `X.jsonl` → `X.jsonl.gz`.
pub(crate) fn gz_path(plain: &Path) -> PathBuf {
    let mut s = plain.as_os_str().to_owned();
    s.push(COMPRESSED_SUFFIX);
    PathBuf::from(s)
}

impl Writer {
    /// Compresses every plain stream of one sealed task (documents stay
    /// plain) that nobody is writing: its own mtime is at least `quiet`
    /// old, no other process holds it open for writing, and its lock is
    /// free (see the module doc). Streams that fail a check stay plain and
    /// come back with [`CompressedStream::skipped`] saying why. With
    /// `dry_run`, lists them and changes nothing. Refuses a task that is
    /// not sealed.
    ///
    /// Every step after the first goes through a handle of the task
    /// folder opened without following a symbolic link (`openat`,
    /// `renameat`, `unlinkat` relative to it), never through a path that
    /// is resolved again: a folder swapped for a link while this runs
    /// cannot steer a removal out of the root.
    pub fn compress_sealed(
        &self,
        task_id: &str,
        quiet: Duration,
        dry_run: bool,
    ) -> Result<Vec<CompressedStream>> {
        if dry_run {
            let listed = batch::Listed::open(self, task_id)?;
            let writers = open_for_writing(&listed.ids());
            return Ok(listed.dry_run(quiet, &writers));
        }
        let mut done = self.compress_sealed_many(&[task_id], quiet);
        done.pop()
            .map_or_else(|| Ok(Vec::new()), |(_, result)| result)
    }

    /// Makes stream `stream` of task `task_id` plain again (`X.jsonl.gz` →
    /// `X.jsonl`) so that it can grow: an importer calls it before it
    /// appends to a task whose session was resumed after `compress`. The
    /// reverse of [`Writer::compress_sealed`], in the same crash-safe
    /// order: the `.gz` is decompressed into a temp file, which is fsynced
    /// and renamed to `X.jsonl` (never over an existing one), the folder
    /// fsynced, and only then is the `.gz` removed. While both exist the
    /// plain file is the stream (readers ignore the `.gz`), so a crash at
    /// any instant leaves the stream readable exactly once, and calling
    /// this again finishes the removal. This writer's handle of the stream
    /// is dropped, so its next append opens the new file.
    ///
    /// Returns whether the stream was compressed. The index sees the plain
    /// file as a replaced one and reads the stream again from its start, as
    /// a new generation (the same lines, indexed once).
    pub fn decompress_stream(&self, task_id: &str, stream: &str) -> Result<bool> {
        let stream = tasklog_format::StreamName::new(stream)?;
        let dir = self
            .root()
            .join(tasklog_format::TaskId::new(task_id)?.file_name());
        let name = format!("{stream}.jsonl");
        let handle = TaskDir::open(self.root(), &dir, false)?;
        let restored = handle.decompress_stream(&name)?;
        if restored {
            self.forget_stream(&dir.join(&name));
        }
        Ok(restored)
    }
}

fn file_id(s: &fs::Stat) -> FileId {
    #[allow(clippy::useless_conversion)]
    (u64::from(s.st_dev), u64::from(s.st_ino))
}

fn mtime(s: &fs::Stat) -> SystemTime {
    let secs = u64::try_from(s.st_mtime).unwrap_or(0);
    let nanos = u32::try_from(s.st_mtime_nsec).unwrap_or(0);
    UNIX_EPOCH + Duration::new(secs, nanos.min(999_999_999))
}

/// Why a stream must stay plain now, before any copy: written within
/// `quiet`, or open for writing by another process.
fn busy(
    stat: &fs::Stat,
    quiet: Duration,
    writers: &std::collections::HashMap<FileId, u32>,
) -> Option<String> {
    let age = SystemTime::now()
        .duration_since(mtime(stat))
        .unwrap_or(Duration::ZERO);
    if age < quiet {
        return Some(format!(
            "written {}s ago, within the quiet time of {}s",
            age.as_secs(),
            quiet.as_secs()
        ));
    }
    writers
        .get(&file_id(stat))
        .map(|pid| format!("open for writing by process {pid}"))
}

/// How old a temp file must be before `compress` counts it as left by a
/// crash: writes of a document or a `.gz` take far less, so a file this
/// old is no write in progress.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(600);

/// A stream gzipped into a temp file and still locked, between
/// [`TaskDir::begin_compress`] and [`TaskDir::finish_compress`].
struct Prepared {
    /// The stream's file name.
    name: String,
    /// The stream, open and locked.
    source: File,
    /// The temp file holding the `.gz`, fsynced.
    tmp_name: String,
    /// The stream as it was when locked.
    before: fs::Stat,
    /// Bytes of the stream copied.
    read: u64,
    /// Bytes of the `.gz`.
    written: u64,
}

/// A sealed task's folder, held open: every name below is resolved in it.
struct TaskDir {
    fd: OwnedFd,
    /// The folder's path, for messages only.
    path: PathBuf,
}

impl TaskDir {
    /// Opens `dir` (a child of `root`) as a folder, refusing a symbolic
    /// link, and, with `sealed`, checks through the handle that it is
    /// still sealed.
    fn open(root: &Path, dir: &Path, sealed: bool) -> Result<TaskDir> {
        let name = dir.file_name().ok_or_else(|| Error::Symlink {
            path: dir.to_owned(),
        })?;
        let root_fd = fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(root, "opening log root", e.into()))?;
        let fd = fs::openat(
            &root_fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => Error::Symlink {
                path: dir.to_owned(),
            },
            e => Error::io(dir, "opening task folder", e.into()),
        })?;
        let handle = TaskDir {
            fd,
            path: dir.to_owned(),
        };
        let result = format!("{}.json", tasklog_format::RESULT_DOC);
        if sealed && !handle.is_file(&result) {
            return Err(Error::NotSealed {
                path: dir.to_owned(),
            });
        }
        Ok(handle)
    }

    fn stat(&self, name: &str) -> Option<fs::Stat> {
        fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()
    }

    fn is_file(&self, name: &str) -> bool {
        self.stat(name)
            .is_some_and(|s| fs::FileType::from_raw_mode(s.st_mode) == fs::FileType::RegularFile)
    }

    /// Names in the folder (UTF-8 only: other names are no streams).
    fn names(&self) -> Result<Vec<String>> {
        let dir = fs::Dir::read_from(&self.fd)
            .map_err(|e| Error::io(&self.path, "listing task folder", e.into()))?;
        let mut names = Vec::new();
        for entry in dir {
            let entry =
                entry.map_err(|e| Error::io(&self.path, "listing task folder", e.into()))?;
            if let Ok(name) = entry.file_name().to_str() {
                if name != "." && name != ".." {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    /// The plain streams (regular files, never links).
    fn stream_names(&self) -> Result<Vec<String>> {
        Ok(self
            .names()?
            .into_iter()
            .filter(|n| matches!(classify_entry(n), EntryKind::Stream(_)))
            .filter(|n| self.is_file(n))
            .collect())
    }

    /// Removes the temp files (`.tmp-*`) of a sealed task that a crash
    /// left behind (a compress or a document write killed midway): every
    /// reader ignores them, but they hold disk space.
    fn remove_stale_temp_files(&self) -> Result<()> {
        let now = std::time::SystemTime::now();
        for name in self.names()? {
            if !name.starts_with(tasklog_format::TEMP_PREFIX) || !self.is_file(&name) {
                continue;
            }
            let Some(stat) = self.stat(&name) else {
                continue;
            };
            let modified = std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(stat.st_mtime).unwrap_or(0));
            if now
                .duration_since(modified)
                .is_ok_and(|age| age >= STALE_TEMP)
            {
                let path = self.path.join(&name);
                fs::unlinkat(&self.fd, name.as_str(), AtFlags::empty())
                    .map_err(|e| Error::io(&path, "removing a stale temp file", e.into()))?;
                tracing::info!(path = %path.display(), "removed a temp file left by a crash");
            }
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        fs::fsync(&self.fd).map_err(|e| Error::io(&self.path, "syncing folder", e.into()))
    }

    /// The first half of compressing one stream (see the module doc):
    /// locks it, checks it is still quiet, and gzips it into a temp file,
    /// fsynced. The stream stays locked in the returned [`Prepared`] until
    /// [`TaskDir::finish_compress`], which checks again and renames, or
    /// [`TaskDir::abandon`]. `Ok(Err(..))` says why it stays plain.
    fn begin_compress(&self, name: &str, quiet: Duration) -> Result<Result<Prepared, String>> {
        let plain = self.path.join(name);
        // Opened for appending too (see the end), read-only when that is not allowed.
        let open = |access: OFlags| {
            fs::openat(
                &self.fd,
                name,
                access | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let source = open(OFlags::RDWR | OFlags::APPEND)
            .or_else(|e| match e {
                rustix::io::Errno::ACCESS | rustix::io::Errno::ROFS => open(OFlags::RDONLY),
                e => Err(e),
            })
            .map_err(|e| match e {
                rustix::io::Errno::LOOP => Error::Symlink {
                    path: plain.clone(),
                },
                e => Error::io(&plain, "opening stream", e.into()),
            })
            .map(File::from)?;
        if !lock_within(&source, LOCK_WAIT).map_err(|e| Error::io(&plain, "locking stream", e))? {
            return Ok(Err(format!(
                "locked by a writer for more than {}s",
                LOCK_WAIT.as_secs()
            )));
        }
        let before =
            fs::fstat(&source).map_err(|e| Error::io(&plain, "reading stream", e.into()))?;
        // Written between the listing and the lock: a writer is active.
        if let Some(reason) = busy(&before, quiet, &Default::default()) {
            let _ = fs2::FileExt::unlock(&source);
            return Ok(Err(reason));
        }
        // The .gz is created with the plain file's permission bits, less the
        // umask (the `[files] mode` policy of the CLI): a group that could
        // read the stream still can, unless the policy now says otherwise,
        // and nobody gains access by compression.
        let mode = before.st_mode & 0o666;
        let (tmp_name, tmp) = self.create_temp(mode)?;
        match gzip(&source, &tmp).and_then(|n| tmp.sync_all().map(|()| n)) {
            Ok((read, written)) => Ok(Ok(Prepared {
                name: name.to_owned(),
                source,
                tmp_name,
                before,
                read,
                written,
            })),
            Err(e) => {
                let _ = fs::unlinkat(&self.fd, tmp_name.as_str(), AtFlags::empty());
                let _ = fs2::FileExt::unlock(&source);
                Err(Error::io(self.path.join(&tmp_name), "compressing", e))
            }
        }
    }

    /// Gives up a prepared stream: its temp file removed, its lock released.
    fn abandon(&self, p: Prepared) {
        let _ = fs::unlinkat(&self.fd, p.tmp_name.as_str(), AtFlags::empty());
        let _ = fs2::FileExt::unlock(&p.source);
    }

    /// The second half: checked again now that the copy is done, still
    /// under the lock and before the rename (a tool that ignores the lock
    /// may have written the stream, or opened it for writing, meanwhile:
    /// `writers` is a `/proc` scan made after the copy), then the `.gz`
    /// takes the stream's place. Returns the `.gz`'s size, or why the
    /// stream was left plain.
    fn finish_compress(
        &self,
        p: Prepared,
        writers: &std::collections::HashMap<FileId, u32>,
    ) -> Result<Result<u64, String>> {
        let plain = self.path.join(&p.name);
        let changed = match fs::fstat(&p.source) {
            Err(e) => Some(format!("could not be read again after the copy: {e}")),
            Ok(after) => {
                let grew = u64::try_from(after.st_size).ok() != Some(p.read)
                    || mtime(&after) != mtime(&p.before);
                if grew {
                    Some("written while it was being compressed".to_owned())
                } else {
                    writers.get(&file_id(&after)).map(|pid| {
                        format!("opened for writing by process {pid} while it was being compressed")
                    })
                }
            }
        };
        if let Some(reason) = changed {
            self.abandon(p);
            return Ok(Err(reason));
        }
        let gz_name = format!("{}{COMPRESSED_SUFFIX}", p.name);
        let gz = self.path.join(&gz_name);
        if let Err(e) = fs::renameat(&self.fd, p.tmp_name.as_str(), &self.fd, gz_name.as_str()) {
            self.abandon(p);
            return Err(Error::io(&gz, "compressing", e.into()));
        }
        self.sync()?;
        // The .gz is durable: the plain file may go.
        fs::unlinkat(&self.fd, p.name.as_str(), AtFlags::empty())
            .map_err(|e| Error::io(&plain, "removing plain stream", e.into()))?;
        self.sync()?;
        // A writer that opened the stream before keeps the removed file. One
        // byte added to it (no newline: a reader that opened it before sees a
        // partial line and ignores it) changes its length, which sends every
        // such writer's next append down its slow path, where it finds the file
        // removed and refuses (stream.rs). Cheaper than a check per append.
        let _ = (&p.source).write_all(b" ");
        let _ = fs2::FileExt::unlock(&p.source);
        Ok(Ok(p.written))
    }

    /// Restores the plain stream `name` from its `.gz` (see
    /// [`Writer::decompress_stream`]); false when there is no `.gz`.
    fn decompress_stream(&self, name: &str) -> Result<bool> {
        let gz_name = format!("{name}{COMPRESSED_SUFFIX}");
        let gz = self.path.join(&gz_name);
        if !self.is_file(&gz_name) {
            return Ok(false);
        }
        if !self.is_file(name) {
            let source = fs::openat(
                &self.fd,
                gz_name.as_str(),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map(File::from)
            .map_err(|e| Error::io(&gz, "opening compressed stream", e.into()))?;
            let mode = fs::fstat(&source)
                .map(|s| s.st_mode & 0o666)
                .map_err(|e| Error::io(&gz, "reading stream mode", e.into()))?;
            let (tmp_name, tmp) = self.create_temp(mode)?;
            let restored = gunzip(&source, &tmp)
                .and_then(|()| tmp.sync_all())
                .and_then(|()| {
                    fs::renameat_with(
                        &self.fd,
                        tmp_name.as_str(),
                        &self.fd,
                        name,
                        fs::RenameFlags::NOREPLACE,
                    )
                    .map_err(io::Error::from)
                });
            if let Err(e) = restored {
                let _ = fs::unlinkat(&self.fd, tmp_name.as_str(), AtFlags::empty());
                // A plain file that appeared meanwhile is the stream: keep it.
                if e.kind() != io::ErrorKind::AlreadyExists {
                    return Err(Error::io(&gz, "decompressing", e));
                }
            }
            self.sync()?;
        }
        // The plain file is durable: the .gz may go.
        fs::unlinkat(&self.fd, gz_name.as_str(), AtFlags::empty())
            .map_err(|e| Error::io(&gz, "removing compressed stream", e.into()))?;
        self.sync()?;
        Ok(true)
    }

    /// A new temp file in the folder, with `mode` less the umask.
    fn create_temp(&self, mode: u32) -> Result<(String, File)> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for attempt in 0..16u32 {
            let name = format!(
                "{}{}-{stamp:x}-{attempt}.gz",
                tasklog_format::TEMP_PREFIX,
                std::process::id()
            );
            match fs::openat(
                &self.fd,
                name.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(mode),
            ) {
                Ok(fd) => return Ok((name, File::from(fd))),
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => {
                    return Err(Error::io(&self.path, "creating temp file", e.into()));
                }
            }
        }
        Err(Error::io(
            &self.path,
            "creating temp file",
            io::Error::from(io::ErrorKind::AlreadyExists),
        ))
    }
}

/// Takes `file`'s exclusive lock, waiting at most `wait`; `false` when a
/// writer still held it then.
fn lock_within(file: &File, wait: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock_exclusive() {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Gzips `source` into `out`: (bytes read, bytes of the `.gz`).
fn gzip(source: &File, out: &File) -> io::Result<(u64, u64)> {
    let mut enc = GzEncoder::new(
        BufWriter::with_capacity(1 << 20, out),
        Compression::default(),
    );
    let read = io::copy(&mut io::BufReader::with_capacity(1 << 20, source), &mut enc)?;
    let mut buf = enc.finish()?;
    buf.flush()?;
    drop(buf);
    out.metadata().map(|m| (read, m.len()))
}

fn gunzip(source: &File, out: &File) -> io::Result<()> {
    let mut dec = flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(1 << 20, source));
    let mut buf = BufWriter::with_capacity(1 << 20, out);
    io::copy(&mut dec, &mut buf)?;
    buf.flush()
}

#[cfg(test)]
mod tests;
