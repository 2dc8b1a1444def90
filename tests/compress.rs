//! `tasklog compress`: a compressed stream is the same stream. The rows
//! stay (same ids, nothing superseded), a rebuild reads the `.gz`, verify,
//! tail and export read through it, appends are refused, a crash at any
//! instant counts each line once, and a bad `.gz` loses nothing.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::retention_support::{expected, indexed, scalar, write_tasks, Reaped};
use crate::support::{self, code, index, stderr, stdout, verify_equal, Env};

/// `record_id, task, stream, offset, body` of every row: equal before and
/// after means nothing was re-indexed.
fn rows_with_ids(env: &Env) -> String {
    stdout(&env.ok(&[
        "query",
        "--format",
        "csv",
        r#"SELECT record_id, task_id, stream, "offset", body FROM records ORDER BY record_id"#,
    ]))
}

fn gzip_file(plain: &std::path::Path, to: &std::path::Path) {
    let bytes = std::fs::read(plain).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&bytes).unwrap();
    std::fs::write(to, enc.finish().unwrap()).unwrap();
}

#[test]
fn compressed_streams_keep_their_rows_and_rebuild_from_gz() {
    let env = Env::new();
    write_tasks(&env, "done", 3, 20, Some("2025-10"));
    write_tasks(&env, "open", 1, 5, None);
    index(&env);
    // Lines written after the last index and an incomplete tail: the .gz
    // carries them, the indexer reads the lines from it, the tail waits.
    support::append_raw(
        &env.stream("done-0", "events"),
        b"{\"event\":\"late\"}\n{\"par",
    );
    let before = rows_with_ids(&env);
    let out = env.ok(&["compress", "--older-than", "0s", "--format", "jsonl"]);
    assert_eq!(stdout(&out).lines().count(), 6, "{}", stdout(&out));
    assert!(env
        .stream("done-0", "events")
        .with_extension("jsonl.gz")
        .exists());
    assert!(!env.stream("done-0", "events").exists());
    assert!(
        env.stream("open-0", "events").exists(),
        "an open task stays plain"
    );
    assert!(env.task_dir("done-0").join("result.json").exists());
    index(&env);
    let after = rows_with_ids(&env);
    // Every row indexed before is still there under the same id...
    for line in before.lines() {
        assert!(after.contains(line), "row lost or renumbered: {line}");
    }
    // ... and the one late line was added, from the .gz.
    assert_eq!(after.lines().count(), before.lines().count() + 1);
    assert_eq!(
        scalar(&env, false, "SELECT count(*) FROM superseded_records"),
        "0"
    );
    assert_eq!(indexed(&env, false), expected(&env));
    verify_equal(&env);

    // export and tail read the compressed task.
    let export = stdout(&env.ok(&["export", "done-1"]));
    assert!(export.contains("step 19 of done-1"), "{export}");
    let tail = stdout(&env.ok(&["tail", "done-1", "-n", "3"]));
    assert!(tail.contains("done-1"), "{tail}");

    // A rebuild from scratch reads the .gz streams.
    let ids = before.lines().count();
    std::fs::remove_file(&env.db).unwrap();
    index(&env);
    assert_eq!(indexed(&env, false), expected(&env));
    assert_eq!(rows_with_ids(&env).lines().count(), ids + 1);
    verify_equal(&env);
}

#[test]
fn both_files_present_count_once_and_a_changed_gz_is_a_rewrite() {
    let env = Env::new();
    write_tasks(&env, "t", 1, 10, Some("2025-10"));
    index(&env);
    let plain = env.stream("t-0", "events");
    let gz = plain.with_extension("jsonl.gz");
    // Compress crashed after the rename: both files. The plain one is the stream.
    gzip_file(&plain, &gz);
    index(&env);
    verify_equal(&env);
    let want = expected(&env);
    assert_eq!(indexed(&env, false), want);
    // Rebuilt with both present: still once.
    std::fs::remove_file(&env.db).unwrap();
    index(&env);
    assert_eq!(indexed(&env, false), want);
    // The plain file goes: same rows, nothing superseded.
    std::fs::remove_file(&plain).unwrap();
    index(&env);
    assert_eq!(indexed(&env, false), want);
    assert_eq!(
        scalar(&env, false, "SELECT count(*) FROM superseded_records"),
        "0"
    );
    verify_equal(&env);

    // A .gz whose content differs from what was indexed is a rewritten
    // (here shorter: truncated) file: a new generation, the old rows moved.
    let other = env.dir.path().join("other.jsonl");
    let lines: String = (0..40)
        .map(|n| format!("{{\"event\":\"rewritten\",\"n\":{n}}}\n"))
        .collect();
    std::fs::write(&other, lines).unwrap();
    gzip_file(&other, &gz);
    index(&env);
    assert_eq!(indexed(&env, false), expected(&env));
    assert_eq!(
        scalar(
            &env,
            false,
            "SELECT count(*) FROM superseded_records WHERE reason = 'truncated'"
        ),
        "20"
    );
    verify_equal(&env);
}

