//! `.gz` streams made by gzip itself and damaged as files get damaged
//! (issue 22): zero padding after the data (`gzip -t` accepts it), a file
//! cut short (zcat recovers its beginning), several members. The index,
//! `verify` and `export` read the same lines as zcat.

use std::path::Path;
use std::process::Command;

use crate::support::{self, code, stderr, stdout, Env};

/// Lines of a stream, each with a marker `export` output can be counted by.
fn lines(task: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"event\":\"gz-line\",\"task\":\"{task}\",\"n\":{i},\"note\":\"{}\"}}\n",
                "some text that compresses ".repeat(i % 7)
            )
        })
        .collect()
}

fn sh(script: &str, dir: &Path) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh")
}

/// Complete lines `zcat` gives for a file (it may exit 1 on damage).
fn zcat_lines(gz: &Path) -> usize {
    let out = Command::new("zcat").arg(gz).output().expect("zcat");
    out.stdout.iter().filter(|&&b| b == b'\n').count()
}

fn count(env: &Env, task: &str) -> usize {
    let out = env.ok(&[
        "query",
        "--format",
        "csv",
        &format!("SELECT count(*) FROM records WHERE task_id = '{task}'"),
    ]);
    stdout(&out).lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn padded_truncated_and_multi_member_gz_read_as_zcat_reads_them() {
    let test = "gzip_edges::padded_truncated_and_multi_member_gz_read_as_zcat_reads_them";
    if Command::new("gzip").arg("--version").output().is_err() {
        return support::skip(test, "gzip is not installed");
    }
    let env = Env::new();
    for task in ["padded", "cut", "members"] {
        let dir = env.task_dir(task);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("events.jsonl"), lines(task, 3000)).unwrap();
        std::fs::write(dir.join("result.json"), br#"{"status":"completed"}"#).unwrap();
    }
    // Zero padding, as tape tools and `truncate -s +N` leave it.
    let out = sh(
        "gzip events.jsonl && truncate -s +4096 events.jsonl.gz && gzip -t events.jsonl.gz",
        &env.task_dir("padded"),
    );
    assert_eq!(code(&out), 0, "gzip -t accepts padding: {}", stderr(&out));
    // Cut at 60%: zcat recovers the beginning and exits 1.
    let out = sh(
        "gzip events.jsonl && truncate -s $(( $(stat -c %s events.jsonl.gz) * 6 / 10 )) events.jsonl.gz",
        &env.task_dir("cut"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Two members, as `cat a.gz b.gz` makes.
    let out = sh(
        "head -n 1000 events.jsonl | gzip > a.gz && tail -n +1001 events.jsonl | gzip > b.gz \
         && cat a.gz b.gz > events.jsonl.gz && rm a.gz b.gz events.jsonl",
        &env.task_dir("members"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let gz = |task: &str| env.task_dir(task).join("events.jsonl.gz");
    let cut = zcat_lines(&gz("cut"));
    assert!(cut > 0 && cut < 3000, "zcat recovers part: {cut}");
    assert_eq!(zcat_lines(&gz("padded")), 3000);
    assert_eq!(zcat_lines(&gz("members")), 3000);

    let out = env.run(&["index"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The damaged file is named, with where the damage starts.
    let log = stderr(&out);
    assert!(
        log.contains("cut/events.jsonl.gz") && log.contains("compressed byte"),
        "{log}"
    );
    for (task, want) in [("padded", 3000), ("cut", cut), ("members", 3000)] {
        assert_eq!(count(&env, task), want, "{task}: index");
        let export = stdout(&env.ok(&["export", task, "--format", "jsonl"]));
        let exported = export
            .lines()
            .filter(|l| l.starts_with(r#"{"kind":"record""#) && l.contains("gz-line"))
            .count();
        assert_eq!(exported, want, "{task}: export");
    }
    let out = env.run(&["verify"]);
    assert_eq!(code(&out), 0, "verify: {}{}", stdout(&out), stderr(&out));
    // A sidecar started over the same files finds nothing new.
    let out = env.run(&["index"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(count(&env, "cut"), cut);
}
