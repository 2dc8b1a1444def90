//! What the read commands (`tasks`, `show`, `cost`, `search`, `tail`,
//! `export`) share: parsing time arguments, running parameterized SQL into
//! [`Rows`], and checking that a task exists.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Params};
use serde_json::Value;

use crate::output::Rows;

/// The forms `--since` / `--until` accept, for error messages and help.
pub const TIME_FORMS: &str = "RFC 3339 (2026-11-22T10:00:00Z, 2026-11-22T12:00:00+02:00), \
     a UTC date (2026-11-22), a duration before now (90m, 24h, 7d, 2w), or now / today / yesterday";

/// Parses a time argument into the canonical record form
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), which compares correctly as text with
/// `records.ts`.
pub fn parse_time(arg: &str) -> Result<String> {
    parse_time_at(arg, SystemTime::now())
}

fn parse_time_at(arg: &str, now: SystemTime) -> Result<String> {
    let s = arg.trim();
    let now_us = micros(now);
    let day_us = 86_400_000_000i64;
    let at = match s {
        "now" => Some(now_us),
        "today" => Some(now_us - now_us.rem_euclid(day_us)),
        "yesterday" => Some(now_us - now_us.rem_euclid(day_us) - day_us),
        _ => parse_absolute(s).or_else(|| {
            // Durations need a unit (`7d`), so that a bare number is refused.
            s.ends_with(|c: char| c.is_ascii_alphabetic())
                .then(|| humantime::parse_duration(s).ok())
                .flatten()
                .and_then(|d| i64::try_from(d.as_micros()).ok())
                .map(|d| now_us - d)
        }),
    };
    match at {
        Some(us) if us >= 0 => Ok(format_micros(us)),
        _ => bail!("cannot read {arg:?} as a time; accepted forms: {TIME_FORMS}"),
    }
}

/// The UTC day (`YYYY-MM-DD`) of a canonical time, when it is exactly midnight.
pub fn whole_day(ts: &str) -> Option<&str> {
    ts.strip_suffix("T00:00:00.000000Z")
}

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn format_micros(us: i64) -> String {
    tasklog_format::rfc3339_at(UNIX_EPOCH + Duration::from_micros(us as u64))
}

/// `YYYY-MM-DD`, or RFC 3339 with `T` or a space, optional fraction, and
/// `Z` or `±HH:MM` (a missing zone means UTC).
fn parse_absolute(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let mut us = days_from_civil(y, mo, d) * 86_400_000_000;
    if b.len() == 10 {
        return Some(us);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    us += ((h * 60 + mi) * 60 + sec) * 1_000_000;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let frac: String = s[i + 1..i + 1 + digits]
            .chars()
            .chain("000000".chars())
            .take(6)
            .collect();
        us += frac.parse::<i64>().ok()?;
        i += 1 + digits;
    }
    match &s[i..] {
        "" | "Z" | "z" => Some(us),
        zone if zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':' =>
        {
            let (zh, zm) = (num(i + 1, 2)?, num(i + 4, 2)?);
            let offset = (zh * 60 + zm) * 60_000_000;
            Some(if zone.starts_with('+') {
                us - offset
            } else {
                us + offset
            })
        }
        _ => None,
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Converts one SQLite value to JSON (blobs as `x'..'` text).
pub fn json_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => f.into(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => format!(
            "x'{}'",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        )
        .into(),
    }
}

/// Runs one parameterized statement and collects its rows.
pub fn collect(conn: &Connection, sql: &str, params: impl Params) -> Result<Rows> {
    let mut stmt = conn.prepare_cached(sql).context("preparing query")?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let n = columns.len();
    let mut out = Rows {
        columns,
        rows: Vec::new(),
    };
    let mut rows = stmt.query(params).context("query failed")?;
    while let Some(row) = rows.next().context("query failed")? {
        out.rows.push(
            (0..n)
                .map(|i| row.get_ref(i).map(json_value))
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(out)
}

/// Whether the index knows task `task` (it has a folder under the root).
pub fn task_exists(conn: &Connection, task: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM tasks WHERE task_id = ?1")?
        .exists([task])?)
}

/// The message for a task the index does not know.
pub fn unknown_task(task: &str) {
    eprintln!(
        "tasklog: no task {task:?} in the index (run `tasklog index`, or check the name with `tasklog tasks`)"
    );
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
        assert_eq!(whole_day("2026-11-22T00:00:00.000000Z"), Some("2026-11-22"));
        assert_eq!(whole_day("2026-11-22T00:00:00.000001Z"), None);
    }
}
