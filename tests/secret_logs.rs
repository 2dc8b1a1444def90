//! Secrets never reach a log, an error or a status line (issue 21): every
//! PostgreSQL URL shape (a password holding `/`, `?`, `#`, percent-encoded,
//! or given as `password=`), through the reading commands, at every
//! verbosity (-q, default, -v, -vv, -vvv); and the server's token at -vvv.

use std::time::Duration;

use crate::serve_support::fixture::{write_design_layout, Server};
use crate::serve_support::http::request;
use crate::support::Env;

/// The secret every URL below carries (in some spelling).
const MARK: &str = "S3cr";

#[test]
fn postgres_passwords_are_never_printed_at_any_verbosity() {
    let env = Env::new();
    // Port 1: nothing listens, so every command fails while connecting.
    let urls = [
        "postgres://u:S3cr/et@127.0.0.1:1/db",
        "postgres://u:S3cr?et@127.0.0.1:1/db?sslmode=disable",
        "postgres://u:S3cr#et@127.0.0.1:1/db",
        "postgresql://u:S3cr%2Fet@127.0.0.1:1/db",
        "postgres://u@127.0.0.1:1/db?password=S3cret&sslmode=disable",
        "postgres://u:S3cret@127.0.0.1:1/db?sslmode=require",
    ];
    let mut runs = 0;
    for url in urls {
        for verbosity in [&["-q"][..], &[], &["-v"], &["-vv"], &["-vvv"]] {
            for command in [
                vec!["status", "--db", url],
                vec!["tasks", "--db", url],
                vec!["query", "--db", url, "SELECT 1"],
            ] {
                let mut args: Vec<&str> = verbosity.to_vec();
                args.extend(&command);
                let out = env
                    .cmd()
                    .args(&args)
                    .env("TASKLOG_HOST_ID", "h1")
                    .output()
                    .expect("run");
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    !text.contains(MARK),
                    "{args:?} printed the password:\n{text}"
                );
                assert!(
                    !out.status.success(),
                    "{args:?} cannot have reached a server"
                );
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 90);
}

#[test]
fn the_token_is_never_logged_even_at_vvv() {
    let env = Env::new();
    write_design_layout(&env, "t1");
    let token = "S3cr-token-of-24-chars-x";
    let mut server = Server::start(&env, &["-vvv"], &[("TASKLOG_TOKEN", token)]);
    let auth = format!("Bearer {token}");
    for path in [
        "/api/tasks",
        "/api/tasks/t1/logs/metadata",
        "/metrics",
        "/nope",
    ] {
        request(&server.addr, "GET", path, &[("Authorization", &auth)], b"");
    }
    let wrong = "Bearer S3cr-wrong-token-of-24-x";
    request(
        &server.addr,
        "GET",
        "/api/tasks",
        &[("Authorization", wrong)],
        b"",
    );
    server.get(&format!("/?token={token}"));
    std::thread::sleep(Duration::from_millis(200));
    server.terminate();
    let log = server.log();
    assert!(
        log.contains("DEBUG") || log.contains("TRACE"),
        "-vvv logs: {log}"
    );
    assert!(!log.contains(MARK), "the token was logged:\n{log}");
}
