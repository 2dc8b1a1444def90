//! The writer commands, run as a user would: `tasklog append` and
//! `tasklog put` against real files, including every bad input.

use std::process::Stdio;

use crate::support::{code, stderr, Env};

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn append_stamps_the_envelope_and_keeps_the_callers_bytes() {
    let env = Env::new();
    env.ok(&[
        "append",
        "gh-450",
        "events",
        r#"{"event":"message","n":1.50,"z":1,"a":2}"#,
    ]);
    let text = std::fs::read_to_string(env.stream("gh-450", "events")).unwrap();
    assert!(
        text.ends_with("\"event\":\"message\",\"n\":1.50,\"z\":1,\"a\":2}\n"),
        "{text}"
    );
    let rec = &lines(&env.stream("gh-450", "events"))[0];
    assert_eq!(rec["v"], 1);
    assert_eq!(rec["seq"], 1);
    assert_eq!(rec["id"].as_str().unwrap().len(), 26);
    assert!(rec["ts"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn append_keeps_fields_the_caller_set() {
    let env = Env::new();
    env.ok(&[
        "append",
        "t",
        "s",
        r#"{"ts":"2020-01-01T00:00:00Z","seq":42,"id":"mine","v":7}"#,
    ]);
    let text = std::fs::read_to_string(env.stream("t", "s")).unwrap();
    assert_eq!(
        text,
        "{\"ts\":\"2020-01-01T00:00:00Z\",\"seq\":42,\"id\":\"mine\",\"v\":7}\n"
    );
}

#[test]
fn append_from_stdin_writes_one_record_per_line_with_increasing_seq() {
    let env = Env::new();
    let input =
        "{\"i\":1}\n\n  \n{\"i\":2}\n{\n \"i\": 3 }\n".replace("{\n \"i\": 3 }", "{\"i\": 3 }");
    let out = env.run_stdin(&["append", "t", "s"], input.as_bytes());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let recs = lines(&env.stream("t", "s"));
    assert_eq!(recs.len(), 3);
    let seqs: Vec<u64> = recs.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    // A second process continues the sequence.
    env.ok(&["append", "t", "s", "{}"]);
    assert_eq!(lines(&env.stream("t", "s"))[3]["seq"], 4);
}

#[test]
fn stdin_stops_at_the_first_bad_line_and_names_it() {
    let env = Env::new();
    let out = env.run_stdin(
        &["append", "t", "s"],
        b"{\"ok\":1}\nnot json\n{\"never\":1}\n",
    );
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("stdin line 2"), "{err}");
    assert!(err.contains("1 earlier record(s) appended"), "{err}");
    assert_eq!(lines(&env.stream("t", "s")).len(), 1);
}

/// Every refused input: exit 2, a message naming the problem, and the
/// stream byte-for-byte unchanged.
#[test]
fn bad_input_is_refused_and_leaves_the_file_unchanged() {
    let env = Env::new();
    env.ok(&["append", "t", "s", r#"{"first":true}"#]);
    let before = std::fs::read(env.stream("t", "s")).unwrap();
    let long = "x".repeat(300);
    let cases: &[(&[&str], &str)] = &[
        (&["append", "", "s", "{}"], "task id is empty"),
        (&["append", ".", "s", "{}"], "relative path component"),
        (&["append", "..", "s", "{}"], "relative path component"),
        (&["append", "a/b", "s", "{}"], "path separator"),
        (&["append", "/etc", "s", "{}"], "path separator"),
        (&["append", "tab\tid", "s", "{}"], "control character"),
        (&["append", ".hidden", "s", "{}"], "starts with '.'"),
        (&["append", &long, "s", "{}"], "bytes long"),
        (&["append", "t", "", "{}"], "stream name is empty"),
        (&["append", "t", "../s", "{}"], "path separator"),
        (&["append", "t", "s/x", "{}"], "path separator"),
        (&["append", "t", "s", "not json"], "not valid JSON"),
        (&["append", "t", "s", "[1,2]"], "not an array"),
        (&["append", "t", "s", "42"], "not a number"),
        (&["append", "t", "s", "\"str\""], "not a string"),
        (&["append", "t", "s", "null"], "not null"),
        (
            &["append", "t", "s", "{\"a\":1} trailing"],
            "trailing characters",
        ),
        (
            &["append", "t", "s", "{\"a\":1}{\"b\":2}"],
            "trailing characters",
        ),
        (&["append", "t", "s", "{\"a\":"], "EOF while parsing"),
        (&["put", "t", "doc", "{bad"], "document refused"),
        (&["put", "t", "doc", "{} {}"], "trailing characters"),
        (&["put", "t", "../doc", "{}"], "path separator"),
    ];
    for (args, want) in cases {
        let out = env.run(args);
        assert_eq!(code(&out), 2, "{args:?} should be refused");
        let err = stderr(&out);
        assert!(
            err.contains(want),
            "{args:?}: stderr {err:?} lacks {want:?}"
        );
        assert!(err.starts_with("tasklog: "), "{err}");
        assert_eq!(
            std::fs::read(env.stream("t", "s")).unwrap(),
            before,
            "{args:?} changed the file"
        );
    }
    assert!(!env.root.join("t/doc.json").exists());
    // Nothing escaped the root.
    assert!(!env.dir.path().join("s.jsonl").exists());
    assert!(!env.dir.path().join("doc.json").exists());
}

#[test]
fn invalid_utf8_on_stdin_is_refused() {
    let env = Env::new();
    let out = env.run_stdin(&["append", "t", "s"], b"{\"a\":\"\xff\xfe\"}\n");
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("not valid UTF-8"), "{}", stderr(&out));
    assert!(
        !env.stream("t", "s").exists() || std::fs::read(env.stream("t", "s")).unwrap().is_empty()
    );
}

#[test]
fn a_line_over_the_limit_is_refused_without_buffering_it() {
    let env = Env::new();
    let mut input = b"{\"a\":\"".to_vec();
    input.extend(std::iter::repeat_n(b'x', 5000));
    input.extend_from_slice(b"\"}\n");
    let out = env
        .cmd()
        .env("TASKLOG_LINE_LIMIT", "1024")
        .args(["append", "t", "s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&input)?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("longer than the 1024-byte line limit"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn put_replaces_documents_atomically_and_keeps_bytes() {
    let env = Env::new();
    env.ok(&["put", "t", "task", "{\"status\":\"active\",\n \"n\": 1.0}"]);
    assert_eq!(
        std::fs::read_to_string(env.root.join("t/task.json")).unwrap(),
        "{\"status\":\"active\",\n \"n\": 1.0}"
    );
    let out = env.run_stdin(&["put", "t", "task"], b"[1, 2, 3]");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(env.root.join("t/task.json")).unwrap(),
        "[1, 2, 3]"
    );
    // No temp file left behind.
    let names: Vec<String> = std::fs::read_dir(env.task_dir("t"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["task.json".to_owned()]);
}

#[test]
fn a_torn_tail_is_ended_before_the_next_record() {
    let env = Env::new();
    env.ok(&["append", "t", "s", r#"{"i":1}"#]);
    let path = env.stream("t", "s");
    // A writer died mid-line.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all_ok(b"{\"torn\":tr");
    env.ok(&["append", "t", "s", r#"{"i":2}"#]);
    let text = std::fs::read_to_string(&path).unwrap();
    let all: Vec<&str> = text.lines().collect();
    assert_eq!(all.len(), 3, "{text}");
    assert_eq!(all[1], "{\"torn\":tr");
    let rec: serde_json::Value = serde_json::from_str(all[2]).unwrap();
    assert_eq!(rec["i"], 2);
    // seq continues from the last record that carried one.
    assert_eq!(rec["seq"], 2);
}

trait WriteAllOk {
    fn write_all_ok(self, bytes: &[u8]);
}

impl WriteAllOk for std::fs::File {
    fn write_all_ok(mut self, bytes: &[u8]) {
        use std::io::Write;
        self.write_all(bytes).unwrap();
    }
}

/// Many processes appending to one stream at once never tear or
/// interleave a line, and seq numbers stay unique.
#[test]
fn concurrent_processes_never_tear_a_line() {
    let env = Env::new();
    const PROCS: usize = 6;
    const LINES: usize = 300;
    let mut children = Vec::new();
    for p in 0..PROCS {
        let mut input = String::new();
        for i in 0..LINES {
            // Long enough that a torn write would show.
            input.push_str(&format!(
                "{{\"proc\":{p},\"i\":{i},\"pad\":\"{}\"}}\n",
                "y".repeat(2000)
            ));
        }
        let mut child = env
            .cmd()
            .args(["append", "shared", "events"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(input.as_bytes()).unwrap();
        });
        children.push((child, writer));
    }
    for (child, writer) in children {
        writer.join().unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let recs = lines(&env.stream("shared", "events"));
    assert_eq!(recs.len(), PROCS * LINES);
    let mut seqs: Vec<u64> = recs.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq must increase along the file"
    );
    seqs.dedup();
    assert_eq!(seqs.len(), PROCS * LINES);
    for p in 0..PROCS {
        let mine: Vec<u64> = recs
            .iter()
            .filter(|r| r["proc"] == p)
            .map(|r| r["i"].as_u64().unwrap())
            .collect();
        assert_eq!(
            mine,
            (0..LINES as u64).collect::<Vec<_>>(),
            "process {p} lines out of order or lost"
        );
    }
}

/// A write that hits the file size limit (the same path as a full disk)
/// fails with a clear error and leaves the stream exactly as it was.
#[test]
fn a_failed_write_leaves_the_stream_valid() {
    let env = Env::new();
    env.ok(&[
        "append",
        "t",
        "s",
        &format!("{{\"pad\":\"{}\"}}", "z".repeat(900)),
    ]);
    let path = env.stream("t", "s");
    let before = std::fs::read(&path).unwrap();
    assert!(before.len() < 1024);
    // RLIMIT_FSIZE of 1 KiB (ulimit -f counts 1024-byte blocks); SIGXFSZ
    // ignored so write(2) fails with EFBIG instead of killing the process.
    let script = format!(
        "trap '' XFSZ; ulimit -f 1; exec '{}' append t s '{{\"pad\":\"{}\"}}'",
        env!("CARGO_BIN_EXE_tasklog"),
        "q".repeat(400)
    );
    let out = env
        .cmd()
        .arg("-c")
        .arg(script)
        .env_clear_program("bash")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("appending a record"), "{err}");
    assert!(err.contains("s.jsonl"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a failed append must not leave a torn line"
    );
}

trait Program {
    fn env_clear_program(&mut self, program: &str) -> std::process::Command;
}

impl Program for std::process::Command {
    /// The same environment, another program.
    fn env_clear_program(&mut self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        for (k, v) in self.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.args(self.get_args());
        cmd
    }
}

#[test]
fn a_symlinked_task_folder_is_refused() {
    let env = Env::new();
    let outside = env.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, env.root.join("evil")).unwrap();
    let out = env.run(&["append", "evil", "s", "{}"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn help_and_version_work() {
    let env = Env::new();
    let out = env.ok(&["--help"]);
    let text = crate::support::stdout(&out);
    for cmd in [
        "append", "put", "index", "watch", "verify", "status", "query",
    ] {
        assert!(text.contains(cmd), "--help lacks {cmd}");
    }
    env.ok(&["append", "--help"]);
    env.ok(&["--version"]);
    assert_eq!(code(&env.run(&["no-such-command"])), 2);
}

#[test]
fn config_file_env_and_flags_stack_in_order() {
    let env = Env::new();
    let cfg = env.dir.path().join("cfg.toml");
    let from_file = env.dir.path().join("from-file");
    std::fs::write(
        &cfg,
        format!("root = {:?}\n", from_file.display().to_string()),
    )
    .unwrap();
    // The file beats the default, the environment beats the file, the flag beats both.
    let out = env
        .cmd()
        .env_remove("TASKLOG_ROOT")
        .env("TASKLOG_CONFIG", &cfg)
        .args(["append", "t", "s", "{}"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(from_file.join("t/s.jsonl").exists());
    env.cmd()
        .env("TASKLOG_CONFIG", &cfg)
        .args(["append", "t", "s", "{}"])
        .output()
        .unwrap();
    assert!(env.stream("t", "s").exists());
    let flag_root = env.dir.path().join("flag");
    env.cmd()
        .env("TASKLOG_CONFIG", &cfg)
        .args([
            "--root",
            flag_root.to_str().unwrap(),
            "append",
            "t",
            "s",
            "{}",
        ])
        .output()
        .unwrap();
    assert!(flag_root.join("t/s.jsonl").exists());
    // A typo in the config is an error, not a silent default.
    std::fs::write(&cfg, "[writer]\ndocument_fsyncc = \"never\"\n").unwrap();
    let out = env
        .cmd()
        .env("TASKLOG_CONFIG", &cfg)
        .args(["append", "t", "s", "{}"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("document_fsyncc"), "{}", stderr(&out));
}

#[test]
fn redaction_masks_secrets_before_they_reach_disk() {
    let env = Env::new();
    let out = env
        .cmd()
        .env("TASKLOG_REDACT", "true")
        .args(["append", "t", "s", r#"{"cmd":"curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123'","key":"sk-ant-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(env.stream("t", "s")).unwrap();
    assert!(!text.contains("abcdefghijklmnop"), "{text}");
    assert!(!text.contains("sk-ant-aaaa"), "{text}");
    assert!(text.contains("[REDACTED]"));
}
