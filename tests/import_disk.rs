//! Disk of imported sessions (issue 25): by default an import keeps the
//! normalized events and not the verbatim copy (`--keep-source` keeps it),
//! a source keeps the choice of its first import, and the task of a
//! session that has been quiet for `--compress-after` is gzipped, exactly
//! once across a later resume.

use std::io::Write;

use crate::import_support::{import, index_view, transcript};
use crate::support::Env;

const SESSION: &str = "88888888-8888-4888-8888-888888888888";
const TASK: &str = "claude-88888888-8888-4888-8888-888888888888";

#[test]
fn the_default_keeps_every_event_and_figure_without_the_verbatim_copy() {
    let full = transcript(8);
    let lines: Vec<&str> = full.lines().collect();
    let lean = Env::new();
    let live = lean.dir.path().join(format!("{SESSION}.jsonl"));
    std::fs::write(&live, lines[..14].join("\n") + "\n").unwrap();
    let (code, summary) = import(&lean, &["claude-code", live.to_str().unwrap()]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["totals"]["source_records"], 0, "{summary}");
    // The session grows; imported again with --keep-source, it stays lean
    // (a copy would lack its first lines).
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    file.write_all((lines[14..].join("\n") + "\n").as_bytes())
        .unwrap();
    drop(file);
    let (code, summary) = import(
        &lean,
        &["claude-code", "--keep-source", live.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["files"]["appended"], 1, "{summary}");
    assert_eq!(summary["totals"]["source_records"], 0, "{summary}");
    let dir = lean.task_dir(TASK);
    assert!(!dir.join("source.jsonl").exists());
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("import.json")).unwrap()).unwrap();
    assert_eq!(state["sources"][0]["verbatim"], false, "{state}");
    lean.ok(&["index"]);
    lean.ok(&["verify"]);

    let full_copy = Env::new();
    let copy = full_copy.dir.path().join(format!("{SESSION}.jsonl"));
    std::fs::write(&copy, &full).unwrap();
    import(
        &full_copy,
        &["claude-code", "--keep-source", copy.to_str().unwrap()],
    );
    full_copy.ok(&["index"]);
    let (events, figures) = index_view(&lean, TASK);
    let (want_events, want_figures) = index_view(&full_copy, TASK);
    assert_eq!(events, want_events);
    assert_eq!(
        (figures.0, figures.1, figures.2, figures.3),
        (
            want_figures.0,
            want_figures.1,
            want_figures.2,
            want_figures.3
        )
    );
    assert_eq!((figures.4, want_figures.4), (0, lines.len() as i64));
    let size = |env: &Env| {
        std::fs::read_dir(env.task_dir(TASK))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
    };
    assert!(size(&lean) < size(&full_copy));
}

