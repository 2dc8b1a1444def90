//! TLS to PostgreSQL (issue 21): a real server with `ssl = on` and a
//! certificate from a CA the test makes, that accepts TCP clients only over
//! TLS (`hostssl`), so a connection that succeeds was encrypted. Every
//! `sslmode` with libpq's meaning, through the sink (`index --sink`) and a
//! reader (`verify --db`), from the URL and from `PGSSLMODE` /
//! `PGSSLROOTCERT`; each refusal is quick, exit 2, names its cause, and
//! never prints the password.

use std::time::{Duration, Instant};

use crate::pg_support::Cluster;
use crate::support::{code, stderr, Env};
use crate::tls_support::{write, Ca};

/// The server's certificate names `db.test` only; `hostaddr` sends the
/// TCP connection to 127.0.0.1 while TLS checks the name of `host`.
fn url(port: u16, host: &str, params: &str) -> String {
    let sep = if params.is_empty() { "" } else { "&" };
    if host == "127.0.0.1" {
        format!("postgres://tasklog:tasklog@127.0.0.1:{port}/postgres?{params}")
    } else {
        format!("postgres://tasklog:tasklog@{host}:{port}/postgres?hostaddr=127.0.0.1{sep}{params}")
    }
}

/// `tasklog index --sink URL` as host `h`, with extra variables.
fn ship(env: &Env, url: &str, vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = env.cmd();
    cmd.args(["--host-id", "h", "index", "--sink", url]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.env("HOME", env.dir.path())
        .output()
        .expect("run tasklog")
}

#[test]
fn every_sslmode_against_a_tls_only_server() {
    let env = Env::new();
    let dir = env.dir.path();
    let ca = Ca::new("tasklog PostgreSQL test CA");
    let leaf = ca.issue(&["db.test"]);
    let tls_dir = dir.join("server-tls");
    std::fs::create_dir(&tls_dir).unwrap();
    write(&tls_dir, "server.crt", &leaf.cert_pem);
    write(&tls_dir, "server.key", &leaf.key_pem);
    let Some(cluster) =
        Cluster::with_tls("every_sslmode_against_a_tls_only_server", &tls_dir, true)
    else {
        return;
    };
    let port = cluster.port();
    let ca_file = write(dir, "ca.pem", &ca.pem());
    let other_ca = write(dir, "other-ca.pem", &Ca::new("another CA").pem());
    let ca_path = ca_file.display().to_string();
    let other_path = other_ca.display().to_string();
    env.ok(&["append", "t1", "events", r#"{"event":"message","n":1}"#]);

    let works = [
        // Encrypted, not verified (the server takes nothing else).
        url(port, "127.0.0.1", "sslmode=require"),
        // The chain and the name.
        url(
            port,
            "db.test",
            &format!("sslmode=verify-full&sslrootcert={ca_path}"),
        ),
        // The chain only: another name is fine.
        url(
            port,
            "other.test",
            &format!("sslmode=verify-ca&sslrootcert={ca_path}"),
        ),
        // `prefer` takes TLS when offered.
        url(port, "127.0.0.1", "sslmode=prefer"),
    ];
    for good in &works {
        let out = ship(&env, good, &[]);
        assert_eq!(code(&out), 0, "{good}: {}", stderr(&out));
    }
    // A reader over verify-full: the rows shipped above are all there.
    let reader = url(
        port,
        "db.test",
        &format!("sslmode=verify-full&sslrootcert={ca_path}"),
    );
    let out = env.run(&["--db", &reader, "--host-id", "h", "verify"]);
    assert_eq!(code(&out), 0, "verify: {}", stderr(&out));

    let fails = [
        (
            url(
                port,
                "other.test",
                &format!("sslmode=verify-full&sslrootcert={ca_path}"),
            ),
            "not valid for name",
        ),
        (
            url(
                port,
                "127.0.0.1",
                &format!("sslmode=verify-full&sslrootcert={ca_path}"),
            ),
            "not valid for name",
        ),
        (
            url(
                port,
                "db.test",
                &format!("sslmode=verify-ca&sslrootcert={other_path}"),
            ),
            "UnknownIssuer",
        ),
        (
            url(
                port,
                "db.test",
                &format!("sslmode=verify-full&sslrootcert={other_path}"),
            ),
            "UnknownIssuer",
        ),
        (
            url(port, "127.0.0.1", "sslmode=disable"),
            "accepts only TLS connections",
        ),
        (
            url(
                port,
                "db.test",
                "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            ),
            "/nonexistent/ca.pem",
        ),
        (
            url(port, "db.test", "sslmode=verify-full"),
            "no CA is given",
        ),
    ];
    for (bad, expected) in &fails {
        let started = Instant::now();
        let out = ship(&env, bad, &[]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{bad}: {err}");
        assert!(
            err.contains(expected),
            "{bad}: expected {expected:?} in {err}"
        );
        assert!(!err.contains(":tasklog@"), "password shown: {err}");
        // A refused certificate is not retried as if the network failed.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{bad} took {:?}",
            started.elapsed()
        );
    }

    // `watch` retries an unreachable server for ever; a refused
    // certificate is not that: it stops with exit 2.
    let bad = url(
        port,
        "db.test",
        &format!("sslmode=verify-full&sslrootcert={other_path}"),
    );
    let mut watch = env
        .cmd()
        .args(["--host-id", "h", "watch", "--sink", &bad])
        .env("HOME", env.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn watch");
    assert!(
        !crate::support::kill_within(&mut watch, Duration::from_secs(15)),
        "watch kept retrying a refused certificate"
    );
    assert_eq!(watch.wait().expect("status").code(), Some(2));

    // The environment, as libpq reads it; the URL outranks it.
    let bare = url(port, "db.test", "");
    let out = ship(
        &env,
        &bare,
        &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &ca_path)],
    );
    assert_eq!(code(&out), 0, "PGSSLMODE=verify-full: {}", stderr(&out));
    let out = ship(
        &env,
        &bare,
        &[("PGSSLMODE", "verify-ca"), ("PGSSLROOTCERT", &other_path)],
    );
    assert_eq!(code(&out), 2, "PGSSLROOTCERT=another CA");
    assert!(stderr(&out).contains("UnknownIssuer"), "{}", stderr(&out));
    let out = ship(&env, &bare, &[("PGSSLMODE", "disable")]);
    assert_eq!(code(&out), 2, "PGSSLMODE=disable");
    let out = ship(
        &env,
        &url(port, "db.test", "sslmode=require"),
        &[("PGSSLMODE", "disable")],
    );
    assert_eq!(code(&out), 0, "the URL's sslmode wins: {}", stderr(&out));
    // libpq's default root file: `require` then checks the chain.
    let pg_home = dir.join(".postgresql");
    std::fs::create_dir(&pg_home).unwrap();
    std::fs::copy(&other_ca, pg_home.join("root.crt")).unwrap();
    let out = ship(&env, &url(port, "db.test", "sslmode=require"), &[]);
    assert_eq!(
        code(&out),
        2,
        "require with ~/.postgresql/root.crt of another CA"
    );
    assert!(stderr(&out).contains("UnknownIssuer"), "{}", stderr(&out));
}

/// `prefer` (libpq's default) against a server without TLS falls back to
/// a plain connection; `require` does not.
#[test]
fn prefer_falls_back_on_a_server_without_tls() {
    let Some(cluster) = Cluster::shared("prefer_falls_back_on_a_server_without_tls") else {
        return;
    };
    let env = Env::new();
    env.ok(&["append", "t1", "events", r#"{"event":"message"}"#]);
    let db = cluster.database();
    let prefer = db.replace("sslmode=disable", "sslmode=prefer");
    let out = ship(&env, &prefer, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let require = db.replace("sslmode=disable", "sslmode=require");
    let out = ship(&env, &require, &[]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("server does not support TLS"),
        "{}",
        stderr(&out)
    );
}
