//! Folder-level changes under a live `tasklog watch` take effect when their
//! event arrives, not at the next reconcile (the watcher here reconciles
//! every 60 s only, so a case that waits for it fails its deadline).
//!
//! One data-driven table: each case prepares folders, starts the watcher,
//! makes one folder-level change (rename in, out, within, to a name that is
//! no task; removal and re-creation of a task folder or of the root; a
//! folder moved in from outside), then asserts within a deadline what the
//! index must hold, that a line appended afterwards is followed (the watch
//! moved with the folder), and that `verify` finds index and files equal.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::{append_raw, code, expected_rows, stdout, terminate, wait_for, Env};

/// What the issue allows for a task folder's change.
const FOLDER: Duration = Duration::from_secs(1);
/// What the issue allows when the root itself was removed and re-created.
const ROOT: Duration = Duration::from_secs(2);
/// Start-up and the first reconcile: not what is measured.
const STARTUP: Duration = Duration::from_secs(30);

/// One folder-level change and what must hold after it.
struct Case {
    name: &'static str,
    /// Run before the watcher starts.
    setup: fn(&Env),
    /// The change, made while watching.
    act: fn(&Env),
    /// How long the change may take to show.
    deadline: Duration,
    /// Task ids that must have left no trace (records, files, tasks).
    absent: &'static [&'static str],
    /// `(task, stream)` whose rows must equal the file's lines.
    present: &'static [(&'static str, &'static str)],
}

/// `<tmp>/outside`: a folder beside the root, on the same file system.
fn outside(env: &Env) -> PathBuf {
    env.dir.path().join("outside")
}

fn two_lines(env: &Env, task: &str) {
    append_raw(&env.stream(task, "e"), b"{\"i\":1}\n{\"i\":2}\n");
}

fn setup_a(env: &Env) {
    two_lines(env, "a");
}

fn rename(env: &Env, from: &str, to: &str) {
    std::fs::rename(env.root.join(from), env.root.join(to)).unwrap();
}

const CASES: &[Case] = &[
    Case {
        name: "rename to a dotted name",
        setup: setup_a,
        act: |env| rename(env, "a", ".a"),
        deadline: FOLDER,
        absent: &["a", ".a"],
        present: &[],
    },
    Case {
        name: "rename to a name with a backslash",
        setup: setup_a,
        act: |env| rename(env, "a", "a\\b"),
        deadline: FOLDER,
        absent: &["a", "a\\b"],
        present: &[],
    },
    Case {
        name: "rename to a name with a control character",
        setup: setup_a,
        act: |env| rename(env, "a", "a\tb"),
        deadline: FOLDER,
        absent: &["a", "a\tb"],
        present: &[],
    },
    Case {
        name: "rename within the root",
        setup: setup_a,
        act: |env| rename(env, "a", "b"),
        deadline: FOLDER,
        absent: &["a"],
        present: &[("b", "e")],
    },
    Case {
        name: "rename onto a name that sorts first",
        setup: |env| two_lines(env, "b"),
        act: |env| rename(env, "b", "a"),
        deadline: FOLDER,
        absent: &["b"],
        present: &[("a", "e")],
    },
    Case {
        name: "rename a dotted folder to a task name",
        setup: |env| two_lines(env, ".a"),
        act: |env| rename(env, ".a", "a"),
        deadline: FOLDER,
        absent: &[".a"],
        present: &[("a", "e")],
    },
    Case {
        name: "rename out of the root",
        setup: |env| {
            setup_a(env);
            std::fs::create_dir_all(outside(env)).unwrap();
        },
        act: |env| std::fs::rename(env.root.join("a"), outside(env).join("a")).unwrap(),
        deadline: FOLDER,
        absent: &["a"],
        present: &[],
    },
    Case {
        name: "a folder moved in from outside the root",
        setup: |env| append_raw(&outside(env).join("c/e.jsonl"), b"{\"i\":1}\n"),
        act: |env| std::fs::rename(outside(env).join("c"), env.root.join("c")).unwrap(),
        deadline: FOLDER,
        absent: &[],
        present: &[("c", "e")],
    },
    Case {
        name: "task folder removed and re-created",
        setup: setup_a,
        act: |env| {
            std::fs::remove_dir_all(env.root.join("a")).unwrap();
            append_raw(&env.stream("a", "e"), b"{\"new\":1}\n");
        },
        deadline: FOLDER,
        absent: &[],
        present: &[("a", "e")],
    },
    Case {
        name: "task folder replaced by a symbolic link",
        setup: |env| {
            setup_a(env);
            append_raw(&outside(env).join("x/e.jsonl"), b"{\"secret\":1}\n");
        },
        act: |env| {
            std::fs::remove_dir_all(env.root.join("a")).unwrap();
            std::os::unix::fs::symlink(outside(env).join("x"), env.root.join("a")).unwrap();
        },
        deadline: FOLDER,
        absent: &["a"],
        present: &[],
    },
    Case {
        name: "root removed and re-created",
        setup: setup_a,
        act: |env| {
            std::fs::remove_dir_all(&env.root).unwrap();
            append_raw(&env.stream("t", "e"), b"{}\n");
        },
        deadline: ROOT,
        absent: &["a"],
        present: &[("t", "e")],
    },
    Case {
        name: "root moved away and another made in its place",
        setup: setup_a,
        act: |env| {
            std::fs::rename(&env.root, env.dir.path().join("old-root")).unwrap();
            append_raw(&env.stream("t", "e"), b"{}\n");
        },
        deadline: ROOT,
        absent: &["a"],
        present: &[("t", "e")],
    },
];

