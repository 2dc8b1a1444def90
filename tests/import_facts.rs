//! The task facts `tasklog import` writes into `task.json` (the board's
//! "task.json keys" contract, issue 20's import side): title, status,
//! agent, project, git branch, the sources' own first and last times
//! (JSON null when the source has none), models; and no record of an
//! untimed source carrying an invented `ts`.

use serde_json::Value;

use crate::import_support::{fixture, import};
use crate::support::{index, Env};

fn task_doc(env: &Env, task: &str) -> Value {
    let path = env.task_dir(task).join("task.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// Expected values, read from the fixture files by hand and with python
// (`min`/`max` of every line's `timestamp`, sub-agent files included):
// title = the first typed prompt (Cline's `<task>` unwrapped; SWE-agent and
// mini-SWE-agent: the instance id); status `completed_with_errors` where a
// fixture has a failed tool call (is_error, exit code != 0, error status).
/// (task, title, status, agent, started_at, finished_at)
type Facts = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const FACTS: [Facts; 7] = [
    (
        "claude-11111111-1111-4111-8111-111111111111",
        "Run the shop tests",
        "completed_with_errors",
        "claude-code",
        Some("2026-03-01T10:00:00.000000Z"),
        Some("2026-03-01T10:00:13.000000Z"),
    ),
    (
        "codex-22222222-2222-4222-8222-222222222222",
        "Fix the failing test.",
        "completed_with_errors",
        "codex",
        Some("2026-03-02T09:00:00.000000Z"),
        Some("2026-03-02T09:00:09.200000Z"),
    ),
    (
        "copilot-66666666-6666-4666-8666-666666666666",
        "Which tests are slow?",
        "completed_with_errors",
        "copilot-cli",
        Some("2026-03-06T12:00:00.000000Z"),
        Some("2026-03-06T12:00:09.000000Z"),
    ),
    (
        "gemini-44444444-4444-4444-8444-444444444444",
        "Count the TODOs.",
        "completed",
        "gemini-cli",
        Some("2026-03-05T10:00:01.000000Z"),
        Some("2026-03-05T10:00:06.000000Z"),
    ),
    (
        "cline-1772000000000",
        "Add a CHANGELOG entry.",
        "completed_with_errors",
        "cline",
        None,
        None,
    ),
    (
        "swe-shop__shop-7",
        "shop-7",
        "completed",
        "swe-agent",
        None,
        None,
    ),
    (
        "openhands-shop-run",
        "Add a README.",
        "completed_with_errors",
        "openhands",
        Some("2026-03-03T08:00:00.000000Z"),
        Some("2026-03-03T08:00:05.000000Z"),
    ),
];

#[test]
fn imported_sessions_carry_their_own_facts() {
    let env = Env::new();
    let (code, _) = import(&env, &["auto", fixture("").to_str().unwrap()]);
    assert_eq!(code, 0);
    for (task, title, status, agent, started, finished) in FACTS {
        let doc = task_doc(&env, task);
        assert_eq!(doc["title"], title, "{task} title");
        assert_eq!(doc["status"], status, "{task} status");
        assert_eq!(doc["agent"], agent, "{task} agent");
        assert_eq!(doc["started_at"].as_str(), started, "{task} started_at");
        assert_eq!(doc["finished_at"].as_str(), finished, "{task} finished_at");
        // Present, as null, when the source has no time at all.
        assert!(doc.get("started_at").is_some() && doc.get("finished_at").is_some());
        assert!(
            doc["models"].as_array().is_some_and(|m| !m.is_empty()),
            "{task} models"
        );
        let result: Value =
            serde_json::from_slice(&std::fs::read(env.task_dir(task).join("result.json")).unwrap())
                .unwrap();
        assert_eq!(result["status"], status, "{task} result.json status");
        // The session's end as the main source had it when it was sealed
        // (sub-agent files imported later may end after it), never the
        // import time.
        let completed = result["completed_at"].as_str();
        assert_eq!(completed.is_some(), finished.is_some(), "{task}");
        assert!(
            completed <= finished && completed >= started,
            "{task} {completed:?}"
        );
    }
    let claude = task_doc(&env, "claude-11111111-1111-4111-8111-111111111111");
    assert_eq!(claude["project"], "/home/dev/shop");
    assert_eq!(claude["git_branch"], "main");
    assert_eq!(claude["models"][0], "claude-opus-4-6");
}

#[test]
fn records_of_untimed_sources_get_no_invented_time() {
    let env = Env::new();
    for f in [
        "swe-agent/shop__shop-7.traj",
        "cline/1772000000000/api_conversation_history.json",
        "codex/rollout-2026-03-02T09-00-00-22222222-2222-4222-8222-222222222222.jsonl",
    ] {
        let (code, _) = import(&env, &["auto", fixture(f).to_str().unwrap()]);
        assert_eq!(code, 0, "{f}");
    }
    index(&env);
    // Sources without times: every record's time is unknown to the index.
    for task in ["swe-shop__shop-7", "cline-1772000000000"] {
        let timed = env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{task}' AND ts_source <> 'indexed'"
        ));
        assert_eq!(timed, 0, "{task}: records with an invented ts");
        assert!(
            env.count(&format!(
                "SELECT count(*) FROM records WHERE task_id = '{task}'"
            )) > 0
        );
    }
    // A timed source: every record carries a time of the source's span
    // (none is the import time), and only lines without a time are unknown.
    let task = "codex-22222222-2222-4222-8222-222222222222";
    let outside = env.count(&format!(
        "SELECT count(*) FROM records WHERE task_id = '{task}' AND ts_source <> 'indexed'
         AND (ts < '2026-03-02T09:00:00' OR ts > '2026-03-02T09:00:10')"
    ));
    assert_eq!(outside, 0);
    let untimed = env.count(&format!(
        "SELECT count(*) FROM records WHERE task_id = '{task}' AND ts_source = 'indexed'"
    ));
    assert_eq!(untimed, 0, "every Codex line has a timestamp");
}
