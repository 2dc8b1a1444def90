//! `tasklog serve` under attack (issue 21): each test does what an attacker
//! would, against the real binary on a free loopback port: foreign `Host`
//! names (DNS rebinding) and origins (CSRF) over raw HTTP and from a second
//! origin in headless Chromium, a huge value asked of a memory-capped
//! server, the token cookie and redirects, and an indexer that fails.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::serve_support::fixture::{indexed, wait_until, write_design_layout, Server, LONG};
use crate::serve_support::http::{request, Resp};
use crate::serve_support::webdriver;
use crate::support::{code, stderr, Env};

/// The hardening headers every answer must carry.
fn assert_hardened(r: &Resp, what: &str) {
    let csp = r.header("content-security-policy").unwrap_or("");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{what}: CSP {csp:?}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
}

fn port(server: &Server) -> String {
    server.addr.rsplit(':').next().expect("port").to_owned()
}

fn query(server: &Server, headers: &[(&str, &str)], sql: &str) -> Resp {
    request(
        &server.addr,
        "POST",
        "/api/query",
        headers,
        json!({ "sql": sql }).to_string().as_bytes(),
    )
}

fn metric(server: &Server, name: &str) -> f64 {
    let text = server.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[test]
fn foreign_host_names_and_origins_are_refused() {
    let env = Env::new();
    write_design_layout(&env, "h1");
    let server = Server::start(&env, &[], &[]);
    indexed(&server, "h1", "metadata");
    let port = port(&server);
    let get_as = |host: &str, extra: &[(&str, &str)]| {
        let mut headers = vec![("Host", host)];
        headers.extend_from_slice(extra);
        request(&server.addr, "GET", "/api/tasks", &headers, b"")
    };
    // A DNS-rebinding page sends its own name; the loopback names pass.
    for host in [
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("localhost:{}", port.parse::<u16>().expect("port") ^ 1),
    ] {
        let r = get_as(&host, &[]);
        assert_eq!(r.status, 403, "Host {host}: {}", r.text());
        assert!(r.json()["error"]
            .as_str()
            .unwrap_or("")
            .contains("--allow-host"));
        assert_hardened(&r, &host);
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "localhost".to_owned(),
    ] {
        assert_eq!(get_as(&host, &[]).status, 200, "Host {host}");
    }
    let local = format!("localhost:{port}");
    // Another origin (another port of localhost included) is refused.
    for origin in [
        "http://evil.example".to_owned(),
        format!(
            "http://localhost:{}",
            port.parse::<u16>().expect("port") ^ 1
        ),
        "null".to_owned(),
    ] {
        let r = query(
            &server,
            &[
                ("Host", &local),
                ("Origin", &origin),
                ("Content-Type", "application/json"),
            ],
            "SELECT 1",
        );
        assert_eq!(r.status, 403, "Origin {origin}: {}", r.text());
    }
    let same = query(
        &server,
        &[
            ("Host", &local),
            ("Origin", &format!("http://{local}")),
            ("Content-Type", "application/json"),
        ],
        "SELECT 1 AS one",
    );
    assert_eq!(same.status, 200, "{}", same.text());
    assert_eq!(same.json()["rows"], json!([[1]]));
    // A form or `no-cors` fetch of another page can only send text/plain.
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = query(&server, &[("Content-Type", content_type)], "SELECT 1");
        assert_eq!(r.status, 415, "{content_type}: {}", r.text());
    }
    let cross = get_as(
        &local,
        &[
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Mode", "no-cors"),
        ],
    );
    assert_eq!(cross.status, 403, "a cross-site fetch");
    let link = request(
        &server.addr,
        "GET",
        "/",
        &[
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Mode", "navigate"),
        ],
        b"",
    );
    assert_eq!(
        link.status, 200,
        "a link from elsewhere opens the dashboard"
    );
    assert_hardened(&link, "/");
    assert_hardened(&server.get("/api/tasks/nope"), "404");
    assert!(metric(&server, "tasklog_http_refused_total") >= 8.0);
}

