//! Zero set-up: `tasklog import` with no path finds every supported
//! agent's standard folders under a fake HOME (honouring
//! `CLAUDE_CONFIG_DIR`, `CODEX_HOME`, `XDG_DATA_HOME` for OpenCode's
//! storage and `FILE_STORE_PATH` for OpenHands' sessions; iFlow CLI and pi
//! in their default places), and `tasklog watch` with
//! `agents = "auto"` follows them, exactly once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::import_support::fixture;
use crate::support::{code, stderr, stdout, terminate, wait_for, Env};

const CLAUDE_TASK: &str = "claude-11111111-1111-4111-8111-111111111111";
const CODEX_TASK: &str = "codex-22222222-2222-4222-8222-222222222222";
const GEMINI_TASK: &str = "gemini-33333333-3333-4333-8333-333333333333";
const COPILOT_TASK: &str = "copilot-66666666-6666-4666-8666-666666666666";
const CLINE_TASK: &str = "cline-1772000000000";
const IFLOW_TASK: &str = "iflow-session-77777777-7777-4777-8777-777777777777";
const PI_TASK: &str = "pi-99999999-9999-4999-8999-999999999999";
const OPENCODE_TASK: &str = "opencode-ses_5555aaaa";
const OPENHANDS_TASK: &str = "openhands-oh-session-1";
const COPILOT_CHAT_TASK: &str = "copilot-chat-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

/// The tasks whose sessions arrive as one file each (the others,
/// OpenCode's and OpenHands', are folders of files).
const FILE_TASKS: [&str; 8] = [
    CLAUDE_TASK,
    CODEX_TASK,
    GEMINI_TASK,
    COPILOT_TASK,
    CLINE_TASK,
    IFLOW_TASK,
    PI_TASK,
    COPILOT_CHAT_TASK,
];

/// Writes `v` as JSON to `path`, making its folder.
fn put(path: &Path, v: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec(v).unwrap()).unwrap();
}

/// The OpenCode export fixture laid out as OpenCode's own storage: one
/// file per session, message and part, under `storage`.
fn opencode_storage(storage: &Path) {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(fixture("opencode/ses_5555.json")).unwrap()).unwrap();
    let info = &doc["info"];
    let ses = info["id"].as_str().unwrap();
    put(&storage.join(format!("session/proj1/{ses}.json")), info);
    for m in doc["messages"].as_array().unwrap() {
        let mid = m["info"]["id"].as_str().unwrap();
        put(
            &storage.join(format!("message/{ses}/{mid}.json")),
            &m["info"],
        );
        for part in m["parts"].as_array().unwrap() {
            let pid = part["id"].as_str().unwrap();
            put(&storage.join(format!("part/{mid}/{pid}.json")), part);
        }
    }
}

/// The OpenHands trajectory fixture laid out as a V0 session folder: one
/// file per event, named by its id, under `<sid>/events`.
fn openhands_session(session: &Path) {
    let events: Value =
        serde_json::from_slice(&std::fs::read(fixture("openhands/shop-run.json")).unwrap())
            .unwrap();
    for e in events.as_array().unwrap() {
        put(&session.join(format!("events/{}.json", e["id"])), e);
    }
    put(
        &session.join("metadata.json"),
        &serde_json::json!({"title": "x"}),
    );
}

/// Copies fixture `from` (a file or folder) to `to`.
fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// A fake home holding every agent's standard folders, Claude Code's and
/// Codex's moved by `CLAUDE_CONFIG_DIR` / `CODEX_HOME`, plus decoys in
/// the default places those variables replace.
struct Home {
    home: PathBuf,
    claude_session: PathBuf,
}

