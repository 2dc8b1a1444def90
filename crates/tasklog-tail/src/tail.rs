//! Reading new complete lines of one stream from its checkpoint, and the
//! current content of one document.
//!
//! File identity is checked before every read: device and inode, the
//! length (a file shorter than its checkpoint was truncated), and a hash of
//! the 256 bytes before the checkpoint (a file whose indexed tail changed
//! was rewritten). Any mismatch starts a new generation from byte 0.
//! Checking the whole indexed prefix would mean re-reading every file at
//! every start; `tasklog verify` does that on demand.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use tasklog_format::decode_line;
use xxhash_rust::xxh3::xxh3_64;

use crate::batch::{DocBatch, DocContent, Quarantine, Rotation, Row, StreamBatch};
use crate::checkpoint::Checkpoint;

/// Bytes hashed before the checkpoint to detect a rewritten file.
pub(crate) const ANCHOR_LEN: u64 = 256;

/// Bytes read per `pread`.
const CHUNK: usize = 1 << 20;
/// The smallest read, whatever the turn's byte budget.
const MIN_READ: usize = 64 << 10;

/// What looking at a file found.
#[derive(Debug)]
pub(crate) enum Outcome<T> {
    /// Something to apply.
    Batch(T),
    /// Nothing new.
    Idle,
    /// The file is gone.
    Gone,
    /// The file exists but cannot be indexed (not readable, a symlink, not a
    /// regular file): report once, carry on.
    Unusable(String),
}

/// Opens without following symlinks and without blocking on FIFOs.
fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}

fn classify_open_error(e: io::Error) -> Outcome<()> {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => Outcome::Gone,
        Some(libc::ELOOP) => Outcome::Unusable("symbolic link, not followed".into()),
        _ => Outcome::Unusable(format!("cannot open: {e}")),
    }
}

fn anchor_of(file: &File, end: u64) -> io::Result<i64> {
    let start = end.saturating_sub(ANCHOR_LEN);
    let mut buf = vec![0u8; (end - start) as usize];
    file.read_exact_at(&mut buf, start)?;
    Ok(xxh3_64(&buf) as i64)
}

/// Limits of one read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadLimits {
    pub line_limit: u64,
    pub max_rows: usize,
    pub max_bytes: u64,
}

/// Whether a stream is exactly as its checkpoint left it: same inode, its
/// length equal to the checkpoint, same mtime. One `stat`, no `open`: what
/// makes polling and full reconciles of idle folders cheap. Any write
/// changes the length or the mtime, so a changed file is never skipped.
pub(crate) fn unchanged(abs: &Path, cp: &Checkpoint) -> bool {
    if cp.dev == 0 && cp.ino == 0 {
        return false;
    }
    std::fs::symlink_metadata(abs).is_ok_and(|m| {
        m.is_file()
            && (
                m.dev(),
                m.ino(),
                m.len(),
                m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ) == (cp.dev, cp.ino, cp.offset, cp.mtime_ns)
    })
}

/// Reads the next batch of complete lines after the checkpoint. The
/// returned batch carries the checkpoint it expects and the one it sets.
/// `buf` is scratch space, kept by the caller from one read to the next:
/// a fresh buffer of a turn's size was fresh pages for the kernel to fault
/// in and zero on every read, a fifth of the live reader's time (perf).
pub(crate) fn read_stream(
    abs: &Path,
    cp: &Checkpoint,
    limits: ReadLimits,
    now: &str,
    buf: &mut Vec<u8>,
) -> Outcome<StreamBatch> {
    let file = match open(abs) {
        Ok(f) => f,
        Err(e) => return map_unit(classify_open_error(e)),
    };
    buf.clear();
    let outcome = match read_open_stream(&file, cp, limits, now, buf) {
        Ok(outcome) => outcome,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::Gone,
        Err(e) => Outcome::Unusable(format!("read failed: {e}")),
    };
    // A long line can grow the scratch to the line limit; keep no more
    // than a few reads' worth between calls.
    buf.clear();
    buf.shrink_to(2 * CHUNK);
    outcome
}

fn map_unit<T>(o: Outcome<()>) -> Outcome<T> {
    match o {
        Outcome::Gone => Outcome::Gone,
        Outcome::Unusable(r) => Outcome::Unusable(r),
        Outcome::Batch(()) | Outcome::Idle => Outcome::Idle,
    }
}