#[test]
fn token_strength_cookie_scope_and_redirects() {
    let env = Env::new();
    for weak in ["x", "short-token-15c"] {
        let out = env.run(&["serve", "--addr", "127.0.0.1:0", "--token", weak]);
        assert_eq!(code(&out), 2, "token {weak:?}");
        assert!(stderr(&out).contains("at least 16"), "{}", stderr(&out));
        if weak.len() > 1 {
            assert!(!stderr(&out).contains(weak), "the error repeats the token");
        }
    }
    let token = "a-token-of-24-characters";
    let file = env.dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).expect("token file");
    let server = Server::start(&env, &["--token-file", file.to_str().expect("utf-8")], &[]);
    let first = server.get(&format!("/?token={token}"));
    assert_eq!(first.status, 303);
    let cookie = first.header("set-cookie").expect("cookie").to_owned();
    let name = format!("tasklog_token_{}=", port(&server));
    assert!(cookie.starts_with(&name), "cookie named by port: {cookie}");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{part}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let with = request(&server.addr, "GET", "/api/tasks", &[("Cookie", &pair)], b"");
    assert_eq!(with.status, 200);
    // The old, host-wide name no longer opens anything.
    let old = format!("tasklog_token={token}");
    let r = request(&server.addr, "GET", "/api/tasks", &[("Cookie", &old)], b"");
    assert_eq!(r.status, 401);
    // `//host` would send the browser away with the cookie just set.
    for path in ["//evil.example/", "//evil.example/x/", "/%5Cevil.example"] {
        let r = server.get(&format!("{path}?token={token}"));
        let location = r.header("location").unwrap_or("");
        assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.contains('\\'),
            "{path} -> {location:?}"
        );
    }
}

#[test]
fn a_huge_value_costs_one_request_not_the_server() {
    let env = Env::new();
    write_design_layout(&env, "m1");
    // 1 GiB of address space: a 900 MB printf (or its JSON) cannot fit.
    let prefix: Vec<String> = ["prlimit", "--as=1073741824", "--"]
        .map(String::from)
        .to_vec();
    let mut server = Server::start_as(
        &env,
        &prefix,
        &["--query-timeout-ms", "4000"],
        &[("MALLOC_ARENA_MAX", "2")],
    );
    indexed(&server, "m1", "metadata");
    for sql in [
        "SELECT printf('%.*c', 900000000, 'x') AS big",
        "SELECT randomblob(400000000) AS big",
        "SELECT group_concat(printf('%.*c', 1000000, 'x')) FROM (WITH RECURSIVE n(i) AS \
         (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) SELECT i FROM n)",
    ] {
        let r = query(&server, &[("Content-Type", "application/json")], sql);
        assert_eq!(
            r.status,
            400,
            "{sql}: {}",
            &r.text()[..r.text().len().min(300)]
        );
        assert!(r.json()["error"].as_str().unwrap_or("").contains("too big"));
        assert!(server.alive(), "the server survived {sql}");
    }
    // Many rows of a few MiB each: the rows that fit the byte budget.
    let wide = query(
        &server,
        &[("Content-Type", "application/json")],
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) \
         SELECT printf('%.*c', 4000000, 'y') FROM n",
    );
    assert_eq!(wide.status, 200, "{}", wide.status);
    assert_eq!(wide.json()["truncated_by"], "bytes");
    assert!(wide.body.len() <= 33 << 20, "{} bytes", wide.body.len());
    // A runaway holds one blocking thread; /healthz answers meanwhile.
    let addr = server.addr.clone();
    let runaway = std::thread::spawn(move || {
        request(
            &addr,
            "POST",
            "/api/query",
            &[("Content-Type", "application/json")],
            br#"{"sql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"}"#,
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    let health = server.get("/healthz");
    assert_eq!(health.status, 200);
    assert!(
        !runaway.is_finished(),
        "healthz answered while the runaway ran"
    );
    let stopped = runaway.join().expect("runaway thread");
    assert_eq!(stopped.status, 400);
    assert!(stopped.text().contains("time limit"), "{}", stopped.text());
    assert!(server.alive());
}

#[test]
fn a_failed_indexer_is_restarted_and_healthz_says_so() {
    let env = Env::new();
    write_design_layout(&env, "r1");
    let server = Server::start(&env, &[], &[("TASKLOG_RECONCILE_MS", "100")]);
    indexed(&server, "r1", "metadata");
    assert_eq!(server.get("/healthz").json()["indexer"], "up");
    // The log root replaced by a file: every listing fails.
    let away = env.dir.path().join("tasks.away");
    std::fs::rename(&env.root, &away).expect("move root");
    std::fs::write(&env.root, b"not a folder").expect("file in its place");
    wait_until("healthz 503", LONG, || server.get("/healthz").status == 503);
    assert_eq!(server.get("/healthz").json()["indexer"], "down");
    assert_eq!(metric(&server, "tasklog_indexer_up"), 0.0);
    std::fs::remove_file(&env.root).expect("remove file");
    std::fs::rename(&away, &env.root).expect("root back");
    wait_until("healthz 200 again", LONG, || {
        server.get("/healthz").status == 200
    });
    assert!(metric(&server, "tasklog_indexer_restarts_total") >= 1.0);
    // The restarted indexer indexes new work, once.
    write_design_layout(&env, "r2");
    indexed(&server, "r2", "metadata");
    assert_eq!(
        env.count("SELECT count(*) FROM records WHERE task_id = 'r1'"),
        5,
        "r1 indexed exactly once"
    );
}

#[test]
fn rebinding_and_a_second_origin_in_headless_chromium() {
    let (browser, driver) = match webdriver::find() {
        Ok(found) => found,
        Err(why) => {
            crate::support::skip(
                "rebinding_and_a_second_origin_in_headless_chromium",
                &why.to_string(),
            );
            return;
        }
    };
    let env = Env::new();
    write_design_layout(&env, "b1");
    let victim = Server::start(&env, &[], &[]);
    indexed(&victim, "b1", "metadata");
    // The attacker's page: a plain page (no CSP of ours) the browser
    // reaches as evil.test.
    let attacker = attacker_page();
    let b = webdriver::Browser::start_with(
        &browser,
        &driver,
        &["--host-resolver-rules=MAP evil.test 127.0.0.1".to_owned()],
    );
    // DNS rebinding: evil.test now resolves to the victim's address.
    b.goto(&format!("http://evil.test:{}/", port(&victim)));
    let body = b.eval("return document.body ? document.body.innerText : '';");
    assert!(
        body.as_str()
            .unwrap_or("")
            .contains("not a name of this server"),
        "the victim answered a rebound name: {body}"
    );
    let before = metric(&victim, "tasklog_http_refused_total");
    // CSRF: a page on the attacker's origin posts SQL to the victim in
    // every shape a page can send without a preflight.
    b.goto(&format!("http://evil.test:{attacker}/"));
    let target = format!("http://127.0.0.1:{}/api/query", port(&victim));
    b.eval(&format!(
        "window.done = 0; const t = {target:?};
         const body = JSON.stringify({{sql: 'SELECT count(*) FROM records'}});
         const f = (o) => fetch(t, o).catch(() => null).finally(() => window.done++);
         f({{method: 'POST', mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}}, body}});
         f({{method: 'POST', mode: 'no-cors', body}});
         f({{method: 'POST', headers: {{'Content-Type': 'application/json'}}, body}});
         f({{method: 'GET', mode: 'no-cors'}});
         return 1;"
    ));
    b.wait_for("four fetches settled", "return window.done === 4;", LONG);
    let refused = metric(&victim, "tasklog_http_refused_total") - before;
    assert!(
        refused >= 4.0,
        "the victim refused {refused} of the cross-origin requests"
    );
    // The victim's own dashboard still works under its CSP.
    b.goto(&format!("http://localhost:{}/#/", port(&victim)));
    b.wait_for(
        "the dashboard lists b1",
        "return document.body.innerText.includes('b1');",
        LONG,
    );
    let started = Instant::now();
    let r: Value = b.eval(
        "const r = new XMLHttpRequest(); r.open('POST', '/api/query', false);
         r.setRequestHeader('Content-Type', 'application/json');
         r.send(JSON.stringify({sql: 'SELECT 7 AS n'})); return [r.status, r.responseText];",
    );
    assert_eq!(
        r[0],
        200,
        "same-origin JSON POST: {r} after {:?}",
        started.elapsed()
    );
}

