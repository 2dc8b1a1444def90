//! `tasklog serve` over HTTPS (issue 21): a CA and server certificate made
//! by the test, a client that trusts only that CA, plain HTTP to the TLS
//! port, the `Secure` cookie, a client that stalls its handshake, bad
//! certificate and key files, the config keys, and headless Chromium.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::serve_support::fixture::{write_design_layout, Server};
use crate::serve_support::webdriver;
use crate::support::{code, stderr, Env};
use crate::tls_support::{https_request, write, Ca};

const TOKEN: &str = "a-token-of-24-characters";

/// A server certificate for the loopback names, written into `env`:
/// (CA PEM, cert path, key path).
fn credentials(env: &Env) -> (String, String, String) {
    let ca = Ca::new("tasklog serve test CA");
    let leaf = ca.issue(&["localhost", "127.0.0.1"]);
    let dir = env.dir.path();
    let cert = write(dir, "server.crt", &leaf.cert_pem);
    let key = write(dir, "server.key", &leaf.key_pem);
    (
        ca.pem(),
        cert.display().to_string(),
        key.display().to_string(),
    )
}

#[test]
fn https_with_a_test_ca_secure_cookie_and_no_plain_http() {
    let env = Env::new();
    write_design_layout(&env, "s1");
    let (ca, cert, key) = credentials(&env);
    let server = Server::start(
        &env,
        &["--tls-cert", &cert, "--tls-key", &key, "--token", TOKEN],
        &[],
    );
    assert!(
        server.log().contains("serving https://"),
        "{}",
        server.log()
    );
    let health = https_request(&server.addr, "127.0.0.1", &ca, "GET", "/healthz", &[]).unwrap();
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(health.json()["ok"], true);
    // The dashboard's one-time token: the cookie is Secure over TLS.
    let first = https_request(
        &server.addr,
        "localhost",
        &ca,
        "GET",
        &format!("/?token={TOKEN}"),
        &[],
    )
    .unwrap();
    assert_eq!(first.status, 303);
    let cookie = first.header("set-cookie").expect("cookie").to_owned();
    for part in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(part), "{part}: {cookie}");
    }
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let tasks = https_request(
        &server.addr,
        "127.0.0.1",
        &ca,
        "GET",
        "/api/tasks",
        &[("Cookie", &pair)],
    )
    .unwrap();
    assert_eq!(tasks.status, 200, "{}", tasks.text());
    // A client that trusts another CA refuses the server.
    let other = Ca::new("another CA").pem();
    let err = https_request(&server.addr, "127.0.0.1", &other, "GET", "/healthz", &[])
        .expect_err("a foreign CA must not be trusted");
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );
    // A name the certificate does not hold.
    let err = https_request(&server.addr, "db.example", &ca, "GET", "/healthz", &[])
        .expect_err("a name outside the certificate");
    assert!(err.contains("not valid for name"), "{err}");
    // Plain HTTP to the TLS port: a fixed 400 saying to use HTTPS, no
    // data, and the server goes on.
    let answer = plain_http(&server.addr);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("use https://"),
        "plain HTTP: {answer:?}"
    );
    assert!(
        !answer.contains("\"ok\""),
        "plain HTTP reached a handler: {answer:?}"
    );
    let again = https_request(&server.addr, "127.0.0.1", &ca, "GET", "/healthz", &[]).unwrap();
    assert_eq!(again.status, 200);
}

/// What a plain HTTP request to `addr` reads back (until close or 5 s).
fn plain_http(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes());
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

#[test]
fn a_stalled_handshake_holds_up_no_one_else() {
    let env = Env::new();
    let (ca, cert, key) = credentials(&env);
    let server = Server::start(
        &env,
        &["--tls-cert", &cert, "--tls-key", &key, "--no-index"],
        &[],
    );
    // Connections that never send a ClientHello, and one that sends half.
    let mut idle: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(&server.addr).expect("connect"))
        .collect();
    let mut half = TcpStream::connect(&server.addr).expect("connect");
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .expect("half a record");
    idle.push(half);
    let started = Instant::now();
    let r = https_request(&server.addr, "127.0.0.1", &ca, "GET", "/healthz", &[]).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a stalled handshake delayed another client by {:?}",
        started.elapsed()
    );
    // The handshake limit (10 s) closes a connection that never finishes.
    let mut stalled = idle.swap_remove(0);
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let read = stalled.read(&mut buf);
    assert!(
        matches!(read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock),
        "a stalled handshake was not closed: {read:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "closed before the limit: {:?}",
        started.elapsed()
    );
    drop(idle);
}

