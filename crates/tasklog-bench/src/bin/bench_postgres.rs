//! The PostgreSQL sink (issue 13), in one run on one server:
//! - cold backfill of the corpus by `tasklog index --sink` (COPY in large
//!   transactions, secondary indexes built after the load), beside a naive
//!   loop of one INSERT per line and beside the SQLite sink on the same files;
//! - live freshness into PostgreSQL: 100 tasks each appending 100 lines/s,
//!   write → visible to a reader polling the server.
//!
//! `bench_postgres --url postgres://... [--tasks 1000 --lines 1000 --seconds 10 --naive-rows 100000]`
//! (scripts/bench_postgres.sh starts a server and passes its URL).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use tasklog_bench::{arg, paced_writers, report, write_corpus, Figure};
use tasklog_writer::{Writer, WriterOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .iter()
        .position(|a| a == "--url")
        .and_then(|i| args.get(i + 1))
        .ok_or_else(|| {
            anyhow::anyhow!("usage: bench_postgres --url postgres://... [--tasks N --lines N]")
        })?
        .clone();
    let bin = std::env::var("TASKLOG_BIN").unwrap_or_else(|_| "target/release/tasklog".into());
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("tasks");
    let (records, bytes) = write_corpus(&root, arg("tasks", 1000), arg("lines", 1000))?;
    println!("corpus: {records} records, {bytes} bytes");

    let copy_url = database(&url, "bench_copy")?;
    let copy = timed(Command::new(&bin).args([
        "--root",
        s(&root),
        "--host-id",
        "bench",
        "index",
        "--sink",
        &copy_url,
    ]))?;
    let shipped: i64 = Client::connect(&copy_url, NoTls)?
        .query_one("SELECT count(*) FROM records", &[])?
        .get(0);
    anyhow::ensure!(
        shipped as u64 == records,
        "{shipped} of {records} records shipped"
    );

    let db = dir.path().join("index.db");
    let sqlite = timed(Command::new(&bin).args(["--root", s(&root), "--db", s(&db), "index"]))?;

    let naive_rows = arg("naive-rows", 100_000).min(records);
    let naive = naive_insert_loop(&bin, &url, &root, naive_rows)?;

    let (p50, p99) = freshness(&bin, &url, arg("seconds", 10))?;

    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    report(&[
        Figure {
            name: "postgres: cold backfill, COPY".into(),
            value: rate(records, copy),
            unit: "records/s",
            baseline: Some(("one INSERT per line".into(), rate(naive_rows, naive))),
            target: ">= 100k records/s",
        },
        Figure {
            name: "postgres: cold backfill vs SQLite sink".into(),
            value: rate(records, copy),
            unit: "records/s",
            baseline: Some(("tasklog index (SQLite)".into(), rate(records, sqlite))),
            target: "",
        },
        Figure {
            name: "postgres: freshness p50, 100 tasks x 100/s".into(),
            value: ms(p50),
            unit: "ms",
            baseline: None,
            target: "",
        },
        Figure {
            name: "postgres: freshness p99, 100 tasks x 100/s".into(),
            value: ms(p99),
            unit: "ms",
            baseline: None,
            target: "<= 100 ms",
        },
    ])
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// A new empty database `name` on the server of `url`; its URL.
fn database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut client = Client::connect(url, NoTls)?;
    // Two statements: CREATE DATABASE refuses to run in a transaction
    // block, which a multi-statement batch is.
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))?;
    client.batch_execute(&format!("CREATE DATABASE {name}"))?;
    Ok(url.replacen("/postgres", &format!("/{name}"), 1))
}

fn timed(cmd: &mut Command) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let status = cmd.stdout(Stdio::null()).status()?;
    anyhow::ensure!(status.success(), "{cmd:?} failed");
    Ok(started.elapsed())
}

