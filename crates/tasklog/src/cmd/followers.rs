//! The followers' status (`[[import]]`, `agents = "auto"`): each follower
//! of a running `tasklog watch` or `serve` says whether it is following or
//! waiting to start again, how often it was started again, and its last
//! error, in `<root>/.tasklog/followers.json`, which `tasklog status` shows
//! beside the alert destinations (issue 22: a follower that fails again
//! and again is seen without reading the log).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tasklog_format::now_rfc3339;
use tasklog_import::Wake;

/// The first wait before a stopped follower is started again; it doubles
/// up to [`MAX_WAIT`].
pub const FIRST_WAIT: Duration = Duration::from_secs(1);
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Keeps one follower running until it is asked to stop.
pub struct Supervisor<'a> {
    pub root: &'a Path,
    /// The followed path, as the status and the log name it.
    pub path: &'a str,
    pub first_wait: Duration,
    /// Where [`Wake::Shutdown`] arrives (the follower reads it too).
    pub wake: &'a Receiver<Wake>,
}

impl Supervisor<'_> {
    /// Runs `follow` with `state` until it returns `Ok` (asked to stop).
    /// Whenever it fails or panics instead, that is logged and put in the
    /// status, and after a wait (`first_wait`, doubling up to [`MAX_WAIT`];
    /// back to `first_wait` after a long good run; a stop ends the wait)
    /// it runs again with a fresh `make()` (the old state may hold what
    /// the panic left half-done). Returns the number of restarts.
    pub fn run<S>(
        &self,
        mut state: S,
        make: impl Fn() -> anyhow::Result<S>,
        mut follow: impl FnMut(&mut S) -> Result<(), String>,
    ) -> u32 {
        let (root, path) = (self.root, self.path);
        update(root, path, |s| s.state = "following".into());
        let (mut restarts, mut streak) = (0u32, 0u32);
        loop {
            let started = Instant::now();
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| follow(&mut state)));
            let why = match outcome {
                Ok(Ok(())) => {
                    update(root, path, |s| s.state = "stopped".into());
                    return restarts;
                }
                Ok(Err(e)) => e,
                Err(panic) => tasklog_import::panic_message(panic.as_ref()),
            };
            if started.elapsed() > 2 * MAX_WAIT {
                streak = 0; // it ran well for a while: start again soon
            }
            restarts += 1;
            streak += 1;
            let wait = backoff(self.first_wait, streak);
            tracing::error!(path, error = %why, restarts, retry_in = ?wait,
                "following stopped; starting it again");
            failed(root, path, why, |s| {
                s.state = "restarting".into();
                s.restarts += 1;
            });
            loop {
                match self.wake.recv_timeout(wait) {
                    Ok(Wake::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                        update(root, path, |s| s.state = "stopped".into());
                        return restarts;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                }
                match make() {
                    Ok(fresh) => break state = fresh,
                    Err(e) => tracing::error!(path, error = %format!("{e:#}"),
                        "following: cannot open the log root; trying again"),
                }
            }
            update(root, path, |s| s.state = "following".into());
        }
    }
}

/// The wait before a follower's `streak`-th start in a row: `first`,
/// doubling, at most [`MAX_WAIT`].
fn backoff(first: Duration, streak: u32) -> Duration {
    let doubled = first.saturating_mul(1 << streak.saturating_sub(1).min(16));
    doubled.min(MAX_WAIT.max(first))
}

/// The status file under the root.
pub fn status_path(root: &Path) -> PathBuf {
    root.join(".tasklog").join("followers.json")
}

