//! `watch` under a low open-file limit (issue 22): a low soft limit is
//! raised to the hard one and the sidecar indexes everything, new folders
//! too; a hard limit too low is said plainly, with the number and how to
//! raise it. And a root given as a relative path is followed live (inotify
//! reports absolute paths; new folders used to wait for the reconcile).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::retention_support::Reaped;
use crate::support::{self, append_raw, code, stderr, Env};

fn has_prlimit(test: &str) -> bool {
    let ok = Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        support::skip(test, "prlimit (util-linux) is not installed");
    }
    ok
}

fn write_tasks(env: &Env, prefix: &str, tasks: usize) {
    for t in 0..tasks {
        for s in ["events", "tools", "notes"] {
            append_raw(
                &env.stream(&format!("{prefix}{t}"), s),
                format!("{{\"event\":\"x\",\"task\":{t}}}\n").as_bytes(),
            );
        }
    }
}

/// Rows indexed; empty while the database is not created yet.
fn records(env: &Env) -> String {
    let out = env.run(&["query", "--format", "csv", "SELECT count(*) FROM records"]);
    support::stdout(&out)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_low_soft_open_file_limit_is_raised_and_watch_indexes_everything() {
    if !has_prlimit("fd_limit::a_low_soft_open_file_limit_is_raised_and_watch_indexes_everything") {
        return;
    }
    let env = Env::new();
    write_tasks(&env, "t", 100);
    // 16 descriptors are too few to open the database (seen: "unable to
    // open database file", exit 2); the hard limit allows more.
    let mut watch = Reaped(
        env.cmd_as(&["prlimit".into(), "--nofile=16:4096".into(), "--".into()])
            .arg("watch")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = support::collect_stderr(&mut watch.0);
    support::wait_for("every line", Duration::from_secs(30), || {
        records(&env) == "300"
    });
    write_tasks(&env, "n", 50);
    support::wait_for("the new folders", Duration::from_secs(20), || {
        records(&env) == "450"
    });
    let status = support::terminate(&mut watch.0);
    assert!(status.success(), "{}", log.lock().unwrap());
}

#[test]
fn a_hard_open_file_limit_too_low_is_said_plainly() {
    if !has_prlimit("fd_limit::a_hard_open_file_limit_too_low_is_said_plainly") {
        return;
    }
    let env = Env::new();
    write_tasks(&env, "t", 10);
    let out = env
        .cmd_as(&["prlimit".into(), "--nofile=16:16".into(), "--".into()])
        .arg("watch")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("the open-file limit is 16") && said.contains("LimitNOFILE"),
        "{said}"
    );
    // `index` of the same files under a sane limit: nothing was damaged.
    env.ok(&["index"]);
    assert_eq!(records(&env), "30");
}

#[test]
fn watch_follows_a_root_given_as_a_relative_path() {
    let env = Env::new();
    write_tasks(&env, "t", 2);
    let mut watch = Reaped(
        env.cmd()
            .current_dir(env.dir.path())
            .args(["--root", "tasks", "watch"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = support::collect_stderr(&mut watch.0);
    support::wait_for("the first lines", Duration::from_secs(30), || {
        records(&env) == "6"
    });
    // Well within the 30 s reconcile: only inotify can be this quick.
    write_tasks(&env, "n", 1);
    append_raw(&env.stream("t0", "events"), b"{\"event\":\"more\"}\n");
    support::wait_for("the new folder and line", Duration::from_secs(10), || {
        records(&env) == "10"
    });
    let status = support::terminate(&mut watch.0);
    assert!(status.success(), "{}", log.lock().unwrap());
}