/// The baseline: the first `rows` lines of the corpus inserted one INSERT
/// each (prepared, one transaction per file) into the same schema, with
/// its indexes in place, as a loop a user would write first.
fn naive_insert_loop(bin: &str, url: &str, root: &Path, rows: u64) -> anyhow::Result<Duration> {
    let naive_url = database(url, "bench_naive")?;
    // The schema, made by the sidecar over an empty root.
    let empty = tempfile::tempdir()?;
    timed(Command::new(bin).args([
        "--root",
        s(empty.path()),
        "--host-id",
        "bench",
        "index",
        "--sink",
        &naive_url,
    ]))?;
    let mut client = Client::connect(&naive_url, NoTls)?;
    let insert = client.prepare(
        r#"INSERT INTO records (host_id, file_id, task_id, stream, "offset", line, ts, ts_source, body)
           VALUES ('bench', $1, $2, 'events', $3, $4, $5, 'ts', $6)"#,
    )?;
    let mut tasks: Vec<_> = std::fs::read_dir(root)?
        .flatten()
        .map(|e| e.path())
        .collect();
    tasks.sort();
    let started = Instant::now();
    let mut done = 0u64;
    'files: for (file_id, task) in tasks.iter().enumerate() {
        let text = std::fs::read_to_string(task.join("events.jsonl"))?;
        let task_id = task
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let mut tx = client.transaction()?;
        let mut offset = 0i64;
        for (i, line) in text.lines().enumerate() {
            let ts = line.get(16..43).unwrap_or_default();
            tx.execute(
                &insert,
                &[
                    &(file_id as i64),
                    &task_id,
                    &offset,
                    &(i as i64 + 1),
                    &ts,
                    &line,
                ],
            )?;
            offset += line.len() as i64 + 1;
            done += 1;
            if done == rows {
                tx.commit()?;
                break 'files;
            }
        }
        tx.commit()?;
    }
    Ok(started.elapsed())
}

/// `tasklog watch --sink` over a new root while 100 tasks append 100
/// lines/s each; (p50, p99) of write → visible to a polling reader.
fn freshness(bin: &str, url: &str, seconds: u64) -> anyhow::Result<(Duration, Duration)> {
    let live_url = database(url, "bench_live")?;
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("tasks");
    std::fs::create_dir_all(&root)?;
    let mut watch: Child = Command::new(bin)
        .args([
            "--root",
            s(&root),
            "--host-id",
            "live",
            "watch",
            "--sink",
            &live_url,
        ])
        .stdout(Stdio::null())
        .spawn()?;
    let mut client = Client::connect(&live_url, NoTls)?;
    let started = Instant::now();
    while client
        .query_opt(
            "SELECT 1 FROM indexer_state WHERE host_id = 'live' AND key = 'watch_mode'",
            &[],
        )
        .ok()
        .flatten()
        .is_none()
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "watch never became ready"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = Writer::open(&root, WriterOptions::default())?;
    let handles = paced_writers(&writer, "steady", 100, 100, epoch, &stop);
    // Two connections commit in parallel, so ids can become visible out
    // of order: every poll looks back over a window of ids (wider than what
    // is in flight between two commits at 10k rows/s) and counts each row
    // once. Rows found below the highest id seen are counted as late.
    let poll = client.prepare(
        "SELECT record_id, (doc ->> 't_ns')::bigint FROM records WHERE record_id > $1 ORDER BY record_id",
    )?;
    const WINDOW: i64 = 2_000;
    let mut late = 0u64;
    let mut last = 0i64;
    let mut seen = std::collections::HashSet::new();
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let rows = client.query(&poll, &[&(last - WINDOW)])?;
        let now = epoch.elapsed().as_nanos() as i64;
        for r in rows {
            let id: i64 = r.get(0);
            if !seen.insert(id) {
                continue;
            }
            if id < last {
                late += 1;
            }
            last = last.max(id);
            if let Some(t) = r.get::<_, Option<i64>>(1) {
                latencies.push(Duration::from_nanos((now - t).max(0) as u64));
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(watch.id().to_string())
        .status();
    let _ = watch.wait();
    anyhow::ensure!(!latencies.is_empty(), "no records became visible");
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    eprintln!(
        "postgres freshness: {} samples, {late} seen after a higher id",
        latencies.len()
    );
    Ok((pct(0.50), pct(0.99)))
}
