//! Following sources that grow: `tasklog import --follow`.
//!
//! One loop owns the state and waits on one channel of [`Wake`]s with a
//! timeout: a timeout is the poll tick, `Shutdown` ends the loop. Each tick
//! lists the paths again (new session files are found the same way as by a
//! plain import) and imports every file whose length or modification time
//! changed; the import itself is exactly once across crashes (journal.rs),
//! so a follower killed at any instant and started again neither loses nor
//! repeats anything. Shutdown is looked at between two files, never in the
//! middle of one.
//!
//! Sealing: `result.json` seals a task (the index stops watching it), so a
//! followed session is sealed only when its source says it ended (an end
//! marker: Copilot CLI's `session.shutdown`, a trajectory's exit status,
//! OpenHands' `finish`, an OpenCode export) or once it has been unchanged
//! for `seal_after`. A session that grows again after that is still
//! imported; `tasklog index` (or the watcher's reconcile) picks it up.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use crate::discover::{discover, Candidate};
use crate::error::Result;
use crate::import::Importer;
use crate::report::FileReport;

/// What can wake the follower besides its poll tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Stop after the file being imported (SIGINT, SIGTERM).
    Shutdown,
}

/// How often to look, and when an unchanged session is finished.
#[derive(Debug, Clone, Copy)]
pub struct FollowOptions {
    /// Time between two looks at the paths.
    pub poll: Duration,
    /// A source unchanged this long is finished: its task is sealed.
    pub seal_after: Duration,
}

/// What the follower knows of one file (in memory only: after a restart
/// every file is looked at once, and unchanged ones cost a hash).
struct Watched {
    len: u64,
    modified: Option<SystemTime>,
    /// When the file was last seen changing.
    changed_at: Instant,
    sealed: bool,
}

/// Follows `paths` until a [`Wake::Shutdown`] arrives (or the sender is
/// dropped), handing every report of a file that changed to `on_report`.
/// Returns the number of imports made.
pub fn follow(
    importer: &mut Importer,
    paths: &[PathBuf],
    options: FollowOptions,
    wake: &Receiver<Wake>,
    mut on_report: impl FnMut(&FileReport),
) -> Result<u64> {
    importer.defer_seal(true);
    let mut watched: HashMap<PathBuf, Watched> = HashMap::new();
    let mut imports = 0u64;
    loop {
        let candidates = match discover(paths) {
            Ok(c) => c,
            // A folder that is gone for now (a session folder deleted by
            // the agent's cleanup): look again at the next tick.
            Err(e) => {
                tracing::warn!(error = %e, "listing the followed paths");
                Vec::new()
            }
        };
        for candidate in &candidates {
            if wake.try_recv() == Ok(Wake::Shutdown) {
                return Ok(imports);
            }
            imports += look(importer, candidate, &mut watched, options, &mut on_report)?;
        }
        match wake.recv_timeout(options.poll) {
            Ok(Wake::Shutdown) | Err(RecvTimeoutError::Disconnected) => return Ok(imports),
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Imports `candidate` if it changed, seals it if it has been quiet long
/// enough. Returns 1 for an import, else 0.
fn look(
    importer: &mut Importer,
    candidate: &Candidate,
    watched: &mut HashMap<PathBuf, Watched>,
    options: FollowOptions,
    on_report: &mut impl FnMut(&FileReport),
) -> Result<u64> {
    let Ok(meta) = std::fs::metadata(&candidate.path) else {
        return Ok(0); // removed since the listing
    };
    let (len, modified) = (meta.len(), meta.modified().ok());
    if let Some(w) = watched.get_mut(&candidate.path) {
        if w.len == len && w.modified == modified {
            if !w.sealed && w.changed_at.elapsed() >= options.seal_after {
                w.sealed = true;
                if let Err(e) = importer.seal(candidate) {
                    tracing::warn!(path = %candidate.path.display(), error = %e, "sealing");
                }
            }
            return Ok(0);
        }
    }
    let report = importer.import_file(candidate);
    on_report(&report);
    watched.insert(
        candidate.path.clone(),
        Watched {
            len,
            modified,
            changed_at: Instant::now(),
            sealed: false,
        },
    );
    Ok(1)
}