/// What the status file holds, rewritten on every change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FollowersReport {
    /// The process whose followers these are.
    pub pid: u32,
    pub updated_at: String,
    pub followers: Vec<FollowerStatus>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FollowerStatus {
    /// The followed path.
    pub path: String,
    /// `following`, `restarting` (stopped; started again after a wait) or
    /// `stopped` (the sidecar stopped it).
    pub state: String,
    /// Times it was started again since the sidecar started.
    pub restarts: u32,
    /// Files whose import failed (a panic included).
    pub failed_files: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// The followers of this process, by followed path.
static FOLLOWERS: Mutex<BTreeMap<String, FollowerStatus>> = Mutex::new(BTreeMap::new());

/// Changes the status of the follower of `path` and rewrites the file.
/// Best effort: a status that cannot be written is logged, never fatal.
pub fn update(root: &Path, path: &str, change: impl FnOnce(&mut FollowerStatus)) {
    // A panic elsewhere while the lock was held leaves a usable map.
    let mut all = FOLLOWERS.lock().unwrap_or_else(|p| p.into_inner());
    let entry = all
        .entry(path.to_owned())
        .or_insert_with(|| FollowerStatus {
            path: path.to_owned(),
            ..FollowerStatus::default()
        });
    change(entry);
    let report = FollowersReport {
        pid: std::process::id(),
        updated_at: now_rfc3339(),
        followers: all.values().cloned().collect(),
    };
    let file = status_path(root);
    let tmp = file.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(&report).unwrap_or_default();
    // Temp file and rename: a reader sees the old report or the new one.
    let written = std::fs::create_dir_all(root.join(".tasklog"))
        .and_then(|()| std::fs::write(&tmp, body))
        .and_then(|()| std::fs::rename(&tmp, &file));
    if let Err(e) = written {
        tracing::warn!(path = %file.display(), error = %e, "cannot write the followers' status");
    }
}

/// Records an error of the follower of `path`.
pub fn failed(root: &Path, path: &str, error: String, change: impl FnOnce(&mut FollowerStatus)) {
    update(root, path, |s| {
        s.last_error = Some(error);
        s.last_error_at = Some(now_rfc3339());
        change(s);
    });
}

/// The last status written under `root`, if any.
pub fn read(root: &Path) -> Option<FollowersReport> {
    let bytes = std::fs::read(status_path(root)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether the process that wrote a report still runs (signal 0 checks
/// that it exists; EPERM: it does, as another user's).
fn running(pid: u32) -> bool {
    use rustix::process::{test_kill_process, Pid};
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    match test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// The followers' lines of `tasklog status`.
pub fn print(root: &Path) -> anyhow::Result<()> {
    let Some(report) = read(root) else {
        return Ok(()); // no follower ever ran here
    };
    let alive = if running(report.pid) {
        "running"
    } else {
        "not running"
    };
    outln!(
        "followers:       {} (pid {} {alive}, as of {})",
        report.followers.len(),
        report.pid,
        report.updated_at
    );
    for f in &report.followers {
        outln!(
            "  {}: {}, {} restart(s), {} failed file(s){}",
            f.path,
            f.state,
            f.restarts,
            f.failed_files,
            match (&f.last_error, &f.last_error_at) {
                (Some(e), Some(at)) => format!(", last error at {at}: {e}"),
                _ => String::new(),
            }
        );
    }
    Ok(())
}

/// A status report (as JSON) with the followers' status added under
/// `followers`, for `tasklog status --format json`: `null` when no follower
/// ever ran here, else the file with `running` (whether its process is).
pub fn with_followers(root: &Path, mut value: serde_json::Value) -> serde_json::Value {
    if let Some(map) = value.as_object_mut() {
        let followers = read(root).map(|r| {
            let running = running(r.pid);
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["running"] = running.into();
            v
        });
        map.insert("followers".into(), followers.unwrap_or_default());
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_follower_waits_1_s_doubling_up_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(FIRST_WAIT, n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(FIRST_WAIT, u32::MAX), MAX_WAIT);
    }

    #[test]
    fn a_follower_that_fails_or_panics_is_started_again_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let supervisor = Supervisor {
            root: dir.path(),
            path: "/followed/a",
            first_wait: Duration::from_millis(5),
            wake: &rx,
        };
        // The state is the run's number; `make` counts the fresh ones.
        let made = std::cell::Cell::new(0);
        let make = || {
            made.set(made.get() + 1);
            Ok(made.get())
        };
        let mut runs = Vec::new();
        let restarts = supervisor.run(0, make, |state: &mut u32| {
            runs.push(*state);
            match runs.len() {
                1 => Err("the events stopped".into()),
                2 => panic!("a bug"),
                _ => Ok(()), // asked to stop
            }
        });
        assert_eq!((restarts, runs), (2, vec![0, 1, 2]));
        let report = read(dir.path()).unwrap();
        let status = &report
            .followers
            .iter()
            .find(|f| f.path == "/followed/a")
            .unwrap();
        assert_eq!((status.state.as_str(), status.restarts), ("stopped", 2));
        assert_eq!(status.last_error.as_deref(), Some("a bug"));
        drop(tx);
    }

    #[test]
    fn a_stop_ends_the_wait_before_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let supervisor = Supervisor {
            root: dir.path(),
            path: "/followed/b",
            first_wait: Duration::from_secs(30),
            wake: &rx,
        };
        let started = Instant::now();
        let restarts = supervisor.run(
            (),
            || Ok(()),
            |()| {
                tx.send(Wake::Shutdown).unwrap(); // arrives during the wait
                Err("failed".into())
            },
        );
        assert_eq!(restarts, 1);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
