//! PostgreSQL as it is run in production (issue 22): PgBouncer in
//! transaction mode in front of the server, a role with only DML rights, a
//! DBA's `statement_timeout`, and sidecars of several hosts starting
//! together on a new database.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pg_support::{self, Cluster};
use crate::support::{append_raw, code, stderr, Env};

fn ship(env: &Env, url: &str, host: &str) -> std::process::Output {
    env.run(&["--host-id", host, "index", "--sink", url])
}

fn lines(env: &Env, tasks: usize, per_task: usize) -> i64 {
    for t in 0..tasks {
        let mut body = String::new();
        for i in 0..per_task {
            body.push_str(&format!(
                "{{\"event\":\"message\",\"role\":\"assistant\",\"content\":\"line {i} of task {t}\"}}\n"
            ));
        }
        append_raw(&env.stream(&format!("t{t}"), "events"), body.as_bytes());
    }
    (tasks * per_task) as i64
}

/// PgBouncer in transaction mode in front of `cluster`, as `nobody`
/// (it refuses to run as root); killed on drop.
struct Bouncer {
    child: Child,
    port: u16,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_pgbouncer(dir: &Path, server_url: &str) -> Option<Bouncer> {
    let binary = "/usr/sbin/pgbouncer";
    if !Path::new(binary).exists() {
        return None;
    }
    // postgres://tasklog:tasklog@127.0.0.1:PORT/postgres?sslmode=disable
    let server_port = server_url
        .split("@127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("the cluster's port");
    let port = crate::support::free_port();
    let d = dir.display();
    std::fs::write(dir.join("users.txt"), "\"tasklog\" \"tasklog\"\n").unwrap();
    std::fs::write(
        dir.join("pgbouncer.ini"),
        format!(
            "[databases]\n* = host=127.0.0.1 port={server_port}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             auth_type = plain\nauth_file = {d}/users.txt\npool_mode = transaction\n\
             default_pool_size = 10\nunix_socket_dir =\nlogfile = {d}/pgbouncer.log\n\
             ignore_startup_parameters = extra_float_digits,options\n"
        ),
    )
    .unwrap();
    let _ = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(dir)
        .status();
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--",
            binary,
        ]);
        c
    } else {
        Command::new(binary)
    };
    let child = cmd
        .arg(dir.join("pgbouncer.ini"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pgbouncer");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "pgbouncer did not start: {d}/pgbouncer.log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Bouncer { child, port })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn a_transaction_pooler_is_refused_plainly_and_leaves_no_lock() {
    let test = "a_transaction_pooler_is_refused_plainly_and_leaves_no_lock";
    let Some(cluster) = Cluster::shared(test) else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    let Some(bouncer) = start_pgbouncer(env.dir.path(), &url) else {
        crate::support::skip(
            test,
            "pgbouncer is not installed (Debian's pgbouncer; scripts/install_test_deps.sh)",
        );
        return;
    };
    let n = lines(&env, 3, 10);
    let pooled = url.replacen(
        &url.split("@127.0.0.1:")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string(),
        &bouncer.port.to_string(),
        1,
    );
    assert_ne!(pooled, url);
    let out = ship(&env, &pooled, "h1");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("transaction pooler"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains(":tasklog@"),
        "the password leaked: {}",
        stderr(&out)
    );
    // Nothing left behind: the same host ships directly at once.
    let out = ship(&env, &url, "h1");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(pg_support::count(&url, "SELECT count(*) FROM records"), n);
}

#[test]
fn a_role_with_only_dml_rights_ships_into_a_migrated_database() {
    let Some(cluster) =
        Cluster::shared("a_role_with_only_dml_rights_ships_into_a_migrated_database")
    else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    // The owner migrates once (an empty root).
    let out = ship(&env, &url, "owner");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let role = format!("dml_{}", fastrand::u32(..));
    let mut admin = pg_support::client(&url);
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'dml';
             REVOKE CREATE ON SCHEMA public FROM PUBLIC;
             GRANT USAGE ON SCHEMA public TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};"
        ))
        .unwrap();
    let dml_url = url.replacen("tasklog:tasklog@", &format!("{role}:dml@"), 1);
    let n = lines(&env, 4, 25);
    let out = ship(&env, &dml_url, "h1");
    assert_eq!(code(&out), 0, "a DML-only role: {}", stderr(&out));
    assert_eq!(pg_support::count(&url, "SELECT count(*) FROM records"), n);
    pg_support::verify_equal(&env, &url, "h1");
}

#[test]
fn a_statement_timeout_is_retried_in_smaller_transactions() {
    let Some(cluster) = Cluster::shared("a_statement_timeout_is_retried_in_smaller_transactions")
    else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    assert_eq!(code(&ship(&env, &url, "h1")), 0); // migrated, before the limit
    let db = url
        .split('/')
        .nth(3)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    pg_support::client(&url)
        .batch_execute(&format!(
            "ALTER DATABASE {db} SET statement_timeout = '150ms'"
        ))
        .unwrap();
    // Many small files: each op is small, the first batches are not.
    let n = lines(&env, 200, 150);
    let out = env
        .cmd()
        .args(["--host-id", "h1", "index", "--sink", &url])
        .env("TASKLOG_BATCH_ROWS", "30000")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(pg_support::count(&url, "SELECT count(*) FROM records"), n);
    pg_support::verify_equal(&env, &url, "h1");
}

#[test]
fn sidecars_starting_together_on_a_new_database_all_start() {
    let Some(cluster) = Cluster::shared("sidecars_starting_together_on_a_new_database_all_start")
    else {
        return;
    };
    for round in 0..4 {
        let url = cluster.database();
        let envs: Vec<Env> = (0..3).map(|_| Env::new()).collect();
        for env in &envs {
            lines(env, 2, 5);
        }
        let children: Vec<Child> = envs
            .iter()
            .enumerate()
            .map(|(i, env)| {
                env.cmd()
                    .args(["--host-id", &format!("h{i}"), "index", "--sink", &url])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
        }
        assert_eq!(pg_support::count(&url, "SELECT count(*) FROM records"), 30);
    }
}