#[test]
fn bad_certificate_and_key_files_fail_with_one_message_naming_the_file() {
    let env = Env::new();
    let dir = env.dir.path();
    let ca = Ca::new("tasklog serve test CA");
    let leaf = ca.issue(&["localhost"]);
    let other = ca.issue(&["localhost"]);
    let cert = write(dir, "server.crt", &leaf.cert_pem);
    let key = write(dir, "server.key", &leaf.key_pem);
    let other_key = write(dir, "other.key", &other.key_pem);
    let missing = dir.join("missing.crt");
    // An encrypted PKCS#8 key, as `openssl pkcs8 -topk8 -v2 aes256` writes
    // it: the content is not read, the label is enough to refuse it.
    let encrypted = write(
        dir,
        "encrypted.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIAAAAAAAAAAACAggA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let legacy = write(
        dir,
        "legacy.key",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    );
    let garbage = write(dir, "garbage.crt", "hello\n");
    let p = |p: &std::path::Path| p.display().to_string();
    let cases: Vec<(Vec<String>, String, &str)> = vec![
        (
            vec![
                "--tls-cert".into(),
                p(&missing),
                "--tls-key".into(),
                p(&key),
            ],
            p(&missing),
            "No such file",
        ),
        (
            vec![
                "--tls-cert".into(),
                p(&cert),
                "--tls-key".into(),
                p(&other_key),
            ],
            p(&other_key),
            "does not belong to the certificate",
        ),
        (
            vec!["--tls-cert".into(), p(&cert)],
            p(&cert),
            "without its private key",
        ),
        (
            vec!["--tls-key".into(), p(&key)],
            p(&key),
            "without its certificate",
        ),
        (
            vec![
                "--tls-cert".into(),
                p(&cert),
                "--tls-key".into(),
                p(&encrypted),
            ],
            p(&encrypted),
            "encrypted",
        ),
        (
            vec![
                "--tls-cert".into(),
                p(&cert),
                "--tls-key".into(),
                p(&legacy),
            ],
            p(&legacy),
            "encrypted",
        ),
        (
            vec!["--tls-cert".into(), p(&cert), "--tls-key".into(), p(&cert)],
            p(&cert),
            "no private key",
        ),
        (
            vec![
                "--tls-cert".into(),
                p(&garbage),
                "--tls-key".into(),
                p(&key),
            ],
            p(&garbage),
            "no certificate",
        ),
    ];
    for (args, file, expected) in cases {
        let mut all = vec!["serve", "--no-index", "--addr", "127.0.0.1:0"];
        all.extend(args.iter().map(String::as_str));
        let out = env.run(&all);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(&file), "names {file}: {err}");
        assert!(err.contains(expected), "{expected}: {err}");
        for secret in [&leaf.key_pem, &other.key_pem] {
            let body = secret.lines().nth(1).expect("PEM body");
            assert!(!err.contains(body), "key material printed: {err}");
        }
    }
}

#[test]
fn tls_files_from_the_config_and_the_environment() {
    let env = Env::new();
    let (ca, cert, key) = credentials(&env);
    // `[serve] tls_cert` / `tls_key`.
    let config = env.dir.path().join("tasklog.toml");
    std::fs::write(
        &config,
        format!("[serve]\ntls_cert = {cert:?}\ntls_key = {key:?}\n"),
    )
    .expect("config");
    let server = Server::start(
        &env,
        &["--no-index"],
        &[("TASKLOG_CONFIG", config.to_str().expect("utf-8"))],
    );
    let r = https_request(&server.addr, "localhost", &ca, "GET", "/healthz", &[]).unwrap();
    assert_eq!(r.status, 200);
    drop(server);
    // TASKLOG_TLS_CERT / TASKLOG_TLS_KEY.
    let server = Server::start(
        &env,
        &["--no-index"],
        &[("TASKLOG_TLS_CERT", &cert), ("TASKLOG_TLS_KEY", &key)],
    );
    let r = https_request(&server.addr, "localhost", &ca, "GET", "/healthz", &[]).unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn the_dashboard_over_https_in_headless_chromium() {
    let (browser, driver) = match webdriver::find() {
        Ok(found) => found,
        Err(why) => {
            crate::support::skip("the_dashboard_over_https_in_headless_chromium", &why);
            return;
        }
    };
    let env = Env::new();
    write_design_layout(&env, "h1");
    let (ca, cert, key) = credentials(&env);
    let server = Server::start(
        &env,
        &["--tls-cert", &cert, "--tls-key", &key, "--token", TOKEN],
        &[],
    );
    // The test CA is not in Chromium's store; the certificate checks are
    // the client test's, this one checks the browser's side (the Secure
    // cookie kept and sent, the dashboard's API calls over TLS).
    let b = webdriver::Browser::start_with(
        &browser,
        &driver,
        &["--ignore-certificate-errors".to_owned()],
    );
    crate::support::wait_for("h1 indexed", Duration::from_secs(20), || {
        https_request(
            &server.addr,
            "localhost",
            &ca,
            "GET",
            "/api/tasks",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
        .is_ok_and(|r| r.text().contains("\"h1\""))
    });
    let port = server.addr.rsplit(':').next().expect("port").to_owned();
    b.goto(&format!("https://localhost:{port}/?token={TOKEN}"));
    b.wait_for(
        "the dashboard lists h1 over HTTPS",
        "return location.protocol === 'https:' && !location.search.includes('token') \
         && document.body.innerText.includes('h1');",
        Duration::from_secs(30),
    );
}
