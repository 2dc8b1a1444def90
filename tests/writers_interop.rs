//! The three writers on one stream: the Rust writer (threads of this test
//! process), the Python binding and the Node binding (child processes)
//! append at once while `tasklog watch` indexes. Lines stay whole, `seq`
//! stays strictly increasing, every record is indexed exactly once, and a
//! writer killed with SIGKILL in the middle of a line leaves a fragment
//! that the next writer of any language mends.
//!
//! The bindings are found through `TASKLOG_TEST_PYTHON` (an interpreter
//! whose `import tasklog` works; `python3` is tried otherwise) and
//! `TASKLOG_TEST_NODE_MODULE` (the built crates/tasklog-node folder; the
//! folder in this checkout is tried otherwise). scripts/test.sh builds
//! both; without them the tests print `skipped:` and pass.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{expected_rows, kill9, skip, terminate, verify_equal, wait_for, Env};

const DEADLINE: Duration = Duration::from_secs(60);
const PER_WRITER: u64 = 10_000;
const TASK: &str = "interop";

/// Appends `n` records after a `go` line on stdin (so all writers start together).
const PY_WRITER: &str = r#"
import sys, tasklog
root, task_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
task = tasklog.Writer(root).task(task_id)
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    task.append("events", {"event": "message", "lang": "python", "i": i})
"#;

const NODE_WRITER: &str = r#"
const { Writer } = require(process.argv[1]);
const [root, taskId, n] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const task = new Writer(root).task(taskId);
process.stdout.write('ready\n');
process.stdin.once('data', () => {
  for (let i = 0; i < n; i++) task.append('events', { event: 'message', lang: 'node', i });
  process.exit(0);
});
"#;

/// Writes the first part of a line by hand, says so, and waits to be killed.
const PY_TORN: &str = r#"
import os, signal, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b'{"event":"message","lang":"torn","i":')
print("torn", flush=True)
signal.pause()
"#;

/// Kills the child when dropped, so a failing assertion leaves no process
/// behind (a leaked child would keep inherited descriptors, such as a build
/// lock, open).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            kill9(&mut self.0);
        }
    }
}

struct Bindings {
    python: String,
    node_module: PathBuf,
}

fn bindings(test: &str) -> Option<Bindings> {
    let python = std::env::var("TASKLOG_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let py_ok = Command::new(&python)
        .args(["-c", "import tasklog"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !py_ok {
        skip(
            test,
            &format!("{python} cannot import tasklog (scripts/test.sh builds crates/tasklog-py)"),
        );
        return None;
    }
    let node_module = std::env::var_os("TASKLOG_TEST_NODE_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tasklog-node"));
    let node_ok = node_module.join("tasklog.node").exists()
        && Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !node_ok {
        skip(
            test,
            "node or the built crates/tasklog-node module is missing (scripts/test.sh builds it)",
        );
        return None;
    }
    Some(Bindings {
        python,
        node_module,
    })
}

fn python(b: &Bindings, script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(&b.python);
    cmd.arg("-c")
        .arg(script)
        .args(args)
        .env_remove("TASKLOG_TRACEPARENT");
    cmd
}

fn node(b: &Bindings, script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg("-e")
        .arg(script)
        .arg(&b.node_module)
        .args(args)
        .env_remove("TASKLOG_TRACEPARENT");
    cmd
}

/// Spawns a writer and waits for its `ready` line.
fn ready(mut cmd: Command) -> (Reaped, ChildStdin, BufReader<ChildStdout>) {
    let mut child = Reaped(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn writer"),
    );
    let stdin = child.0.stdin.take().expect("stdin");
    let mut out = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read ready");
    assert_eq!(line.trim(), "ready", "writer did not start");
    (child, stdin, out)
}

fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("stream");
    assert!(text.ends_with('\n'), "the stream ends mid-line");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line not whole ({e}): {l}")))
        .collect()
}

fn wait_indexed(env: &Env) {
    let path = env.stream(TASK, "events");
    wait_for("the stream indexed", DEADLINE, || {
        env.rows(TASK, "events") == expected_rows(&path)
    });
}

#[test]
fn rust_python_and_node_append_to_one_stream_at_once() {
    let test = "writers_interop::rust_python_and_node_append_to_one_stream_at_once";
    let Some(b) = bindings(test) else { return };
    let env = Env::new();
    let mut watch = Reaped(env.spawn_watch());
    let root = env.root.to_string_lossy().into_owned();
    let n = PER_WRITER.to_string();
    let mut writers = vec![
        ready(python(&b, PY_WRITER, &[&root, TASK, &n])),
        ready(node(&b, NODE_WRITER, &[&root, TASK, &n])),
    ];
    let task = tasklog_writer::Writer::open(&env.root, tasklog_writer::WriterOptions::default())
        .and_then(|w| w.task(TASK))
        .expect("rust task");
    for (_, stdin, _) in &mut writers {
        stdin.write_all(b"go\n").expect("go");
    }
    for i in 0..PER_WRITER {
        let record = tasklog_writer::Record::event("message")
            .with("lang", "rust")
            .with("i", i);
        task.append("events", record).expect("rust append");
    }
    for (mut child, _, _) in writers {
        assert!(
            child.0.wait().expect("wait writer").success(),
            "a writer failed"
        );
    }

    let recs = records(&env.stream(TASK, "events"));
    assert_eq!(recs.len() as u64, 3 * PER_WRITER);
    let seqs: Vec<u64> = recs
        .iter()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=3 * PER_WRITER).collect::<Vec<_>>(),
        "seq is not 1, 2, 3, ..."
    );
    let ts: Vec<&str> = recs.iter().map(|r| r["ts"].as_str().expect("ts")).collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "ts goes backwards in file order"
    );
    for lang in ["rust", "python", "node"] {
        let mut is: Vec<u64> = recs
            .iter()
            .filter(|r| r["lang"] == lang)
            .map(|r| r["i"].as_u64().expect("i"))
            .collect();
        is.sort_unstable();
        assert_eq!(
            is,
            (0..PER_WRITER).collect::<Vec<_>>(),
            "{lang} lost or doubled records"
        );
    }
    wait_indexed(&env);
    let distinct = env.count(
        "SELECT count(DISTINCT json_extract(body, '$.id')) FROM records WHERE stream = 'events'",
    );
    assert_eq!(distinct as u64, 3 * PER_WRITER);
    terminate(&mut watch.0);
    verify_equal(&env);
}

