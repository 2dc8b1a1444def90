//! `tasklog import --follow`: new session files and appended lines are
//! imported as they appear (and reach the index within 2 s with `tasklog
//! watch` running), a followed session is sealed only once it is quiet, and
//! a follower killed with `kill -9` at random instants and started again
//! leaves the same index as one import of the final transcript.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::import_support::{import, index_view, transcript};
use crate::support::{kill9, terminate, wait_for, Env};

const SESSION: &str = "88888888-8888-4888-8888-888888888888";
const TASK: &str = "claude-88888888-8888-4888-8888-888888888888";

fn spawn_follower(env: &Env, dir: &Path, seal_after: &str) -> Child {
    spawn_follower_polling(env, dir, seal_after, "50")
}

/// A follower that looks at `dir` in full only every `poll_ms`.
fn spawn_follower_polling(env: &Env, dir: &Path, seal_after: &str, poll_ms: &str) -> Child {
    env.cmd()
        .args([
            "import",
            "--follow",
            // Checked by the line counts of the verbatim copy below.
            "--keep-source",
            "claude-code",
            dir.to_str().unwrap(),
            "--poll-ms",
            poll_ms,
            "--seal-after",
            seal_after,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The first `n` lines of the synthetic transcript, written whole.
fn write_first(path: &Path, lines: &[&str], n: usize) {
    std::fs::write(path, lines[..n].join("\n") + "\n").unwrap();
}

/// `totals.llm_calls` of the task's import.json (-1 when not there yet).
fn imported_calls(env: &Env) -> i64 {
    std::fs::read(env.task_dir(TASK).join("import.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["totals"]["llm_calls"].as_i64())
        .unwrap_or(-1)
}

#[test]
fn a_followed_session_is_imported_as_it_grows_and_sealed_when_quiet() {
    let env = Env::new();
    let dir = env.dir.path().join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let mut follower = spawn_follower(&env, &dir, "2");
    let full = transcript(20);
    let lines: Vec<&str> = full.lines().collect();
    let live = dir.join(format!("{SESSION}.jsonl"));
    // A new session file appears (5 turns of 4 lines)...
    write_first(&live, &lines, 20);
    wait_for("the new file", Duration::from_secs(10), || {
        imported_calls(&env) == 5
    });
    // ... and is not sealed while it may still grow.
    assert!(!env.task_dir(TASK).join("result.json").exists());
    // It grows: only the new lines are added.
    write_first(&live, &lines, 80);
    wait_for("the appended lines", Duration::from_secs(10), || {
        imported_calls(&env) == 20
    });
    // Quiet for 2 s: sealed.
    wait_for("the seal", Duration::from_secs(15), || {
        env.task_dir(TASK).join("result.json").exists()
    });
    let status = terminate(&mut follower);
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
    env.ok(&["index"]);
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{TASK}' AND stream = 'source'"
        )),
        80
    );
}

#[test]
fn with_watch_running_new_lines_reach_the_index_within_2_s() {
    let env = Env::new();
    let dir = env.dir.path().join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let mut watch = env.spawn_watch();
    let mut follower = spawn_follower(&env, &dir, "600");
    let full = transcript(30);
    let lines: Vec<&str> = full.lines().collect();
    let live = dir.join(format!("{SESSION}.jsonl"));
    let calls = || {
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{TASK}' AND event = 'llm.call'"
        ))
    };
    let mut slowest = Duration::ZERO;
    for turns in [3, 10, 30] {
        write_first(&live, &lines, turns * 4);
        let written = Instant::now();
        wait_for("the calls in the index", Duration::from_secs(10), || {
            calls() == turns as i64
        });
        slowest = slowest.max(written.elapsed());
    }
    terminate(&mut follower);
    terminate(&mut watch);
    eprintln!("follow + watch: slowest source line to index {slowest:?}");
    assert!(
        slowest < Duration::from_secs(2),
        "slowest source line to index: {slowest:?}"
    );
}

