//! Diagnostics name the cause, and stay current: a symbolic link where a
//! task folder should be is reported by name, and a file-level diagnostic
//! that no longer holds (a stream made readable again, a link replaced by a
//! real folder) is marked resolved and leaves `status` and `show`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    append_raw, code, expected_rows, index, stderr, stdout, terminate, unprivileged_prefix,
    wait_for, Env,
};

const DEADLINE: Duration = Duration::from_secs(30);
/// "Indexed at once": well under the reconcile interval.
const AT_ONCE: Duration = Duration::from_secs(1);

fn status(env: &Env) -> serde_json::Value {
    let out = env.run(&["status", "--format", "json"]);
    assert_eq!(code(&out), 0, "status: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// Paths of the diagnostics `status` lists as open.
fn open_diagnostics(env: &Env) -> Vec<String> {
    status(env)["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect()
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_symlinked_task_folder_is_reported_by_name_until_it_is_a_real_folder() {
    let env = Env::new();
    let outside = env.dir.path().join("outside");
    append_raw(&outside.join("s.jsonl"), b"{\"secret\":1}\n");
    std::os::unix::fs::symlink(&outside, env.root.join("linked")).unwrap();
    append_raw(&env.stream("t", "s"), b"{\"ok\":1}\n");
    std::os::unix::fs::symlink(outside.join("s.jsonl"), env.stream("t", "link")).unwrap();
    index(&env);
    assert_eq!(
        env.count("SELECT count(*) FROM ingest_errors WHERE path = 'linked' AND reason LIKE 'symbolic link%' AND resolved_at IS NULL"),
        1
    );
    assert_eq!(open_diagnostics(&env), ["linked", "t/link.jsonl"]);
    let text = stdout(&env.ok(&["status"]));
    assert!(text.contains("linked: symbolic link"), "{text}");
    assert_eq!(
        env.count("SELECT count(*) FROM records WHERE task_id = 'linked'"),
        0
    );

    // The link becomes a real folder: indexed, and the diagnostic resolved.
    std::fs::remove_file(env.root.join("linked")).unwrap();
    append_raw(&env.stream("linked", "s"), b"{\"real\":1}\n");
    // The symlinked stream becomes a regular file: indexed, resolved.
    std::fs::remove_file(env.stream("t", "link")).unwrap();
    append_raw(&env.stream("t", "link"), b"{\"own\":1}\n");
    index(&env);
    assert_eq!(env.rows("t", "link").len(), 1);
    assert_eq!(env.rows("linked", "s").len(), 1);
    assert_eq!(
        env.count(
            "SELECT count(*) FROM ingest_errors WHERE path = 'linked' AND resolved_at IS NOT NULL"
        ),
        1
    );
    assert!(open_diagnostics(&env).is_empty());
}

#[test]
fn an_unreadable_stream_fixed_with_chmod_is_indexed_and_its_diagnostic_resolved() {
    let Some(prefix) = unprivileged_prefix() else {
        crate::support::skip(
            "an_unreadable_stream_fixed_with_chmod_is_indexed_and_its_diagnostic_resolved",
            "running as root and neither setpriv nor runuser can switch to nobody",
        );
        return;
    };
    let env = Env::new();
    append_raw(&env.stream("t", "ok"), b"{\"ok\":1}\n");
    let locked = env.stream("t", "s");
    append_raw(&locked, b"{\"i\":1}\n");
    set_mode(&locked, 0o000);
    if !prefix.is_empty() {
        // The unprivileged user runs the indexer: it owns the folders.
        let status = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(env.dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut watch = env
        .cmd_as(&prefix)
        .arg("watch")
        .env("TASKLOG_RECONCILE_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let denied = "SELECT count(*) FROM ingest_errors WHERE path = 't/s.jsonl' AND reason LIKE '%Permission denied%'";
    wait_for("the unreadable stream reported", DEADLINE, || {
        env.count(&format!("{denied} AND resolved_at IS NULL")) == 1
    });
    assert_eq!(open_diagnostics(&env), ["t/s.jsonl"]);
    assert!(stdout(&env.ok(&["show", "t"])).contains("Permission denied"));

    set_mode(&locked, 0o644);
    wait_for("indexed and resolved at once", AT_ONCE, || {
        env.rows("t", "s") == expected_rows(&locked)
            && env.count(&format!("{denied} AND resolved_at IS NOT NULL")) == 1
    });
    assert!(open_diagnostics(&env).is_empty());
    let show = stdout(&env.ok(&["show", "t"]));
    assert!(!show.contains("Permission denied"), "{show}");
    assert!(terminate(&mut watch).success());

    // Fixed while no indexer ran: the next one resolves it on its first look.
    let later = env.stream("t", "u");
    append_raw(&later, b"{\"u\":1}\n");
    set_mode(&later, 0o000);
    let index_as = |what: &str| {
        let out = env.cmd_as(&prefix).arg("index").output().unwrap();
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
    };
    index_as("index with t/u.jsonl unreadable");
    assert_eq!(open_diagnostics(&env), ["t/u.jsonl"]);
    set_mode(&later, 0o644);
    index_as("index after chmod");
    assert!(open_diagnostics(&env).is_empty());
    assert_eq!(env.rows("t", "u").len(), 1);
    // History stays: both rows, resolved.
    assert_eq!(
        env.count(
            "SELECT count(*) FROM ingest_errors WHERE kind = 'file' AND resolved_at IS NOT NULL"
        ),
        2
    );
}