#[test]
fn a_writer_killed_mid_line_is_mended_by_each_language() {
    let test = "writers_interop::a_writer_killed_mid_line_is_mended_by_each_language";
    let Some(b) = bindings(test) else { return };
    let env = Env::new();
    let mut watch = Reaped(env.spawn_watch());
    let root = env.root.to_string_lossy().into_owned();
    let task = tasklog_writer::Writer::open(&env.root, tasklog_writer::WriterOptions::default())
        .and_then(|w| w.task(TASK))
        .expect("rust task");
    task.append(
        "events",
        tasklog_writer::Record::event("message").with("i", 0),
    )
    .expect("first");
    let path = env.stream(TASK, "events");

    let append_one = [
        (
            "python",
            r#"import sys, tasklog; tasklog.Writer(sys.argv[1]).task(sys.argv[2]).append("events", {"event": "message", "lang": "python"})"#,
        ),
        (
            "node",
            r#"const {Writer}=require(process.argv[1]); new Writer(process.argv[2]).task(process.argv[3]).append('events', {event: 'message', lang: 'node'})"#,
        ),
        ("rust", ""),
    ];
    for (lang, script) in append_one {
        // A writer dies in the middle of a line: a fragment ends the file.
        let mut torn = Reaped(
            python(&b, PY_TORN, &[path.to_str().expect("utf-8 path")])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn torn writer"),
        );
        let mut line = String::new();
        BufReader::new(torn.0.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line.trim(), "torn");
        kill9(&mut torn.0);
        let before = std::fs::read(&path).expect("stream");
        assert_ne!(before.last(), Some(&b'\n'), "no torn tail to mend");

        // The next writer, in each language, ends the fragment and stands on its own line.
        match lang {
            "python" => assert!(python(&b, script, &[&root, TASK])
                .status()
                .expect("python")
                .success()),
            "node" => assert!(node(&b, script, &[&root, TASK])
                .status()
                .expect("node")
                .success()),
            _ => {
                // A fresh writer handle, as a new process would have.
                let fresh = tasklog_writer::Writer::open(
                    &env.root,
                    tasklog_writer::WriterOptions::default(),
                )
                .and_then(|w| w.task(TASK))
                .expect("fresh task");
                fresh
                    .append(
                        "events",
                        tasklog_writer::Record::event("message").with("lang", "rust"),
                    )
                    .expect("rust append");
            }
        }
        let after = std::fs::read(&path).expect("stream");
        assert_eq!(
            after[before.len()],
            b'\n',
            "{lang} did not mend the torn tail"
        );
        let added: Value = serde_json::from_slice(&after[before.len() + 1..]).expect("whole line");
        assert_eq!(added["lang"], lang);
    }

    // Whole lines carry seq 1..=4; each fragment is its own quarantined line.
    let text = std::fs::read_to_string(&path).expect("stream");
    let seqs: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    assert_eq!(text.lines().count(), 7, "{text}");
    wait_indexed(&env);
    assert_eq!(env.rows(TASK, "events").len(), 4);
    terminate(&mut watch.0);
    verify_equal(&env);
}
