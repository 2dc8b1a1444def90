//! Reading and writing `indexer_state` in SQLite (the keys are the core's
//! [`StateKey`]).

use rusqlite::{Connection, OptionalExtension};
use tasklog_tail::state::StateKey;

/// The value of `key`, if set.
pub(crate) fn get(conn: &Connection, key: StateKey) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM indexer_state WHERE key = ?1")?
        .query_row([key.as_str()], |r| r.get(0))
        .optional()
}

/// Sets `key` (inside the caller's transaction, if any).
pub(crate) fn set(conn: &Connection, key: StateKey, value: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO indexer_state (key, value) VALUES (?1, ?2)")?
        .execute([key.as_str(), value])
        .map(drop)
}

/// Removes `key`.
pub(crate) fn delete(conn: &Connection, key: StateKey) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM indexer_state WHERE key = ?1")?
        .execute([key.as_str()])
        .map(drop)
}
