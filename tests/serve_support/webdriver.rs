//! Headless Chromium through chromedriver, spoken to over the W3C
//! WebDriver protocol (plain HTTP and JSON) with the client in `http.rs`,
//! so the browser tests build no extra crates on a 2-core machine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http;

/// The browser and its driver, or why they are absent.
pub fn find() -> Result<(PathBuf, PathBuf), String> {
    let which = |names: &[&str]| {
        names.iter().find_map(|n| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join(n))
                    .find(|p| p.is_file())
            })
        })
    };
    match (which(&["chromium", "chromium-browser"]), which(&["chromedriver"])) {
        (Some(browser), Some(driver)) => Ok((browser, driver)),
        _ => Err("chromium or chromedriver is not installed (bash scripts/install_test_deps.sh installs them)".into()),
    }
}

/// A chromedriver process with one browser session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start(browser: &Path, driver: &Path) -> Browser {
        Browser::start_with(browser, driver, &[])
    }

    /// [`Browser::start`] with more Chromium arguments (for example
    /// `--host-resolver-rules=MAP evil.test 127.0.0.1`, a DNS rebinding).
    pub fn start_with(browser: &Path, driver: &Path, extra: &[String]) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(&base).is_ok()
                && http::get(&base, "/status").json()["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend(extra.iter().cloned());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser.to_string_lossy(),
                "args": args
            }
        }}});
        let mut b = Browser {
            driver: child,
            base,
            session: String::new(),
            _profile: profile,
        };
        let created = b.call("POST", "/session", caps);
        b.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        b
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if method == "GET" || method == "DELETE" {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let resp = http::request(
            &self.base,
            method,
            path,
            &[("Content-Type", "application/json")],
            &body,
        );
        let v = resp.json();
        assert!(resp.status == 200, "webdriver {path}: {v}");
        v["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub fn eval(&self, script: &str) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    /// Polls `script` until it returns true, or fails after `within`.
    pub fn wait_for(&self, what: &str, script: &str, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if self.eval(script) == Value::Bool(true) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "browser: {what} not seen within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sets the window's outer size in CSS pixels.
    pub fn resize(&self, width: u32, height: u32) {
        self.session(
            "POST",
            "/window/rect",
            json!({ "width": width, "height": height }),
        );
    }

    /// The current window's handle.
    pub fn handle(&self) -> String {
        self.session("GET", "/window", Value::Null)
            .as_str()
            .expect("window handle")
            .to_owned()
    }

    /// Opens a new tab (same profile) and returns its handle.
    pub fn new_tab(&self) -> String {
        let v = self.session("POST", "/window/new", json!({ "type": "tab" }));
        v["handle"].as_str().expect("new tab handle").to_owned()
    }

    /// Makes `handle` the window commands go to.
    pub fn switch_to(&self, handle: &str) {
        self.session("POST", "/window", json!({ "handle": handle }));
    }

    /// Closes the current window.
    pub fn close_window(&self) {
        self.session("DELETE", "/window", Value::Null);
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.session("GET", "/screenshot", Value::Null);
        let png = base64_decode(b64.as_str().expect("screenshot data"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("screenshot dir");
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http::request(
                &self.base,
                "DELETE",
                &format!("/session/{}", self.session),
                &[],
                b"",
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
