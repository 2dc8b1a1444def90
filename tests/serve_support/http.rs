//! A minimal HTTP/1.1 client for the serve scenarios: one request per
//! connection (`Connection: close`), chunked bodies decoded, and a
//! Server-Sent Events reader. Hand-written so that the tests add no
//! dependency and can send what a browser would not (raw `..`, NUL).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends one request and reads the whole answer.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // A `Host` among `headers` replaces the address (the rebinding tests).
    let host = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map_or(addr, |(_, v)| v);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    // Read until the body is complete: some servers (chromedriver) keep the
    // connection open despite `Connection: close`.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        // A signal to the test process (the scenarios run child processes
        // that come and go) interrupts a blocking read: read again.
        let n = match s.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            read => read.expect("read answer"),
        };
        raw.extend_from_slice(&buf[..n]);
        if n == 0 || complete(&raw) {
            break;
        }
    }
    parse(&raw)
}

/// Whether `raw` holds a whole answer (by Content-Length or the last chunk).
fn complete(raw: &[u8]) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return body.len() >= len;
    }
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    false
}

pub fn get(addr: &str, path: &str) -> Resp {
    request(addr, "GET", path, &[], b"")
}

pub fn parse(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
    out
}

/// An open event stream.
pub struct Sse {
    stream: TcpStream,
    pending: String,
    id: Option<i64>,
    data: Option<String>,
    pub status: u16,
}

/// One event: its id and its data.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub data: serde_json::Value,
}

impl Sse {
    /// Opens `path` with optional `Last-Event-ID` and extra headers.
    pub fn open(addr: &str, path: &str, last_id: Option<i64>, headers: &[(&str, &str)]) -> Sse {
        let mut stream = TcpStream::connect(addr).expect("connect");
        let mut head =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        if let Some(id) = last_id {
            head.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("write");
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut sse = Sse {
            stream,
            pending: String::new(),
            id: None,
            data: None,
            status: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sse.pending.contains("\r\n\r\n") {
            assert!(Instant::now() < deadline, "no answer head from {path}");
            sse.fill();
        }
        let (head, rest) = sse.pending.split_once("\r\n\r\n").expect("head");
        sse.status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        sse.pending = rest.to_owned();
        sse
    }

    /// Reads what is there; returns false at end of stream.
    fn fill(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        match self.stream.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.pending.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                true
            }
            Err(_) => false,
        }
    }

    /// Events until `n` arrived or `within` passed.
    pub fn take(&mut self, n: usize, within: Duration) -> Vec<Event> {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        loop {
            while let Some(nl) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=nl).collect();
                let line = line.trim_end_matches(['\n', '\r']);
                if let Some(v) = line.strip_prefix("id:") {
                    self.id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    self.data = Some(v.trim_start().to_owned());
                } else if line.is_empty() {
                    if let (Some(id), Some(data)) = (self.id.take(), self.data.take()) {
                        let data = serde_json::from_str(&data).expect("event data is JSON");
                        out.push(Event { id, data });
                    }
                }
            }
            if out.len() >= n || Instant::now() >= deadline {
                return out;
            }
            if !self.fill() {
                return out;
            }
        }
    }

    /// Whether the server closed the stream within `within`.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if !self.fill() {
                return true;
            }
            self.pending.clear();
        }
        false
    }
}