fn fake_home(env: &Env) -> Home {
    let home = env.dir.path().join("home");
    let claude_project = home.join("claude-config/projects/-home-dev-shop");
    copy(
        &fixture("claude-code/11111111-1111-4111-8111-111111111111.jsonl"),
        &claude_project.join("11111111-1111-4111-8111-111111111111.jsonl"),
    );
    copy(
        &fixture("claude-code/11111111-1111-4111-8111-111111111111"),
        &claude_project.join("11111111-1111-4111-8111-111111111111"),
    );
    let rollout = "rollout-2026-03-02T09-00-00-22222222-2222-4222-8222-222222222222.jsonl";
    copy(
        &fixture(&format!("codex/{rollout}")),
        &home.join("codex-home/sessions/2026/03/02").join(rollout),
    );
    copy(
        &fixture("gemini-cli/session-2026-03-04T10-00-33333333.jsonl"),
        &home.join(".gemini/tmp/abc123/chats/session-2026-03-04T10-00-33333333.jsonl"),
    );
    copy(
        &fixture("copilot-cli/events.jsonl"),
        &home.join(".copilot/session-state/66666666-6666-4666-8666-666666666666/events.jsonl"),
    );
    copy(
        &fixture("cline/1772000000000"),
        &home.join(".config/Code/User/globalStorage/saoudrizwan.claude-dev/tasks/1772000000000"),
    );
    copy(
        &fixture("iflow-cli/session-77777777-7777-4777-8777-777777777777.jsonl"),
        &home.join(
            ".iflow/projects/-home-dev-shop/session-77777777-7777-4777-8777-777777777777.jsonl",
        ),
    );
    let pi =
        "pi/--home-dev-shop--/2026-03-08T10-00-00-000Z_99999999-9999-4999-8999-999999999999.jsonl";
    copy(
        &fixture(pi),
        &home
            .join(".pi/agent/sessions")
            .join(pi.trim_start_matches("pi/")),
    );
    let chat = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee.json";
    copy(
        &fixture(&format!("vscode-copilot-chat/{chat}")),
        &home
            .join(".config/Code/User/workspaceStorage/0f1e2d/chatSessions")
            .join(chat),
    );
    // A workspace's editing state beside it: not looked at.
    copy(
        &fixture("openhands/shop-run.json"),
        &home.join(".config/Code/User/workspaceStorage/0f1e2d/chatEditingSessions/x/state.json"),
    );
    // XDG_DATA_HOME and FILE_STORE_PATH move these two.
    opencode_storage(&home.join("xdg-data/opencode/storage"));
    openhands_session(&home.join("oh-store/sessions/oh-session-1"));
    // Decoys: the default folders the variables replace.
    copy(
        &fixture("openhands/shop-run.json"),
        &home.join(".claude/projects/p/decoy.json"),
    );
    copy(
        &fixture("swe-agent/shop__shop-7.traj"),
        &home.join(".codex/sessions/decoy.traj"),
    );
    opencode_storage(&home.join(".local/share/opencode/storage-decoy"));
    copy(
        &fixture("openhands/shop-run.json"),
        &home.join(".openhands/sessions/decoy/events/decoy.json"),
    );
    Home {
        claude_session: claude_project.join("11111111-1111-4111-8111-111111111111.jsonl"),
        home,
    }
}

fn with_home(env: &Env, home: &Home) -> Command {
    let mut cmd = env.cmd();
    cmd.env("HOME", &home.home)
        .env("CLAUDE_CONFIG_DIR", home.home.join("claude-config"))
        .env("CODEX_HOME", home.home.join("codex-home"))
        .env("XDG_CONFIG_HOME", home.home.join(".config"))
        .env("XDG_DATA_HOME", home.home.join("xdg-data"))
        .env("FILE_STORE_PATH", home.home.join("oh-store"))
        .env_remove("PI_CODING_AGENT_DIR");
    cmd
}

