//! Helpers of the retention scenarios (`compress`, `archive`): task
//! folders of sealed tasks finished in given months, and what the index
//! must hold for them, computed from the files (through gzip when a stream
//! is compressed), independently of the indexer.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use crate::support::{self, Env};

/// Writes `tasks` task folders named `<prefix>-<i>`, each with two streams
/// (model calls, messages and tool calls) of `lines` lines, sealed with a
/// `completed_at` in `month` (`YYYY-MM`), or left open when `month` is None.
pub fn write_tasks(env: &Env, prefix: &str, tasks: usize, lines: usize, month: Option<&str>) {
    for i in 0..tasks {
        let task = format!("{prefix}-{i}");
        let mut events = String::new();
        let mut tools = String::new();
        for n in 0..lines {
            events.push_str(&format!(
                r#"{{"event":"llm.call","seq":{n},"gen_ai":{{"request":{{"model":"gpt-4o"}},"usage":{{"input_tokens":{},"output_tokens":7}}}}}}"#,
                100 + n
            ));
            events.push('\n');
            events.push_str(&format!(
                r#"{{"event":"message","role":"assistant","content":"step {n} of {task}: looked at the logs"}}"#
            ));
            events.push('\n');
            tools.push_str(&format!(
                r#"{{"event":"tool.start","name":"Bash","span_id":"{task}-{n}","input":{{"command":"cargo test -p x{n}"}}}}"#
            ));
            tools.push('\n');
        }
        support::append_raw(&env.stream(&task, "events"), events.as_bytes());
        support::append_raw(&env.stream(&task, "tools"), tools.as_bytes());
        if let Some(month) = month {
            let result = format!(
                r#"{{"status":"completed","completed_at":"{month}-15T12:00:00Z","summary":"done"}}"#
            );
            std::fs::write(env.task_dir(&task).join("result.json"), result).unwrap();
        }
    }
}

/// The bytes of a stream: the plain file while it exists, else its `.gz`.
pub fn stream_bytes(plain: &Path) -> Vec<u8> {
    if let Ok(bytes) = std::fs::read(plain) {
        return bytes;
    }
    let mut gz = plain.as_os_str().to_owned();
    gz.push(".gz");
    let file = std::fs::File::open(&gz).unwrap();
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(file)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// `(task, stream, offset, body)` of every record the files hold.
pub fn expected(env: &Env) -> BTreeSet<(String, String, u64, String)> {
    let mut out = BTreeSet::new();
    for task in std::fs::read_dir(&env.root).unwrap().flatten() {
        let task_id = task.file_name().to_string_lossy().into_owned();
        let mut streams = BTreeSet::new();
        for file in std::fs::read_dir(task.path()).unwrap().flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name
                .strip_suffix(".jsonl.gz")
                .or_else(|| name.strip_suffix(".jsonl"))
            {
                if !stem.starts_with('.') {
                    streams.insert(stem.to_owned());
                }
            }
        }
        for stream in streams {
            let tmp = env.dir.path().join("expected.jsonl");
            std::fs::write(&tmp, stream_bytes(&env.stream(&task_id, &stream))).unwrap();
            for (offset, body) in support::expected_rows(&tmp) {
                out.insert((task_id.clone(), stream.clone(), offset, body));
            }
        }
    }
    out
}

/// `(task, stream, offset, body)` of every row `records` holds, read with
/// `tasklog query` (`--archives` when asked). Panics on a row counted twice.
pub fn indexed(env: &Env, archives: bool) -> BTreeSet<(String, String, u64, String)> {
    let mut args = vec!["query", "--format", "jsonl"];
    if archives {
        args.push("--archives");
    }
    args.push(r#"SELECT task_id, stream, "offset", body FROM records"#);
    let out = env.run(&args);
    assert!(
        matches!(support::code(&out), 0 | 1),
        "query: {}",
        support::stderr(&out)
    );
    let mut rows = BTreeSet::new();
    for line in support::stdout(&out).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let row = (
            v["task_id"].as_str().unwrap().to_owned(),
            v["stream"].as_str().unwrap().to_owned(),
            v["offset"].as_u64().unwrap(),
            v["body"].as_str().unwrap().to_owned(),
        );
        assert!(rows.insert(row.clone()), "counted twice: {row:?}");
    }
    rows
}

/// `SELECT count(*)`-like scalar through `tasklog query [--archives]`.
pub fn scalar(env: &Env, archives: bool, sql: &str) -> String {
    let mut args = vec!["query", "--format", "csv"];
    if archives {
        args.push("--archives");
    }
    args.push(sql);
    let out = env.ok(&args);
    support::stdout(&out)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// A child process killed when dropped: a failing assertion must not leave
/// a `tasklog watch` running after its test.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
