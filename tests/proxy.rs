//! `tasklog serve` behind Debian's nginx as people deploy it (issue 22): a
//! plain `proxy_pass` under a sub-path with nginx's defaults (response
//! buffering on) and `gzip on` for event streams. Events must arrive live.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::serve_support::fixture::{self, Server};
use crate::support::{free_port, Env};

/// nginx in the foreground on a free loopback port, proxying `/tasklog/`
/// to `upstream`; stopped when dropped.
struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(dir: &Path, upstream: &str) -> Option<Nginx> {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let port = free_port();
    let d = dir.display();
    // The defaults a user gets: buffering on, HTTP/1.0 to the upstream
    // unless told otherwise; `gzip on` with the event stream's type.
    let conf = format!(
        "daemon off;\nmaster_process off;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           gzip on;\n  gzip_types text/event-stream application/json;\n\
           server {{\n    listen 127.0.0.1:{port};\n\
             location /tasklog/ {{ proxy_pass http://{upstream}/; }}\n  }}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx.conf");
    let child = Command::new(nginx)
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nginx");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {d}/error.log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Nginx { child, port })
}

/// A response body read as it arrives: HTTP/1.1 chunks undone, then gzip
/// when the response says so.
struct Stream {
    socket: TcpStream,
    raw: Vec<u8>,
    head_done: bool,
    gzip: Option<flate2::write::GzDecoder<Vec<u8>>>,
    chunked: bool,
    plain: Vec<u8>,
}

impl Stream {
    fn open(port: u16, path: &str, gzip: bool) -> Stream {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connect nginx");
        let enc = if gzip {
            "Accept-Encoding: gzip\r\n"
        } else {
            ""
        };
        write!(
            socket,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n{enc}\r\n"
        )
        .expect("request");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        Stream {
            socket,
            raw: Vec::new(),
            head_done: false,
            gzip: None,
            chunked: false,
            plain: Vec::new(),
        }
    }

    /// The decoded body so far, after reading what is there.
    fn poll(&mut self) -> String {
        let mut buf = [0u8; 8192];
        if let Ok(n) = self.socket.read(&mut buf) {
            self.raw.extend_from_slice(&buf[..n]);
        }
        if !self.head_done {
            let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                return String::new();
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            self.chunked = head.contains("transfer-encoding: chunked");
            if head.contains("content-encoding: gzip") {
                self.gzip = Some(flate2::write::GzDecoder::new(Vec::new()));
            }
            self.raw.drain(..end + 4);
            self.head_done = true;
        }
        let mut body = Vec::new();
        if self.chunked {
            // Whole chunks only; a partial one waits for the next poll.
            while let Some(nl) = self.raw.windows(2).position(|w| w == b"\r\n") {
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&self.raw[..nl]).trim(), 16)
                        .expect("chunk size");
                if self.raw.len() < nl + 2 + size + 2 {
                    break;
                }
                body.extend_from_slice(&self.raw[nl + 2..nl + 2 + size]);
                self.raw.drain(..nl + 2 + size + 2);
            }
        } else {
            body.append(&mut self.raw);
        }
        match &mut self.gzip {
            Some(gz) => {
                let _ = gz.write_all(&body);
                let _ = gz.flush();
                self.plain.append(gz.get_mut());
            }
            None => self.plain.extend(body),
        }
        String::from_utf8_lossy(&self.plain).into_owned()
    }

    fn wait_for(&mut self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.poll().contains(needle) {
                return true;
            }
        }
        false
    }
}

#[test]
fn events_arrive_live_through_nginx_with_buffering_and_gzip_on() {
    let test = "events_arrive_live_through_nginx_with_buffering_and_gzip_on";
    let env = Env::new();
    let server = Server::start(&env, &[], &[]);
    let Some(nginx) = start_nginx(env.dir.path(), &server.addr) else {
        crate::support::skip(
            test,
            "nginx is not installed (Debian's nginx; scripts/install_test_deps.sh)",
        );
        return;
    };
    for gzip in [false, true] {
        let mut events = Stream::open(nginx.port, "/tasklog/api/events", gzip);
        // The stream is open (its head arrived) before the record is written.
        let deadline = Instant::now() + fixture::LONG;
        while !events.head_done {
            assert!(Instant::now() < deadline, "no answer head through nginx");
            events.poll();
        }
        let marker = format!("through-the-proxy-{gzip}");
        fixture::append(&env, "t", &marker);
        assert!(
            events.wait_for(&marker, Duration::from_secs(5)),
            "gzip={gzip}: the event did not arrive through nginx within 5 s: {:?}",
            events.poll()
        );
    }
}
