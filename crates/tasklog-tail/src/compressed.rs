//! Reading a compressed stream: `X.jsonl.gz` (what `tasklog compress`
//! leaves) is the same stream as `X.jsonl`, under the same checkpoint.
//!
//! Offsets, line numbers and the anchor hash are those of the decompressed
//! bytes, so the rows indexed from the plain file stay exactly as they are.
//! While both files exist (compress crashed between the rename and the
//! removal) the plain file is the stream and the `.gz` is ignored: the
//! caller only comes here when the plain file is gone.
//!
//! A `.gz` replaces the plain file by design, so its new identity (device,
//! inode) is not a rotation. What proves it is the same stream is what
//! proves a plain file was not rewritten: it is at least as long as the
//! checkpoint, and the 256 bytes before the checkpoint hash the same. A
//! `.gz` that fails that is a rewritten file, and starts a new generation
//! like one. The `.gz` is read as gzip reads it (`gzip.rs`: several
//! members, zero padding, and of a truncated or corrupt file what it holds
//! before the damage, with a warning). A `.gz` that yields nothing, or that
//! ends early before the checkpoint, is reported as unusable: no row of it
//! is removed.
//!
//! The checkpoint takes the `.gz`'s mtime only when it was read to its end,
//! so `(dev, ino, mtime)` equal to the checkpoint means "nothing new" with
//! one `stat` (a `.gz` is never appended to: the writer refuses). Between
//! batches of one file, the decoder is kept ([`Cursor`]) so a large stream
//! is decompressed once, not once per batch.

use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use crate::batch::{Rotation, StreamBatch};
use crate::checkpoint::Checkpoint;
use crate::gzip::GzipReader;
use crate::tail::{classify, over_long, Outcome, ReadLimits, ANCHOR_LEN};

/// The compressed twin of a stream path: `X.jsonl` → `X.jsonl.gz`.
pub(crate) fn gz_path(plain: &Path) -> PathBuf {
    let mut s = plain.as_os_str().to_owned();
    s.push(tasklog_format::COMPRESSED_SUFFIX);
    PathBuf::from(s)
}

/// The decompressed size of `.gz` file `gz` from its trailer (gzip's
/// ISIZE: the size modulo 2^32 of its last member, exact for what
/// `compress` writes, one member under 4 GiB); at least the compressed
/// size. An estimate for progress and the bulk-load decision only.
pub(crate) fn decompressed_len(gz: &Path) -> io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(gz)?;
    let len = file.metadata()?.len();
    if len < 18 {
        return Ok(0); // no complete gzip member
    }
    file.seek(SeekFrom::End(-4))?;
    let mut isize = [0u8; 4];
    file.read_exact(&mut isize)?;
    Ok(u64::from(u32::from_le_bytes(isize)).max(len))
}

/// Decoder buffer: large reads keep the inflater busy.
const BUF: usize = 256 << 10;

type Decoder = BufReader<GzipReader>;

/// A decoder positioned after the last batch read from one `.gz`.
pub(crate) struct Cursor {
    gz: PathBuf,
    ident: (u64, u64, i64),
    generation: u64,
    /// Decompressed bytes consumed (the checkpoint offset it matches).
    pos: u64,
    line_no: u64,
    /// The last [`ANCHOR_LEN`] bytes before `pos`.
    window: Vec<u8>,
    reader: Decoder,
}

/// Opens a decoder over `gz` (never through a symbolic link).
pub(crate) fn open_decoder(gz: &Path) -> io::Result<Decoder> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(gz)?;
    Ok(BufReader::with_capacity(BUF, GzipReader::new(gz, file)))
}

fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.mtime() * 1_000_000_000 + m.mtime_nsec()
}

fn push_window(window: &mut Vec<u8>, bytes: &[u8]) {
    let keep = ANCHOR_LEN as usize;
    if bytes.len() >= keep {
        window.clear();
        window.extend_from_slice(&bytes[bytes.len() - keep..]);
    } else {
        window.extend_from_slice(bytes);
        if window.len() > keep {
            window.drain(..window.len() - keep);
        }
    }
}

/// Skips `n` decompressed bytes; returns how many there were (less at EOF).
fn skip(reader: &mut Decoder, n: u64, window: &mut Vec<u8>) -> io::Result<u64> {
    let mut done = 0;
    while done < n {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let take = (n - done).min(buf.len() as u64) as usize;
        push_window(window, &buf[..take]);
        reader.consume(take);
        done += take as u64;
    }
    Ok(done)
}

/// Reads the next line into `buf` (at most `limit + 1` bytes of it kept,
/// the newline excluded). Returns its length with the newline, or `None`
/// at the end (an incomplete last line stays unread, as in a plain file).
/// `tail` receives the line's last bytes, for the anchor.
pub(crate) fn next_line(
    reader: &mut impl BufRead,
    limit: u64,
    buf: &mut Vec<u8>,
    tail: &mut Vec<u8>,
) -> io::Result<Option<u64>> {
    buf.clear();
    let mut len = 0u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(None);
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (limit + 1).saturating_sub(buf.len() as u64) as usize;
        let body = if done { take - 1 } else { take };
        buf.extend_from_slice(&chunk[..body.min(room)]);
        push_window(tail, &chunk[..take]);
        reader.consume(take);
        len += take as u64;
        if done {
            return Ok(Some(len));
        }
    }
}

