//! The fired-alert log's file: `<root>/.tasklog/alerts.jsonl`, one JSON
//! line per step of a message (`pending` before sending, `delivered` after).
//! It lives under the root, beside the task folders (a dotted name is never
//! a task folder), so deleting and rebuilding the index does not forget
//! which alerts were sent. Lines are appended as the writer does: one
//! `write(2)` on an `O_APPEND` descriptor under `flock`.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use fs2::FileExt;
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Delivery, Entry, State};
use crate::error::{Error, Result};

/// The folder under the root that holds the alert files.
pub const DIR: &str = ".tasklog";

/// The fired-alert log of `root`.
pub fn path(root: &Path) -> PathBuf {
    root.join(DIR).join("alerts.jsonl")
}

/// One line of the file.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    /// `pending` (recorded, about to be sent) or `delivered`.
    event: Delivery,
    /// When this line was written.
    at: String,
    #[serde(flatten)]
    alert: Alert,
}

/// Appends `event` for `alert`.
pub fn append(root: &Path, alert: &Alert, event: Delivery, at: &str) -> Result<()> {
    let path = path(root);
    let io = |what: &str| {
        let path = path.clone();
        let what = what.to_owned();
        move |source| Error::Journal { path, what, source }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("creating the folder"))?;
    }
    let mut line = serde_json::to_vec(&Line {
        event,
        at: at.to_owned(),
        alert: alert.clone(),
    })
    .map_err(|e| Error::Journal {
        path: path.clone(),
        what: "encoding a line".into(),
        source: std::io::Error::other(e),
    })?;
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(&path)
        .map_err(io("opening"))?;
    file.lock_exclusive().map_err(io("locking"))?;
    // A line torn by a crash is ended first, so it stays one bad line
    // instead of swallowing this one.
    let len = file.metadata().map_err(io("reading the length"))?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut last, len - 1)
            .map_err(io("reading the last byte"))?;
        if last[0] != b'\n' {
            line.insert(0, b'\n');
        }
    }
    // One write of the whole line: readers and other processes never see
    // half of it (the lock keeps two writers' lines apart).
    let written = file.write_all(&line).map_err(io("appending"));
    let _ = FileExt::unlock(&file);
    written
}

/// Every message the file knows, folded by (id, state): the latest line
/// wins (`delivered` after `pending`). Lines that do not parse (a torn last
/// line after a crash) are skipped with a warning.
pub fn read(root: &Path) -> Result<Vec<Entry>> {
    let path = path(root);
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Journal {
                path,
                what: "reading".into(),
                source,
            })
        }
    };
    let mut order: Vec<(String, State)> = Vec::new();
    let mut entries: HashMap<(String, State), Entry> = HashMap::new();
    for (n, raw) in text.split(|b| *b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line: Line = match serde_json::from_slice(raw) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(path = %path.display(), line = n + 1, error = %e, "alert log: skipping a line that does not parse");
                continue;
            }
        };
        let key = (line.alert.id.clone(), line.alert.state);
        let entry = entries.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Entry {
                alert: line.alert.clone(),
                delivery: Delivery::Pending,
                attempts: 0,
                last_error: None,
                delivered_at: None,
            }
        });
        if line.event == Delivery::Delivered {
            entry.delivery = Delivery::Delivered;
            entry.delivered_at = Some(line.at);
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|k| entries.remove(&k))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::State;

    fn alert(id: &str, state: State) -> Alert {
        Alert {
            id: id.into(),
            rule: "r".into(),
            state,
            when: "task_failed".into(),
            subject: "t1".into(),
            subject_kind: "task".into(),
            value: 1.0,
            threshold: 1.0,
            unit: "task".into(),
            window: String::new(),
            ts: "2026-12-07T00:00:00Z".into(),
            text: "x".into(),
            host_id: "h".into(),
            test: false,
        }
    }

    #[test]
    fn folds_pending_and_delivered_and_skips_torn_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        append(root, &alert("a", State::Firing), Delivery::Pending, "t0").expect("append");
        append(root, &alert("b", State::Firing), Delivery::Pending, "t1").expect("append");
        append(root, &alert("a", State::Firing), Delivery::Delivered, "t2").expect("append");
        append(root, &alert("a", State::Resolved), Delivery::Pending, "t3").expect("append");
        let mut f = OpenOptions::new()
            .append(true)
            .open(path(root))
            .expect("open");
        f.write_all(b"{\"event\":\"deliv").expect("torn");
        append(root, &alert("c", State::Firing), Delivery::Pending, "t4").expect("append");
        let got = read(root).expect("read");
        let summary: Vec<_> = got
            .iter()
            .map(|e| (e.alert.id.as_str(), e.alert.state, e.delivery))
            .collect();
        assert_eq!(
            summary,
            [
                ("a", State::Firing, Delivery::Delivered),
                ("b", State::Firing, Delivery::Pending),
                ("a", State::Resolved, Delivery::Pending),
                ("c", State::Firing, Delivery::Pending),
            ]
        );
    }
}
