//! Live freshness: write → visible to an outside SQLite reader while
//! `tasklog watch` runs. Scenario 1: 100 tasks each appending 100 lines/s.
//! Scenario 2: one task writing ~50 MB/s while 20 quiet tasks append 10
//! lines/s; latency is measured on the quiet tasks (fair reads).
//! Also: time to ready and RSS of a restart over the indexed folders.
//!
//! `cargo run --release -p tasklog-bench --bin bench_freshness -- --seconds 10`
//! (`--page-size 16384`: a database created with that SQLite page size)

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tasklog_bench::{arg, paced_writers, report, Figure};
use tasklog_writer::{Record, Writer, WriterOptions};

fn main() -> anyhow::Result<()> {
    let seconds = arg("seconds", 10);
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("tasks");
    let db = dir.path().join("index.db");
    // `--page-size N`: the database is created with SQLite pages of N bytes
    // before `watch` opens it (which keeps an existing database's size), to
    // compare page sizes with one binary, alternating in one run.
    let page_size = arg("page-size", 0);
    if page_size > 0 {
        let conn = Connection::open(&db)?;
        conn.execute_batch(&format!("PRAGMA page_size = {page_size}; VACUUM;"))?;
    }
    let tasklog = std::env::var("TASKLOG_BIN").unwrap_or_else(|_| "target/release/tasklog".into());

    let mut watch = spawn_watch(&tasklog, &root, &db)?;
    let ready_in = wait_ready(&db)?;
    let steady = run_scenario(&root, &db, seconds, 100, 100, None)?;
    let busy_mb = arg("busy-mb", 50);
    let heavy = run_scenario(&root, &db, seconds, 20, 10, Some(busy_mb << 20))?;
    // Caught up first: a stop rolls back what is in hand, and the restart
    // would then time the backlog instead of the restart.
    wait_caught_up(&root, &db)?;
    stop(&mut watch);

    // Restart over everything indexed: time to ready and peak RSS.
    // The marker is cleared while no watcher runs: cleared after the
    // spawn, a fast start wrote it first and the wait ran to the next
    // reconcile tick (30 s).
    clear_ready(&db)?;
    let started = Instant::now();
    let mut watch = spawn_watch(&tasklog, &root, &db)?;
    let restart = wait_ready(&db).map(|_| started.elapsed())?;
    let rss_kib = peak_rss_kib(watch.id());
    stop(&mut watch);
    let _ = ready_in;

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    report(&[
        Figure {
            name: "freshness p50, 100 tasks x 100 lines/s".into(),
            value: ms(steady.0),
            unit: "ms",
            baseline: None,
            target: "",
        },
        Figure {
            name: "freshness p99, 100 tasks x 100 lines/s".into(),
            value: ms(steady.1),
            unit: "ms",
            baseline: None,
            target: "<= 50 ms",
        },
        Figure {
            name: format!("freshness p50, quiet tasks beside {busy_mb} MB/s"),
            value: ms(heavy.0),
            unit: "ms",
            baseline: None,
            target: "",
        },
        Figure {
            name: format!("freshness p99, quiet tasks beside {busy_mb} MB/s"),
            value: ms(heavy.1),
            unit: "ms",
            baseline: None,
            target: "<= 50 ms",
        },
        Figure {
            name: "restart: time to ready".into(),
            value: ms(restart),
            unit: "ms",
            baseline: None,
            target: "",
        },
        Figure {
            name: "restart: peak RSS".into(),
            value: rss_kib as f64 / 1024.0,
            unit: "MiB",
            baseline: None,
            target: "<= 100 MiB",
        },
    ])
}