/// Reads the next batch of `gz`'s lines after the checkpoint `cp`.
pub(crate) fn read(
    gz: &Path,
    cp: &Checkpoint,
    limits: ReadLimits,
    now: &str,
    cursor: &mut Option<Cursor>,
) -> Outcome<StreamBatch> {
    let meta = match std::fs::symlink_metadata(gz) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Outcome::Gone,
        Err(e) => return Outcome::Unusable(format!("{}: cannot stat: {e}", gz.display())),
    };
    if meta.file_type().is_symlink() {
        return Outcome::Unusable(format!("{}: symbolic link, not followed", gz.display()));
    }
    if !meta.is_file() {
        return Outcome::Unusable(format!("{}: not a regular file", gz.display()));
    }
    let ident = (meta.dev(), meta.ino(), mtime_ns(&meta));
    if (cp.dev, cp.ino, cp.mtime_ns) == ident {
        return Outcome::Idle;
    }
    let held = cursor.take().filter(|c| {
        c.gz == gz && c.ident == ident && c.pos == cp.offset && c.generation == cp.generation
    });
    match read_batch(gz, cp, limits, now, ident, held) {
        Ok((batch, next)) => {
            *cursor = next;
            Outcome::Batch(batch)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::Gone,
        Err(e) => Outcome::Unusable(format!(
            "{}: cannot decompress (corrupt or truncated gzip?): {e}",
            gz.display()
        )),
    }
}

/// Positions a fresh decoder at the checkpoint, or at byte 0 of a new
/// generation when the `.gz` is not the stream the checkpoint followed.
fn position(
    gz: &Path,
    cp: &Checkpoint,
    ident: (u64, u64, i64),
) -> io::Result<(Cursor, Option<Rotation>)> {
    let mut reader = open_decoder(gz)?;
    let mut window = Vec::with_capacity(ANCHOR_LEN as usize);
    let found = skip(&mut reader, cp.offset, &mut window)?;
    if found < cp.offset {
        if let Some(fault) = reader.get_ref().fault() {
            // Damage, not a shorter file: the rows stay (see the module doc).
            return Err(io::Error::new(io::ErrorKind::InvalidData, fault.to_owned()));
        }
    }
    let reason = if found < cp.offset {
        "truncated"
    } else if cp.offset > 0 && xxh3_64(&window) as i64 != cp.anchor {
        "rewritten"
    } else {
        return Ok((
            Cursor {
                gz: gz.to_owned(),
                ident,
                generation: cp.generation,
                pos: cp.offset,
                line_no: cp.line_count,
                window,
                reader,
            },
            None,
        ));
    };
    let fresh = Cursor {
        gz: gz.to_owned(),
        ident,
        generation: cp.generation + 1,
        pos: 0,
        line_no: 0,
        window: Vec::new(),
        reader: open_decoder(gz)?,
    };
    Ok((fresh, Some(Rotation { reason })))
}

fn read_batch(
    gz: &Path,
    cp: &Checkpoint,
    limits: ReadLimits,
    now: &str,
    ident: (u64, u64, i64),
    held: Option<Cursor>,
) -> io::Result<(StreamBatch, Option<Cursor>)> {
    let (mut c, rotation) = match held {
        Some(c) => (c, None),
        None => position(gz, cp, ident)?,
    };
    let start = c.pos;
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    let mut line = Vec::new();
    let mut at_end = false;
    while rows.len() + errors.len() < limits.max_rows && c.pos - start < limits.max_bytes {
        let mut tail = c.window.clone();
        let Some(len) = next_line(&mut c.reader, limits.line_limit, &mut line, &mut tail)? else {
            at_end = true;
            break;
        };
        c.line_no += 1;
        if len - 1 > limits.line_limit {
            errors.push(over_long(
                &line,
                c.pos,
                c.pos + len - 1,
                c.line_no,
                limits.line_limit,
            ));
        } else {
            // The indexer's framing: `\r\n`, a byte order mark on line 1.
            line.push(b'\n');
            let (ranges, _) = tasklog_format::complete_lines(&line, c.pos == 0);
            let range = ranges.first().cloned().unwrap_or(0..line.len() - 1);
            classify(
                &line[range.clone()],
                c.pos + range.start as u64,
                c.line_no,
                limits.line_limit,
                now,
                &mut rows,
                &mut errors,
            );
        }
        c.window = tail;
        c.pos += len;
    }
    if !at_end {
        at_end = c.reader.fill_buf()?.is_empty();
    }
    let batch = StreamBatch {
        key: cp.key.clone(),
        expected_offset: cp.offset,
        expected_generation: cp.generation,
        rotation,
        generation: c.generation,
        new_offset: c.pos,
        new_line_count: c.line_no,
        anchor: if c.pos == 0 {
            0
        } else {
            xxh3_64(&c.window) as i64
        },
        dev: ident.0,
        ino: ident.1,
        // Only a `.gz` read to its end takes its mtime: see the module doc.
        mtime_ns: if at_end { ident.2 } else { 0 },
        rows,
        errors,
    };
    Ok((batch, (!at_end).then_some(c)))
}
