//! Bad input for the formats added in issue 25's last round (pi, iFlow
//! CLI, VS Code Copilot Chat, OpenHands evaluation output and session
//! folders): wrong types, broken lines and truncated files are imported
//! as far as they go or refused with a message, never a panic, and never
//! an invented call.

use serde_json::Value;

use crate::import_support::import;
use crate::support::{code, stderr, Env};

/// Imports `files` (name, content) written into a fresh folder, as
/// `format`: (exit code, summary, stderr).
fn run(format: &str, files: &[(&str, &str)]) -> (i32, Value, String) {
    let env = Env::new();
    let dir = env.dir.path().join("src");
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let paths: Vec<String> = files
        .iter()
        .map(|(n, _)| dir.join(n).display().to_string())
        .filter(|p| !p.contains("/events/"))
        .collect();
    let mut args = vec![format];
    args.extend(paths.iter().map(String::as_str));
    let out = env.run(
        &["import"]
            .iter()
            .copied()
            .chain(args.iter().copied())
            .chain(["--format", "json"])
            .collect::<Vec<_>>(),
    );
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code(&out), summary, err)
}

#[test]
fn wrong_types_and_broken_lines_give_no_call_and_no_panic() {
    for (format, name, text) in [
        (
            "pi",
            "s.jsonl",
            "{\"type\":\"session\",\"version\":3,\"id\":\"p1\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"cwd\":\"/p\"}\n\
             not json at all\n\
             {\"type\":\"message\",\"id\":\"e1\",\"message\":{\"role\":\"assistant\",\"content\":\"not blocks\",\"usage\":\"lots\"}}\n\
             {\"type\":\"message\",\"id\":\"e2\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"toolCall\"}],\"usage\":{\"input\":1e30,\"output\":-4}}}\n\
             {\"type\":\"message\",\"message\":{\"role\":\"toolResult\"}}\n\
             {\"type\":\"message\",\"message\":{\"role\":42}}\n",
        ),
        (
            "iflow-cli",
            "session-x.jsonl",
            "{\"type\":\"assistant\",\"sessionId\":\"session-x\",\"message\":{\"content\":5,\"usage\":{\"input_tokens\":-5,\"output_tokens\":\"7\"}}}\n\
             {\"type\":\"user\",\"sessionId\":\"session-x\",\"message\":{\"content\":[{\"type\":\"tool_result\"},7,null]}}\n\
             {\"type\":\"assistant\",\"sessionId\":\"session-x\",\"message\":{\"content\":[{\"type\":\"tool_use\",\"input\":[]}]}}\n\
             {\"type\":\"assistant\",\"sessionId\":\"session-x\",\"message\":{\"content\":[]",
        ),
        (
            "vscode-copilot-chat",
            "chat.json",
            "{\"sessionId\":\"c1\",\"creationDate\":1,\"version\":\"x\",\"requests\":[1,\"x\",null,{\"requestId\":5,\"timestamp\":-1,\"message\":{\"text\":7},\"response\":\"none\",\"result\":{\"metadata\":{\"toolCallRounds\":\"no\",\"toolCallResults\":[]}}}]}",
        ),
    ] {
        let (status, summary, err) = run(format, &[(name, text)]);
        assert_eq!(status, 0, "{format}: {err}");
        assert_eq!(summary["totals"]["llm_calls"], 0, "{format}: {summary}");
        assert_eq!(summary["files"]["imported"], 1, "{format}: {summary}");
    }
    // The pi file's broken line is reported with its number.
    let (_, summary, _) = run(
        "pi",
        &[(
            "s.jsonl",
            "{\"type\":\"session\",\"id\":\"p1\",\"cwd\":\"/p\"}\n{oops\n",
        )],
    );
    let problems = summary["reports"][0]["parse_errors"].to_string();
    assert!(problems.contains("\"line\":2"), "{summary}");
}

#[test]
fn truncated_and_foreign_documents_are_refused_with_a_message() {
    // A Copilot Chat document cut short: not JSON, named: exit 2.
    let (status, _, err) = run(
        "vscode-copilot-chat",
        &[("chat.json", "{\"sessionId\":\"c1\",\"requests\":[{")],
    );
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("chat.json"), "{err}");
    // Evaluation output whose history is not an array is no evaluation
    // output: named as OpenHands, it fails naming the file.
    let (status, _, err) = run(
        "openhands",
        &[(
            "output.jsonl",
            "{\"instance_id\":\"a\",\"history\":{}}\n{\"instance_id\":\"b\",\"history\":{}}\n",
        )],
    );
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("output.jsonl"), "{err}");
    // An OpenHands session folder with junk beside its events: the events
    // that parse are the session, the rest is left out.
    let env = Env::new();
    let events = env.dir.path().join("sessions/s9/events");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(events.join("0.json"), r#"{"id":0,"timestamp":"2026-01-01T00:00:00","source":"user","action":"message","args":{"content":"hi"}}"#).unwrap();
    std::fs::write(events.join("1.json"), "{not json").unwrap();
    std::fs::write(events.join("notes.json"), r#"{"id":"x"}"#).unwrap();
    let (status, summary) = import(
        &env,
        &["auto", env.dir.path().join("sessions").to_str().unwrap()],
    );
    assert_eq!(status, 0, "{summary}");
    assert_eq!(summary["files"]["imported"], 1, "{summary}");
    assert_eq!(
        summary["reports"][0]["task_id"], "openhands-s9",
        "{summary}"
    );
}