fn read_open_stream(
    file: &File,
    cp: &Checkpoint,
    limits: ReadLimits,
    now: &str,
    buf: &mut Vec<u8>,
) -> io::Result<Outcome<StreamBatch>> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Outcome::Unusable("not a regular file".into()));
    }
    let (dev, ino, len) = (meta.dev(), meta.ino(), meta.len());
    let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
    let rotation = rotation_of(file, cp, (dev, ino, len))?;
    let (generation, start, mut line_no) = match rotation {
        Some(_) => (cp.generation + 1, 0, 0),
        None => (cp.generation, cp.offset, cp.line_count),
    };
    if len == start && rotation.is_none() {
        return Ok(Outcome::Idle);
    }

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    // `buf` holds the bytes from `consumed` (start of the first unprocessed
    // line) to `pos` (next byte to read).
    let mut consumed = start;
    let mut pos = start;
    // Reads no bigger than the turn's byte budget, so a live turn over a
    // busy stream reads (and parses) about what it may take.
    let read_size = (limits.max_bytes as usize).clamp(MIN_READ, CHUNK);
    while pos < len
        && rows.len() + errors.len() < limits.max_rows
        && consumed - start < limits.max_bytes
    {
        let want = ((len - pos) as usize).min(read_size);
        let filled = buf.len();
        buf.resize(filled + want, 0);
        let n = file.read_at(&mut buf[filled..], pos)?;
        buf.truncate(filled + n);
        if n == 0 {
            break; // shrank while reading; the next look sees the truncation
        }
        pos += n as u64;
        let (lines, mut used) = tasklog_format::complete_lines(buf, consumed == 0);
        let mut turn_full = false;
        for range in lines {
            if rows.len() + errors.len() >= limits.max_rows {
                // The turn is full: this line and the rest wait for the next.
                used = range.start;
                turn_full = true;
                break;
            }
            line_no += 1;
            let offset = consumed + range.start as u64;
            classify(
                &buf[range],
                offset,
                line_no,
                limits.line_limit,
                now,
                &mut rows,
                &mut errors,
            );
        }
        buf.drain(..used);
        consumed += used as u64;
        if turn_full {
            break;
        }
        // NULs before the next line are padding (`complete_lines`): read
        // past as they come, so a hole of any size left by a truncation
        // under a writer without O_APPEND is never an over-long line.
        let padding = buf.iter().take_while(|&&b| b == 0).count();
        if padding > 0 {
            buf.drain(..padding);
            consumed += padding as u64;
        }
        if buf.len() as u64 > limits.line_limit {
            // An over-long line: find its end without holding it in memory.
            match find_newline(file, pos, len, &mut vec![0u8; CHUNK])? {
                Some(nl) => {
                    line_no += 1;
                    errors.push(over_long(buf, consumed, nl, line_no, limits.line_limit));
                    consumed = nl + 1;
                    pos = consumed;
                    buf.clear();
                }
                None => break, // still being written: wait for its end
            }
        }
    }
    if consumed == start && rotation.is_none() {
        return Ok(Outcome::Idle);
    }
    let anchor = if consumed == 0 {
        0
    } else {
        anchor_of(file, consumed)?
    };
    Ok(Outcome::Batch(StreamBatch {
        key: cp.key.clone(),
        expected_offset: cp.offset,
        expected_generation: cp.generation,
        rotation,
        generation,
        new_offset: consumed,
        new_line_count: line_no,
        anchor,
        dev,
        ino,
        mtime_ns,
        rows,
        errors,
    }))
}

/// Whether the file is a new generation of the one the checkpoint
/// follows: another inode, shorter than the checkpoint, or different
/// bytes just before it.
fn rotation_of(
    file: &File,
    cp: &Checkpoint,
    (dev, ino, len): (u64, u64, u64),
) -> io::Result<Option<Rotation>> {
    let known = cp.dev != 0 || cp.ino != 0;
    let reason = if !known {
        return Ok(None);
    } else if (cp.dev, cp.ino) != (dev, ino) {
        "replaced"
    } else if len < cp.offset {
        "truncated"
    } else if cp.offset > 0 && anchor_of(file, cp.offset)? != cp.anchor {
        "rewritten"
    } else {
        return Ok(None);
    };
    Ok(Some(Rotation { reason }))
}

