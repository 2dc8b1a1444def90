//! `compress` and `[retention] compress_after` leave alone a stream that
//! may still be written (issue 22): one whose own last write is within the
//! quiet time, one another process holds open for writing, and one that is
//! written or opened while it is being copied. A line written after any of
//! these is read by the index, never lost in a removed file.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::retention_support::{expected, indexed, write_tasks, Reaped};
use crate::support::{self, index, stdout, verify_equal, Env};

/// Sets a file's mtime `ago` in the past.
fn age(path: &Path, ago: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - ago))
        .unwrap();
}

fn gz(plain: &Path) -> std::path::PathBuf {
    plain.with_extension("jsonl.gz")
}

/// The `action` column of `compress --format jsonl` for one stream.
fn action(out: &std::process::Output, path: &str) -> String {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|row| row["path"] == path)
        .map(|row| row["action"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("{path} not listed: {}", stdout(out)))
}

fn has_late_line(env: &Env) -> bool {
    indexed(env, false)
        .iter()
        .any(|(_, _, _, body)| body.contains("late"))
}

#[test]
fn a_stream_written_within_the_quiet_time_stays_plain() {
    let env = Env::new();
    write_tasks(&env, "t", 1, 5, Some("2025-10"));
    let (events, tools) = (env.stream("t-0", "events"), env.stream("t-0", "tools"));
    let two_hours = Duration::from_secs(7200);
    age(&env.task_dir("t-0").join("result.json"), two_hours);
    age(&tools, two_hours);
    // The task was sealed two hours ago, but `events` was written just now.
    let out = env.ok(&["compress", "--older-than", "1h", "--format", "jsonl"]);
    assert!(
        action(&out, "t-0/events.jsonl").starts_with("skipped: written 0s ago"),
        "{}",
        stdout(&out)
    );
    assert_eq!(action(&out, "t-0/tools.jsonl"), "compressed");
    assert!(events.exists() && !gz(&events).exists());
    assert!(gz(&tools).exists() && !tools.exists());
    // A dry run says the same.
    let dry = env.ok(&[
        "compress",
        "--older-than",
        "1h",
        "--dry-run",
        "--format",
        "jsonl",
    ]);
    assert!(action(&dry, "t-0/events.jsonl").starts_with("skipped: written"));
    // Once quiet, it goes too.
    age(&events, two_hours);
    let out = env.ok(&["compress", "--older-than", "1h", "--format", "jsonl"]);
    assert_eq!(action(&out, "t-0/events.jsonl"), "compressed");
    index(&env);
    assert_eq!(indexed(&env, false), expected(&env));
    verify_equal(&env);
}

#[test]
fn a_stream_another_process_holds_open_for_writing_stays_plain() {
    let env = Env::new();
    write_tasks(&env, "t", 1, 5, Some("2025-10"));
    let events = env.stream("t-0", "events");
    // This test process is the other process: a writer that keeps its
    // descriptor (as a shell's `exec 3>>` does) and does not take the lock.
    let mut held = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .unwrap();
    let out = env.ok(&["compress", "--older-than", "0s", "--format", "jsonl"]);
    assert_eq!(
        action(&out, "t-0/events.jsonl"),
        format!(
            "skipped: open for writing by process {}",
            std::process::id()
        )
    );
    assert_eq!(action(&out, "t-0/tools.jsonl"), "compressed");
    // The line it writes later is not lost in a removed file.
    held.write_all(b"{\"event\":\"late\"}\n").unwrap();
    drop(held);
    let out = env.ok(&["compress", "--older-than", "0s", "--format", "jsonl"]);
    assert_eq!(action(&out, "t-0/events.jsonl"), "compressed");
    index(&env);
    assert!(has_late_line(&env), "the late line was lost");
    assert_eq!(indexed(&env, false), expected(&env));
    verify_equal(&env);
}

#[test]
fn a_stream_written_while_it_is_compressed_stays_plain() {
    let env = Env::new();
    write_tasks(&env, "t", 1, 1, Some("2025-10"));
    let events = env.stream("t-0", "events");
    // Large enough that the copy takes a while: the line lands during it.
    let line = format!("{{\"event\":\"bulk\",\"pad\":\"{}\"}}\n", "x".repeat(200));
    support::append_raw(&events, line.repeat(40_000).as_bytes());
    let child = env
        .cmd()
        .args(["compress", "--older-than", "0s", "--format", "jsonl"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dir = env.task_dir("t-0");
    support::wait_for("the copy to start", Duration::from_secs(30), || {
        std::fs::read_dir(&dir).unwrap().flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(".tmp-") && name.contains(&child.id().to_string())
        })
    });
    // A writer that ignores the lock opens the stream and writes one line.
    support::append_raw(&events, b"{\"event\":\"late\"}\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
    let said = action(&out, "t-0/events.jsonl");
    assert!(
        said == "skipped: written while it was being compressed"
            || said.starts_with("skipped: opened for writing by process"),
        "{said}"
    );
    assert!(events.exists() && !gz(&events).exists(), "left plain");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp file removed: {leftovers:?}");
    // The next run compresses it with the late line.
    env.ok(&["compress", "--older-than", "0s"]);
    assert!(gz(&events).exists() && !events.exists());
    index(&env);
    assert!(has_late_line(&env), "the late line was lost");
    assert_eq!(indexed(&env, false), expected(&env));
}

/// `[retention] compress_after` in `watch` goes through the same rule.
#[test]
fn retention_compresses_only_quiet_streams_nobody_holds() {
    let env = Env::new();
    write_tasks(&env, "t", 2, 4, Some("2025-10"));
    let two_hours = Duration::from_secs(7200);
    for task in ["t-0", "t-1"] {
        age(&env.task_dir(task).join("result.json"), two_hours);
        age(&env.stream(task, "tools"), two_hours);
    }
    age(&env.stream("t-1", "events"), two_hours);
    // t-0/events: written just now. t-1/events: quiet but held for writing.
    let held = std::fs::OpenOptions::new()
        .append(true)
        .open(env.stream("t-1", "events"))
        .unwrap();
    let config = env.dir.path().join("tasklog.toml");
    std::fs::write(&config, "[retention]\ncompress_after = \"1h\"\n").unwrap();
    index(&env);
    let mut watch = Reaped(
        env.cmd()
            .args(["--config", config.to_str().unwrap(), "watch", "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    support::wait_for(
        "the quiet streams compressed",
        Duration::from_secs(30),
        || gz(&env.stream("t-0", "tools")).exists() && gz(&env.stream("t-1", "tools")).exists(),
    );
    let want = expected(&env);
    support::wait_for("the sidecar to catch up", Duration::from_secs(30), || {
        indexed(&env, false) == want
    });
    support::terminate(&mut watch.0);
    drop(held);
    assert!(
        env.stream("t-0", "events").exists(),
        "written within the hour"
    );
    assert!(
        env.stream("t-1", "events").exists(),
        "held open for writing"
    );
    assert!(!gz(&env.stream("t-0", "events")).exists());
    assert!(!gz(&env.stream("t-1", "events")).exists());
}
