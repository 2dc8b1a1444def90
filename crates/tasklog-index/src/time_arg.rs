//! `--since` / `--until`: the time arguments of the read commands, parsed
//! into the canonical record form (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), which
//! compares correctly as text with `records.ts`. Calendar arithmetic
//! (month lengths, leap years, offsets) is jiff's; durations are
//! humantime's. The one parser of the CLI's time arguments and the
//! server's `since` / `until` parameters, so both read a time alike
//! whichever store answers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// The forms `--since` / `--until` accept, for error messages and help.
pub const TIME_FORMS: &str = "RFC 3339 (2026-11-22T10:00:00Z, 2026-11-22T12:00:00+02:00), \
     a UTC date (2026-11-22), a duration before now (90m, 24h, 7d, 2w), or now / today / yesterday";

/// A time argument that is none of [`TIME_FORMS`]; its message names the
/// argument and the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTime(String);

impl std::fmt::Display for BadTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot read {:?} as a time; accepted forms: {TIME_FORMS}",
            self.0
        )
    }
}

impl std::error::Error for BadTime {}

/// Parses a time argument (see [`TIME_FORMS`]) into the canonical instant.
pub fn parse_time(arg: &str) -> Result<String, BadTime> {
    parse_time_at(arg, SystemTime::now())
}

fn parse_time_at(arg: &str, now: SystemTime) -> Result<String, BadTime> {
    let s = arg.trim();
    let now = Timestamp::try_from(now).ok();
    let at = match s {
        "now" => now,
        "today" => now.and_then(|n| utc_midnight(n, 0)),
        "yesterday" => now.and_then(|n| utc_midnight(n, 1)),
        _ => absolute(s).or_else(|| before(now?, s)),
    };
    match at {
        Some(ts) if ts >= Timestamp::UNIX_EPOCH => Ok(canonical(ts)),
        _ => Err(BadTime(arg.to_owned())),
    }
}

/// Midnight UTC of `now`'s day, `days_back` days earlier.
fn utc_midnight(now: Timestamp, days_back: i64) -> Option<Timestamp> {
    let day = TimeZone::UTC.to_datetime(now).date();
    let day = day.checked_sub(days_back.days()).ok()?;
    TimeZone::UTC
        .to_timestamp(day.to_datetime(Time::midnight()))
        .ok()
}

/// RFC 3339 with `T` or a space and `Z` or `±HH:MM`; the same without a
/// zone (UTC); or a date (`YYYY-MM-DD`, midnight UTC).
fn absolute(s: &str) -> Option<Timestamp> {
    // jiff's parsers are lenient in ways a time filter should not be (a
    // bare year, a week date, `+2` as an offset): require the shape first.
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() == 10 {
        let date: Date = s.parse().ok()?;
        return TimeZone::UTC
            .to_timestamp(date.to_datetime(Time::midnight()))
            .ok();
    }
    let zone = s
        .rfind(['Z', 'z', '+'])
        .or_else(|| s[10..].rfind('-').map(|i| i + 10));
    match zone {
        Some(i) if !s[i..].eq_ignore_ascii_case("z") && !is_offset(&s[i..]) => None,
        Some(_) => s.parse::<Timestamp>().ok(),
        None => {
            let civil: DateTime = s.parse().ok()?;
            TimeZone::UTC.to_timestamp(civil).ok()
        }
    }
}

/// `+HH:MM` or `-HH:MM`.
fn is_offset(z: &str) -> bool {
    let b = z.as_bytes();
    b.len() == 6
        && matches!(b[0], b'+' | b'-')
        && b[3] == b':'
        && [1, 2, 4, 5].iter().all(|&i| b[i].is_ascii_digit())
}

/// `now` minus a duration with a unit (`90m`, `7d`); a bare number is
/// refused, so that `--since 42` is not 42 seconds ago.
fn before(now: Timestamp, s: &str) -> Option<Timestamp> {
    if !s.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let d = humantime::parse_duration(s).ok()?;
    let d = jiff::SignedDuration::try_from(d).ok()?;
    now.checked_sub(d).ok()
}

fn canonical(ts: Timestamp) -> String {
    let us = u64::try_from(ts.as_microsecond()).unwrap_or(0);
    tasklog_format::rfc3339_at(UNIX_EPOCH + Duration::from_micros(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> String {
        // 2026-11-22T10:30:00Z
        let now = UNIX_EPOCH + Duration::from_secs(1_795_343_400);
        parse_time_at(s, now).unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn accepted_forms() {
        for (input, want) in [
            ("2026-11-22", "2026-11-22T00:00:00.000000Z"),
            ("2026-11-22T10:00:00Z", "2026-11-22T10:00:00.000000Z"),
            ("2026-11-22 10:00:00.5", "2026-11-22T10:00:00.500000Z"),
            ("2026-11-22T12:00:00+02:00", "2026-11-22T10:00:00.000000Z"),
            ("2026-11-22T00:30:00-01:00", "2026-11-22T01:30:00.000000Z"),
            ("2024-02-29", "2024-02-29T00:00:00.000000Z"),
            ("now", "2026-11-22T10:30:00.000000Z"),
            ("today", "2026-11-22T00:00:00.000000Z"),
            ("yesterday", "2026-11-21T00:00:00.000000Z"),
            ("24h", "2026-11-21T10:30:00.000000Z"),
            ("7d", "2026-11-15T10:30:00.000000Z"),
            ("90m", "2026-11-22T09:00:00.000000Z"),
        ] {
            assert_eq!(at(input), want, "{input}");
        }
    }

    #[test]
    fn refused_forms_name_the_accepted_ones() {
        for input in [
            "",
            "42",
            "2026-13-01",
            "2025-02-29",
            "22/11/2026",
            "2026-11-22T25:00:00Z",
            "2026-11-22T10:00:00+2",
            "last week",
            "7 parsecs",
            "1969-12-31",
        ] {
            let got = at(input);
            assert!(
                got.starts_with("ERR") && got.contains("RFC 3339"),
                "{input}: {got}"
            );
        }
    }

    #[test]
    fn whole_days_are_recognized() {
        use crate::whole_day;
        assert_eq!(whole_day("2026-11-22T00:00:00.000000Z"), Some("2026-11-22"));
        assert_eq!(whole_day("2026-11-22T00:00:00.000001Z"), None);
    }
}
