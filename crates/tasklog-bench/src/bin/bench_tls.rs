//! What HTTPS costs `tasklog serve` (issue 21): `GET /healthz` on a new
//! connection (TCP + a full TLS 1.3 handshake, no resumption) and on one
//! kept-alive connection, HTTPS beside plain HTTP to the same build.
//!
//! `bench_tls [--requests 500] [--rounds 5]`
//!
//! Needs the `tasklog` binary of the same build (`cargo build --release -p
//! tasklog -p tasklog-bench`); it is found beside this one. The
//! certificate (ECDSA P-256) is made here with rcgen.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustls::pki_types::ServerName;
use tasklog_bench::{arg, median, report, Figure};

fn main() -> Result<()> {
    let requests = arg("requests", 500) as usize;
    let rounds = arg("rounds", 5) as usize;
    let tasklog = std::env::current_exe()?
        .parent()
        .context("binary folder")?
        .join("tasklog");
    if !tasklog.is_file() {
        bail!(
            "{} not found: cargo build --release -p tasklog",
            tasklog.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.self_signed(&key)?;
    let cert_path = dir.path().join("server.crt");
    let key_path = dir.path().join("server.key");
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone())?;
    #[allow(deprecated)] // ring: the provider tasklog is built with
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every new connection pays the full handshake.
    config.resumption = rustls::client::Resumption::disabled();
    let config = Arc::new(config);

    let root = dir.path().join("tasks");
    std::fs::create_dir_all(&root)?;
    let db = dir.path().join("index.db");
    let tls_args = [
        "--tls-cert",
        cert_path.to_str().context("utf-8")?,
        "--tls-key",
        key_path.to_str().context("utf-8")?,
    ];
    let mut plain = Serve::start(&tasklog, &root, &db, &[])?;
    let mut https = Serve::start(&tasklog, &root, &db, &tls_args)?;

    let (mut new_plain, mut new_tls, mut keep_plain, mut keep_tls) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        new_plain.push(per_request(requests, || {
            exchange(tcp(&plain.addr)?, &plain.addr, 1)
        })?);
        new_tls.push(per_request(requests, || {
            exchange(tls(&https.addr, &config)?, &https.addr, 1)
        })?);
        keep_plain.push(
            per_request(1, || exchange(tcp(&plain.addr)?, &plain.addr, requests))?
                / requests as u32,
        );
        keep_tls.push(
            per_request(1, || {
                exchange(tls(&https.addr, &config)?, &https.addr, requests)
            })? / requests as u32,
        );
    }
    plain.stop();
    https.stop();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    report(&[
        Figure {
            name: "GET /healthz, new connection: HTTPS".into(),
            value: us(median(new_tls)),
            unit: "us/request",
            baseline: Some(("plain HTTP".into(), us(median(new_plain)))),
            target: "report",
        },
        Figure {
            name: "GET /healthz, kept-alive connection: HTTPS".into(),
            value: us(median(keep_tls)),
            unit: "us/request",
            baseline: Some(("plain HTTP".into(), us(median(keep_plain)))),
            target: "<= 1.5x",
        },
    ])
}

/// The median time of `n` calls of `f`.
fn per_request(n: usize, mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f()?;
        times.push(started.elapsed());
    }
    Ok(median(times))
}

/// A plain connection to `addr`, with `TCP_NODELAY` as browsers and curl set it.
fn tcp(addr: &str) -> Result<TcpStream> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// A TLS connection to `addr`, handshake done.
fn tls(
    addr: &str,
    config: &Arc<rustls::ClientConfig>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let conn =
        rustls::ClientConnection::new(Arc::clone(config), ServerName::try_from("localhost")?)?;
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// `count` requests of `/healthz` on one connection, each answer read whole.
fn exchange(stream: impl Read + Write, addr: &str, count: usize) -> Result<()> {
    let mut stream = BufReader::new(stream);
    for _ in 0..count {
        write!(
            stream.get_mut(),
            "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n"
        )?;
        stream.get_mut().flush()?;
        let mut length = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            if stream.read_line(&mut line)? == 0 {
                bail!("connection closed");
            }
            if first && !line.starts_with("HTTP/1.1 200") {
                bail!("GET /healthz: {line}");
            }
            first = false;
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse()?;
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body)?;
    }
    Ok(())
}

/// `tasklog serve --no-index` on a free port.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    fn start(tasklog: &Path, root: &Path, db: &Path, extra: &[&str]) -> Result<Serve> {
        let mut child = Command::new(tasklog)
            .args(["--root", root.to_str().context("utf-8")?])
            .args(["--db", db.to_str().context("utf-8")?])
            .args(["serve", "--no-index", "--addr", "127.0.0.1:0"])
            .args(extra)
            .env("TASKLOG_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let err = child.stderr.take().context("stderr")?;
        let mut reader = BufReader::new(err);
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                bail!("tasklog serve exited");
            }
            if let Some(rest) = line
                .split("://")
                .nth(1)
                .filter(|_| line.contains("serving"))
            {
                break rest.split('/').next().unwrap_or("").to_owned();
            }
        };
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        Ok(Serve { child, addr })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