fn imported_tasks(summary: &Value) -> Vec<String> {
    let mut tasks: Vec<String> = summary["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "imported")
        .filter_map(|r| r["task_id"].as_str().map(str::to_owned))
        .collect();
    tasks.sort();
    tasks.dedup();
    tasks
}

#[test]
fn import_with_no_path_finds_every_agents_standard_folders() {
    let env = Env::new();
    let home = fake_home(&env);
    let out = with_home(&env, &home)
        .args(["import", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut want = FILE_TASKS.to_vec();
    want.extend([OPENCODE_TASK, OPENHANDS_TASK]);
    want.sort();
    assert_eq!(imported_tasks(&summary), want, "{summary}");
    // OpenCode's storage and the OpenHands session folder give the totals
    // of the export and trajectory they were laid out from.
    env.ok(&["index"]);
    for (task, calls, input) in [(OPENCODE_TASK, 3, 18_730), (OPENHANDS_TASK, 2, 4_400)] {
        let (n, i, ..) = crate::import_support::indexed_totals(&env, task);
        assert_eq!((n, i), (calls, input), "{task}");
    }
    // The decoys (in the folders CLAUDE_CONFIG_DIR, CODEX_HOME,
    // XDG_DATA_HOME and FILE_STORE_PATH replace) were not looked at.
    let paths = summary["reports"].to_string();
    assert!(!paths.contains("decoy"), "{paths}");
    assert!(!paths.contains("chatEditingSessions"), "{paths}");
    // Again, through `auto` and a named format: nothing new.
    for args in [&["import", "auto"][..], &["import", "claude-code"]] {
        let out = with_home(&env, &home)
            .args(args)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let again: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(again["files"]["imported"], 0, "{args:?}: {again}");
        assert_eq!(again["files"]["appended"], 0, "{args:?}: {again}");
        assert!(again["files"]["unchanged"].as_u64().unwrap() > 0, "{again}");
        if args[1] == "claude-code" {
            assert!(!again.to_string().contains("events.jsonl"), "{again}");
        }
    }
}

#[test]
fn an_empty_home_imports_nothing_and_says_so() {
    let env = Env::new();
    let home = env.dir.path().join("empty-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = env
        .cmd()
        .env("HOME", &home)
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("CODEX_HOME")
        .args(["import", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no agent's standard session folder"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn watch_with_agents_auto_follows_the_standard_folders_exactly_once() {
    let env = Env::new();
    let home = fake_home(&env);
    let config = env.dir.path().join("tasklog.toml");
    std::fs::write(&config, "agents = \"auto\"\n").unwrap();
    let mut watch = with_home(&env, &home)
        .arg("--config")
        .arg(&config)
        .arg("watch")
        .env("TASKLOG_RECONCILE_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let calls = |env: &Env, task: &str| {
        if !env.db.exists() {
            return -1;
        }
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{task}' AND event = 'llm.call'"
        ))
    };
    for task in FILE_TASKS {
        wait_for(task, Duration::from_secs(30), || calls(&env, task) > 0);
    }
    // The folder-per-session formats are followed too: their sessions
    // arrive whole, with the totals of the documents laid out.
    let totals = |task: &str| {
        if !env.db.exists() {
            return (-1, -1);
        }
        let (n, i, ..) = crate::import_support::indexed_totals(&env, task);
        (n, i)
    };
    for (task, want) in [(OPENCODE_TASK, (3, 18_730)), (OPENHANDS_TASK, (2, 4_400))] {
        wait_for(task, Duration::from_secs(30), || totals(task) == want);
    }
    // Each grows by one model response while followed: OpenHands writes
    // one more event file, OpenCode one more message and its parts.
    let response = serde_json::json!({"id": 5, "timestamp": "2026-03-03T08:00:09.000000",
        "source": "agent", "message": "Done.", "action": "message",
        "tool_call_metadata": {"function_name": "reply", "tool_call_id": "toolu_h3",
            "model_response": {"id": "resp-3", "model": "claude-sonnet-4-5",
                "usage": {"completion_tokens": 5, "prompt_tokens": 100, "total_tokens": 105}}}});
    put(
        &home
            .home
            .join("oh-store/sessions/oh-session-1/events/5.json"),
        &response,
    );
    let storage = home.home.join("xdg-data/opencode/storage");
    let tokens = serde_json::json!({"input": 40, "output": 2, "reasoning": 0,
        "cache": {"read": 0, "write": 0}});
    put(
        &storage.join("message/ses_5555aaaa/msg_a3.json"),
        &serde_json::json!({
        "id": "msg_a3", "sessionID": "ses_5555aaaa", "role": "assistant",
        "modelID": "gpt-5.2-codex", "providerID": "openai",
        "time": {"created": 1772600020000_i64, "completed": 1772600021000_i64},
        "cost": 0, "tokens": tokens}),
    );
    put(
        &storage.join("part/msg_a3/prt_20.json"),
        &serde_json::json!({"id": "prt_20", "type": "step-start"}),
    );
    put(
        &storage.join("part/msg_a3/prt_21.json"),
        &serde_json::json!({
        "id": "prt_21", "type": "step-finish", "reason": "stop", "cost": 0, "tokens": tokens}),
    );
    for (task, want) in [(OPENCODE_TASK, (4, 18_770)), (OPENHANDS_TASK, (3, 4_500))] {
        wait_for(&format!("{task} grown"), Duration::from_secs(30), || {
            totals(task) == want
        });
    }
    // A new call appended to the followed Claude Code session.
    let before = calls(&env, CLAUDE_TASK);
    let line = r#"{"type":"assistant","sessionId":"11111111-1111-4111-8111-111111111111","uuid":"new-1","timestamp":"2026-03-01T10:00:20.000Z","requestId":"req_new","message":{"id":"msg_new","model":"claude-opus-4-6","role":"assistant","content":[{"type":"text","text":"more"}],"usage":{"input_tokens":5,"output_tokens":3}}}"#;
    crate::support::append_raw(&home.claude_session, format!("{line}\n").as_bytes());
    wait_for("the appended call", Duration::from_secs(30), || {
        env.count(&format!(
            "SELECT count(*) FROM records WHERE task_id = '{CLAUDE_TASK}' AND event = 'llm.call' AND json_extract(body, '$.message_id') = 'msg_new'"
        )) > 0
    });
    let status = terminate(&mut watch);
    assert!(status.success(), "{status:?}");
    // Exactly once: a plain import afterwards finds nothing new, and the
    // appended call is counted once (it is open until the source grows
    // again, but never twice).
    let after = calls(&env, CLAUDE_TASK);
    assert!(after >= before, "{before} -> {after}");
    let out = with_home(&env, &home)
        .args(["import", "--format", "json"])
        .output()
        .unwrap();
    let again: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(again["files"]["imported"], 0, "{again}");
    env.ok(&["index"]);
    let msg_new = env.count(&format!(
        "SELECT count(*) FROM records WHERE task_id = '{CLAUDE_TASK}' AND event = 'llm.call' AND json_extract(body, '$.message_id') = 'msg_new'"
    ));
    assert_eq!(msg_new, 1);
}

#[test]
fn a_bad_agents_setting_is_a_config_error_naming_the_key() {
    let env = Env::new();
    for (value, needle) in [
        ("\"sometimes\"", "expected \"auto\", \"none\" or a list"),
        ("[\"claude-code\", \"vim\"]", "is not a format name"),
    ] {
        let config = env.dir.path().join("bad.toml");
        std::fs::write(&config, format!("agents = {value}\n")).unwrap();
        let out = env
            .cmd()
            .arg("--config")
            .arg(&config)
            .args(["import", "auto", fixture("codex").to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{value}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{value}: {}", stderr(&out));
    }
}
