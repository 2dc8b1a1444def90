//! Retention under a racing folder swap (issue 21): while `compress` runs
//! on a sealed task, another thread renames the task folder away and puts
//! a symbolic link to a folder outside the root in its place, holding
//! streams of the same names. Nothing outside the root may be read,
//! removed or written, and every stream of the task stays readable exactly
//! once (plain or `.gz`).

use std::path::Path;
use std::time::{Duration, Instant};

use tasklog_writer::{Durability, Writer, WriterOptions};

const STREAMS: usize = 12;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn compress_cannot_be_steered_out_of_the_root_by_a_swapped_folder() {
    // The swap must land while compress runs, at least a few times: its
    // delay is drawn within the time the last compress took (what a loaded
    // machine makes of it), and rounds go on, up to 300, until 5 have landed.
    let mut swapped_during = 0;
    let mut window = Duration::from_millis(2);
    for round in 0..300u64 {
        if round >= 30 && swapped_during >= 5 {
            break;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&outside).expect("outside");
        let writer = Writer::open(&root, WriterOptions::default()).expect("writer");
        let task = writer.task("t").expect("task");
        for i in 0..STREAMS {
            let stream = format!("s{i}");
            for n in 0..50 {
                task.append_json(
                    &stream,
                    format!(r#"{{"event":"e","n":{n}}}"#).as_bytes(),
                    Durability::Default,
                )
                .expect("append");
            }
            std::fs::write(outside.join(format!("{stream}.jsonl")), b"outside\n")
                .expect("outside stream");
        }
        task.final_result("completed", serde_json::json!({}))
            .expect("seal");
        std::fs::write(outside.join("result.json"), b"{}").expect("outside seal");
        let dir = root.join("t");
        let real = root.join("t.real");
        // Swap at a different instant each round: from before the first
        // stream to after the last.
        let delay = Duration::from_micros(fastrand::u64(0..=window.as_micros() as u64));
        let (d, r, o) = (dir.clone(), real.clone(), outside.clone());
        let started = Instant::now();
        let swapper = std::thread::spawn(move || {
            std::thread::sleep(delay);
            std::fs::rename(&d, &r).expect("move the folder away");
            std::os::unix::fs::symlink(&o, &d).expect("link in its place");
            Instant::now()
        });
        let result = writer.compress_sealed("t", Duration::ZERO, false);
        let finished = Instant::now();
        window = (finished - started).max(Duration::from_micros(50));
        let swapped_at = swapper.join().expect("swapper");
        if swapped_at < finished && swapped_at > started {
            swapped_during += 1;
        }
        // Outside the root: untouched.
        let mut expected: Vec<String> = (0..STREAMS).map(|i| format!("s{i}.jsonl")).collect();
        expected.push("result.json".into());
        expected.sort();
        assert_eq!(names(&outside), expected, "round {round}: {result:?}");
        for i in 0..STREAMS {
            let text = std::fs::read(outside.join(format!("s{i}.jsonl"))).expect("outside");
            assert_eq!(text, b"outside\n", "round {round}");
        }
        // Inside: each stream once, plain or compressed.
        let inside = names(&real);
        for i in 0..STREAMS {
            let plain = inside.contains(&format!("s{i}.jsonl"));
            let gz = inside.contains(&format!("s{i}.jsonl.gz"));
            assert!(plain || gz, "round {round}: s{i} lost: {inside:?}");
        }
    }
    // The test must have raced at least sometimes to mean anything.
    assert!(swapped_during > 0, "no round swapped while compress ran");
}

/// A sealed task `t` of `STREAMS` streams (and a sub-folder) in `root`, and
/// a folder `outside` holding files of the same names.
fn sealed_task_and_lookalike(root: &Path, outside: &Path) -> Writer {
    std::fs::create_dir_all(outside.join("sub")).expect("outside");
    let writer = Writer::open(root, WriterOptions::default()).expect("writer");
    let task = writer.task("t").expect("task");
    for i in 0..STREAMS {
        let stream = format!("s{i}");
        for n in 0..20 {
            task.append_json(
                &stream,
                format!(r#"{{"event":"e","n":{n}}}"#).as_bytes(),
                Durability::Default,
            )
            .expect("append");
        }
        std::fs::write(outside.join(format!("{stream}.jsonl")), b"outside\n").expect("outside");
    }
    std::fs::create_dir_all(root.join("t/sub")).expect("sub-folder");
    std::fs::write(root.join("t/sub/x.json"), b"{}").expect("sub file");
    std::fs::write(outside.join("sub/x.json"), b"outside\n").expect("outside sub");
    task.final_result("completed", serde_json::json!({}))
        .expect("seal");
    std::fs::write(outside.join("result.json"), b"{}").expect("outside seal");
    writer
}

#[test]
fn prune_cannot_be_steered_out_of_the_root_by_a_swapped_folder() {
    // The swap must land while prune runs, at least a few times: its delay
    // is drawn within the time the last prune took (what a loaded machine
    // makes of it), and rounds go on, up to 300, until 5 have landed.
    let mut swapped_during = 0;
    let mut window = Duration::from_millis(2);
    for round in 0..300u64 {
        if round >= 30 && swapped_during >= 5 {
            break;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        let writer = sealed_task_and_lookalike(&root, &outside);
        let before = names(&outside);
        let dir = root.join("t");
        let real = root.join("t.real");
        let delay = Duration::from_micros(fastrand::u64(0..=window.as_micros() as u64));
        let (d, r, o) = (dir.clone(), real.clone(), outside.clone());
        let started = Instant::now();
        let swapper = std::thread::spawn(move || {
            std::thread::sleep(delay);
            // Already removed: nothing to swap this round.
            std::fs::rename(&d, &r).ok()?;
            std::os::unix::fs::symlink(&o, &d).expect("link in its place");
            Some(Instant::now())
        });
        let result = writer.remove_sealed("t");
        let finished = Instant::now();
        window = (finished - started).max(Duration::from_micros(50));
        let swapped_at = swapper.join().expect("swapper");
        if swapped_at.is_some_and(|at| at < finished && at > started) {
            swapped_during += 1;
        }
        // Outside the root: every file still there, unchanged.
        assert_eq!(names(&outside), before, "round {round}: {result:?}");
        assert_eq!(names(&outside.join("sub")), vec!["x.json".to_owned()]);
        for i in 0..STREAMS {
            let text = std::fs::read(outside.join(format!("s{i}.jsonl"))).expect("outside");
            assert_eq!(text, b"outside\n", "round {round}");
        }
        // Inside: the link is left alone; the sealed folder is gone, or
        // (swapped before its handle was opened) refused as a link, or
        // (swapped after) emptied under its new name.
        if swapped_at.is_some() {
            assert!(
                std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()),
                "round {round}: the link is still there"
            );
        } else {
            assert!(result.is_ok() && !dir.exists(), "round {round}: {result:?}");
        }
        match &result {
            Ok(()) => assert!(!real.exists(), "round {round}"),
            Err(_) => assert!(
                names(&real).is_empty() || names(&real).len() >= STREAMS,
                "round {round}: {result:?}: {:?}",
                names(&real)
            ),
        }
    }
    assert!(swapped_during > 0, "no round swapped while prune ran");
}

#[test]
fn prune_does_not_remove_a_live_folder_swapped_in_after_the_seal_check() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let writer = sealed_task_and_lookalike(&root, &tmp.path().join("outside"));
    // A live task moved into the sealed task's name between the check and
    // the removal: the removal goes through the handle of the folder that
    // was checked, so the live one is never touched (the final rmdir by
    // name fails: not empty).
    let live = root.join("live");
    std::fs::create_dir_all(&live).expect("live");
    std::fs::write(
        live.join("events.jsonl"),
        b"{\"event\":\"still running\"}\n",
    )
    .expect("live");
    let mut kept = 0;
    for round in 0..20u64 {
        if round > 0 {
            // A fresh sealed t (the previous round may have removed it).
            let _ = std::fs::remove_dir_all(root.join("t.old"));
            if !root.join("t").exists() {
                sealed_task_and_lookalike(&root, &tmp.path().join(format!("outside{round}")));
            }
        }
        let delay = Duration::from_micros(fastrand::u64(0..=1_000));
        let (t, old, l) = (root.join("t"), root.join("t.old"), live.clone());
        let swapper = std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = std::fs::rename(&t, &old);
            let _ = std::fs::rename(&l, &t);
        });
        let _ = writer.remove_sealed("t");
        swapper.join().expect("swapper");
        // Wherever the live folder is now, its stream is intact.
        let at = if root.join("t/events.jsonl").exists() {
            root.join("t")
        } else {
            live.clone()
        };
        let text = std::fs::read(at.join("events.jsonl"))
            .unwrap_or_else(|e| panic!("round {round}: the live task lost its stream: {e}"));
        assert_eq!(text, b"{\"event\":\"still running\"}\n", "round {round}");
        kept += 1;
        // Put it back for the next round.
        if at != live {
            std::fs::rename(&at, &live).expect("live back");
        }
    }
    assert_eq!(kept, 20);
}

