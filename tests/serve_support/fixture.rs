//! The serve scenarios' fixtures: `tasklog serve` on a free port, the
//! design's folder layout, a task with something of every kind, and
//! polling with a deadline.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::http;
use super::support::Env;

/// A running `tasklog serve`.
pub struct Server {
    child: Child,
    pub addr: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Server {
        Server::start_as(env, &[], args, vars)
    }

    /// [`Server::start`] run through `prefix` (for example `prlimit --as=N --`).
    pub fn start_as(env: &Env, prefix: &[String], args: &[&str], vars: &[(&str, &str)]) -> Server {
        let mut cmd = env.cmd_as(prefix);
        cmd.args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .env("TASKLOG_RECONCILE_MS", "60000")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn serve");
        let err = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                // Logged before the address is announced, so that a test
                // reading the log after start sees the line.
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
                let announced = line
                    .split("serving http://")
                    .nth(1)
                    .or_else(|| line.split("serving https://").nth(1));
                if let Some(rest) = announced {
                    let _ = tx.send(rest.split('/').next().unwrap_or("").to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!(
                    "serve did not start: {}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                )
            });
        Server { child, addr, log }
    }

    pub fn get(&self, path: &str) -> http::Resp {
        http::get(&self.addr, path)
    }

    /// The process id (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// SIGTERM, and how long the process took to exit (None: not within 5 s).
    pub fn terminate(&mut self) -> Option<(Duration, i32)> {
        let start = Instant::now();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM");
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((start.elapsed(), status.code().unwrap_or(-1)));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds, or fails naming `what`.
pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub const LONG: Duration = Duration::from_secs(20);

/// The per-task layout of the structured task logging design, written the
/// way an agent without our library would: plain files.
pub fn write_design_layout(env: &Env, task: &str) -> PathBuf {
    let dir = env.task_dir(task);
    std::fs::create_dir_all(&dir).expect("task dir");
    let files: [(&str, &str); 5] = [
        ("metadata.json", "{\n  \"task_id\": \"TASK\",\n  \"status\": \"completed\",\n  \"created_at\": \"2026-11-22T10:00:00Z\"\n}\n"),
        ("01-input.json", "{\"issue\": 450, \"prompt\": \"fix the build\"}"),
        ("02-webhook-flow.jsonl", "{\"ts\":\"2026-11-22T10:00:01Z\",\"event\":\"webhook.received\",\"source\":\"github\"}\n{\"ts\":\"2026-11-22T10:00:02Z\",\"event\":\"webhook.routed\",\"to\":\"worker-1\"}\n"),
        ("03-agent-output.jsonl", "{\"ts\":\"2026-11-22T10:00:03Z\",\"event\":\"message\",\"role\":\"assistant\",\"content\":\"looking\"}\n{\"ts\":\"2026-11-22T10:00:04Z\",\"event\":\"tool.start\",\"name\":\"Bash\",\"span_id\":\"b1\",\"input\":\"cargo build\"}\n{\"ts\":\"2026-11-22T10:00:05Z\",\"event\":\"tool.complete\",\"name\":\"Bash\",\"span_id\":\"b1\",\"output\":\"ok\",\"duration_ms\":1000}\n"),
        ("04-final-result.json", "{\"status\": \"success\", \"summary\": \"fixed\"}\n"),
    ];
    for (name, body) in files {
        std::fs::write(dir.join(name), body.replace("TASK", task)).expect("write layout file");
    }
    dir
}

pub fn indexed(server: &Server, task: &str, name: &str) {
    wait_until(&format!("{task}/{name} indexed"), LONG, || {
        server.get(&format!("/api/tasks/{task}/logs/{name}")).status == 200
    });
}

/// A task with a failed tool call, priced and unpriced model calls, a
/// decision, a conversation and a quarantined line.
pub fn write_rich_task(env: &Env, task: &str) {
    let records = [
        r#"{"event":"message","role":"user","content":"please fix the flaky widget test"}"#,
        r#"{"event":"decision","name":"pick-tool","reason":"the log shows a timeout, so rerun with tracing","output":"rerun"}"#,
        r#"{"event":"tool.start","name":"Bash","span_id":"t1","input":"cargo test widget"}"#,
        r#"{"event":"tool.fail","name":"Bash","span_id":"t1","error":"exit status 101","duration_ms":250}"#,
        r#"{"event":"tool.start","name":"Read","span_id":"t2","input":"src/widget.rs"}"#,
        r#"{"event":"tool.complete","name":"Read","span_id":"t2","output":"fn widget() {}","duration_ms":40}"#,
        r#"{"event":"llm.call","gen_ai":{"request":{"model":"model-a"},"provider":{"name":"acme"},"usage":{"input_tokens":1000,"output_tokens":100,"cost":{"amount":0.25}}}}"#,
        r#"{"event":"llm.call","gen_ai":{"request":{"model":"model-b"},"usage":{"input_tokens":2000,"output_tokens":300,"cost":{"amount":0.5}}}}"#,
        r#"{"event":"llm.call","gen_ai":{"request":{"model":"no-such-model-xyz"},"usage":{"input_tokens":10,"output_tokens":5}}}"#,
        r#"{"event":"message","role":"assistant","content":"the widget budget was exceeded"}"#,
    ];
    for r in records {
        env.ok(&["append", task, "events", r]);
    }
    env.ok(&[
        "put",
        task,
        "task",
        &format!(r#"{{"task_id":"{task}","status":"active","title":"Fix the widget"}}"#),
    ]);
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(env.stream(task, "events"))
        .expect("open");
    f.write_all(b"this line is not json\n").expect("garbage");
}

pub fn append(env: &Env, task: &str, content: &str) {
    env.ok(&[
        "append",
        task,
        "events",
        &format!(r#"{{"event":"message","role":"assistant","content":"{content}"}}"#),
    ]);
}

/// Where screenshots go: `<target dir>/serve-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    // <target>/<profile>/deps/serve_scenarios-<hash>
    exe.ancestors()
        .nth(3)
        .expect("target dir")
        .join("serve-screenshots")
}
