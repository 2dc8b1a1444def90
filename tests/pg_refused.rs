//! Values the PostgreSQL server refuses (issue 22): a valid JSON line whose
//! number overflows `numeric` (`1e-20000`, in the generated `doc`) used to
//! stop shipping for every task on every restart. Such a row is now
//! quarantined (as SQLite's path quarantines a bad line) and the rest
//! ships, exactly once across restarts.

use std::time::Duration;

use crate::pg_support::Cluster;
use crate::support::{self, append_raw, code, stderr, stdout, Env};

fn ship(env: &Env, url: &str) -> std::process::Output {
    env.run(&["--host-id", "h1", "index", "--sink", url])
}

fn scalar(url: &str, sql: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.query_one(sql, &[]).unwrap().get(0)
}

/// Lines of one task: `n` good ones, with the refused `bad` ones between.
fn write(env: &Env, task: &str, n: usize, bad: &[&str]) -> usize {
    let mut body = String::new();
    for i in 0..n {
        body.push_str(&format!(
            "{{\"event\":\"message\",\"role\":\"assistant\",\"content\":\"line {i} of {task}\"}}\n"
        ));
        if let Some(b) = bad.get(i) {
            body.push_str(b);
            body.push('\n');
        }
    }
    append_raw(&env.stream(task, "events"), body.as_bytes());
    n
}

#[test]
fn values_the_server_refuses_are_quarantined_and_the_rest_ships_once() {
    let test = "pg_refused::values_the_server_refuses_are_quarantined_and_the_rest_ships_once";
    let Some(cluster) = Cluster::shared(test) else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    // Valid JSON all (SQLite indexes them); PostgreSQL's numeric refuses
    // each (22003, "value overflows numeric format").
    let bad = [
        r#"{"event":"metric","value":1e-20000}"#,
        r#"{"event":"metric","nested":{"v":[-1e-20000]}}"#,
        r#"{"event":"metric","value":2.5E-40000}"#,
    ];
    let mut good = write(&env, "a", 10, &bad);
    good += write(&env, "b", 5, &[]);
    let out = ship(&env, &url);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let records = "SELECT count(*) FROM records WHERE host_id = 'h1'";
    let refused = "SELECT count(*) FROM ingest_errors WHERE host_id = 'h1' AND reason LIKE 'PostgreSQL refused%'";
    assert_eq!(scalar(&url, records), good as i64);
    assert_eq!(scalar(&url, refused), bad.len() as i64);
    // Each refused line named with its place in the file.
    let lines = "SELECT count(*) FROM ingest_errors WHERE host_id = 'h1' AND path = 'a/events.jsonl' AND line IN (2, 4, 6) AND length > 0 AND prefix LIKE '%metric%'";
    assert_eq!(scalar(&url, lines), 3);

    // More lines, one refused, through the sidecar; then restarts: once.
    append_raw(
        &env.stream("b", "events"),
        format!("{}\n{{\"event\":\"after\"}}\n", bad[0]).as_bytes(),
    );
    good += 1;
    let mut watch = env
        .cmd()
        .args(["--host-id", "h1", "watch", "--sink", &url, "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    support::wait_for("the line after", Duration::from_secs(30), || {
        scalar(&url, records) == good as i64
    });
    support::terminate(&mut watch);
    for _ in 0..2 {
        let out = ship(&env, &url);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    assert_eq!(scalar(&url, records), good as i64);
    assert_eq!(scalar(&url, refused), bad.len() as i64 + 1);
    // verify counts the refused lines as quarantined, not as missing rows.
    let out = env.run(&["--host-id", "h1", "verify", "--db", &url]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}