/// Nothing of `task` is left in the index.
fn no_trace(env: &Env, task: &str) -> bool {
    let conn = env.reader();
    ["records", "files", "tasks", "documents"]
        .iter()
        .all(|table| {
            conn.query_row(
                &format!("SELECT count(*) FROM {table} WHERE task_id = ?1"),
                [task],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
                == 0
        })
}

fn indexed(env: &Env, task: &str, stream: &str) -> bool {
    let rows = env.rows(task, stream);
    !rows.is_empty() && rows == expected_rows(&env.stream(task, stream))
}

/// Polls `cond` until it holds or `timeout` passes.
fn within(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Runs one case; returns what went wrong, if anything.
fn run(case: &Case) -> Option<String> {
    let env = Env::new();
    (case.setup)(&env);
    let mut watch = env.spawn_watch();
    wait_for(&format!("{}: watcher ready", case.name), STARTUP, || {
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'watch_mode'") == 1
    });
    for task in ["a", "b"] {
        if env.root.join(task).is_dir() {
            wait_for(&format!("{}: {task} indexed", case.name), STARTUP, || {
                indexed(&env, task, "e")
            });
        }
    }
    (case.act)(&env);
    let started = Instant::now();
    let settled = within(case.deadline, || {
        case.absent.iter().all(|t| no_trace(&env, t))
            && case.present.iter().all(|(t, s)| indexed(&env, t, s))
    });
    let failure = if !settled {
        Some(format!("not indexed within {:?}", case.deadline))
    } else {
        eprintln!("{}: {:?}", case.name, started.elapsed());
        // The watch moved with the folder: the next line is followed too.
        case.present.iter().find_map(|(task, stream)| {
            append_raw(&env.stream(task, stream), b"{\"after\":1}\n");
            (!within(FOLDER, || indexed(&env, task, stream)))
                .then(|| format!("a line appended to {task}/{stream} afterwards was not followed"))
        })
    };
    let failure = failure.or_else(|| {
        let out = env.run(&["verify"]);
        (code(&out) != 0).then(|| format!("verify: {}", stdout(&out)))
    });
    assert!(terminate(&mut watch).success(), "{}", case.name);
    failure
}

#[test]
fn every_folder_event_is_handled_when_it_arrives() {
    let failed: Vec<String> = CASES
        .iter()
        .filter_map(|case| run(case).map(|why| format!("{}: {why}", case.name)))
        .collect();
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
}

/// `status` lag, from its JSON.
fn status_lag(env: &Env) -> u64 {
    let out = env.run(&["status", "--format", "json"]);
    assert_eq!(code(&out), 0, "status: {}", crate::support::stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["lag_bytes"].as_u64().unwrap()
}

#[test]
fn status_never_reports_zero_lag_while_bytes_wait() {
    let env = Env::new();
    setup_a(&env);
    let mut watch = env.spawn_watch();
    wait_for("watcher ready", STARTUP, || {
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'watch_mode'") == 1
    });
    wait_for("a indexed", STARTUP, || indexed(&env, "a", "e"));
    std::fs::remove_dir_all(&env.root).unwrap();
    append_raw(&env.stream("t", "e"), b"{}\n");
    let deadline = Instant::now() + ROOT;
    loop {
        // Lag first, rows second: rows only ever appear, so a zero lag
        // followed by no row means bytes waited while status said none did.
        let lag = status_lag(&env);
        if indexed(&env, "t", "e") {
            break;
        }
        assert!(
            lag > 0,
            "status reported 0 bytes of lag while t/e.jsonl waits"
        );
        assert!(
            Instant::now() < deadline,
            "t/e.jsonl not indexed within {ROOT:?}"
        );
    }
    assert!(terminate(&mut watch).success());
    // Without a watcher too: a stream nobody indexed yet is lag.
    append_raw(&env.stream("u", "e"), b"{\"u\":1}\n");
    assert_eq!(status_lag(&env), 8);
}
