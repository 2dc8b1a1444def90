//! A year of operation, for `scripts/bench_retention.sh`: writes the
//! corpus (sealed tasks finished in each of the given months, plus a live
//! month of open tasks), and times the key queries (`tests/key_queries.sql`)
//! on a database, in process (open once, median of `--runs` runs each).
//!
//! ```text
//! bench_year generate --out DIR --months 2025-12,2026-01,... --tasks 1000 --lines 100
//! bench_year queries --db FILE [--archives] [--runs 5]
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use tasklog_bench::{median, record, time};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") => generate(
            &PathBuf::from(flag(&args, "--out").context("--out DIR")?),
            &flag(&args, "--months").context("--months M1,M2,...")?,
            flag(&args, "--tasks").map_or(Ok(1000), |v| v.parse())?,
            flag(&args, "--lines").map_or(Ok(100), |v| v.parse())?,
        ),
        Some("queries") => queries(
            &PathBuf::from(flag(&args, "--db").context("--db FILE")?),
            args.iter().any(|a| a == "--archives"),
            flag(&args, "--runs").map_or(Ok(5), |v| v.parse())?,
        ),
        _ => bail!("usage: bench_year generate|queries (see the source)"),
    }
}

/// Days from 1970-01-01 to a civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Sealed tasks of every month (`result.json` written, its mtime the
/// middle of the month, which is what `compress --older-than` looks at),
/// then the live month: as many open tasks, without `result.json`.
fn generate(out: &Path, months: &str, tasks: u64, lines: u64) -> Result<()> {
    let mut rng = fastrand::Rng::with_seed(42);
    let months: Vec<&str> = months.split(',').collect();
    for (k, month) in months.iter().chain(["live"].iter()).enumerate() {
        for t in 0..tasks {
            let n = k as u64 * tasks + t;
            let dir = out.join(format!("task-{n:06}"));
            std::fs::create_dir_all(&dir)?;
            let mut buf = String::with_capacity(lines as usize * 300);
            for i in 0..lines {
                let line = record(n, i, &mut rng);
                if *month == "live" {
                    buf.push_str(&line);
                } else {
                    // The record's time inside its month.
                    buf.push_str(&line.replacen("2026-11-", &format!("{month}-"), 1));
                }
                buf.push('\n');
            }
            std::fs::write(dir.join("events.jsonl"), buf)?;
            if *month == "live" {
                continue;
            }
            let (y, m) = month
                .split_once('-')
                .and_then(|(y, m)| Some((y.parse().ok()?, m.parse().ok()?)))
                .context("a month is YYYY-MM")?;
            let result = dir.join("result.json");
            std::fs::write(
                &result,
                format!(
                    r#"{{"status":"completed","completed_at":"{month}-15T12:00:00Z","pr":{n}}}"#
                ),
            )?;
            let secs = days_from_civil(y, m, 15) * 86_400 + 12 * 3600;
            let at = UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
            std::fs::File::options()
                .write(true)
                .open(&result)?
                .set_modified(at.min(SystemTime::now()))?;
        }
        eprintln!("generated {month}: {tasks} tasks x {lines} records");
    }
    Ok(())
}

/// `(name, params, sql)` of each key query.
fn key_queries() -> Result<Vec<(String, Vec<serde_json::Value>, String)>> {
    let text = std::fs::read_to_string("tests/key_queries.sql")
        .context("tests/key_queries.sql (run from the repository)")?;
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let (mut name, mut params, mut sql) = (None, Vec::new(), String::new());
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("-- name: ") {
                name = Some(n.to_owned());
            } else if let Some(p) = line.strip_prefix("-- params: ") {
                params = serde_json::from_str(p)?;
            } else if !line.starts_with("--") {
                sql.push_str(line);
                sql.push('\n');
            }
        }
        if let Some(name) = name {
            out.push((name, params, sql));
        }
    }
    Ok(out)
}

fn queries(db: &Path, archives: bool, runs: usize) -> Result<()> {
    let conn = if archives {
        tasklog_index::open_query_connection_with_archives(db)?
    } else {
        tasklog_index::open_query_connection(db)?
    };
    let mut total = Duration::ZERO;
    let mut slowest = (Duration::ZERO, String::new());
    let list = key_queries()?;
    for (name, params, sql) in &list {
        let values: Vec<rusqlite::types::Value> = params
            .iter()
            .map(|p| match p {
                serde_json::Value::Number(n) if n.is_i64() => {
                    rusqlite::types::Value::Integer(n.as_i64().unwrap_or(0))
                }
                serde_json::Value::String(s) => rusqlite::types::Value::Text(s.clone()),
                other => rusqlite::types::Value::Text(other.to_string()),
            })
            .collect();
        let mut stmt = conn.prepare(sql).with_context(|| name.clone())?;
        let timings: Vec<Duration> = (0..runs)
            .map(|_| {
                time(|| {
                    let mut rows = stmt
                        .query(rusqlite::params_from_iter(values.iter()))
                        .expect("query");
                    while rows.next().expect("row").is_some() {}
                })
            })
            .collect();
        let m = median(timings);
        total += m;
        if m > slowest.0 {
            slowest = (m, name.clone());
        }
    }
    println!(
        "{{\"queries\":{},\"total_ms\":{:.1},\"slowest\":\"{}\",\"slowest_ms\":{:.1}}}",
        list.len(),
        total.as_secs_f64() * 1e3,
        slowest.1,
        slowest.0.as_secs_f64() * 1e3
    );
    Ok(())
}
