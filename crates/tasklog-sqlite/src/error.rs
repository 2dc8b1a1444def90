//! SQLite's errors in the core's [`Error::Store`]: the database file, the
//! operation, and whether waiting may cure it.

use std::path::Path;

use tasklog_tail::Error;

/// Wraps a rusqlite error: `path` is the database file, `op` what was
/// being done.
pub(crate) fn sqlite_error(path: impl AsRef<Path>, op: &'static str, e: rusqlite::Error) -> Error {
    let transient = is_transient(&e);
    Error::store(path.as_ref().display().to_string(), op, e, transient)
}

/// Whether waiting may cure the error: the database is busy, locked, full,
/// read-only or failing I/O. A checkpoint conflict or an SQL error is not
/// cured by waiting, so it is reported at once.
fn is_transient(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    match e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            DatabaseBusy
                | DatabaseLocked
                | DiskFull
                | ReadOnly
                | SystemIoFailure
                | CannotOpen
                | OutOfMemory
        ),
        _ => false,
    }
}

/// The rusqlite error inside a store error, if it is one (for callers that
/// tell SQLite's codes apart, e.g. a missing table).
pub fn as_sqlite(e: &Error) -> Option<&rusqlite::Error> {
    match e {
        Error::Store { source, .. } => source.downcast_ref::<rusqlite::Error>(),
        _ => None,
    }
}