#[test]
fn prune_skips_a_task_it_refuses_and_prunes_the_others() {
    use crate::support::{code, stderr, stdout, Env};
    let env = Env::new();
    // Two sealed tasks; the older one's seal is a symbolic link (not what a
    // writer makes): prune refuses to remove it through its handle.
    for task in ["odd", "good"] {
        env.ok(&["put", task, "task", r#"{"title":"x"}"#]);
    }
    std::fs::write(
        env.dir.path().join("seal.json"),
        br#"{"status":"completed"}"#,
    )
    .expect("seal");
    std::os::unix::fs::symlink(
        env.dir.path().join("seal.json"),
        env.task_dir("odd").join("result.json"),
    )
    .expect("link seal");
    std::thread::sleep(Duration::from_millis(20));
    env.ok(&["put", "good", "result", r#"{"status":"completed"}"#]);
    let out = env.run(&["prune", "--older-than", "0s", "--format", "jsonl"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(r#""task_id":"odd""#) && text.contains(r#""action":"skipped""#),
        "{text}"
    );
    assert!(text.contains(r#""action":"removed""#), "{text}");
    assert!(
        env.task_dir("odd").join("task.json").exists(),
        "the refused task is left alone"
    );
    assert!(!env.task_dir("good").exists(), "the other task is pruned");
    assert!(
        env.dir.path().join("seal.json").exists(),
        "the link's target is untouched"
    );
}
