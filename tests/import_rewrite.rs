//! A transcript rewritten in place since its import (issue 22) is imported
//! again from its start, with the other sources of its task, and the index
//! ends as one import of the files as they are now: the earlier rows are
//! superseded, nothing is counted twice, across a crash at any step.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::import_support::{import, index_view, report, View, FIXTURES};
use crate::support::{code, stderr, Env};

const SESSION: &str = "11111111-1111-4111-8111-111111111111";
const TASK: &str = "claude-11111111-1111-4111-8111-111111111111";

/// A copy of the team's Claude Code session (main file and its two
/// sub-agent files) in `env`'s folder.
fn session_copy(env: &Env) -> PathBuf {
    let to = env.dir.path().join("projects");
    let from = Path::new(FIXTURES).join("claude-code");
    std::fs::create_dir_all(to.join(SESSION).join("subagents")).unwrap();
    let main = format!("{SESSION}.jsonl");
    std::fs::copy(from.join(&main), to.join(&main)).unwrap();
    for agent in ["agent-acompact-1.jsonl", "agent-s1.jsonl"] {
        let rel = Path::new(SESSION).join("subagents").join(agent);
        std::fs::copy(from.join(&rel), to.join(&rel)).unwrap();
    }
    to
}

/// The main file rewritten: its first response's text changed and its
/// last line dropped (what an editor, or a tool that rewrites a transcript
/// whole, leaves).
fn rewrite(folder: &Path) {
    let main = folder.join(format!("{SESSION}.jsonl"));
    let text = std::fs::read_to_string(&main).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.pop();
    let first_text = lines
        .iter()
        .position(|l| l.contains(r#""type":"text""#))
        .unwrap();
    lines[first_text] = lines[first_text].replacen(r#""text":""#, r#""text":"(edited) "#, 1);
    std::fs::write(&main, lines.join("\n") + "\n").unwrap();
}

/// The index of one import of `folder` as it is now, into a fresh root.
fn imported_once(folder: &Path) -> View {
    let env = Env::new();
    let (status, summary) = import(&env, &["claude-code", folder.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    env.ok(&["index"]);
    index_view(&env, TASK)
}

fn edited_messages(env: &Env) -> i64 {
    env.count(&format!(
        "SELECT count(*) FROM records WHERE task_id = '{TASK}' AND event = 'message' AND body LIKE '%(edited)%'"
    ))
}

#[test]
fn a_rewritten_transcript_is_imported_again_with_its_sub_agents() {
    let env = Env::new();
    let folder = session_copy(&env);
    let before = imported_once(&folder);
    assert_eq!(
        import(&env, &["claude-code", folder.to_str().unwrap()]).0,
        0
    );
    env.ok(&["index"]);
    assert_eq!(index_view(&env, TASK), before);
    assert_eq!(edited_messages(&env), 0);
    rewrite(&folder);
    let main = folder.join(format!("{SESSION}.jsonl"));
    let (status, summary) = import(&env, &["claude-code", main.to_str().unwrap()]);
    assert_eq!(status, 0, "{summary}");
    let r = report(&summary, &format!("{SESSION}.jsonl"));
    assert_eq!(r["action"], "imported", "{summary}");
    assert!(
        r["reason"].as_str().unwrap().contains("rewritten"),
        "{summary}"
    );
    env.ok(&["index"]);
    env.ok(&["verify"]);
    // The counts are those of one import of the rewritten files (the
    // edit changes a text, not a count); the edited text proves the
    // main file was read again, and the counts that it was read once.
    let want = imported_once(&folder);
    assert_eq!(
        index_view(&env, TASK),
        want,
        "main and sub-agents, once each"
    );
    assert_eq!(edited_messages(&env), 1);
    assert!(env.count("SELECT count(*) FROM superseded_records") > 0);
    // Nothing more on the next run: everything is current.
    let (status, summary) = import(&env, &["claude-code", folder.to_str().unwrap()]);
    assert_eq!(status, 0);
    assert_eq!(summary["files"]["unchanged"], 3, "{summary}");
}

#[test]
fn a_rewrite_interrupted_after_any_record_is_finished_by_the_next_run() {
    let base = Env::new();
    let folder = session_copy(&base);
    rewrite(&folder);
    let want = imported_once(&folder);
    for abort_after in (1..40).step_by(3) {
        let env = Env::new();
        let folder = session_copy(&env);
        assert_eq!(
            import(&env, &["claude-code", folder.to_str().unwrap()]).0,
            0
        );
        env.ok(&["index"]);
        rewrite(&folder);
        let out = env
            .cmd()
            .args(["import", "claude-code", folder.to_str().unwrap(), "-q"])
            .env("TASKLOG_IMPORT_ABORT_AFTER", abort_after.to_string())
            .output()
            .unwrap();
        let _ = out; // aborted (or finished before the limit)
        env.ok(&["index"]);
        let again = env.run(&["import", "claude-code", folder.to_str().unwrap()]);
        assert_eq!(code(&again), 0, "{}", stderr(&again));
        env.ok(&["index"]);
        assert_eq!(index_view(&env, TASK), want, "aborted after {abort_after}");
        assert_eq!(edited_messages(&env), 1, "aborted after {abort_after}");
    }
}

#[test]
fn a_reset_stopped_before_its_streams_were_removed_is_finished() {
    let env = Env::new();
    let folder = session_copy(&env);
    assert_eq!(
        import(&env, &["claude-code", folder.to_str().unwrap()]).0,
        0
    );
    env.ok(&["index"]);
    rewrite(&folder);
    // A run that died right after recording the reset intent (step 1):
    // import.json names the old streams and the intent; nothing removed.
    let doc_path = env.task_dir(TASK).join("import.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&doc_path).unwrap()).unwrap();
    let main = folder.join(format!("{SESSION}.jsonl"));
    doc["pending"] = serde_json::json!({
        "path": main.display().to_string(),
        "format": "claude-code",
        "bytes": 1,
        "xxh3": "0",
        "streams": {},
        "reset": true
    });
    std::fs::write(&doc_path, serde_json::to_vec(&doc).unwrap()).unwrap();
    // The next run is for a sub-agent file: it finishes the reset first,
    // then imports every source of the task.
    let agent = folder.join(SESSION).join("subagents/agent-s1.jsonl");
    let out = env.run(&["import", "claude-code", agent.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    env.ok(&["index"]);
    env.ok(&["verify"]);
    assert_eq!(index_view(&env, TASK), imported_once(&folder));
    assert_eq!(edited_messages(&env), 1);
}