/// Sets a file's modification time `age` in the past.
fn age_file(path: &std::path::Path, age: std::time::Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

#[test]
fn a_quiet_session_is_compressed_and_its_resume_indexed_exactly_once() {
    let full = transcript(8);
    let lines: Vec<&str> = full.lines().collect();
    let env = Env::new();
    let live = env.dir.path().join(format!("{SESSION}.jsonl"));
    std::fs::write(&live, lines[..14].join("\n") + "\n").unwrap();
    // Imported just after it was written: not quiet yet, left plain.
    let (code, _) = import(&env, &["claude-code", live.to_str().unwrap()]);
    assert_eq!(code, 0);
    let dir = env.task_dir(TASK);
    assert!(dir.join("events.jsonl").exists() && !dir.join("events.jsonl.gz").exists());
    env.ok(&["index"]);
    // A day later, an import that finds it unchanged compresses it.
    age_file(&live, std::time::Duration::from_secs(25 * 3600));
    let (code, summary) = import(&env, &["claude-code", live.to_str().unwrap()]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["files"]["unchanged"], 1, "{summary}");
    assert!(dir.join("events.jsonl.gz").exists() && !dir.join("events.jsonl").exists());
    assert!(dir.join("task.json").exists() && dir.join("import.json").exists());
    env.ok(&["index"]);
    // The session resumes: made plain again, only the new lines appended.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    file.write_all((lines[14..].join("\n") + "\n").as_bytes())
        .unwrap();
    drop(file);
    let (code, summary) = import(&env, &["claude-code", live.to_str().unwrap()]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["files"]["appended"], 1, "{summary}");
    assert!(dir.join("events.jsonl").exists() && !dir.join("events.jsonl.gz").exists());
    env.ok(&["index"]);
    env.ok(&["verify"]);
    let once = Env::new();
    let copy = once.dir.path().join(format!("{SESSION}.jsonl"));
    std::fs::write(&copy, &full).unwrap();
    import(&once, &["claude-code", copy.to_str().unwrap()]);
    once.ok(&["index"]);
    assert_eq!(index_view(&env, TASK), index_view(&once, TASK));
}

#[test]
fn compression_follows_the_flags() {
    let env = Env::new();
    let live = env.dir.path().join(format!("{SESSION}.jsonl"));
    std::fs::write(&live, transcript(3)).unwrap();
    let path = live.to_str().unwrap();
    let dir = env.task_dir(TASK);
    // Two hours quiet: not yet, by the default of a day.
    age_file(&live, std::time::Duration::from_secs(2 * 3600));
    assert_eq!(import(&env, &["claude-code", path]).0, 0);
    assert!(dir.join("events.jsonl").exists());
    // Two days quiet: `--no-compress` still leaves it plain.
    age_file(&live, std::time::Duration::from_secs(48 * 3600));
    assert_eq!(import(&env, &["claude-code", "--no-compress", path]).0, 0);
    assert!(dir.join("events.jsonl").exists());
    let out = env.run(&["import", "claude-code", "--compress-after", "soon", path]);
    assert_eq!(crate::support::code(&out), 2);
    assert!(crate::support::stderr(&out).contains("--compress-after \"soon\""));
    let out = env.run(&["import", "--no-compress", "--compress-after", "1h", path]);
    assert_eq!(crate::support::code(&out), 2, "the two flags conflict");
    assert!(dir.join("events.jsonl").exists());
    // A shorter quiet time than the default.
    age_file(&live, std::time::Duration::from_secs(3600));
    assert_eq!(
        import(&env, &["claude-code", "--compress-after", "30m", path]).0,
        0
    );
    assert!(dir.join("events.jsonl.gz").exists() && !dir.join("events.jsonl").exists());
}

/// Size and modification time decide whether a source is read again
/// (issue 25: "nothing changed" in well under a second): a file whose bytes
/// changed but whose size and time did not is taken as unchanged; once its
/// time moves, the rewrite is found and the session imported again.
#[test]
fn size_and_time_decide_what_is_read_again() {
    let env = Env::new();
    let source = env.dir.path().join(format!("{SESSION}.jsonl"));
    let text = transcript(4);
    std::fs::write(&source, &text).unwrap();
    let (code, summary) = import(&env, &["claude-code", source.to_str().unwrap()]);
    assert_eq!(code, 0, "{summary}");
    let modified = std::fs::metadata(&source).unwrap().modified().unwrap();
    // The same length, other bytes (the first user prompt), the old time put back.
    let swapped = text.replacen("\"step 0\"", "\"STEP 0\"", 1);
    assert_eq!(swapped.len(), text.len());
    assert_ne!(swapped, text);
    std::fs::write(&source, &swapped).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&source)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let (code, summary) = import(&env, &["claude-code", source.to_str().unwrap()]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["files"]["unchanged"], 1, "{summary}");
    // A new time: read again, found rewritten, imported again from its start.
    std::fs::File::options()
        .write(true)
        .open(&source)
        .unwrap()
        .set_modified(modified + std::time::Duration::from_secs(5))
        .unwrap();
    let (code, summary) = import(&env, &["claude-code", source.to_str().unwrap()]);
    assert_eq!(code, 0, "{summary}");
    let r = crate::import_support::report(&summary, &format!("{SESSION}.jsonl"));
    assert_eq!(r["action"], "imported", "{summary}");
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("rewritten")),
        "{summary}"
    );
    env.ok(&["index"]);
    assert_eq!(
        env.count("SELECT count(*) FROM records WHERE body LIKE '%STEP 0%'"),
        1
    );
}

/// `[[import]] compress_after` takes a duration or "never"; anything else
/// stops the command before it starts, naming the key.
#[test]
fn a_bad_import_compress_after_is_refused_naming_the_key() {
    let env = Env::new();
    let config = env.dir.path().join("bad.toml");
    std::fs::write(
        &config,
        format!(
            "[[import]]\nformat = \"claude-code\"\npath = {:?}\ncompress_after = \"soon\"\n",
            env.dir.path().display().to_string()
        ),
    )
    .unwrap();
    let out = env
        .cmd()
        .arg("--config")
        .arg(&config)
        .args(["watch"])
        .output()
        .unwrap();
    assert_eq!(
        crate::support::code(&out),
        2,
        "{}",
        crate::support::stderr(&out)
    );
    let err = crate::support::stderr(&out);
    assert!(
        err.contains("[[import]] compress_after = \"soon\""),
        "{err}"
    );
    assert!(err.contains("\"never\""), "{err}");
}
