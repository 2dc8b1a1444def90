//! Cold indexing: `tasklog index` over a generated corpus, beside a naive
//! tight loop (read each file, serde_json parse every line, rusqlite insert
//! in 10k-row transactions into the same schema with the same indexes).
//! Also a restart over the fully indexed corpus (nothing to re-read).
//!
//! `cargo run --release -p tasklog-bench --bin bench_index -- --tasks 300 --lines 1000`

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rusqlite::params;
use tasklog_bench::{arg, report, write_corpus, Figure};

fn main() -> anyhow::Result<()> {
    let tasks = arg("tasks", 300);
    let lines = arg("lines", 1000);
    let dir = tempfile::tempdir()?;
    // BENCH_ROOT: index an existing corpus (scripts/bench.sh shares one
    // with the peer tools); otherwise generate one.
    let (root, records, bytes) = match std::env::var_os("BENCH_ROOT") {
        Some(r) => {
            let root = std::path::PathBuf::from(r);
            let (records, bytes) = corpus_size(&root)?;
            (root, records, bytes)
        }
        None => {
            let root = dir.path().join("tasks");
            let (records, bytes) = write_corpus(&root, tasks, lines)?;
            (root, records, bytes)
        }
    };
    eprintln!("corpus: {records} records, {bytes} bytes in {tasks} folders");
    let tasklog = std::env::var("TASKLOG_BIN").unwrap_or_else(|_| "target/release/tasklog".into());

    let naive = naive_loop(&root, &dir.path().join("naive.db"))?;
    let db = dir.path().join("index.db");
    let ours = run_index(&tasklog, &root, &db)?;
    let conn = rusqlite::Connection::open(&db)?;
    let indexed: i64 = conn.query_row("SELECT count(*) FROM records", [], |r| r.get(0))?;
    anyhow::ensure!(indexed as u64 == records, "indexed {indexed} of {records}");
    // Restart: everything indexed; a new run only checks checkpoints.
    let restart = run_index(&tasklog, &root, &db)?;

    // Ablation: the same command on a database whose derived-table
    // triggers (full-text, conversations, API calls, rollups) were removed,
    // i.e. the same work as the naive loop. Shows what those tables cost.
    let bare_db = dir.path().join("bare.db");
    drop(tasklog_index::open_for_writing(&bare_db)?);
    drop_triggers(&rusqlite::Connection::open(&bare_db)?)?;
    let bare = run_index(&tasklog, &root, &bare_db)?;

    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    let db_size = std::fs::metadata(&db)?.len()
        + std::fs::metadata(format!("{}-wal", db.display()))
            .map(|m| m.len())
            .unwrap_or(0);
    report(&[
        Figure {
            name: "index: naive loop (parse + insert, 10k tx)".into(),
            value: rate(naive),
            unit: "records/s",
            baseline: None,
            target: "",
        },
        Figure {
            name: "index: tasklog index, cold".into(),
            value: rate(ours),
            unit: "records/s",
            baseline: Some(("naive loop".into(), rate(naive))),
            target: ">= 2x now, >= 4x goal",
        },
        Figure {
            name: "index: tasklog index, records only".into(),
            value: rate(bare),
            unit: "records/s",
            baseline: Some(("naive loop".into(), rate(naive))),
            target: "ablation",
        },
        Figure {
            name: "index: restart, nothing new".into(),
            value: restart.as_secs_f64() * 1e3,
            unit: "ms",
            baseline: None,
            target: "",
        },
        Figure {
            name: "index: database size / JSONL bytes".into(),
            value: db_size as f64 / bytes as f64,
            unit: "ratio",
            baseline: None,
            target: "<= 1.5",
        },
    ])
}

/// Removes every trigger: no derived tables are maintained.
fn drop_triggers(conn: &rusqlite::Connection) -> anyhow::Result<()> {
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for t in triggers {
        conn.execute_batch(&format!("DROP TRIGGER {t}"))?;
    }
    Ok(())
}

/// Runs `tasklog index` once and times it.
fn run_index(tasklog: &str, root: &Path, db: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let status = Command::new(tasklog)
        .args([
            "--root",
            &root.display().to_string(),
            "--db",
            &db.display().to_string(),
            "index",
        ])
        .status()?;
    anyhow::ensure!(status.success(), "tasklog index failed");
    Ok(started.elapsed())
}

fn corpus_size(root: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut records, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(root)? {
        let data = std::fs::read(entry?.path().join("events.jsonl"))?;
        records += data.iter().filter(|&&b| b == b'\n').count() as u64;
        bytes += data.len() as u64;
    }
    Ok((records, bytes))
}

/// The loop a user would write in an afternoon.
fn naive_loop(root: &Path, db: &Path) -> anyhow::Result<Duration> {
    // Same schema and indexes as ours, created by our own migrations.
    drop(tasklog_index::open_for_writing(db)?);
    let started = Instant::now();
    let mut conn = rusqlite::Connection::open(db)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    // Same indexes, but none of the derived tables (full-text search, API
    // calls, rollups) ours keeps: the naive loop does strictly less work.
    drop_triggers(&conn)?;
    let file_id: i64 = 1;
    let mut tx = conn.transaction()?;
    let mut in_tx = 0;
    let mut entries: Vec<_> = std::fs::read_dir(root)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for (n, entry) in entries.iter().enumerate() {
        let task = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(entry.path().join("events.jsonl"))?;
        let mut offset = 0i64;
        for (line_no, line) in text.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
            let usage = v.pointer("/gen_ai/usage");
            tx.prepare_cached(
                r#"INSERT INTO records (file_id, task_id, stream, "offset", line, ts, ts_source, seq, id, event, name, status,
                    span_id, duration_ms, model, input_tokens, output_tokens, body)
                   VALUES (?1, ?2, 'events', ?3, ?4, ?5, 'ts', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"#,
            )?
            .execute(params![
                file_id + n as i64,
                task,
                offset,
                line_no as i64 + 1,
                s("ts").unwrap_or_default(),
                v.get("seq").and_then(|x| x.as_i64()),
                s("id"),
                s("event"),
                s("name"),
                s("status"),
                s("span_id"),
                v.get("duration_ms").and_then(|x| x.as_f64()),
                v.pointer("/gen_ai/request/model").and_then(|x| x.as_str()),
                usage.and_then(|u| u.get("input_tokens")).and_then(|x| x.as_i64()),
                usage.and_then(|u| u.get("output_tokens")).and_then(|x| x.as_i64()),
                line,
            ])?;
            offset += line.len() as i64 + 1;
            in_tx += 1;
            if in_tx == 10_000 {
                tx.commit()?;
                tx = conn.transaction()?;
                in_tx = 0;
            }
        }
    }
    tx.commit()?;
    Ok(started.elapsed())
}
