//! `tasklog serve` at scale: latency of the task list and of one task's
//! page beside `tasklog show` for the same task, and how fast a committed
//! record reaches 100 connected event streams.
//!
//! `bench_serve [--tasks 1000] [--lines 1000] [--requests 200] [--clients 100] [--rounds 40]`
//!
//! Needs the `tasklog` binary of the same build (`cargo build --release -p
//! tasklog -p tasklog-bench`); it is found beside this one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tasklog_bench::{arg, report, write_corpus, Figure};
use tasklog_writer::{Record, Writer, WriterOptions};

fn main() -> Result<()> {
    let tasks = arg("tasks", 1000);
    let lines = arg("lines", 1000);
    let requests = arg("requests", 200) as usize;
    let clients = arg("clients", 100) as usize;
    let rounds = arg("rounds", 40) as usize;
    let tasklog = std::env::current_exe()?
        .parent()
        .context("binary folder")?
        .join("tasklog");
    if !tasklog.is_file() {
        bail!(
            "{} not found: cargo build --release -p tasklog",
            tasklog.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("tasks");
    let db = dir.path().join("index.db");
    eprintln!("bench_serve: writing {tasks} x {lines} records");
    write_corpus(&root, tasks, lines)?;
    eprintln!("bench_serve: indexing");
    let indexed = tasklog_cmd(&tasklog, &root, &db).arg("index").status()?;
    if !indexed.success() {
        bail!("tasklog index failed");
    }
    let mut server = Serve::start(&tasklog, &root, &db)?;
    let addr = server.addr.clone();

    // The task list's first page, and one task's page, against `tasklog show`.
    let mut rng = fastrand::Rng::with_seed(7);
    let list = sample(requests, || {
        get(&addr, "/api/tasks")?;
        Ok(())
    })?;
    // Warm-up calls take picks too.
    let picks: Vec<String> = (0..requests + 5)
        .map(|_| format!("task-{:05}", rng.u64(0..tasks)))
        .collect();
    let mut next = picks.iter();
    let page = sample(requests, || {
        let task = next.next().context("task")?;
        let body = get(&addr, &format!("/api/tasks/{task}"))?;
        if !body.contains("\"timeline\"") {
            bail!("no timeline in the answer for {task}");
        }
        Ok(())
    })?;
    let mut next = picks.iter();
    let show = sample(requests.min(50), || {
        let task = next.next().context("task")?;
        let out = tasklog_cmd(&tasklog, &root, &db)
            .args(["show", task, "--full", "--format", "json"])
            .stdout(Stdio::piped())
            .output()?;
        if !out.status.success() {
            bail!("tasklog show {task} failed");
        }
        Ok(())
    })?;

    // Fan-out: a record reaches every stream; measured from the moment a
    // reader polling the index every 0.5 ms first sees it committed.
    let fanout = fan_out(&addr, &root, &db, clients, rounds)?;
    server.stop();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    report(&[
        Figure {
            name: format!("GET /api/tasks p99 ({} records)", tasks * lines),
            value: ms(p(&list, 0.99)),
            unit: "ms",
            baseline: Some(("p50".into(), ms(p(&list, 0.5)))),
            target: "<= 50 ms",
        },
        Figure {
            name: "GET /api/tasks/{id} p99".into(),
            value: ms(p(&page, 0.99)),
            unit: "ms",
            baseline: Some(("tasklog show --full p99".into(), ms(p(&show, 0.99)))),
            target: "<= 50 ms",
        },
        Figure {
            name: "GET /api/tasks/{id} p50".into(),
            value: ms(p(&page, 0.5)),
            unit: "ms",
            baseline: Some(("tasklog show --full p50".into(), ms(p(&show, 0.5)))),
            target: "",
        },
        Figure {
            name: format!("SSE commit -> {clients} clients p99"),
            value: ms(p(&fanout, 0.99)),
            unit: "ms",
            baseline: Some(("p50".into(), ms(p(&fanout, 0.5)))),
            target: "<= 100 ms",
        },
    ])
}

fn tasklog_cmd(tasklog: &Path, root: &Path, db: &Path) -> Command {
    let mut cmd = Command::new(tasklog);
    cmd.env("TASKLOG_ROOT", root)
        .env("TASKLOG_DB", db)
        .env("TASKLOG_LOG", "error")
        .stdin(Stdio::null());
    cmd
}

/// `n` timings of `f`, after 5 untimed warm-up calls.
fn sample(n: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let t = Instant::now();
        f()?;
        if i >= 5 {
            out.push(t.elapsed());
        }
    }
    Ok(out)
}

fn p(v: &[Duration], q: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// `tasklog serve` on a free port, with its indexer in-process.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    fn start(tasklog: &Path, root: &Path, db: &Path) -> Result<Serve> {
        let mut child = tasklog_cmd(tasklog, root, db)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .env("TASKLOG_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let err = child.stderr.take().context("stderr")?;
        let mut reader = BufReader::new(err);
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                bail!("tasklog serve exited");
            }
            if let Some(rest) = line.split("serving http://").nth(1) {
                break rest.split('/').next().unwrap_or("").to_owned();
            }
        };
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        Ok(Serve { child, addr })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One GET on a fresh connection; the body.
fn get(addr: &str, path: &str) -> Result<String> {
    let mut s = TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    if !text.starts_with("HTTP/1.1 200") {
        bail!("GET {path}: {}", text.lines().next().unwrap_or(""));
    }
    Ok(text)
}

/// Opens `clients` event streams, appends `rounds` records, and returns,
/// for every client and record, the time from the commit to its arrival.
fn fan_out(
    addr: &str,
    root: &Path,
    db: &Path,
    clients: usize,
    rounds: usize,
) -> Result<Vec<Duration>> {
    let seen: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::default();
    let mut streams = Vec::new();
    for _ in 0..clients {
        let mut s = TcpStream::connect(addr)?;
        write!(
            s,
            "GET /api/events?task=bench-sse HTTP/1.1\r\nHost: {addr}\r\n\r\n"
        )?;
        let seen = Arc::clone(&seen);
        let reader = s.try_clone()?;
        streams.push(s);
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                if let Some(id) = line
                    .strip_prefix("id: ")
                    .and_then(|v| v.trim().parse().ok())
                {
                    let now = Instant::now();
                    if let Ok(mut v) = seen.lock() {
                        v.push((id, now));
                    }
                }
            }
        });
    }
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let writer = Writer::open(root, WriterOptions::default())?;
    let task = writer.task("bench-sse")?;
    // Let every stream subscribe before the first record.
    std::thread::sleep(Duration::from_millis(500));
    let newest = |conn: &rusqlite::Connection| -> Result<i64> {
        Ok(conn.query_row(
            "SELECT coalesce(max(record_id), 0) FROM records WHERE task_id = 'bench-sse'",
            [],
            |r| r.get(0),
        )?)
    };
    let mut latencies = Vec::new();
    let mut last = newest(&conn)?;
    for round in 0..rounds {
        task.append("events", Record::event("bench").with("round", round as u64))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let (id, committed) = loop {
            let id = newest(&conn)?;
            if id > last {
                break (id, Instant::now());
            }
            if Instant::now() > deadline {
                bail!("round {round}: the record was not indexed within 10 s");
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        last = id;
        loop {
            let got: Vec<Instant> = seen
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .iter()
                .filter(|(i, _)| *i == id)
                .map(|(_, t)| *t)
                .collect();
            if got.len() == clients {
                latencies.extend(got.iter().map(|t| t.saturating_duration_since(committed)));
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "round {round}: {} of {clients} streams got the record",
                    got.len()
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(37));
    }
    drop(streams);
    Ok(latencies)
}
