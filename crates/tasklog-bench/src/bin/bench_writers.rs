//! The Rust side of `scripts/bench_writers.py`: per-append cost of
//! `Task::append` (a record built field by field, as the Python and Node
//! bindings build theirs) and of a bare `flock` + `write(2)` + unlock of the
//! same line. Prints one JSON object; the script sets these beside the
//! Python and Node bindings and their FORMAT.md §7 snippets.
//!
//! `cargo run --release -p tasklog-bench --bin bench_writers -- --records 20000 --rounds 5`

use std::fs::OpenOptions;
use std::io::Write;

use fs2::FileExt;
use tasklog_bench::{arg, median, time};
use tasklog_writer::{FsyncPolicy, Record, Writer, WriterOptions};

/// The record every language appends (the bindings' benchmarks use the same).
const CONTENT: &str = "step: looking at the failing test and the stack trace it printed";

fn main() -> anyhow::Result<()> {
    let n = arg("records", 20_000);
    let rounds = arg("rounds", 5);
    let dir = tempfile::tempdir()?;
    let mut writer_ns = Vec::new();
    let mut locked_ns = Vec::new();
    for round in 0..rounds {
        let root = dir.path().join(format!("r{round}"));
        let writer = Writer::open(
            &root,
            WriterOptions {
                append_fsync: FsyncPolicy::Never,
                ..Default::default()
            },
        )?;
        let task = writer.task("bench")?;
        writer_ns.push(time(|| {
            for i in 0..n {
                let record = Record::event("message")
                    .with("role", "assistant")
                    .with("content", CONTENT)
                    .with("i", i);
                task.append("events", record).expect("append");
            }
        }));
        let line = std::fs::read(task.dir().join("events.jsonl"))?;
        let first = line
            .split(|&b| b == b'\n')
            .next()
            .unwrap_or_default()
            .to_vec();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("locked.jsonl"))?;
        let mut buf = first;
        buf.push(b'\n');
        locked_ns.push(time(|| {
            for _ in 0..n {
                file.lock_exclusive().expect("lock");
                file.write_all(&buf).expect("write");
                FileExt::unlock(&file).expect("unlock");
            }
        }));
    }
    let per = |d: std::time::Duration| d.as_nanos() as f64 / n as f64;
    println!(
        "{}",
        serde_json::json!({
            "rust_writer_ns": per(median(writer_ns)),
            "rust_flock_write_ns": per(median(locked_ns)),
            "records": n,
            "rounds": rounds,
        })
    );
    Ok(())
}
