//! Long-running parts as a service manager runs them (issue 22): a closed
//! stderr, SIGHUP and SIGTERM; what `watch` says when it starts; and the
//! first-hour commands (`--version` with the commit, completions, man page).

use std::process::Stdio;
use std::time::Duration;

use crate::support::{append_raw, code, collect_stderr, stderr, stdout, terminate, wait_for, Env};

fn signal(child: &std::process::Child, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

#[test]
fn a_closed_stderr_and_sighup_neither_kill_nor_hang_the_sidecar() {
    let env = Env::new();
    let mut watch = env
        .cmd()
        .args(["watch", "-vv"])
        .env("TASKLOG_RECONCILE_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    // The reader of its log goes away: every later line it logs fails with EPIPE.
    drop(watch.stderr.take());
    append_raw(&env.stream("t", "s"), b"{\"i\":1}\n");
    wait_for("the first line", Duration::from_secs(20), || {
        env.db.exists() && env.count("SELECT count(*) FROM records") == 1
    });
    // A quarantined line makes it warn into the closed pipe.
    append_raw(&env.stream("t", "s"), b"not json\n{\"i\":2}\n");
    wait_for(
        "the line after the garbage",
        Duration::from_secs(20),
        || env.count("SELECT count(*) FROM records") == 2,
    );
    signal(&watch, "HUP");
    append_raw(&env.stream("t", "s"), b"{\"i\":3}\n");
    wait_for("a line after SIGHUP", Duration::from_secs(20), || {
        env.count("SELECT count(*) FROM records") == 3
    });
    assert!(
        watch.try_wait().expect("try_wait").is_none(),
        "the sidecar exited after a closed stderr or SIGHUP"
    );
    let status = terminate(&mut watch);
    assert!(status.success(), "SIGTERM: {status:?}");
    assert_eq!(env.count("SELECT count(*) FROM ingest_errors"), 1);
}

#[test]
fn watch_says_where_it_reads_and_writes_and_how_to_stop() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    let log = collect_stderr(&mut watch);
    let root = env.root.display().to_string();
    let db = env.db.display().to_string();
    wait_for("the start line", Duration::from_secs(20), || {
        let log = log.lock().unwrap();
        log.contains(&root) && log.contains(&db) && log.contains("Ctrl-C")
    });
    assert!(terminate(&mut watch).success());
}

#[test]
fn quiet_watch_prints_nothing() {
    let env = Env::new();
    let mut watch = env
        .cmd()
        .args(["watch", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let log = collect_stderr(&mut watch);
    append_raw(&env.stream("t", "s"), b"{\"i\":1}\n");
    wait_for("the line", Duration::from_secs(20), || {
        env.db.exists() && env.count("SELECT count(*) FROM records") == 1
    });
    assert!(terminate(&mut watch).success());
    assert_eq!(log.lock().unwrap().as_str(), "");
}

#[test]
fn version_names_the_commit() {
    let env = Env::new();
    let out = env.ok(&["--version"]);
    let line = stdout(&out);
    let inner = line
        .trim()
        .strip_prefix(concat!("tasklog ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version: {line:?}"));
    let commit = inner.trim_end_matches("-modified");
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{line:?}"
    );
}

#[test]
fn completions_and_the_man_page_work_even_with_a_broken_config() {
    let env = Env::new();
    let bad = env.dir.path().join("broken.toml");
    std::fs::write(&bad, "this is [ not toml").unwrap();
    for (args, expect) in [
        (&["completions", "bash"][..], "_tasklog()"),
        (&["completions", "zsh"][..], "#compdef tasklog"),
        (&["completions", "fish"][..], "complete -c tasklog"),
        (&["man"][..], ".TH tasklog 1"),
    ] {
        let out = env
            .cmd()
            .args(args)
            .env("TASKLOG_CONFIG", &bad)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains(expect), "{args:?}");
        assert!(
            stdout(&out).contains("watch"),
            "{args:?} lacks the subcommands"
        );
    }
    let out = env.run(&["completions", "tcsh"]);
    assert_eq!(code(&out), 2, "an unknown shell is a usage error");
}

#[test]
fn index_beside_a_running_watch_waits_for_it_instead_of_failing() {
    let env = Env::new();
    let mut watch = env.spawn_watch();
    wait_for("the database", Duration::from_secs(20), || env.db.exists());
    env.ok(&[
        "append",
        "t",
        "events",
        r#"{"event":"message","content":"hi"}"#,
    ]);
    // README's "Try it": `tasklog index` then a query, with `watch` running.
    let out = env.run(&["index"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.count("SELECT count(*) FROM records"), 1);
    assert!(terminate(&mut watch).success());
}

#[test]
fn the_systemd_unit_verifies() {
    let test = "the_systemd_unit_verifies";
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        crate::support::skip(test, "systemd-analyze is not installed (Debian's systemd)");
        return;
    }
    let unit = include_str!("../config/tasklog.service");
    assert!(unit.contains("ExecStart=%h/.cargo/bin/tasklog watch"));
    // The installed path of `cargo install`, pointed at this build.
    let unit = unit.replace("%h/.cargo/bin/tasklog", env!("CARGO_BIN_EXE_tasklog"));
    let env = Env::new();
    let path = env.dir.path().join("tasklog.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stderr(&out), "", "systemd-analyze warned");
}

#[test]
fn time_windows_compare_instants_not_text() {
    let env = Env::new();
    let call = |ts: &str, model: &str| {
        format!(
            r#"{{"ts":"{ts}","event":"llm.call","gen_ai":{{"request":{{"model":"{model}"}},"usage":{{"input_tokens":10,"output_tokens":1}}}}}}"#
        )
    };
    let lines = [
        // 04:30Z on Nov 1, written five hours behind UTC: inside the window.
        call("2026-10-31T23:30:00-05:00", "inside"),
        // 22:30Z on Oct 31, written two hours ahead: before the window.
        call("2026-11-01T00:30:00+02:00", "before"),
    ];
    for line in lines {
        env.ok(&["append", "t", "events", &line]);
    }
    env.ok(&["index"]);
    let out = env.ok(&[
        "cost",
        "--since",
        "2026-11-01T00:00:01Z",
        "--until",
        "2026-11-02",
        "--format",
        "jsonl",
    ]);
    // One row of the call and one unpriced line naming its model.
    let models: Vec<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["model"].to_string())
        .collect();
    assert_eq!(
        models,
        ["\"inside\"", "\"UNPRICED: inside\""],
        "{}",
        stdout(&out)
    );
    // The column holds the instant; the body keeps the bytes as written.
    let conn = env.reader();
    let ts: Vec<(String, String)> = conn
        .prepare("SELECT ts, json_extract(body, '$.ts') FROM records ORDER BY ts")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        ts,
        [
            (
                "2026-10-31T22:30:00.000000Z".to_owned(),
                "2026-11-01T00:30:00+02:00".to_owned()
            ),
            (
                "2026-11-01T04:30:00.000000Z".to_owned(),
                "2026-10-31T23:30:00-05:00".to_owned()
            ),
        ]
    );
}

