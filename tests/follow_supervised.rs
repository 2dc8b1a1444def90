//! The followers of `tasklog watch` outlive a panic (issue 22: a sidecar
//! left running for months). A panic while importing one file used to end
//! the follower's thread for good: the sidecar went on indexing, and no
//! transcript was imported again until it was restarted. `tasklog status`
//! shows each follower's state, restarts and last error.

use std::process::Stdio;
use std::time::Duration;

use crate::import_support::transcript;
use crate::support::{terminate, wait_for, Env};

const FIRST: &str = "88888888-8888-4888-8888-888888888888";
const OTHER: &str = "99999999-9999-4999-8999-999999999999";

#[test]
fn a_panic_importing_one_file_fails_that_file_and_the_follower_goes_on() {
    let env = Env::new();
    let projects = env.dir.path().join("projects");
    let project = projects.join("p");
    std::fs::create_dir_all(&project).unwrap();
    let config = env.dir.path().join("tasklog.toml");
    std::fs::write(
        &config,
        format!(
            "[[import]]\nformat = \"claude-code\"\npath = {:?}\npoll_ms = 50\n",
            projects.display().to_string()
        ),
    )
    .unwrap();
    let log = env.dir.path().join("watch.log");
    let mut watch = env
        .cmd()
        .arg("watch")
        .env("TASKLOG_CONFIG", &config)
        .env("TASKLOG_RECONCILE_MS", "60000")
        // Importing any file whose path says "poison" panics.
        .env("TASKLOG_IMPORT_PANIC_ON", "poison")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let logged = |what: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches(what)
            .count()
    };
    std::fs::write(project.join("poison.jsonl"), transcript(2)).unwrap();
    // The default panic hook's line.
    wait_for("the poisoned import", Duration::from_secs(30), || {
        logged("panicked at") == 1
    });
    // A session written after the panic is still imported and indexed.
    let other = transcript(3).replace(FIRST, OTHER);
    std::fs::write(project.join(format!("{OTHER}.jsonl")), other).unwrap();
    let calls = |task: &str| {
        let sql = format!(
            "SELECT count(*) FROM records WHERE task_id = 'claude-{task}' AND event = 'llm.call'"
        );
        env.db.exists()
            && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| env.count(&sql)))
                .is_ok_and(|n| n == 3)
    };
    wait_for("the next session indexed", Duration::from_secs(30), || {
        calls(OTHER)
    });
    // The poisoned file is left alone while it is unchanged (the poll looks
    // every 50 ms), and nothing of it was written.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(logged("panicked at"), 1);
    assert_eq!(logged("importing a file panicked"), 1);
    assert!(!env.task_dir(&format!("claude-{FIRST}")).exists());
    // `tasklog status` says so, while the follower goes on ...
    let status = || {
        let out = env.ok(&["status", "--format", "json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["followers"].clone()
    };
    let followers = status();
    assert_eq!(followers["running"], true, "{followers}");
    let follower = &followers["followers"][0];
    assert_eq!(follower["path"], projects.display().to_string().as_str());
    assert_eq!(follower["state"], "following", "{followers}");
    assert_eq!(follower["failed_files"], 1, "{followers}");
    assert_eq!(follower["restarts"], 0, "{followers}");
    let error = follower["last_error"].as_str().unwrap();
    assert!(
        error.contains("poison.jsonl") && error.contains("panicked"),
        "{error}"
    );
    let text = String::from_utf8(env.ok(&["status"]).stdout).unwrap();
    assert!(text.contains("followers:       1 (pid"), "{text}");
    assert!(terminate(&mut watch).success());
    // ... and once the sidecar stopped.
    let followers = status();
    assert_eq!(followers["running"], false, "{followers}");
    assert_eq!(followers["followers"][0]["state"], "stopped");
    env.ok(&["verify"]);
}