#[test]
fn a_corrupt_or_truncated_gz_loses_nothing() {
    let env = Env::new();
    write_tasks(&env, "t", 2, 10, Some("2025-10"));
    index(&env);
    env.ok(&["compress", "--older-than", "0s"]);
    index(&env);
    let want = indexed(&env, false);
    let gz0 = env.stream("t-0", "events").with_extension("jsonl.gz");
    let gz1 = env.stream("t-1", "tools").with_extension("jsonl.gz");
    std::fs::write(&gz0, b"this is not gzip\n").unwrap();
    let bytes = std::fs::read(&gz1).unwrap();
    std::fs::write(&gz1, &bytes[..bytes.len() / 2]).unwrap();
    let out = env.run(&["index"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("events.jsonl.gz"), "{}", stderr(&out));
    assert_eq!(indexed(&env, false), want, "rows kept");
    let errors = scalar(
        &env,
        false,
        "SELECT count(*) FROM ingest_errors WHERE kind = 'file' AND resolved_at IS NULL AND reason LIKE '%.jsonl.gz: cannot decompress%'",
    );
    assert_eq!(errors, "2");
    let out = env.run(&["verify"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("t-0/events.jsonl"),
        "{}",
        stdout(&out)
    );
    // A rebuild from scratch with them: no panic, the rest indexed, both named.
    std::fs::remove_file(&env.db).unwrap();
    let out = env.run(&["index"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("tools.jsonl.gz"), "{}", stderr(&out));
}

#[test]
fn appending_to_a_compressed_stream_is_refused() {
    let env = Env::new();
    write_tasks(&env, "t", 1, 2, Some("2025-10"));
    env.ok(&["compress", "--older-than", "0s"]);
    let out = env.run(&["append", "t-0", "events", r#"{"event":"after"}"#]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("compressed"), "{}", stderr(&out));
    assert!(stderr(&out).contains("events.jsonl"), "{}", stderr(&out));
    assert!(
        !env.stream("t-0", "events").exists(),
        "no plain file created"
    );
    // A stream the task never had is a new stream, not a compressed one.
    env.ok(&["append", "t-0", "notes", r#"{"event":"note"}"#]);
}

#[test]
fn bad_ages_are_refused() {
    let env = Env::new();
    for bad in ["bogus", "-1d", ""] {
        let out = env.run(&["compress", "--older-than", bad]);
        assert_eq!(code(&out), 2, "{bad}");
        assert!(stderr(&out).contains("--older-than"), "{}", stderr(&out));
    }
    // A dry run changes nothing.
    write_tasks(&env, "t", 1, 2, Some("2025-10"));
    let out = env.ok(&["compress", "--older-than", "0s", "--dry-run"]);
    assert!(stdout(&out).contains("would compress"), "{}", stdout(&out));
    assert!(env.stream("t-0", "events").exists());
}

/// Compress killed at random instants, with a sidecar running and an
/// `index` killed too: at the end each line is indexed exactly once and the
/// index equals the files.
#[test]
fn compress_survives_kill_9_at_random_instants() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = fastrand::Rng::with_seed(seed);
    let env = Env::new();
    write_tasks(&env, "t", 40, 30, Some("2025-10"));
    write_tasks(&env, "open", 2, 5, None);
    index(&env);
    let mut watch = Reaped(env.spawn_watch());
    let mut kills = 0;
    for round in 0..25 {
        let command = if round % 5 == 4 { "index" } else { "compress" };
        let mut child = env
            .cmd()
            .args([command, "--older-than", "0s"])
            .args(if command == "index" {
                &[][..]
            } else {
                &["-q"][..]
            })
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if support::kill_within(&mut child, Duration::from_micros(rng.u64(..40_000))) {
            kills += 1;
        }
        if round % 7 == 0 {
            support::kill9(&mut watch.0);
            watch = Reaped(env.spawn_watch());
        }
    }
    env.ok(&["compress", "--older-than", "0s"]);
    let want = expected(&env);
    support::wait_for("the sidecar to catch up", Duration::from_secs(30), || {
        indexed(&env, false) == want
    });
    support::terminate(&mut watch.0);
    eprintln!("compress kill -9 test: seed {seed}, {kills} kills");
    assert_eq!(indexed(&env, false), want, "seed {seed}");
    assert_eq!(
        scalar(&env, false, "SELECT count(*) FROM superseded_records"),
        "0",
        "seed {seed}"
    );
    verify_equal(&env);
    let plain_left = std::fs::read_dir(&env.root)
        .unwrap()
        .flatten()
        .filter(|t| t.file_name().to_string_lossy().starts_with("t-"))
        .flat_map(|t| std::fs::read_dir(t.path()).unwrap().flatten())
        .filter(|f| f.file_name().to_string_lossy().ends_with(".jsonl"))
        .count();
    assert_eq!(plain_left, 0, "every sealed stream compressed");
}
