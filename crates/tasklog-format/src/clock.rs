//! Timestamps and identifiers stamped on records.
//!
//! `ts` is RFC 3339 UTC with exactly six fractional digits, so timestamps
//! sort as strings and SQLite's date functions read them. `id` is a ULID:
//! 26 Crockford base32 characters, sortable by creation time, monotonic
//! within one generator even when the clock stands still or steps back.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn now_rfc3339() -> String {
    rfc3339_at(SystemTime::now())
}

/// `t` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn rfc3339_at(t: SystemTime) -> String {
    let mut out = [0u8; TS_LEN];
    match t.duration_since(UNIX_EPOCH) {
        Ok(since) if write_rfc3339(since, &mut out) => String::from_utf8_lossy(&out).into_owned(),
        // Before 1970 or after 9999: rare enough for the slow path.
        _ => humantime::format_rfc3339_micros(t).to_string(),
    }
}

/// A record's time as the canonical instant `YYYY-MM-DDTHH:MM:SS.ffffffZ`:
/// RFC 3339 with any offset (`+02:00`, `Z`), a space for `T`, or fewer or
/// more fractional digits (cut to microseconds) becomes UTC with exactly six
/// digits, so that times compare as instants when compared as text (a
/// `--since` bound against a record written with an offset; issue 22).
/// Text already in that form comes back as it is, without parsing; text that
/// is no RFC 3339 instant (or one before 1970) gives `None`.
pub fn canonical_instant(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if is_canonical(s.as_bytes()) {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    let at: jiff::Timestamp = s.trim().parse().ok()?;
    let us = u64::try_from(at.as_microsecond()).ok()?;
    Some(std::borrow::Cow::Owned(rfc3339_at(
        UNIX_EPOCH + std::time::Duration::from_micros(us),
    )))
}

/// Whether `b` has the exact shape of a canonical `ts`.
fn is_canonical(b: &[u8]) -> bool {
    const SHAPE: &[u8; TS_LEN] = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    b.len() == TS_LEN
        && b.iter().zip(SHAPE).all(|(&c, &want)| match want {
            b'd' => c.is_ascii_digit(),
            _ => c == want,
        })
}

/// Bytes in a `ts`: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub const TS_LEN: usize = 27;
/// Bytes in an `id` (a ULID).
pub const ID_LEN: usize = 26;

/// Writes `UNIX_EPOCH + since` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`; false
/// (and `out` unspecified) past the year 9999, which needs more bytes.
fn write_rfc3339(since: std::time::Duration, out: &mut [u8; TS_LEN]) -> bool {
    let secs = since.as_secs();
    // Formatting the date is the costly part and changes once a second:
    // each thread keeps the last second's `YYYY-MM-DDTHH:MM:SS`.
    thread_local! {
        static PREFIX: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    PREFIX.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let full = humantime::format_rfc3339_seconds(
                UNIX_EPOCH + std::time::Duration::from_secs(secs),
            )
            .to_string();
            cached.1 = full.trim_end_matches('Z').to_owned();
            cached.0 = secs;
        }
        let prefix = cached.1.as_bytes();
        if prefix.len() != 19 {
            return false;
        }
        out[..19].copy_from_slice(prefix);
        out[19] = b'.';
        let mut micros = since.subsec_micros();
        for slot in out[20..26].iter_mut().rev() {
            *slot = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        out[26] = b'Z';
        true
    })
}

/// A record's `ts` and `id`, formatted into fixed buffers: stamping an
/// append allocates nothing.
#[derive(Debug, Clone)]
pub struct StampBuf {
    ts: [u8; TS_LEN],
    id: [u8; ID_LEN],
}

impl Default for StampBuf {
    fn default() -> Self {
        StampBuf {
            ts: [b'0'; TS_LEN],
            id: [b'0'; ID_LEN],
        }
    }
}

impl StampBuf {
    /// The `ts` last stamped.
    pub fn ts(&self) -> &str {
        std::str::from_utf8(&self.ts).unwrap_or("")
    }

    /// The `id` last stamped.
    pub fn id(&self) -> &str {
        std::str::from_utf8(&self.id).unwrap_or("")
    }
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Generates monotonic ULIDs; one per writer, shared across threads.
#[derive(Debug, Default)]
pub struct IdGenerator {
    /// Last (millisecond, random) pair issued; a std mutex because the
    /// critical section is a few integer operations, never I/O.
    last: Mutex<(u64, u128)>,
}

impl IdGenerator {
    /// A generator with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id: later than every id this generator issued before.
    pub fn next_id(&self) -> String {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut out = [0u8; ID_LEN];
        self.next_into(now_ms, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Fills `buf` with the current time and the next id, from one reading
    /// of the clock.
    pub fn stamp(&self, buf: &mut StampBuf) {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if !write_rfc3339(since, &mut buf.ts) {
            buf.ts.copy_from_slice(b"9999-12-31T23:59:59.999999Z");
        }
        self.next_into(since.as_millis() as u64, &mut buf.id);
    }

    fn next_into(&self, now_ms: u64, out: &mut [u8; ID_LEN]) {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let (ms, random) = if now_ms > last.0 {
            (now_ms, fastrand::u128(..) >> 48)
        } else {
            // Same millisecond (or the clock stepped back): keep the old
            // millisecond and count up, so ids stay strictly increasing.
            (last.0, (last.1 + 1) & ((1u128 << 80) - 1))
        };
        *last = (ms, random);
        drop(last);
        encode_ulid(ms, random, out);
    }
}

fn encode_ulid(ms: u64, random: u128, out: &mut [u8; ID_LEN]) {
    let value: u128 = ((ms as u128 & ((1u128 << 48) - 1)) << 80) | random;
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 125 - 5 * i as u32;
        *slot = CROCKFORD[((value >> shift) & 0x1f) as usize];
    }
}

fn random_hex(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let b = fastrand::u8(..);
        s.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        s.push(char::from(b"0123456789abcdef"[(b & 0xf) as usize]));
    }
    s
}

/// A new W3C trace id: 32 lowercase hex digits.
pub fn new_trace_id() -> String {
    random_hex(16)
}

/// A new W3C span id: 16 lowercase hex digits.
pub fn new_span_id() -> String {
    random_hex(8)
}

#[cfg(test)]
mod canonical_tests {
    use super::canonical_instant;

