//! The `[files] mode` policy (issue 21): under the usual umask 022, every
//! file and folder each command creates (put, append, import, index and
//! its WAL and shared-memory files while `watch` runs, compress's `.gz`,
//! archive, the alerts journal) is private by default (0700/0600), or group-readable with
//! `mode = "group"` (0750/0640), never readable by other users.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::retention_support::write_tasks;
use crate::support::{code, stderr, terminate, wait_for, Env};

/// Runs the binary under umask 022, as most login shells do.
const UMASK_022: [&str; 3] = ["sh", "-c", "umask 022; exec \"$0\" \"$@\""];

fn prefix() -> Vec<String> {
    UMASK_022.map(String::from).to_vec()
}

fn run(env: &Env, policy: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = env.cmd_as(&prefix());
    if let Some(p) = policy {
        cmd.env("TASKLOG_FILE_MODE", p);
    }
    let out = cmd.args(args).output().expect("run tasklog");
    assert_eq!(code(&out), 0, "tasklog {args:?}: {}", stderr(&out));
    out
}

/// Every path under `dir` but the test's own config folder.
fn paths(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p.clone());
            }
            out.insert(p);
        }
    }
    out
}

/// The modes of what appeared since `before`, checked against the policy.
fn check_new(before: &BTreeSet<PathBuf>, dir: &Path, policy: Option<&str>, what: &str) -> usize {
    let mut checked = 0;
    for p in paths(dir).difference(before) {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            continue; // gone meanwhile (a temp file)
        };
        let mode = meta.permissions().mode() & 0o777;
        let (file, folder) = match policy {
            Some("group") => (0o640, 0o750),
            _ => (0o600, 0o700),
        };
        let want = if meta.is_dir() { folder } else { file };
        // Files tasklog opens with a narrower mode of its own (locks) may
        // be narrower; none may be wider.
        assert_eq!(
            mode & !want,
            0,
            "{what}: {} is {mode:o}, the policy allows {want:o}",
            p.display()
        );
        if policy == Some("group") && meta.is_file() && !is_lock(p) {
            assert_eq!(mode, want, "{what}: {} is {mode:o}", p.display());
        }
        checked += 1;
    }
    checked
}

fn is_lock(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".lock"))
}

fn every_command_creates_files_by_the_policy(policy: Option<&str>) {
    let env = Env::new();
    // The test's own layout, before anything tasklog creates.
    write_tasks(&env, "sep", 2, 3, Some("2025-09"));
    let base = env.dir.path();
    let step = |what: &str, args: &[&str], min: usize| {
        let before = paths(base);
        run(&env, policy, args);
        let n = check_new(&before, base, policy, what);
        assert!(
            n >= min,
            "{what}: created {n} paths, expected at least {min}"
        );
    };
    step("put", &["put", "m1", "task", r#"{"title":"modes"}"#], 2);
    step(
        "append",
        &[
            "append",
            "m1",
            "events",
            r#"{"event":"message","content":"hi"}"#,
        ],
        1,
    );
    step(
        "put result",
        &["put", "m1", "result", r#"{"status":"completed"}"#],
        1,
    );
    let transcript = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/import/claude-code/11111111-1111-4111-8111-111111111111.jsonl");
    step(
        "import",
        &["import", "claude-code", transcript.to_str().expect("path")],
        2,
    );
    step("index", &["index"], 1);
    // Every sealed task: m1's stream is tasklog's, sep's the test's (0644);
    // a .gz is never wider than its stream or the policy.
    step("compress", &["compress", "--older-than", "0s"], 3);
    step("archive", &["archive", "--month", "2025-09"], 1);
    // A failed task, and a rule that fires on it: watch writes the
    // alerts journal.
    step(
        "put failed",
        &["put", "f1", "task", r#"{"status":"failed"}"#],
        2,
    );
    let config = env.dir.path().join("alerts.toml");
    std::fs::write(
        &config,
        "[[alert]]\nname = \"failed\"\nwhen = \"task_failed\"\ncommand = \"true\"\n",
    )
    .expect("config");
    // The WAL and shared-memory files exist while a writer has the index open.
    let before = paths(base);
    let mut cmd = env.cmd_as(&prefix());
    cmd.env("TASKLOG_CONFIG", &config);
    if let Some(p) = policy {
        cmd.env("TASKLOG_FILE_MODE", p);
    }
    let mut watch = cmd
        .arg("watch")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watch");
    let wal = PathBuf::from(format!("{}-wal", env.db.display()));
    let shm = PathBuf::from(format!("{}-shm", env.db.display()));
    env.ok(&[
        "append",
        "m2",
        "events",
        r#"{"event":"message","content":"live"}"#,
    ]);
    let journal = env.root.join(".tasklog/alerts.jsonl");
    wait_for(
        "the index's WAL and shm, the alerts journal",
        Duration::from_secs(20),
        || wal.exists() && shm.exists() && journal.exists(),
    );
    let mut before_wal = before;
    before_wal.remove(&wal);
    before_wal.remove(&shm);
    // m2 was written by a default-policy `append` above: not checked.
    before_wal.extend(paths(&env.task_dir("m2")));
    before_wal.insert(env.task_dir("m2"));
    check_new(&before_wal, base, policy, "watch");
    for f in [&wal, &shm, &journal] {
        let mode = std::fs::metadata(f).expect("wal").permissions().mode() & 0o777;
        let want = if policy == Some("group") {
            0o640
        } else {
            0o600
        };
        assert_eq!(mode, want, "{}: {mode:o}", f.display());
    }
    terminate(&mut watch);
}

#[test]
fn files_are_private_by_default_under_umask_022() {
    every_command_creates_files_by_the_policy(None);
}

#[test]
fn files_are_group_readable_with_the_group_policy() {
    every_command_creates_files_by_the_policy(Some("group"));
}

#[test]
fn a_bad_policy_is_refused_before_anything_is_written() {
    let env = Env::new();
    for (var, toml) in [
        (Some("world"), None),
        (None, Some("[files]\nmode = \"0777\"\n")),
    ] {
        let mut cmd = env.cmd();
        if let Some(v) = var {
            cmd.env("TASKLOG_FILE_MODE", v);
        }
        if let Some(t) = toml {
            let path = env.dir.path().join("bad.toml");
            std::fs::write(&path, t).expect("config");
            cmd.env("TASKLOG_CONFIG", &path);
        }
        let out = cmd.args(["put", "b1", "task", "{}"]).output().expect("run");
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("expected \"private\""),
            "{}",
            stderr(&out)
        );
        assert!(!env.task_dir("b1").exists(), "nothing written");
    }
}
