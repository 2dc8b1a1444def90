//! Freshness of a followed agent session: a turn appended to a Claude Code
//! transcript that `tasklog watch` follows (`[[import]]`, the default
//! 500 ms poll) → its model call visible to an outside SQLite reader.
//!
//! Two runs in one process, each with its own root, index and followed
//! folder (`--sessions` other sessions in it, so a full look has work):
//! - ours: the follower imports on the file events of the folder;
//! - baseline: the same binary with `TASKLOG_IMPORT_NOTIFY=0`, the follower
//!   of before, which finds changes only by looking every poll.
//!
//! Appends are spaced by a random pause (up to `--pause-ms`), so they fall
//! anywhere in the poll tick. Prints p50 and p95 of each beside the other.
//!
//! `cargo run --release -p tasklog-bench --bin bench_import_freshness -- --appends 50`

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tasklog_bench::{arg, report, Figure};

const LIVE: &str = "77777777-7777-4777-8777-777777777777";

fn main() -> anyhow::Result<()> {
    let appends = arg("appends", 50).max(1);
    let pause_ms = arg("pause-ms", 400);
    let sessions = arg("sessions", 100);
    let tasklog = std::env::var("TASKLOG_BIN").unwrap_or_else(|_| "target/release/tasklog".into());
    let mut rng = fastrand::Rng::with_seed(25);
    let ours = run(&tasklog, true, appends, pause_ms, sessions, &mut rng)?;
    let looks = run(&tasklog, false, appends, pause_ms, sessions, &mut rng)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let figure = |name: &str, q: f64, target: &'static str| Figure {
        name: format!("followed session, append to index {name}"),
        value: ms(quantile(&ours, q)),
        unit: "ms",
        baseline: Some(("looking every 500 ms".into(), ms(quantile(&looks, q)))),
        target,
    };
    report(&[
        figure("p50", 0.50, ""),
        figure("p95", 0.95, "<= 1 s"),
        figure("max", 1.0, ""),
    ])
}

/// `q`-quantile of the latencies (nearest rank).
fn quantile(latencies: &[Duration], q: f64) -> Duration {
    let mut v = latencies.to_vec();
    v.sort();
    let rank = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[rank.min(v.len() - 1)]
}

/// One run: a watcher following a folder, `appends` turns appended to the
/// live session; returns each turn's latency to the index.
fn run(
    tasklog: &str,
    events: bool,
    appends: u64,
    pause_ms: u64,
    sessions: u64,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<Vec<Duration>> {
    let dir = tempfile::tempdir()?;
    let (root, db) = (dir.path().join("tasks"), dir.path().join("index.db"));
    let followed = dir.path().join("projects/-home-user-project");
    std::fs::create_dir_all(&followed)?;
    for s in 0..sessions {
        let id = format!("{s:08x}-0000-4000-8000-000000000000");
        let text: String = (0..5).map(|t| turn(&id, t)).collect();
        std::fs::write(followed.join(format!("{id}.jsonl")), text)?;
    }
    let config = dir.path().join("tasklog.toml");
    std::fs::write(
        &config,
        format!(
            "[[import]]\nformat = \"claude-code\"\npath = {:?}\n",
            followed.display().to_string()
        ),
    )?;
    let mut watch = Command::new(tasklog)
        .arg("--root")
        .arg(&root)
        .arg("--db")
        .arg(&db)
        .arg("watch")
        .env("TASKLOG_CONFIG", &config)
        .env("TASKLOG_IMPORT_NOTIFY", if events { "1" } else { "0" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = appended(&db, &followed, appends, pause_ms, rng);
    stop(&mut watch);
    result
}

fn appended(
    db: &Path,
    followed: &Path,
    appends: u64,
    pause_ms: u64,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<Vec<Duration>> {
    let task = format!("claude-{LIVE}");
    let live = followed.join(format!("{LIVE}.jsonl"));
    let mut latencies = Vec::new();
    // Turn 0 first, untimed: the watcher starts, imports the other
    // sessions and creates the index meanwhile.
    for t in 0..=appends {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&live)?;
        file.write_all(turn(LIVE, t).as_bytes())?;
        drop(file);
        let written = Instant::now();
        let limit = Duration::from_secs(if t == 0 { 300 } else { 60 });
        wait_calls(db, &task, t as i64 + 1, limit)?;
        if t > 0 {
            latencies.push(written.elapsed());
        }
        std::thread::sleep(Duration::from_millis(rng.u64(0..=pause_ms)));
    }
    Ok(latencies)
}

/// Waits until the index holds `want` model calls of `task`.
fn wait_calls(db: &Path, task: &str, want: i64, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let mut conn: Option<Connection> = None;
    while Instant::now() < deadline {
        if conn.is_none() && db.exists() {
            conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok();
        }
        let n = conn.as_ref().and_then(|c| {
            c.query_row(
                "SELECT count(*) FROM records WHERE task_id = ?1 AND event = 'llm.call'",
                [task],
                |r| r.get::<_, i64>(0),
            )
            .ok()
        });
        if n == Some(want) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    anyhow::bail!("{want} calls of {task} not in the index after {limit:?}")
}

/// One Claude Code turn: the user line, two assistant lines of one call
/// (text, then the tool call with the final usage), the tool result.
fn turn(session: &str, t: u64) -> String {
    // Call keys unique per session: Claude Code replays a resumed session's
    // calls in a new file, so the importer counts a key once per root.
    let s = &session[..8];
    let ts = format!("2026-12-01T10:{:02}:{:02}.000Z", t / 60 % 60, t % 60);
    let mut out = format!(
        r#"{{"type":"user","uuid":"u{t}","sessionId":"{session}","timestamp":"{ts}","message":{{"role":"user","content":"step {t}: run the tests again"}}}}"#
    );
    out.push('\n');
    for (block, output) in [(0, 3), (1, 40 + t)] {
        let content = if block == 0 {
            r#"{"type":"text","text":"Running the tests."}"#.to_owned()
        } else {
            format!(
                r#"{{"type":"tool_use","id":"toolu_{s}_{t}","name":"Bash","input":{{"command":"cargo test"}}}}"#
            )
        };
        out.push_str(&format!(
            r#"{{"type":"assistant","uuid":"a{t}-{block}","sessionId":"{session}","timestamp":"{ts}","requestId":"req_{s}_{t}","message":{{"id":"msg_{s}_{t}","model":"claude-sonnet-4-5","role":"assistant","content":[{content}],"usage":{{"input_tokens":5,"cache_read_input_tokens":1000,"cache_creation_input_tokens":10,"output_tokens":{output}}}}}}}"#
        ));
        out.push('\n');
    }
    out.push_str(&format!(
        r#"{{"type":"user","uuid":"r{t}","sessionId":"{session}","timestamp":"{ts}","message":{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_{s}_{t}","content":"ok"}}]}}}}"#
    ));
    out.push('\n');
    out
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}
