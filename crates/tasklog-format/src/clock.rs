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
    let Ok(since) = t.duration_since(UNIX_EPOCH) else {
        return humantime::format_rfc3339_micros(t).to_string();
    };
    let secs = since.as_secs();
    // Formatting the date is the costly part and changes once a second:
    // each thread keeps the last second's prefix.
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
        let mut out = String::with_capacity(27);
        out.push_str(&cached.1);
        let micros = since.subsec_micros();
        out.push('.');
        let digits = [100_000, 10_000, 1_000, 100, 10, 1];
        for d in digits {
            out.push(char::from(b'0' + ((micros / d) % 10) as u8));
        }
        out.push('Z');
        out
    })
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
        encode_ulid(ms, random)
    }
}

fn encode_ulid(ms: u64, random: u128) -> String {
    let value: u128 = ((ms as u128 & ((1u128 << 48) - 1)) << 80) | random;
    let mut out = [0u8; 26];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 125 - 5 * i as u32;
        *slot = CROCKFORD[((value >> shift) & 0x1f) as usize];
    }
    String::from_utf8_lossy(&out).into_owned()
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
        assert_eq!(
            encode_ulid((1 << 48) - 1, (1 << 80) - 1),
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
        );
        assert_eq!(encode_ulid(0, 0), "00000000000000000000000000");
    }

    #[test]
    fn span_and_trace_ids_are_hex() {
        assert_eq!(new_trace_id().len(), 32);
        assert_eq!(new_span_id().len(), 16);
        assert!(new_span_id().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
