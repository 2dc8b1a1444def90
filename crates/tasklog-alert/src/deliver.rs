//! Sending one message: an HTTP POST (ureq) or a local command with the
//! JSON on stdin, retried with exponential backoff inside one pass, behind
//! a circuit breaker per destination. A message that is not delivered in a
//! pass stays pending in the log and is tried again at the next pass.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::rule::{Delivery, Destination};

/// Where a destination's breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Sending normally.
    Closed,
    /// Failing: nothing is sent until the reset time has passed.
    Open,
    /// The reset time passed: the next attempt is the one probe; success
    /// closes the breaker, failure opens it again.
    HalfOpen,
}

/// One destination's breaker and counters, as status reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestinationStatus {
    /// The destination without secrets (`webhook https://host`, `command name`).
    pub destination: String,
    /// The rules that send there.
    pub rules: Vec<String>,
    /// The breaker.
    pub state: BreakerState,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// Messages delivered since the sidecar started.
    pub delivered: u64,
    /// Failed attempts since the sidecar started.
    pub failed_attempts: u64,
    /// Messages waiting for this destination at the last pass.
    pub pending: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the last delivery succeeded.
    pub last_success_at: Option<String>,
    /// When the last attempt failed.
    pub last_failure_at: Option<String>,
}

/// A breaker with its clock.
#[derive(Debug)]
struct Breaker {
    status: DestinationStatus,
    /// When an open breaker lets its probe through (monotonic: a clock
    /// step must not open or close it).
    open_until: Option<Instant>,
}

/// Every destination's breaker, keyed by `Destination::key`.
#[derive(Debug, Default)]
pub struct Sender {
    breakers: BTreeMap<String, Breaker>,
}

/// What one `send` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The destination said yes.
    Delivered,
    /// Every attempt failed; the last error.
    Failed(String),
    /// The breaker is open: nothing was tried.
    Skipped,
}

impl Sender {
    /// Makes sure `destination` has a breaker (so status lists it before
    /// its first message) and notes `rule` as one of its senders.
    pub fn register(&mut self, destination: &Destination, rule: &str) {
        let b = self
            .breakers
            .entry(destination.key())
            .or_insert_with(|| Breaker {
                status: DestinationStatus {
                    destination: destination.display(),
                    rules: Vec::new(),
                    state: BreakerState::Closed,
                    consecutive_failures: 0,
                    delivered: 0,
                    failed_attempts: 0,
                    pending: 0,
                    last_error: None,
                    last_success_at: None,
                    last_failure_at: None,
                },
                open_until: None,
            });
        if !b.status.rules.iter().any(|r| r == rule) {
            b.status.rules.push(rule.to_owned());
        }
    }

    /// The status of every destination.
    pub fn statuses(&self) -> Vec<DestinationStatus> {
        self.breakers.values().map(|b| b.status.clone()).collect()
    }

    /// Sets the pending count shown for each destination.
    pub fn set_pending(&mut self, counts: &BTreeMap<String, u64>) {
        for (key, b) in &mut self.breakers {
            b.status.pending = counts.get(key).copied().unwrap_or(0);
        }
    }

    /// Sends `alert` to `destination`: up to `1 + retries` attempts with
    /// doubling waits, fewer when the breaker opens on the way. `stop`
    /// is asked between attempts, so a shutdown is not held by backoff.
    pub fn send(
        &mut self,
        destination: &Destination,
        delivery: &Delivery,
        alert: &Alert,
        now_text: &dyn Fn() -> String,
        stop: &dyn Fn() -> bool,
    ) -> Outcome {
        self.register(destination, &alert.rule);
        let Some(b) = self.breakers.get_mut(&destination.key()) else {
            return Outcome::Skipped;
        };
        let mut wait = delivery.backoff;
        let mut last = String::new();
        for attempt in 0..=delivery.retries {
            if attempt > 0 {
                if stop() {
                    break;
                }
                sleep_unless(wait, stop);
                wait = wait.saturating_mul(2).min(Duration::from_secs(300));
            }
            match b.status.state {
                BreakerState::Open => match b.open_until {
                    Some(t) if Instant::now() < t => {
                        return if attempt == 0 {
                            Outcome::Skipped
                        } else {
                            Outcome::Failed(last)
                        }
                    }
                    _ => b.status.state = BreakerState::HalfOpen,
                },
                BreakerState::Closed | BreakerState::HalfOpen => {}
            }
            match attempt_once(destination, delivery.timeout, alert) {
                Ok(()) => {
                    b.status.state = BreakerState::Closed;
                    b.status.consecutive_failures = 0;
                    b.status.delivered += 1;
                    b.status.last_success_at = Some(now_text());
                    b.open_until = None;
                    return Outcome::Delivered;
                }
                Err(e) => {
                    tracing::warn!(destination = %b.status.destination, id = %alert.id, attempt, error = %e, "alert delivery failed");
                    b.status.consecutive_failures = b.status.consecutive_failures.saturating_add(1);
                    b.status.failed_attempts += 1;
                    b.status.last_error = Some(e.clone());
                    b.status.last_failure_at = Some(now_text());
                    if b.status.state == BreakerState::HalfOpen
                        || b.status.consecutive_failures >= delivery.breaker_failures
                    {
                        b.status.state = BreakerState::Open;
                        b.open_until = Some(Instant::now() + delivery.breaker_reset);
                    }
                    last = e;
                }
            }
        }
        Outcome::Failed(last)
    }
}

fn sleep_unless(total: Duration, stop: &dyn Fn() -> bool) {
    let end = Instant::now() + total;
    while !stop() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// One attempt; `Err` holds a message without secrets.
fn attempt_once(destination: &Destination, timeout: Duration, alert: &Alert) -> Result<(), String> {
    match destination {
        Destination::Webhook {
            url,
            slack,
            headers,
        } => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                .build()
                .into();
            let mut request = agent
                .post(url.as_str())
                .header("Content-Type", "application/json")
                .header("X-Tasklog-Alert-Id", alert.id.as_str());
            for (name, value) in headers {
                let value = match value.strip_prefix("env:") {
                    Some(var) => std::env::var(var).map_err(|_| {
                        format!("header {name}: environment variable {var} is not set")
                    })?,
                    None => value.clone(),
                };
                request = request.header(name.as_str(), value.as_str());
            }
            let response = request
                .send(alert.body(*slack).as_str())
                .map_err(|e| redact(&e.to_string(), url))?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {}", status.as_u16()))
            }
        }
        Destination::Command { command } => run_command(command, timeout, alert),
    }
}

/// ureq's messages can quote the URL; a Slack URL's path is its secret.
fn redact(message: &str, url: &str) -> String {
    message.replace(url, "<webhook url>")
}

fn run_command(command: &str, timeout: Duration, alert: &Alert) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("TASKLOG_ALERT_ID", &alert.id)
        .env("TASKLOG_ALERT_STATE", alert.state.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting sh -c: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let mut body = alert.body(false).into_bytes();
        body.push(b'\n');
        // A command that does not read its stdin is not a failure.
        let _ = stdin.write_all(&body);
    }
    let end = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("command exited with {status}")),
            Ok(None) if Instant::now() >= end => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "command still running after {}",
                    humantime::format_duration(timeout)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the command: {e}")),
        }
    }
}
