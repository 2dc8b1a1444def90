//! A `.gz` reader that reads what gzip reads.
//!
//! `flate2`'s `MultiGzDecoder` stops with an error at the first byte that
//! is not a gzip member, and gives nothing usable for a truncated file. GNU
//! gzip (`zcat`, `gzip -t`) is more forgiving, and files other tools made
//! rely on it (issue 22):
//! - members follow each other (`cat a.gz b.gz`): read them all;
//! - zero bytes after the last member (tape blocks, `truncate -s +N`):
//!   ignored silently, as `gzip -t` accepts them;
//! - other bytes after a member: ignored with a warning, as gzip's
//!   "trailing garbage ignored";
//! - a member cut short or corrupt after some data: what it decompressed is
//!   read, then the end, with a warning naming the file and the offsets.
//!   `zcat` gives the same bytes and exits 1.
//!
//! A file whose first member yields nothing (not gzip at all, cut in its
//! header) is an error, so the caller reports it instead of reading 0 lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;

/// Counts the bytes read from the file, for the compressed offset.
struct Counted {
    file: File,
    read: u64,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Compressed-side buffer: large reads keep the inflater busy.
const BUF: usize = 256 << 10;

enum State {
    Member(Box<GzDecoder<BufReader<Counted>>>),
    Between(BufReader<Counted>),
    Done,
}

/// Reads a `.gz` as gzip does (see the module doc).
pub(crate) struct GzipReader {
    path: PathBuf,
    state: State,
    /// Decompressed bytes handed out so far.
    out: u64,
    /// Why the end came early (truncated or corrupt), once it has.
    fault: Option<String>,
}

impl GzipReader {
    pub(crate) fn new(path: &Path, file: File) -> GzipReader {
        let inner = BufReader::with_capacity(BUF, Counted { file, read: 0 });
        GzipReader {
            path: path.to_owned(),
            state: State::Member(Box::new(GzDecoder::new(inner))),
            out: 0,
            fault: None,
        }
    }

    /// Why the file ended before its last member did, if it did: the
    /// lines read are what it holds up to there.
    pub(crate) fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    fn stop(&mut self, what: String) {
        tracing::warn!(path = %self.path.display(), "{what}");
        self.fault = Some(what);
        self.state = State::Done;
    }
}

/// Compressed bytes consumed: read from the file minus still buffered.
fn consumed(r: &BufReader<Counted>) -> u64 {
    r.get_ref().read - r.buffer().len() as u64
}

impl Read for GzipReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Ok(0),
                State::Member(mut d) => match d.read(buf) {
                    Ok(0) => self.state = State::Between(d.into_inner()),
                    Ok(n) => {
                        self.out += n as u64;
                        self.state = State::Member(d);
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        self.state = State::Member(d);
                    }
                    // Nothing came out at all: not a gzip file to read from.
                    Err(e) if self.out == 0 => return Err(e),
                    Err(e) => {
                        let at = consumed(d.get_ref());
                        self.stop(format!(
                            "{}: gzip data ends early at compressed byte {at} ({e}); \
                             read the {} bytes before it, as zcat does",
                            self.path.display(),
                            self.out
                        ));
                        return Ok(0);
                    }
                },
                State::Between(mut r) => {
                    let at = consumed(&r);
                    let head = match r.fill_buf() {
                        Ok(head) => head,
                        Err(e) => {
                            self.stop(format!(
                                "{}: reading at byte {at}: {e}",
                                self.path.display()
                            ));
                            return Ok(0);
                        }
                    };
                    if head.is_empty() {
                        return Ok(0);
                    }
                    if head[0] == 0x1f && head.get(1).is_none_or(|&b| b == 0x8b) {
                        self.state = State::Member(Box::new(GzDecoder::new(r)));
                        continue;
                    }
                    if let Err(why) = skip_zeros(&mut r) {
                        tracing::warn!(
                            path = %self.path.display(),
                            offset = at,
                            "trailing bytes after the last gzip member ignored ({why}), as gzip does"
                        );
                    }
                    return Ok(0);
                }
            }
        }
    }
}

/// Consumes zero bytes to the end; `Err` names what else was found.
fn skip_zeros(r: &mut BufReader<Counted>) -> Result<(), String> {
    loop {
        let at = consumed(r);
        let buf = r.fill_buf().map_err(|e| e.to_string())?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|&b| b != 0) {
            return Err(format!("non-zero byte at {}", at + i as u64));
        }
        let n = buf.len();
        r.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    /// A case: name, file bytes, the data it must give (`None`: an error),
    /// whether it ends early.
    type Case<'a> = (&'a str, Vec<u8>, Option<&'a [u8]>, bool);

    fn read_all(bytes: &[u8]) -> (io::Result<Vec<u8>>, Option<String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.jsonl.gz");
        std::fs::write(&path, bytes).expect("write");
        let mut r = GzipReader::new(&path, File::open(&path).expect("open"));
        let mut out = Vec::new();
        let res = r.read_to_end(&mut out).map(|_| out);
        (res, r.fault().map(str::to_owned))
    }

    #[test]
    fn the_trailer_gives_the_decompressed_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data: Vec<u8> = (0..5000)
            .flat_map(|n| format!("{{\"n\":{n}}}\n").into_bytes())
            .collect();
        let path = dir.path().join("x.jsonl.gz");
        std::fs::write(&path, gz(&data)).expect("write");
        let len = crate::compressed::decompressed_len(&path).expect("len");
        assert_eq!(len, data.len() as u64);
        std::fs::write(&path, b"short").expect("write");
        assert_eq!(crate::compressed::decompressed_len(&path).expect("len"), 0);
    }

    #[test]
    fn members_padding_garbage_and_cuts() {
        let a: Vec<u8> = (0..2000)
            .flat_map(|n| format!("{{\"n\":{n}}}\n").into_bytes())
            .collect();
        let one = gz(&a);
        let mut two = one.clone();
        two.extend(gz(b"{\"n\":\"last\"}\n"));
        let mut want_two = a.clone();
        want_two.extend_from_slice(b"{\"n\":\"last\"}\n");
        let padded = [two.clone(), vec![0; 4096]].concat();
        let garbage = [two.clone(), vec![0, 0, b'x', 1]].concat();
        let cases: Vec<Case> = vec![
            ("one member", one.clone(), Some(&a), false),
            ("two members", two.clone(), Some(&want_two), false),
            ("zero padding", padded, Some(&want_two), false),
            ("garbage after", garbage, Some(&want_two), false),
            (
                "cut in the trailer",
                one[..one.len() - 4].to_vec(),
                Some(&a),
                true,
            ),
            ("not gzip", b"this is not gzip\n".to_vec(), None, false),
            ("cut in the header", one[..5].to_vec(), None, false),
        ];
        for (name, bytes, want, faulted) in cases {
            let (got, fault) = read_all(&bytes);
            match want {
                Some(want) => assert_eq!(got.expect(name), want, "{name}"),
                None => assert!(got.is_err(), "{name}"),
            }
            assert_eq!(fault.is_some(), faulted, "{name}: {fault:?}");
        }
        // Cut in the middle: a prefix of the data, more than nothing.
        let (got, fault) = read_all(&one[..one.len() / 2]);
        let got = got.expect("cut");
        assert!(!got.is_empty() && a.starts_with(&got), "{}", got.len());
        let fault = fault.expect("fault");
        assert!(
            fault.contains("x.jsonl.gz") && fault.contains("compressed byte"),
            "{fault}"
        );
    }
}
