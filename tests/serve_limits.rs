//! `tasklog serve` against clients that hold resources (issue 21): raw
//! sockets that send a request head or body slowly or never, kept-alive
//! connections left idle, event streams with a long history whose client
//! never reads, and a server that runs out of file descriptors. Each is the
//! real binary on a free loopback port; each checks that the slow client
//! is cut after its limit while other clients are served meanwhile.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::serve_support::fixture::{indexed, wait_until, write_design_layout, Server, LONG};
use crate::serve_support::http::{request, Sse};
use crate::support::Env;

fn metric(server: &Server, name: &str) -> f64 {
    let text = server.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Sends `first`, then `drip` one byte every 200 ms, reading what comes;
/// returns when the server closes the connection (with what it sent), or
/// `None` after `within`.
fn until_closed(
    addr: &str,
    first: &[u8],
    drip: &[u8],
    within: Duration,
) -> Option<(Duration, String)> {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    s.write_all(first).expect("first bytes");
    let mut got = Vec::new();
    let mut drip = drip.iter().cycle();
    while started.elapsed() < within {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => return Some((started.elapsed(), String::from_utf8_lossy(&got).into())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some((started.elapsed(), String::from_utf8_lossy(&got).into())),
        }
        if let Some(b) = drip.next() {
            if s.write_all(&[*b]).is_err() {
                return Some((started.elapsed(), String::from_utf8_lossy(&got).into()));
            }
        }
    }
    None
}

/// Asks `/healthz` every 50 ms until `stop`; counts the failures.
fn prober(addr: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, usize)> {
    std::thread::spawn(move || {
        let (mut ok, mut failed) = (0, 0);
        while !stop.load(Ordering::SeqCst) {
            let r = request(&addr, "GET", "/healthz", &[], b"");
            if r.status == 200 {
                ok += 1;
            } else {
                failed += 1;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (ok, failed)
    })
}

#[test]
fn slow_heads_bodies_and_idle_connections_are_cut_while_others_are_served() {
    let env = Env::new();
    write_design_layout(&env, "s1");
    let server = Server::start(
        &env,
        &[
            "--header-timeout-ms",
            "1000",
            "--body-timeout-ms",
            "1000",
            "--idle-timeout-ms",
            "20000",
        ],
        &[],
    );
    indexed(&server, "s1", "metadata");
    let stop = Arc::new(AtomicBool::new(false));
    let probe = prober(server.addr.clone(), Arc::clone(&stop));
    let addr = server.addr.clone();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n");
    let post = format!(
        "POST /api/query HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"sql\""
    );
    let keep = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let cases: Vec<(&str, String, &'static [u8])> = vec![
        // Half a request line, then nothing.
        ("half a request line", "GET /heal".into(), b""),
        // Slowloris: a header line that grows by a byte every 200 ms.
        ("headers sent slowly", format!("{head}X-Slow: "), b"aaaaaaaa"),
        // A body that stops after 6 of its 100 bytes.
        ("a body that never finishes", post, b""),
        // A body trickled a byte at a time.
        ("a body sent slowly", format!(
            "POST /api/query HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        ), b"          "),
        // A kept-alive connection left idle after one answer.
        ("an idle kept-alive connection", keep, b""),
    ];
    let runs: Vec<_> = cases
        .into_iter()
        .map(|(what, first, drip)| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                (
                    what,
                    until_closed(&addr, first.as_bytes(), drip, Duration::from_secs(15)),
                )
            })
        })
        .collect();
    for run in runs {
        let (what, closed) = run.join().expect("client thread");
        let (after, answer) = closed.unwrap_or_else(|| panic!("{what}: still open after 15 s"));
        assert!(
            after >= Duration::from_millis(900) && after < Duration::from_secs(6),
            "{what}: closed after {after:?}"
        );
        if what.starts_with("a body") {
            assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
            assert!(
                answer.to_ascii_lowercase().contains("connection: close"),
                "{what}: {answer}"
            );
        }
        if what.contains("kept-alive") {
            assert!(
                answer.starts_with("HTTP/1.1 200"),
                "{what}: one answer first: {answer}"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = probe.join().expect("prober");
    assert_eq!(failed, 0, "every probe meanwhile was answered ({ok} were)");
    assert!(ok >= 10, "{ok} probes");
    assert!(metric(&server, "tasklog_header_timeouts_total") >= 2.0);
    assert!(metric(&server, "tasklog_body_timeouts_total") >= 2.0);
}

/// `/proc/net/tcp`'s code for an established connection.
const ESTABLISHED: u8 = 0x01;

/// The TCP state of the server's end of the loopback connection from
/// `client_port` to `server_port`, if it still exists.
fn server_side_state(server_port: u16, client_port: u16) -> Option<u8> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, state) = (f.get(1)?, f.get(2)?, f.get(3)?);
        (port(local)? == server_port && port(remote)? == client_port)
            .then(|| u8::from_str_radix(state, 16).ok())
            .flatten()
    })
}

/// The resident memory of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

#[test]
fn an_event_stream_that_is_never_read_is_bounded_and_dropped() {
    let env = Env::new();
    // A history of 480 records of 64 KiB each: 30 MiB.
    let dir = env.task_dir("big");
    std::fs::create_dir_all(&dir).expect("task dir");
    let filler = "x".repeat(64 << 10);
    let mut lines = String::new();
    for i in 0..480 {
        lines.push_str(&format!(
            "{{\"ts\":\"2026-11-22T10:00:00Z\",\"event\":\"message\",\"i\":{i},\"content\":\"{filler}\"}}\n"
        ));
    }
    std::fs::write(dir.join("events.jsonl"), &lines).expect("history");
    drop(lines);
    let server = Server::start(
        &env,
        &[
            "--idle-timeout-ms",
            "3000",
            "--event-buffer-bytes",
            "1048576",
        ],
        &[],
    );
    wait_until("the history indexed", LONG, || {
        env.db.exists() && env.count("SELECT count(*) FROM records WHERE task_id = 'big'") == 480
    });
    // A client that reads, from now on.
    let mut reader = Sse::open(&server.addr, "/api/events", None, &[]);
    assert_eq!(reader.status, 200);
    let before = rss(server.pid());
    // Three clients that ask for the whole history and never read, with
    // a small receive buffer.
    let sleepers: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).expect("connect");
            rustix::net::sockopt::set_socket_recv_buffer_size(&s, 4096).expect("SO_RCVBUF");
            let head = format!(
                "GET /api/events?after=0 HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
                server.addr
            );
            s.write_all(head.as_bytes()).expect("ask");
            s
        })
        .collect();
    // Meanwhile the reading client gets new records.
    write_design_layout(&env, "live");
    let got = reader.take(1, LONG);
    assert!(
        got.iter().any(|e| e.data["task_id"] == "live"),
        "the reading client was served while three did not read: {got:?}"
    );
    let mut peak = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        peak = peak.max(rss(server.pid()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let grew = peak.saturating_sub(before);
    eprintln!(
        "serve_limits: the server grew by {:.1} MiB for three clients that do not read 30 MiB each",
        grew as f64 / f64::from(1 << 20)
    );
    // Without a bound each stream holds up to 500 events (here 30 MiB):
    // 97 MiB measured for three. With it: a 1 MiB batch, a 1 MiB queue,
    // hyper's buffer and SQLite's page cache each (about 15 MiB measured).
    assert!(
        grew < 40 << 20,
        "the server grew by {} MiB for three clients that do not read",
        grew >> 20
    );
    // After the idle time the server closes them: its end of each
    // connection leaves ESTABLISHED (what it had sent still sits in the
    // kernel's buffers, unread, so the client sees no end of stream yet).
    let server_port: u16 = server
        .addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    wait_until(
        "the server closed all three",
        Duration::from_secs(15),
        || {
            sleepers.iter().all(|s| {
                let port = s.local_addr().expect("local addr").port();
                server_side_state(server_port, port).is_none_or(|st| st != ESTABLISHED)
            })
        },
    );
    let dropped = metric(&server, "tasklog_connections_idle_closed_total")
        + metric(&server, "tasklog_event_streams_dropped_total");
    assert!(dropped >= 3.0, "{dropped} drops counted");
    // The reading client is still served.
    write_design_layout(&env, "after");
    let got = reader.take(1, LONG);
    assert!(!got.is_empty(), "the reader still gets events");
}

#[test]
fn running_out_of_descriptors_is_survived_and_the_indexer_recovers() {
    let env = Env::new();
    write_design_layout(&env, "e1");
    // 64 descriptors: the server uses about 30 at rest, so 80 clients
    // take the rest and the accepts after them fail with EMFILE.
    let prefix: Vec<String> = ["prlimit", "--nofile=64:64", "--"]
        .map(String::from)
        .to_vec();
    let server = Server::start_as(
        &env,
        &prefix,
        &["--header-timeout-ms", "60000"],
        &[("TASKLOG_RECONCILE_MS", "100")],
    );
    indexed(&server, "e1", "metadata");
    let flood: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(&server.addr).expect("connect (the backlog takes it)"))
        .collect();
    // New work while no descriptor is free: the indexer cannot open it.
    write_design_layout(&env, "e2");
    std::thread::sleep(Duration::from_secs(3));
    drop(flood);
    // Every answer from now on is honest: 200 only with the indexer up,
    // 503 only with it down.
    let mut answers = Vec::new();
    wait_until("e2 indexed after the clients went", LONG, || {
        let h = server.get("/healthz");
        let indexer = h.json()["indexer"].as_str().unwrap_or("").to_owned();
        answers.push((h.status, indexer));
        h.status == 200 && server.get("/api/tasks/e2/logs/metadata").status == 200
    });
    for (status, indexer) in &answers {
        match *status {
            200 => assert_eq!(indexer, "up", "{answers:?}"),
            503 => assert_eq!(indexer, "down", "{answers:?}"),
            other => panic!("/healthz answered {other}: {answers:?}"),
        }
    }
    assert!(
        metric(&server, "tasklog_accept_errors_total") >= 1.0,
        "EMFILE was met"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM records WHERE task_id = 'e1'"),
        5,
        "e1 indexed exactly once"
    );
    // The indexer met EMFILE too (it reconciles every 100 ms and e2 needs
    // opening), failed, and its supervisor brought it back.
    assert!(metric(&server, "tasklog_indexer_restarts_total") >= 1.0);
}

#[test]
fn zero_or_malformed_limits_are_refused_at_start() {
    let env = Env::new();
    for (args, vars) in [
        (vec!["--header-timeout-ms", "0"], vec![]),
        (vec!["--idle-timeout-ms", "soon"], vec![]),
        (vec![], vec![("TASKLOG_BODY_TIMEOUT_MS", "0")]),
        (vec![], vec![("TASKLOG_EVENT_BUFFER_BYTES", "-1")]),
    ] {
        let mut cmd = env.cmd();
        cmd.args(["serve", "--addr", "127.0.0.1:0"]).args(&args);
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run serve");
        assert_eq!(
            crate::support::code(&out),
            2,
            "{args:?} {vars:?}: {}",
            crate::support::stderr(&out)
        );
    }
}