    #[test]
    fn instants_become_canonical_utc() {
        for (input, want) in [
            (
                "2026-11-01T04:30:00.000000Z",
                Some("2026-11-01T04:30:00.000000Z"),
            ),
            ("2026-11-01T04:30:00Z", Some("2026-11-01T04:30:00.000000Z")),
            (
                "2026-11-01T05:30:00+01:00",
                Some("2026-11-01T04:30:00.000000Z"),
            ),
            (
                "2026-10-31T23:30:00.5-05:00",
                Some("2026-11-01T04:30:00.500000Z"),
            ),
            (
                "2026-11-01 04:30:00.123456789Z",
                Some("2026-11-01T04:30:00.123456Z"),
            ),
            ("2026-11-01T04:30:00", None), // no offset: not an instant
            ("yesterday", None),
            ("", None),
            ("1969-12-31T23:59:59Z", None),
        ] {
            assert_eq!(canonical_instant(input).as_deref(), want, "{input:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_microseconds_and_sort() {
        let a = now_rfc3339();
        assert_eq!(a.len(), "2026-11-22T03:43:38.123456Z".len(), "{a}");
        assert!(a.ends_with('Z'));
        assert!(now_rfc3339() >= a);
    }

    #[test]
    fn fast_formatting_matches_humantime() {
        for t in [
            0u64,
            1,
            999_999,
            1_700_000_000_123_456,
            4_102_444_799_999_999,
        ] {
            let at = UNIX_EPOCH + std::time::Duration::from_micros(t);
            assert_eq!(
                rfc3339_at(at),
                humantime::format_rfc3339_micros(at).to_string()
            );
        }
    }

    #[test]
    fn stamps_match_the_string_forms() {
        let ids = IdGenerator::new();
        let mut buf = StampBuf::default();
        let before = now_rfc3339();
        ids.stamp(&mut buf);
        let first_id = buf.id().to_owned();
        assert_eq!(buf.ts().len(), TS_LEN);
        assert!(buf.ts() >= before.as_str(), "{} < {before}", buf.ts());
        assert!(buf.ts() <= now_rfc3339().as_str());
        assert!(buf.ts().ends_with('Z') && buf.ts().as_bytes()[19] == b'.');
        ids.stamp(&mut buf);
        assert!(buf.id() > first_id.as_str());
        assert!(ids.next_id().as_str() > buf.id());
    }

    #[test]
    fn ids_are_monotonic_and_well_formed() {
        let ids = IdGenerator::new();
        let mut prev = ids.next_id();
        for _ in 0..10_000 {
            let next = ids.next_id();
            assert_eq!(next.len(), 26);
            assert!(next.bytes().all(|b| CROCKFORD.contains(&b)));
            assert!(next > prev, "{next} <= {prev}");
            prev = next;
        }
    }

    #[test]
    fn ulid_encoding_matches_the_spec() {
        // Maximum ULID from the spec.
        let encoded = |ms, random| {
            let mut out = [0u8; ID_LEN];
            encode_ulid(ms, random, &mut out);
            String::from_utf8(out.to_vec()).unwrap()
        };
        assert_eq!(
            encoded((1 << 48) - 1, (1 << 80) - 1),
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
        );
        assert_eq!(encoded(0, 0), "00000000000000000000000000");
    }

    /// The hand-written encoder (kept: it runs on every append without an
    /// allocation) against the `ulid` crate, over random and edge values,
    /// and the generator's ids parsed back by it.
    #[test]
    fn ulids_agree_with_the_ulid_crate() {
        let mut rng = fastrand::Rng::with_seed(11);
        let edges = [
            (0, 0),
            ((1 << 48) - 1, (1 << 80) - 1),
            (1, 1),
            (1 << 47, 1 << 79),
        ];
        let random = (0..1000).map(|_| (rng.u64(..1 << 48), rng.u128(..1 << 80)));
        for (ms, r) in edges.into_iter().chain(random) {
            let mut out = [0u8; ID_LEN];
            encode_ulid(ms, r, &mut out);
            let ours = std::str::from_utf8(&out).unwrap();
            let theirs = ulid::Ulid::from_parts(ms, r).to_string();
            assert_eq!(ours, theirs, "ms {ms} random {r}");
        }
        let generator = IdGenerator::new();
        let before = SystemTime::now();
        let ids: Vec<String> = (0..100).map(|_| generator.next_id()).collect();
        let since_epoch =
            |t: SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        for pair in ids.windows(2) {
            let (a, b) = (
                ulid::Ulid::from_string(&pair[0]).unwrap(),
                ulid::Ulid::from_string(&pair[1]).unwrap(),
            );
            assert!(a < b, "{} then {}", pair[0], pair[1]);
            assert!(a.timestamp_ms() >= since_epoch(before));
        }
    }

    #[test]
    fn span_and_trace_ids_are_hex() {
        assert_eq!(new_trace_id().len(), 32);
        assert_eq!(new_span_id().len(), 16);
        assert!(new_span_id().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
