//! One stream file and the append protocol.
//!
//! Protocol, per record: take `flock(LOCK_EX)`, read the length (`lseek`
//! to the end), and when the file changed since this handle's last write,
//! end a torn fragment with `\n` and recover the last `seq`; then one
//! `write(2)` of the whole line on an `O_APPEND` descriptor, then unlock.
//! Holding the lock across the write is what keeps lines from different
//! processes whole even when a write is split by the kernel (pipes,
//! signals, NFS).

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Mutex;

use fs2::FileExt as _;
use tasklog_format::{decode_line, Prepared, Scalar, Stamp, StampBuf};

use crate::error::{Error, Result};

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Byte offset of the record's first byte in the stream.
    pub offset: u64,
    /// The `seq` stamped on it (or the caller's own, which is not parsed: 0).
    pub seq: u64,
    /// The ULID the writer generated under the lock; kept as bytes so
    /// `Appended` stays `Copy` (the Python and Node bindings return it).
    id: [u8; ULID_LEN],
}

impl Appended {
    /// The `id` the writer stamped. When the record carried its own `id`,
    /// the writer kept that one and this generated id was not written.
    pub fn stamped_id(&self) -> &str {
        std::str::from_utf8(&self.id).unwrap_or("")
    }
}

/// Length of a ULID in Crockford base 32, the form of stamped ids.
const ULID_LEN: usize = 26;

/// The largest tail read to recover `seq` after another process wrote.
const SEQ_SCAN_LIMIT: u64 = 1 << 20;

pub(crate) struct StreamFile {
    path: PathBuf,
    /// A std mutex: the critical section is one locked write, and the
    /// writer is synchronous; it serializes threads of this process while
    /// `flock` serializes processes.
    state: Mutex<StreamState>,
}

impl std::fmt::Debug for StreamFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamFile")
            .field("path", &self.path)
            .finish()
    }
}

struct StreamState {
    file: File,
    /// File length right after this handle's last write. When the length still
    /// says so, nobody else wrote: no torn tail to mend, no seq to recover.
    known_end: Option<u64>,
    last_seq: u64,
    /// Reused line buffer, so an append allocates nothing.
    buf: Vec<u8>,
    /// Reused `ts` and `id`, for the same reason.
    stamp: StampBuf,
}

/// Unlocks the file when the append returns, on every path.
struct LockGuard<'a>(&'a File);

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = fs2::FileExt::unlock(self.0);
    }
}

impl StreamFile {
    pub(crate) fn open(path: PathBuf) -> Result<StreamFile> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => Error::Symlink { path: path.clone() },
                _ => Error::io(&path, "opening stream", e),
            })?;
        Ok(StreamFile {
            path,
            state: Mutex::new(StreamState {
                file,
                known_end: None,
                last_seq: 0,
                buf: Vec::with_capacity(512),
                stamp: StampBuf::default(),
            }),
        })
    }

    /// Appends one record; `stamp` is called under the lock so `ts` and `id`
    /// follow file order even when threads and processes contend.
    pub(crate) fn append(
        &self,
        record: &Prepared,
        stamp: impl FnOnce(&mut StampBuf),
        sync: bool,
    ) -> Result<Appended> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = &mut *guard;
        state
            .file
            .lock_exclusive()
            .map_err(|e| Error::io(&self.path, "locking stream", e))?;
        let _unlock = LockGuard(&state.file);
        // The length as lseek(SEEK_END) reports it: one cheap syscall
        // (std's metadata() is a full statx), and harmless on an O_APPEND
        // descriptor, whose writes go to the end whatever the offset.
        let len = (&state.file)
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io(&self.path, "reading stream length", e))?;
        if state.known_end != Some(len) {
            // Someone else wrote, or this handle is new: the only time the
            // file can have been compressed away under it. `tasklog
            // compress` removes the plain file under this same lock once its
            // `.gz` is durable, then adds a byte to the removed file so that
            // every handle opened before lands here (compress.rs); appending
            // into the removed file would lose the record.
            let meta = state
                .file
                .metadata()
                .map_err(|e| Error::io(&self.path, "reading stream", e))?;
            if std::os::unix::fs::MetadataExt::nlink(&meta) == 0
                && crate::compress::gz_path(&self.path).exists()
            {
                return Err(Error::Compressed {
                    path: self.path.clone(),
                });
            }
        }
        let mut mend_torn_tail = false;
        if state.known_end != Some(len) && len > 0 {
            let mut last = [0u8; 1];
            state
                .file
                .read_exact_at(&mut last, len - 1)
                .map_err(|e| Error::io(&self.path, "reading stream tail", e))?;
            mend_torn_tail = last[0] != b'\n';
            if !record.has_seq() {
                state.last_seq = recover_seq(&state.file, len)
                    .map_err(|e| Error::io(&self.path, "reading stream tail", e))?;
            }
        } else if len == 0 {
            state.last_seq = 0;
        }
        let seq = state.last_seq + 1;
        state.buf.clear();
        if mend_torn_tail {
            // A writer died mid-line. End its fragment so this record stands
            // on its own line; the fragment stays for the indexer to quarantine.
            state.buf.push(b'\n');
        }
        stamp(&mut state.stamp);
        record.render_into(
            &Stamp {
                ts: state.stamp.ts(),
                seq,
                id: state.stamp.id(),
            },
            &mut state.buf,
        );
        if let Err(e) = (&state.file).write_all(&state.buf) {
            // A short write (disk full) leaves a torn line: cut it off while
            // we still hold the lock, so the stream stays valid.
            let _ = state.file.set_len(len);
            state.known_end = None;
            return Err(Error::io(&self.path, "appending a record", e));
        }
        if sync {
            state
                .file
                .sync_data()
                .map_err(|e| Error::io(&self.path, "syncing stream", e))?;
        }
        if record.has_seq() {
            // The caller's own seq is not parsed: recover it from the file
            // before stamping the next record.
            state.known_end = None;
        } else {
            state.known_end = Some(len + state.buf.len() as u64);
            state.last_seq = seq;
        }
        let mut id = [b'0'; ULID_LEN];
        let stamped = state.stamp.id().as_bytes();
        let n = stamped.len().min(ULID_LEN);
        id[..n].copy_from_slice(&stamped[..n]);
        Ok(Appended {
            offset: len + u64::from(mend_torn_tail),
            seq: if record.has_seq() { 0 } else { seq },
            id,
        })
    }
}

/// The `seq` of the last record in the stream that carries one, looking at
/// most [`SEQ_SCAN_LIMIT`] bytes back; 0 when none is found.
fn recover_seq(file: &File, len: u64) -> io::Result<u64> {
    let mut window = 16 * 1024u64;
    loop {
        let start = len.saturating_sub(window);
        let mut buf = vec![0u8; (len - start) as usize];
        file.read_exact_at(&mut buf, start)?;
        // Lines fully inside the window: skip a partial first line unless the
        // window starts at the beginning of the file, and the fragment after
        // the last newline.
        let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let body = &buf[..end];
        let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        lines.pop(); // the empty piece after the final newline
        let first_complete = usize::from(start > 0);
        for line in lines.iter().skip(first_complete).rev() {
            if let Ok(env) = decode_line(line) {
                if let Some(seq) = env.seq.as_ref().and_then(Scalar::as_i64) {
                    if seq >= 0 {
                        return Ok(seq as u64);
                    }
                }
            }
        }
        if start == 0 || window >= SEQ_SCAN_LIMIT {
            return Ok(0);
        }
        window *= 4;
    }
}
