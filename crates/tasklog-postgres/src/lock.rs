//! One sidecar per host and database: a session-level advisory lock on the
//! host id, held by the shipping connection for as long as it lives. The
//! server drops it with the session (a crash, `kill -9`, a server restart),
//! so a lock never outlives its holder for long.

use postgres::Client;

use super::PgTarget;
use tasklog_tail::{Error, Result};

/// The advisory lock key of `host_id`: a 64-bit hash, namespaced so that
/// other applications' advisory locks on the same database do not collide.
fn key(host_id: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(format!("tasklog host {host_id}").as_bytes()) as i64
}

/// Who holds a lock, from `pg_stat_activity`.
struct Holder {
    application_name: String,
    client_addr: String,
    pid: i32,
    since: String,
}

/// Takes the host's lock on `client`'s session, or fails naming who holds
/// it. A holder that is this very process (a session the server has not
/// yet noticed is dead, after a network loss) is ended and the lock taken.
pub(super) fn acquire(client: &mut Client, target: &PgTarget) -> Result<()> {
    let key = key(target.host_id());
    let own_name: String = client
        .query_one("SELECT current_setting('application_name')", &[])
        .map_err(|e| target.error("taking the host's advisory lock", e))?
        .get(0);
    for _ in 0..3 {
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .map_err(|e| target.error("taking the host's advisory lock", e))?
            .get(0);
        if taken {
            return Ok(());
        }
        match holder(client, key) {
            Some(h) if h.application_name == own_name => {
                tracing::warn!(
                    pid = h.pid,
                    "ending this process's stale PostgreSQL session"
                );
                client
                    .execute("SELECT pg_terminate_backend($1)", &[&h.pid])
                    .map_err(|e| target.error("ending a stale session", e))?;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => {
                return Err(Error::PgAlreadyShipping {
                    server: target.display().to_owned(),
                    host_id: target.host_id().to_owned(),
                    holder: other.map_or_else(
                        || "holder unknown".into(),
                        |h| {
                            format!(
                                "{:?} from {}, server process {}, connected since {}",
                                h.application_name, h.client_addr, h.pid, h.since
                            )
                        },
                    ),
                })
            }
        }
    }
    Err(Error::PgAlreadyShipping {
        server: target.display().to_owned(),
        host_id: target.host_id().to_owned(),
        holder: "a session of this process that would not end".into(),
    })
}

/// Who holds `key`. A bigint advisory key is stored in `pg_locks` as
/// classid (high half) and objid (low half), with objsubid 1.
fn holder(client: &mut Client, key: i64) -> Option<Holder> {
    let row = client
        .query_opt(
            "SELECT coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'a local socket'),
                    a.pid, coalesce(to_char(a.backend_start, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), '')
               FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                AND l.classid::bigint = $1 AND l.objid::bigint = $2
              LIMIT 1",
            &[&((key as u64 >> 32) as i64), &((key as u64 & 0xffff_ffff) as i64)],
        )
        .ok()??;
    Some(Holder {
        application_name: row.get(0),
        client_addr: row.get(1),
        pid: row.get(2),
        since: row.get(3),
    })
}

/// Whether a sidecar of `host_id` holds its lock now.
pub(super) fn is_held(client: &mut Client, host_id: &str) -> bool {
    holder(client, key(host_id)).is_some()
}