#[test]
fn without_inotify_new_folders_and_lines_arrive_within_seconds() {
    let env = Env::new();
    append_raw(&env.stream("old", "s"), b"{\"i\":1}\n");
    let mut watch = env
        .cmd()
        .arg("watch")
        // No event will ever come, and the full reconcile is a minute away.
        .env("TASKLOG_INOTIFY", "false")
        .env("TASKLOG_RECONCILE_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watch");
    wait_for("the existing folder", Duration::from_secs(20), || {
        env.db.exists() && env.count("SELECT count(*) FROM records") == 1
    });
    let started = std::time::Instant::now();
    append_raw(&env.stream("new", "s"), b"{\"i\":2}\n");
    append_raw(&env.stream("old", "s"), b"{\"i\":3}\n");
    wait_for(
        "a new folder and a new line",
        Duration::from_secs(10),
        || env.count("SELECT count(*) FROM records") == 3,
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let status = stdout(&env.ok(&["status", "--format", "json"]));
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["watch_mode"], "polling", "{status}");
    // A removed folder leaves the index without waiting for the reconcile.
    std::fs::remove_dir_all(env.task_dir("new")).unwrap();
    wait_for("the removed folder", Duration::from_secs(10), || {
        env.count("SELECT count(*) FROM records WHERE task_id = 'new'") == 0
    });
    assert!(terminate(&mut watch).success());
}

#[test]
fn a_line_written_after_copytruncate_by_a_writer_without_o_append_is_indexed() {
    use std::io::{Seek, SeekFrom, Write};
    let env = Env::new();
    let call = r#"{"event":"llm.call","gen_ai":{"request":{"model":"m"},"usage":{"input_tokens":10,"output_tokens":1}}}"#;
    let path = env.stream("t", "events");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // A writer that opened without O_APPEND keeps its own offset.
    let mut writer = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap();
    let big = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(40_000));
    for _ in 0..500 {
        writer.write_all(big.as_bytes()).unwrap(); // 20 MB: more than a line may be
    }
    env.ok(&["index"]);
    // logrotate's copytruncate: copy away, truncate in place.
    std::fs::copy(&path, env.dir.path().join("events.jsonl.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let old_end = writer.stream_position().unwrap();
    writer.seek(SeekFrom::Start(old_end)).unwrap();
    writer.write_all(format!("{call}\n").as_bytes()).unwrap();
    env.ok(&["index"]);
    // The line is a record at its real offset, after the hole; nothing quarantined.
    let offset: i64 = env
        .reader()
        .query_row(
            "SELECT \"offset\" FROM records WHERE event = 'llm.call'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(offset as u64, old_end);
    assert_eq!(env.count("SELECT count(*) FROM ingest_errors"), 0);
    assert_eq!(env.count("SELECT count(*) FROM api_calls"), 1);
    env.ok(&["verify"]);
}
