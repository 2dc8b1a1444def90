//! The open-file limit (`RLIMIT_NOFILE`) of long-running commands.
//!
//! `watch` and `serve` hold a database, its WAL and lock files, an inotify
//! descriptor, a runtime's few, and a stream or two at a time: about 24
//! descriptors, more with clients and importers. Shells and service
//! managers often start processes with a low soft limit and a high hard
//! one (systemd: 1024 and 524288), so the soft limit is raised to the hard
//! one at start, as many servers do. When even the hard limit is too low,
//! the user is told at start and again beside the error, instead of a bare
//! "unable to open database file" (issue 22).

/// Below this the sidecar may fail to start or to open a file.
pub const NEEDED: u64 = 64;

/// The soft limit after raising it as far as allowed; `None` when it
/// cannot be read.
pub fn raise() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let (soft, hard) = (lim.current?, lim.maximum);
    // A cap, so that an unlimited hard limit does not ask for "infinity".
    let wanted = hard.unwrap_or(u64::MAX).min(1 << 20);
    if soft >= wanted {
        return Some(soft);
    }
    let raised = Rlimit {
        current: Some(wanted),
        maximum: hard,
    };
    Some(if setrlimit(Resource::Nofile, raised).is_ok() {
        wanted
    } else {
        soft
    })
}

/// What to tell the user when the limit is below [`NEEDED`].
pub fn advice(limit: u64) -> String {
    format!(
        "the open-file limit is {limit} (its hard limit too), below the {NEEDED} tasklog needs \
         to run for long: raise it (`ulimit -n 1024`, `LimitNOFILE=` in a systemd unit, \
         `prlimit --nofile`)"
    )
}