/// A one-page web server on a free loopback port (the attacker's site);
/// its thread ends with the test process.
fn attacker_page() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind attacker");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let body = "<!doctype html><title>attacker</title><p>attacker</p>";
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn connections_beyond_the_limit_are_closed_and_the_server_keeps_serving() {
    use std::io::Read;
    let env = Env::new();
    write_design_layout(&env, "c1");
    let server = Server::start(&env, &["--max-connections", "4"], &[]);
    indexed(&server, "c1", "metadata");
    // Four idle clients that never send a byte hold every place.
    let idle: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(&server.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut fifth = std::net::TcpStream::connect(&server.addr).expect("connect fifth");
    fifth
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    let n = fifth.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the fifth connection is closed at once");
    drop(idle);
    // Raw probes: while the places are still taken a probe is closed, which
    // the shared client would take for a failure.
    let probe = || -> bool {
        use std::io::Write;
        let Ok(mut s) = std::net::TcpStream::connect(&server.addr) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let head = format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            server.addr
        );
        let mut answer = Vec::new();
        s.write_all(head.as_bytes()).is_ok()
            && s.read_to_end(&mut answer).is_ok()
            && answer.starts_with(b"HTTP/1.1 200")
    };
    wait_until("a place is free again", LONG, probe);
    assert!(metric(&server, "tasklog_connections_refused_total") >= 1.0);
}
