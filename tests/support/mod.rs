//! Shared helpers for the scenario tests: a temporary log root and
//! database, the real binary with a clean environment, and polling with a
//! deadline (never a fixed sleep).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// A temporary log root and database.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub db: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("tasks");
        let db = dir.path().join("index.db");
        std::fs::create_dir_all(&root).expect("root");
        Env { dir, root, db }
    }

    /// The real binary with every TASKLOG_* variable cleared, then this
    /// environment's root and database.
    pub fn cmd(&self) -> Command {
        self.cmd_as(&[])
    }

    /// [`Env::cmd`] run through `prefix` (e.g. `setpriv ...` from
    /// [`unprivileged_prefix`]); an empty prefix runs the binary directly.
    pub fn cmd_as(&self, prefix: &[String]) -> Command {
        let mut cmd = match prefix.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(env!("CARGO_BIN_EXE_tasklog"));
                cmd
            }
            None => Command::new(env!("CARGO_BIN_EXE_tasklog")),
        };
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TASKLOG_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("TASKLOG_ROOT", &self.root)
            .env("TASKLOG_DB", &self.db)
            .env("XDG_CONFIG_HOME", self.dir.path().join("no-config"))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the binary with `args` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run tasklog")
    }

    /// Runs with `stdin` piped in.
    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tasklog");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        child.wait_with_output().expect("wait tasklog")
    }

    /// Runs and asserts exit code 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(
            code(&out),
            0,
            "tasklog {args:?} failed: {}\nstdout: {}",
            stderr(&out),
            stdout(&out)
        );
        out
    }

    /// Starts `tasklog watch` in the background.
    pub fn spawn_watch(&self) -> Child {
        self.cmd()
            .arg("watch")
            .env("TASKLOG_RECONCILE_MS", "60000")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn watch")
    }

    pub fn task_dir(&self, task: &str) -> PathBuf {
        self.root.join(task)
    }

    pub fn stream(&self, task: &str, stream: &str) -> PathBuf {
        self.root.join(task).join(format!("{stream}.jsonl"))
    }

    /// An outside reader, as sqlite3 or Datasette would open it.
    pub fn reader(&self) -> Connection {
        let conn = Connection::open_with_flags(&self.db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open db");
        conn.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        conn
    }

    /// `(offset, body)` of every record of one stream, by offset.
    pub fn rows(&self, task: &str, stream: &str) -> Vec<(u64, String)> {
        if !self.db.exists() {
            return Vec::new();
        }
        let conn = self.reader();
        let mut stmt = conn
            .prepare(r#"SELECT "offset", body FROM records WHERE task_id = ?1 AND stream = ?2 ORDER BY "offset""#)
            .expect("prepare");
        stmt.query_map([task, stream], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    }

    pub fn count(&self, sql: &str) -> i64 {
        if !self.db.exists() {
            return -1;
        }
        self.reader().query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
    }
}

/// How to run the binary as a user that file modes apply to: an empty
/// prefix when this process is not root; when root (which bypasses modes),
/// `setpriv` or `runuser` to `nobody`. `None` when root and neither works:
/// the caller skips, printing one line on stderr.
pub fn unprivileged_prefix() -> Option<Vec<String>> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some(Vec::new());
    }
    let candidates: [&[&str]; 2] = [
        &[
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
        ],
        &["runuser", "-u", "nobody", "--"],
    ];
    candidates.into_iter().find_map(|c| {
        let prefix: Vec<String> = c.iter().map(|s| s.to_string()).collect();
        Command::new(&prefix[0])
            .args(&prefix[1..])
            .arg(env!("CARGO_BIN_EXE_tasklog"))
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .filter(|s| s.success())
            .map(|_| prefix)
    })
}

/// `tasklog index`, which must succeed.
pub fn index(env: &Env) {
    env.ok(&["index"]);
}

/// `tasklog verify` finds the index equal to the files.
pub fn verify_equal(env: &Env) {
    let out = env.run(&["verify"]);
    assert_eq!(code(&out), 0, "verify: {}{}", stdout(&out), stderr(&out));
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `cond` until it holds or `timeout` passes; panics with `what`.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(cond(), "timed out after {timeout:?} waiting for {what}");
}

/// `(offset, line)` of every complete line of a file that is a JSON object:
/// what `records` must hold for it. Computed independently of the indexer.
pub fn expected_rows(path: &Path) -> Vec<(u64, String)> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut out = Vec::new();
    let mut start = 0usize;
    // FORMAT.md's framing: a leading byte order mark and the `\r` of a
    // `\r\n` ending are not part of the record.
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        start = 3;
    }
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            let end = if i > start && bytes[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            let line = &bytes[start..end];
            if let Ok(text) = std::str::from_utf8(line) {
                if !text.contains('\0')
                    && serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object())
                {
                    out.push((start as u64, text.to_owned()));
                }
            }
            start = i + 1;
        }
    }
    out
}

/// Appends raw bytes to a file, creating it and its folder: what an agent
/// that does not use our writer does.
pub fn append_raw(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("append");
}

/// Stops a child with SIGTERM and returns its exit status.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    child.wait().expect("wait child")
}

/// Write load for the crash tests: `threads` writers append `message`
/// records to tasks `load-0` .. `load-{tasks - 1}` of `env` (in turn),
/// pausing 1 ms every `pause_every` records, until `stop`. Each thread
/// returns how many records it wrote.
pub fn write_load(
    env: &Env,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: u64,
    tasks: u64,
    pause_every: u64,
) -> Vec<std::thread::JoinHandle<u64>> {
    use std::sync::atomic::Ordering;
    let writer = tasklog_writer::Writer::open(&env.root, tasklog_writer::WriterOptions::default())
        .expect("writer");
    (0..threads)
        .map(|w| {
            let (writer, stop) = (writer.clone(), std::sync::Arc::clone(stop));
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let task = writer.task(&format!("load-{}", i % tasks)).expect("task");
                    task.append(
                        "events",
                        tasklog_writer::Record::event("message")
                            .with("w", w)
                            .with("i", i),
                    )
                    .expect("append");
                    i += 1;
                    if i % pause_every == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                i
            })
        })
        .collect()
}

/// Lets a child run until it exits or `within` passes, then kills it with
/// SIGKILL if it still runs (a crash at a chosen instant). True when it
/// was killed.
pub fn kill_within(child: &mut Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline && child.try_wait().expect("try_wait").is_none() {
        std::thread::yield_now();
    }
    let killed = child.try_wait().expect("try_wait").is_none();
    if killed {
        child.kill().expect("kill");
    }
    child.wait().expect("wait child");
    killed
}

/// Kills a child with SIGKILL (no chance to commit anything).
pub fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A child's stderr, collected by a thread as it comes, so a test can wait
/// for a line the child logs (a condition, not a sleep).
pub fn collect_stderr(child: &mut Child) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::BufRead;
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&log);
    let stderr = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
    log
}

/// Says on the terminal, in one line, that `test` was skipped and why.
/// Written to the stderr handle itself, not through `eprintln!`, which the
/// test harness captures and shows only for failing tests: a skip must be
/// seen in a passing run.
///
/// Under `CI=true` a skip is a failure: CI installs everything the tests
/// need (`scripts/install_test_deps.sh`), so a skip there means a missing
/// install step, which a green run would otherwise hide.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} skipped under CI=true ({why}); CI must have what every test needs");
    }
}

/// A loopback port free right now, for a server a test starts (nginx,
/// PgBouncer) that cannot be told to pick its own.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