fn spawn_watch(bin: &str, root: &Path, db: &Path) -> anyhow::Result<Child> {
    Ok(Command::new(bin)
        .args([
            "--root",
            &root.display().to_string(),
            "--db",
            &db.display().to_string(),
            "watch",
        ])
        .stdout(Stdio::null())
        .spawn()?)
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

fn reader(db: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn wait_ready(db: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        if db.exists() {
            if let Ok(conn) = reader(db) {
                let n: i64 = conn
                    .query_row(
                        "SELECT count(*) FROM indexer_state WHERE key = 'watch_mode'",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap_or(0);
                if n == 1 {
                    return Ok(started.elapsed());
                }
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "watch never became ready"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until every stream under `root` is indexed to its end.
fn wait_caught_up(root: &Path, db: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let on_disk: u64 = std::fs::read_dir(root)?
        .flatten()
        .flat_map(|task| {
            std::fs::read_dir(task.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|f| f.path().extension().is_some_and(|e| e == "jsonl"))
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    loop {
        let indexed: i64 = reader(db)?.query_row(
            r#"SELECT coalesce(sum("offset"), 0) FROM files WHERE kind = 'stream'"#,
            [],
            |r| r.get(0),
        )?;
        if indexed as u64 >= on_disk {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the watcher never caught up ({indexed} of {on_disk} bytes)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Forgets the ready marker so the next `wait_ready` sees the new process.
fn clear_ready(db: &Path) -> anyhow::Result<()> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute("DELETE FROM indexer_state WHERE key = 'watch_mode'", [])?;
    Ok(())
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Runs writers for `seconds`; returns (p50, p99) of write → visible for
/// the paced tasks.
fn run_scenario(
    root: &Path,
    db: &Path,
    seconds: u64,
    tasks: u64,
    per_second: u64,
    heavy_bytes_per_s: Option<u64>,
) -> anyhow::Result<(Duration, Duration)> {
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = Writer::open(root, WriterOptions::default())?;
    let prefix = if heavy_bytes_per_s.is_some() {
        "quiet"
    } else {
        "steady"
    };
    let mut handles = Vec::new();
    handles.extend(paced_writers(
        &writer, prefix, tasks, per_second, epoch, &stop,
    ));
    if let Some(rate) = heavy_bytes_per_s {
        let writer = writer.clone();
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let task = writer.task("heavy")?;
            let pad = "x".repeat(1000);
            let per_ms = rate / 1000 / 1050;
            let mut next = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                for _ in 0..per_ms.max(1) {
                    let t_ns = epoch.elapsed().as_nanos() as u64;
                    task.append(
                        "events",
                        Record::event("bulk")
                            .with("t_ns", t_ns)
                            .with("pad", pad.as_str()),
                    )?;
                }
                next += Duration::from_millis(1);
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            Ok(())
        }));
    }
    // The outside reader, polling like a dashboard would.
    let conn = reader(db)?;
    let mut last: i64 =
        conn.query_row("SELECT coalesce(max(record_id), 0) FROM records", [], |r| {
            r.get(0)
        })?;
    let mut latencies = Vec::new();
    // The busy task's own lag (one row in 64, to keep this reader light):
    // whether the sidecar keeps up with it at all.
    let mut heavy_latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let like = format!("{prefix}-%");
    while Instant::now() < deadline {
        // Every new row once (so `last` advances past the busy task's rows
        // too); the timestamp is read only from the measured tasks' rows.
        let mut stmt = conn.prepare_cached(
            "SELECT record_id, task_id LIKE ?2,
                    CASE WHEN task_id LIKE ?2 OR record_id % 64 = 0 THEN json_extract(body, '$.t_ns') END
             FROM records WHERE record_id > ?1 ORDER BY record_id",
        )?;
        let rows: Vec<(i64, bool, Option<i64>)> = stmt
            .query_map(rusqlite::params![last, like], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let now = epoch.elapsed().as_nanos() as i64;
        for (id, measured, t_ns) in rows {
            last = last.max(id);
            let Some(t) = t_ns else { continue };
            let latency = Duration::from_nanos((now - t).max(0) as u64);
            if measured {
                latencies.push(latency);
            } else {
                heavy_latencies.push(latency);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
    }
    anyhow::ensure!(!latencies.is_empty(), "no records became visible");
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    eprintln!("{prefix}: {} samples", latencies.len());
    if !heavy_latencies.is_empty() {
        heavy_latencies.sort();
        let at = |p: f64| heavy_latencies[((heavy_latencies.len() - 1) as f64 * p) as usize];
        eprintln!(
            "busy task: {} rows, write -> visible p50 {:?}, p99 {:?}",
            heavy_latencies.len(),
            at(0.5),
            at(0.99)
        );
    }
    Ok((pct(0.50), pct(0.99)))
}
