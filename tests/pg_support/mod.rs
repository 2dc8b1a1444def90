//! Real PostgreSQL servers for the scenario tests: a throwaway cluster per
//! test that stops or restarts its server, and a fresh database on the
//! cluster `scripts/test.sh` started (`TASKLOG_TEST_PG`) for the others.
//! Both come from `scripts/pg_cluster.sh`. Without PostgreSQL installed a
//! test says in one line that it skipped, and why.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

use crate::support::{skip, Env};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg_cluster.sh");

/// A PostgreSQL cluster: stopped and removed on drop when this test owns it.
pub struct Cluster {
    /// `postgres://tasklog:tasklog@127.0.0.1:PORT/postgres?sslmode=disable`
    pub url: String,
    base: String,
    owned: bool,
}

fn available(test: &str) -> bool {
    let ok = Command::new("bash")
        .args([SCRIPT, "available"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(
            test,
            "PostgreSQL (initdb, pg_ctl) is not installed; scripts/install_test_deps.sh installs it",
        );
    }
    ok
}

impl Cluster {
    /// A cluster of this test's own (for tests that stop its server).
    pub fn private(test: &str) -> Option<Cluster> {
        if !available(test) {
            return None;
        }
        let out = Command::new("bash")
            .args([SCRIPT, "start"])
            .output()
            .expect("run pg_cluster.sh");
        assert!(
            out.status.success(),
            "pg_cluster.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (url, base) = text.trim().split_once(' ').unwrap();
        Some(Cluster {
            url: url.to_owned(),
            base: base.to_owned(),
            owned: true,
        })
    }

    /// A cluster of this test's own with `ssl = on`, serving
    /// `tls_dir/server.crt` and `server.key`; with `hostssl_only`, TCP
    /// clients without TLS are refused (pg_hba.conf `hostssl`).
    pub fn with_tls(test: &str, tls_dir: &std::path::Path, hostssl_only: bool) -> Option<Cluster> {
        if !available(test) {
            return None;
        }
        let mut cmd = Command::new("bash");
        cmd.args([SCRIPT, "start", "--tls"]).arg(tls_dir);
        if hostssl_only {
            cmd.arg("--hostssl-only");
        }
        let out = cmd.output().expect("run pg_cluster.sh");
        assert!(
            out.status.success(),
            "pg_cluster.sh start --tls: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (url, base) = text.trim().split_once(' ').unwrap();
        Some(Cluster {
            url: url.to_owned(),
            base: base.to_owned(),
            owned: true,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        let after_host = self.url.rsplit_once(':').map_or("", |(_, rest)| rest);
        after_host
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the cluster URL")
    }

    /// The cluster of `scripts/test.sh` when it runs one, else a private one.
    pub fn shared(test: &str) -> Option<Cluster> {
        match std::env::var("TASKLOG_TEST_PG") {
            Ok(url) if !url.is_empty() => Some(Cluster {
                url,
                base: String::new(),
                owned: false,
            }),
            _ => Cluster::private(test),
        }
    }

    /// A new, empty database on this cluster; its URL.
    pub fn database(&self) -> String {
        let name = format!("t_{}_{}", std::process::id(), fastrand::u64(..));
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        self.url.replace("/postgres?", &format!("/{name}?"))
    }

    /// `pg_ctl stop|start|restart ...` on this test's own cluster.
    pub fn pg_ctl(&self, args: &[&str]) {
        assert!(self.owned, "only a private cluster may be stopped");
        let status = Command::new("bash")
            .args([SCRIPT, "pg_ctl", &self.base])
            .args(args)
            .status()
            .expect("run pg_ctl");
        assert!(status.success(), "pg_ctl {args:?}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new("bash")
                .args([SCRIPT, "stop", &self.base])
                .status();
        }
    }
}

/// A client of `url`, for checks the CLI does not make.
pub fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// `(offset, body)` of a stream's rows of `host` in PostgreSQL, in order.
pub fn rows(url: &str, host: &str, task: &str, stream: &str) -> Vec<(u64, String)> {
    client(url)
        .query(
            r#"SELECT "offset", body FROM records WHERE host_id = $1 AND task_id = $2 AND stream = $3 ORDER BY "offset""#,
            &[&host, &task, &stream],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
        .collect()
}

/// `tasklog verify --db URL --host-id HOST` finds `host`'s rows equal to
/// `env`'s files.
pub fn verify_equal(env: &Env, url: &str, host: &str) {
    let out = env.run(&["--db", url, "--host-id", host, "verify"]);
    assert_eq!(
        crate::support::code(&out),
        0,
        "verify {host}: {}{}",
        crate::support::stdout(&out),
        crate::support::stderr(&out)
    );
}

/// One count from PostgreSQL.
pub fn count(url: &str, sql: &str) -> i64 {
    client(url).query_one(sql, &[]).unwrap().get(0)
}

/// `tasklog watch` of `env`'s root shipping into `url` as `host`.
pub fn spawn_watch(env: &Env, url: &str, host: &str) -> Child {
    env.cmd()
        .args(["--host-id", host, "watch", "--sink", url])
        .env("TASKLOG_RECONCILE_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch")
}
