//! Refuses a transaction pooler in front of the server (PgBouncer with
//! `pool_mode = transaction`, or any pooler that hands each transaction
//! another server connection).
//!
//! The sidecar keeps session state: the host's advisory lock (one sidecar
//! per host) and prepared statements. Through a transaction pooler the lock
//! would stay held on a pooled server connection after the sidecar left,
//! and a statement prepared on one server connection is missing on the next
//! ("prepared statement does not exist"). So it is detected before the lock
//! is taken, and said plainly (issue 22), rather than failing later.
//!
//! The probe uses the simple query protocol only (no prepared statement)
//! and two client connections: while one holds a transaction open (and so
//! a server connection), the other is served by another server connection;
//! then the roles swap. Directly, or through a session pool, each client
//! sees one backend pid throughout; a transaction pooler hands at least one
//! of them another backend.

use postgres::{Client, SimpleQueryMessage};

use super::PgTarget;
use tasklog_tail::{Error, Result};

/// Fails with a clear message when `client` is behind a transaction pooler.
pub(super) fn refuse_transaction_pooler(client: &mut Client, target: &PgTarget) -> Result<()> {
    let mut probe = target.connect("pooler-probe")?;
    let err = |e| target.error("checking for a transaction pooler", e);
    let run = |c: &mut Client, sql: &str| -> Result<Option<String>> {
        let messages = c.simple_query(sql).map_err(err)?;
        Ok(messages.into_iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        }))
    };
    const PID: &str = "SELECT pg_backend_pid()";
    run(client, "BEGIN")?;
    let client_first = run(client, PID)?;
    let probe_first = run(&mut probe, PID)?;
    run(client, "COMMIT")?;
    run(&mut probe, "BEGIN")?;
    let probe_second = run(&mut probe, PID)?;
    let client_second = run(client, PID)?;
    run(&mut probe, "COMMIT")?;
    if client_first == client_second && probe_first == probe_second {
        return Ok(());
    }
    Err(Error::PgUnsupported {
        server: target.display().to_owned(),
        reason:
            "this address is a transaction pooler (PgBouncer pool_mode = transaction, or alike): \
                 one session's statements ran on different server connections. The sidecar keeps \
                 session state (its host lock, prepared statements): point --sink at PostgreSQL \
                 itself or at a pool in session mode (docs/OPERATIONS.md)"
                .into(),
    })
}
