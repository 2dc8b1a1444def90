//! The followers' status (`[[import]]`, `agents = "auto"`): each follower
//! of a running `tasklog watch` or `serve` says whether it is following or
//! waiting to start again, how often it was started again, and its last
//! error, in `<root>/.tasklog/followers.json`, which `tasklog status` shows
//! beside the alert destinations (issue 22: a follower that fails again
//! and again is seen without reading the log).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tasklog_format::now_rfc3339;

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
