//! A webhook receiver for the alert tests: a std `TcpListener` on a
//! loopback port, a thread per connection, answers from a script (200,
//! 500, or hang without answering), and every request it read kept.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 OK.
    Ok,
    /// 500 Internal Server Error.
    Fail,
    /// Read the request, answer nothing for this long, then close.
    Hang(Duration),
}

/// One request the receiver read.
#[derive(Debug, Clone)]
pub struct Request {
    pub body: Value,
    pub headers: Vec<(String, String)>,
    pub answer: Answer,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    default: Option<Answer>,
    requests: Vec<Request>,
}

/// The receiver; its thread lives as long as the test process.
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// Listens on 127.0.0.1:0; answers 200 unless scripted otherwise.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shared = Arc::clone(&inner);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || handle(stream, &shared));
            }
        });
        Receiver { url, inner }
    }

    /// The next answers, in order (then the default).
    pub fn script(&self, answers: &[Answer]) {
        self.inner
            .lock()
            .unwrap()
            .script
            .extend(answers.iter().copied());
    }

    /// The answer once the script is used up.
    pub fn set_default(&self, answer: Answer) {
        self.inner.lock().unwrap().default = Some(answer);
    }

    /// Every request read so far.
    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// The bodies of the requests answered 200.
    pub fn delivered(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.answer == Answer::Ok)
            .map(|r| r.body)
            .collect()
    }

    /// Waits until `cond` holds over the requests, or panics after `timeout`.
    pub fn wait(&self, what: &str, timeout: Duration, cond: impl Fn(&[Request]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if cond(&requests) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; requests: {:#?}",
                requests
                    .iter()
                    .map(|r| (&r.body, r.answer))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn handle(stream: TcpStream, inner: &Mutex<Inner>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut headers = Vec::new();
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let answer = {
        let mut inner = inner.lock().unwrap();
        let answer = inner
            .script
            .pop_front()
            .or(inner.default)
            .unwrap_or(Answer::Ok);
        inner.requests.push(Request {
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            headers,
            answer,
        });
        answer
    };
    let mut stream = stream;
    match answer {
        Answer::Ok => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
        Answer::Fail => {
            let _ = stream.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfail",
            );
        }
        Answer::Hang(d) => std::thread::sleep(d),
    }
}