/// The quarantine entry of a line from `start` to the newline at `nl`
/// that is longer than `limit` (`head`: its first bytes, for the prefix).
pub(crate) fn over_long(head: &[u8], start: u64, nl: u64, line_no: u64, limit: u64) -> Quarantine {
    let length = nl - start;
    Quarantine::new(
        start,
        head,
        length,
        Some(line_no),
        format!("line of {length} bytes exceeds the limit of {limit} bytes"),
    )
}

fn find_newline(file: &File, mut pos: u64, len: u64, chunk: &mut [u8]) -> io::Result<Option<u64>> {
    while pos < len {
        let want = ((len - pos) as usize).min(chunk.len());
        let n = file.read_at(&mut chunk[..want], pos)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(i) = memchr::memchr(b'\n', &chunk[..n]) {
            return Ok(Some(pos + i as u64));
        }
        pos += n as u64;
    }
    Ok(None)
}

pub(crate) fn classify(
    line: &[u8],
    offset: u64,
    line_no: u64,
    line_limit: u64,
    now: &str,
    rows: &mut Vec<Row>,
    errors: &mut Vec<Quarantine>,
) {
    let end = offset + line.len() as u64;
    if line.len() as u64 > line_limit {
        errors.push(over_long(line, offset, end, line_no, line_limit));
        return;
    }
    if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        return; // blank lines separate nothing and carry nothing
    }
    match decode_line(line) {
        Ok(env) => {
            // decode_line checked UTF-8.
            let body = std::str::from_utf8(line).unwrap_or_default();
            rows.push(Row::new(&env, body, offset, line_no, now));
        }
        Err(e) => errors.push(Quarantine::new(
            offset,
            line,
            line.len() as u64,
            Some(line_no),
            e.to_string(),
        )),
    }
}

/// Reads a document when it changed since its checkpoint.
pub(crate) fn read_document(abs: &Path, cp: &Checkpoint, size_limit: u64) -> Outcome<DocBatch> {
    let file = match open(abs) {
        Ok(f) => f,
        Err(e) => return map_unit(classify_open_error(e)),
    };
    match read_open_document(&file, cp, size_limit) {
        Ok(o) => o,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::Gone,
        Err(e) => Outcome::Unusable(format!("read failed: {e}")),
    }
}

fn read_open_document(
    file: &File,
    cp: &Checkpoint,
    size_limit: u64,
) -> io::Result<Outcome<DocBatch>> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Outcome::Unusable("not a regular file".into()));
    }
    let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
    if (cp.dev, cp.ino, cp.size, cp.mtime_ns) == (meta.dev(), meta.ino(), meta.len(), mtime_ns) {
        return Ok(Outcome::Idle);
    }
    let size = meta.len();
    let batch = |hash: i64, content: DocContent| DocBatch {
        key: cp.key.clone(),
        dev: meta.dev(),
        ino: meta.ino(),
        size,
        mtime_ns,
        hash,
        content,
    };
    if size > size_limit {
        let q = Quarantine::new(
            0,
            &[],
            size,
            None,
            format!("document of {size} bytes exceeds the limit of {size_limit} bytes"),
        );
        return Ok(Outcome::Batch(batch(0, DocContent::Invalid(q))));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    std::io::Read::read_to_end(&mut &*file, &mut bytes)?;
    let hash = xxh3_64(&bytes) as i64;
    // A mark from Notepad or PowerShell is framing, not JSON (RFC 8259
    // §8.1); older SQLite (Python's) would not parse the body with it.
    let json = tasklog_format::strip_byte_order_mark(&bytes);
    let content = match tasklog_format::validate_document(json) {
        Ok(()) => DocContent::Body {
            body: String::from_utf8(json.to_vec()).unwrap_or_default(),
            updated_at: tasklog_format::rfc3339_at(meta.modified()?),
        },
        Err(e) => DocContent::Invalid(Quarantine::new(
            0,
            &bytes,
            bytes.len() as u64,
            None,
            e.to_string(),
        )),
    };
    Ok(Outcome::Batch(batch(hash, content)))
}