/// With the full look only every 10 minutes, appended lines still reach the
/// index: the follower imports on the file events of the followed folder
/// (and `watch` indexes on those of the task folder). Each append is a real
/// `O_APPEND` write of whole lines, as the agents write; the bound is
/// generous (the figure is bench_import_freshness's), far below the poll and
/// the watcher's reconcile (60 s here).
#[test]
fn appended_lines_reach_the_index_on_file_events_not_the_poll() {
    use std::io::Write;
    let env = Env::new();
    let dir = env.dir.path().join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let mut watch = env.spawn_watch();
    let mut follower = spawn_follower_polling(&env, &dir, "600", "600000");
    let full = transcript(12);
    let lines: Vec<&str> = full.lines().collect();
    let live = dir.join(format!("{SESSION}.jsonl"));
    let calls = || {
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{TASK}' AND event = 'llm.call'"
        ))
    };
    // Let the follower's first (and, for 10 minutes, only) full look pass.
    std::thread::sleep(Duration::from_millis(300));
    let mut slowest = Duration::ZERO;
    for (turn, chunk) in lines.chunks(4).enumerate() {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&live)
            .unwrap();
        file.write_all((chunk.join("\n") + "\n").as_bytes())
            .unwrap();
        drop(file);
        let written = Instant::now();
        wait_for(
            "the appended call in the index",
            Duration::from_secs(20),
            || calls() == turn as i64 + 1,
        );
        slowest = slowest.max(written.elapsed());
    }
    terminate(&mut follower);
    terminate(&mut watch);
    eprintln!("file events: slowest appended line to index {slowest:?}");
    assert_eq!(calls(), 12, "every call once");
}

/// A followed session sealed after a quiet spell and then resumed: its new
/// lines reach the index at once (the importer touches the sealed task's
/// folder, an event of the root the watcher follows), not at the watcher's
/// reconcile (60 s here).
#[test]
fn a_sealed_session_that_grows_again_reaches_the_index_before_the_reconcile() {
    use std::io::Write;
    let env = Env::new();
    let dir = env.dir.path().join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let mut watch = env.spawn_watch();
    let mut follower = spawn_follower_polling(&env, &dir, "1", "50");
    let full = transcript(4);
    let lines: Vec<&str> = full.lines().collect();
    let live = dir.join(format!("{SESSION}.jsonl"));
    write_first(&live, &lines, 8);
    let calls = || {
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{TASK}' AND event = 'llm.call'"
        ))
    };
    let sealed = || {
        env.count(&format!(
            "SELECT count(*) FROM tasks WHERE task_id = '{TASK}' AND sealed = 1"
        ))
    };
    wait_for(
        "the session sealed and indexed",
        Duration::from_secs(20),
        || sealed() == 1 && calls() == 2,
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    file.write_all((lines[8..].join("\n") + "\n").as_bytes())
        .unwrap();
    drop(file);
    let written = Instant::now();
    wait_for(
        "the resumed turns in the index",
        Duration::from_secs(20),
        || calls() == 4,
    );
    eprintln!("sealed then resumed: to index in {:?}", written.elapsed());
    terminate(&mut follower);
    terminate(&mut watch);
    // The same index as one import of the final transcript.
    let expected = Env::new();
    let copy = expected.dir.path().join(format!("{SESSION}.jsonl"));
    std::fs::write(&copy, &full).unwrap();
    import(
        &expected,
        &["claude-code", "--keep-source", copy.to_str().unwrap()],
    );
    expected.ok(&["index"]);
    env.ok(&["index"]);
    assert_eq!(index_view(&env, TASK), index_view(&expected, TASK));
}

#[test]
fn a_follower_killed_at_random_instants_loses_and_repeats_nothing() {
    let full = transcript(400);
    let lines: Vec<&str> = full.lines().collect();
    let want = {
        let env = Env::new();
        let whole = env.dir.path().join(format!("{SESSION}.jsonl"));
        std::fs::write(&whole, &full).unwrap();
        let (status, _) = import(
            &env,
            &["claude-code", "--keep-source", whole.to_str().unwrap()],
        );
        assert_eq!(status, 0);
        env.ok(&["index"]);
        index_view(&env, TASK)
    };
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    // Seeded from the clock so that every run tries other kill instants.
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut next = |bound: u64| rng.u64(..bound);
    let env = Env::new();
    let dir = env.dir.path().join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let live = dir.join(format!("{SESSION}.jsonl"));
    let mut written = 0;
    let mut kills = 0;
    while written < lines.len() {
        let mut follower = spawn_follower(&env, &dir, "600");
        // The agent appends in bursts while the follower runs ...
        for _ in 0..3 {
            written = (written + 1 + next(150) as usize).min(lines.len());
            write_first(&live, &lines, written);
            std::thread::sleep(Duration::from_micros(next(80_000)));
        }
        // ... and the follower dies at a random instant.
        kill9(&mut follower);
        kills += 1;
    }
    let mut follower = spawn_follower(&env, &dir, "600");
    wait_for("the whole transcript", Duration::from_secs(20), || {
        imported_calls(&env) == 400
    });
    terminate(&mut follower);
    env.ok(&["index"]);
    eprintln!("follow kill -9 test: seed {seed}, {kills} kills");
    assert_eq!(index_view(&env, TASK), want, "seed {seed}, {kills} kills");
}

