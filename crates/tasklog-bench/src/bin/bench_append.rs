//! Appends: raw write(2) on O_APPEND, flock + write + unlock, the writer
//! crate, and `tasklog append` from stdin; plus atomic document replace
//! against a bare tempfile + rename. Per-record cost and ratios, one run.
//!
//! `cargo run --release -p tasklog-bench --bin bench_append -- --records 200000`

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use fs2::FileExt;
use tasklog_bench::{arg, median, report, time, Figure};
use tasklog_writer::{Durability, FsyncPolicy, Writer, WriterOptions};

fn main() -> anyhow::Result<()> {
    let n = arg("records", 200_000);
    let rounds = arg("rounds", 5);
    let docs = arg("docs", 20_000);
    let dir = tempfile::tempdir()?;
    let mut rng = fastrand::Rng::with_seed(7);
    // The caller's records, without the envelope fields the writer stamps.
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let full: serde_json::Value =
                serde_json::from_str(&tasklog_bench::record(1, i, &mut rng)).unwrap_or_default();
            let mut map = full.as_object().cloned().unwrap_or_default();
            for k in ["v", "ts", "seq", "id"] {
                map.shift_remove(k);
            }
            serde_json::Value::Object(map).to_string()
        })
        .collect();
    let stamped: Vec<String> = lines.iter().map(|l| format!("{{\"v\":1,\"ts\":\"2026-11-22T00:00:00.000000Z\",\"seq\":1,\"id\":\"01M80PJ47WR72QVV9ZAEGSYRR0\",{}\n", &l[1..])).collect();

    let mut raw = Vec::new();
    let mut locked = Vec::new();
    let mut writer_json = Vec::new();
    let mut cli = Vec::new();
    let tasklog = std::env::var("TASKLOG_BIN").unwrap_or_else(|_| "target/release/tasklog".into());
    for round in 0..rounds {
        let root = dir.path().join(format!("r{round}"));
        std::fs::create_dir_all(root.join("t"))?;
        raw.push(time(|| raw_appends(&root.join("raw.jsonl"), &stamped)));
        locked.push(time(|| {
            locked_appends(&root.join("locked.jsonl"), &stamped)
        }));
        let writer = Writer::open(
            &root,
            WriterOptions {
                append_fsync: FsyncPolicy::Never,
                ..Default::default()
            },
        )?;
        let task = writer.task("w")?;
        writer_json.push(time(|| {
            for l in &lines {
                task.append_json("events", l.as_bytes(), Durability::Default)
                    .expect("append");
            }
        }));
        if Path::new(&tasklog).exists() {
            cli.push(cli_appends(&tasklog, &root, &lines)?);
        }
    }
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    let locked_ns = per(median(locked.clone()));
    let mut figures = vec![
        Figure {
            name: "append: raw write(2), O_APPEND".into(),
            value: per(median(raw)),
            unit: "ns/record",
            baseline: None,
            target: "",
        },
        Figure {
            name: "append: flock + write + unlock".into(),
            value: locked_ns,
            unit: "ns/record",
            baseline: None,
            target: "",
        },
        Figure {
            name: "append: writer crate (append_json)".into(),
            value: per(median(writer_json)),
            unit: "ns/record",
            baseline: Some(("flock+write".into(), locked_ns)),
            target: "<= 2x",
        },
    ];
    if !cli.is_empty() {
        figures.push(Figure {
            name: "append: tasklog append < stdin".into(),
            value: per(median(cli)),
            unit: "ns/record",
            baseline: Some(("flock+write".into(), locked_ns)),
            target: "<= 4x",
        });
    } else {
        eprintln!("{tasklog} not found: build it with `cargo build --release -p tasklog` (or set TASKLOG_BIN)");
    }

    // Documents: atomic replace without fsync against a bare tempfile + rename.
    let mut bare = Vec::new();
    let mut ours = Vec::new();
    let doc = br#"{"task_id":"t","status":"active","title":"Dashboard: add token budget monitoring","updated_at":"2026-11-22T00:00:00.000000Z"}"#;
    for round in 0..rounds {
        let root = dir.path().join(format!("d{round}"));
        let folder = root.join("t");
        std::fs::create_dir_all(&folder)?;
        bare.push(time(|| {
            for _ in 0..docs {
                let mut tmp = tempfile::Builder::new()
                    .prefix(".tmp-")
                    .tempfile_in(&folder)
                    .expect("tmp");
                tmp.write_all(doc).expect("write");
                tmp.persist(folder.join("bare.json")).expect("rename");
            }
        }));
        let writer = Writer::open(
            &root,
            WriterOptions {
                document_fsync: FsyncPolicy::Never,
                ..Default::default()
            },
        )?;
        let task = writer.task("t")?;
        ours.push(time(|| {
            for _ in 0..docs {
                task.put_json("task", doc, Durability::Default)
                    .expect("put");
            }
        }));
    }
    let per_doc = |d: Duration| d.as_nanos() as f64 / docs as f64;
    let bare_ns = per_doc(median(bare));
    figures.push(Figure {
        name: "document: tempfile + rename (no fsync)".into(),
        value: bare_ns,
        unit: "ns/doc",
        baseline: None,
        target: "",
    });
    figures.push(Figure {
        name: "document: tasklog put_json (no fsync)".into(),
        value: per_doc(median(ours)),
        unit: "ns/doc",
        baseline: Some(("tempfile+rename".into(), bare_ns)),
        target: "<= 1.5x",
    });
    report(&figures)
}

fn raw_appends(path: &Path, lines: &[String]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    for l in lines {
        f.write_all(l.as_bytes()).expect("write");
    }
}

fn locked_appends(path: &Path, lines: &[String]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    for l in lines {
        f.lock_exclusive().expect("lock");
        f.write_all(l.as_bytes()).expect("write");
        fs2::FileExt::unlock(&f).expect("unlock");
    }
}

fn cli_appends(bin: &str, root: &Path, lines: &[String]) -> anyhow::Result<Duration> {
    let mut input = String::with_capacity(lines.len() * 256);
    for l in lines {
        input.push_str(l);
        input.push('\n');
    }
    let mut elapsed = Duration::ZERO;
    let started = std::time::Instant::now();
    let mut child = Command::new(bin)
        .args([
            "--root",
            &root.display().to_string(),
            "append",
            "c",
            "events",
        ])
        .stdin(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .map(|mut s| s.write_all(input.as_bytes()))
        .transpose()?;
    let status = child.wait()?;
    elapsed += started.elapsed();
    anyhow::ensure!(status.success(), "tasklog append failed");
    Ok(elapsed)
}