/// `[[import]]` in the config: `tasklog watch` runs the follower itself,
/// so one sidecar imports a growing transcript and indexes it; SIGTERM
/// stops both.
#[test]
fn watch_runs_the_followers_of_its_config() {
    let env = Env::new();
    let dir = env.dir.path().join("projects/p");
    std::fs::create_dir_all(&dir).unwrap();
    let config = env.dir.path().join("tasklog.toml");
    std::fs::write(
        &config,
        format!(
            "[[import]]\nformat = \"claude-code\"\npath = {:?}\npoll_ms = 50\nseal_after_s = 600\n",
            dir.display().to_string()
        ),
    )
    .unwrap();
    let mut watch = env
        .cmd()
        .arg("watch")
        .env("TASKLOG_CONFIG", &config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let full = transcript(10);
    let lines: Vec<&str> = full.lines().collect();
    let live = dir.join(format!("{SESSION}.jsonl"));
    write_first(&live, &lines, 20);
    let calls = |env: &Env| {
        env.db.exists()
            && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                env.count(&format!(
                    "SELECT count(*) FROM records WHERE task_id = '{TASK}' AND event = 'llm.call'"
                ))
            }))
            .unwrap_or(0)
                == 5
    };
    wait_for(
        "the first turns imported and indexed",
        Duration::from_secs(30),
        || calls(&env),
    );
    // The session grows: the new turns reach the index through the same sidecar.
    write_first(&live, &lines, lines.len());
    let all = |env: &Env| {
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{TASK}' AND event = 'llm.call'"
        )) == 10
    };
    wait_for("the grown session indexed", Duration::from_secs(30), || {
        all(&env)
    });
    assert!(terminate(&mut watch).success());
    // The same index as one import of the final transcript.
    let expected = Env::new();
    let copy = expected.dir.path().join(format!("{SESSION}.jsonl"));
    std::fs::write(&copy, &full).unwrap();
    import(&expected, &["claude-code", copy.to_str().unwrap()]);
    expected.ok(&["index"]);
    env.ok(&["index"]);
    assert_eq!(index_view(&env, TASK), index_view(&expected, TASK));
}

/// A task compressed after its import (`tasklog compress`, as retention's
/// `compress_after` runs it) whose session is resumed: the next import makes
/// its streams plain again and appends, and the index ends as one import of
/// the whole transcript (the re-read stream is a new generation, each line
/// once). Before, the import failed on the compressed stream, every time.
#[test]
fn a_compressed_task_whose_session_resumes_is_imported_exactly_once() {
    use std::io::Write;
    let env = Env::new();
    let full = transcript(6);
    let lines: Vec<&str> = full.lines().collect();
    let live = env.dir.path().join(format!("{SESSION}.jsonl"));
    // Cut inside a call: its first line makes an open call (source-open).
    write_first(&live, &lines, 10);
    let (code, _) = import(
        &env,
        &["claude-code", "--keep-source", live.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    env.ok(&["index"]);
    env.ok(&["compress", "--older-than", "0s"]);
    let dir = env.task_dir(TASK);
    assert!(dir.join("source.jsonl.gz").exists() && !dir.join("source.jsonl").exists());
    assert!(dir.join("events.jsonl.gz").exists());
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    file.write_all((lines[10..].join("\n") + "\n").as_bytes())
        .unwrap();
    drop(file);
    let (code, summary) = import(
        &env,
        &["claude-code", "--keep-source", live.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["files"]["appended"], 1, "{summary}");
    assert!(!dir.join("source.jsonl.gz").exists() && dir.join("source.jsonl").exists());
    env.ok(&["index"]);
    env.ok(&["verify"]);
    let expected = Env::new();
    let copy = expected.dir.path().join(format!("{SESSION}.jsonl"));
    std::fs::write(&copy, &full).unwrap();
    import(
        &expected,
        &["claude-code", "--keep-source", copy.to_str().unwrap()],
    );
    expected.ok(&["index"]);
    assert_eq!(index_view(&env, TASK), index_view(&expected, TASK));
    assert_eq!(imported_calls(&env), 6);
}
