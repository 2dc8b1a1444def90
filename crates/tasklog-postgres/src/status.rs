//! `tasklog status --db postgres://...`: every host's sidecar and counts,
//! and this host's lag (its files against its checkpoints).

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::{lock, schema, PgTarget};
use tasklog_tail::lag::{lag_from, TaskLag};
use tasklog_tail::Result;

/// One host of a shared index.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    /// The host id.
    pub host_id: String,
    /// Whether a sidecar of this host is connected and shipping (it holds
    /// the host's advisory lock).
    pub sidecar_connected: bool,
    /// When its last batch committed.
    pub last_commit_at: Option<String>,
    /// Its task folders.
    pub tasks: i64,
    /// Its rows in `records`.
    pub records: i64,
    /// Its quarantined lines.
    pub quarantined: i64,
    /// Its open file-level diagnostics.
    pub open_diagnostics: i64,
}

/// The state of a PostgreSQL index, as far as it can be read.
#[derive(Debug, Clone, Serialize)]
pub struct PgStatus {
    /// The database, password removed.
    pub server: String,
    /// Whether the server answered; when not, `error` says why and the
    /// counts are unknown (the files keep growing; the sidecar catches up).
    pub reachable: bool,
    /// The connection or read error, when not reachable.
    pub error: Option<String>,
    /// The schema version of the index.
    pub schema_version: Option<i64>,
    /// Every host that shipped into the index.
    pub hosts: Vec<HostStatus>,
    /// This machine's host id.
    pub local_host: String,
    /// Bytes of this host's streams after its checkpoints (unknown when
    /// unreachable).
    pub lag_bytes: Option<u64>,
    /// The tasks behind, most behind first.
    pub lagging_tasks: Vec<TaskLag>,
}

/// Reads the status; an unreachable server is a status, not an error.
pub fn status_postgres(root: &Path, target: &PgTarget) -> PgStatus {
    let mut status = PgStatus {
        server: target.display().to_owned(),
        reachable: false,
        error: None,
        schema_version: None,
        hosts: Vec::new(),
        local_host: target.host_id().to_owned(),
        lag_bytes: None,
        lagging_tasks: Vec::new(),
    };
    if let Err(e) = read(root, target, &mut status) {
        status.error = Some(tasklog_tail::format_chain(&e));
    }
    status
}

fn read(root: &Path, target: &PgTarget, status: &mut PgStatus) -> Result<()> {
    let mut client = target.connect("status")?;
    status.reachable = true;
    status.schema_version = Some(schema::check(&mut client, target)?);
    let err = |op| move |e| target.error(op, e);
    let rows = client
        .query(
            "SELECT h.host_id,
                    (SELECT value FROM indexer_state s WHERE s.host_id = h.host_id AND s.key = 'last_commit_at'),
                    (SELECT count(*) FROM tasks t WHERE t.host_id = h.host_id),
                    (SELECT count(*) FROM records r WHERE r.host_id = h.host_id),
                    (SELECT count(*) FROM ingest_errors e WHERE e.host_id = h.host_id AND e.kind = 'line'),
                    (SELECT count(*) FROM ingest_errors e WHERE e.host_id = h.host_id AND e.kind = 'file'
                        AND e.resolved_at IS NULL)
               FROM hosts h ORDER BY h.host_id",
            &[],
        )
        .map_err(err("reading status"))?;
    for r in rows {
        let host_id: String = r.get(0);
        status.hosts.push(HostStatus {
            sidecar_connected: lock::is_held(&mut client, &host_id),
            host_id,
            last_commit_at: r.get(1),
            tasks: r.get(2),
            records: r.get(3),
            quarantined: r.get(4),
            open_diagnostics: r.get(5),
        });
    }
    let known: HashMap<String, (u64, u64, u64)> = client
        .query(
            r#"SELECT path, coalesce(dev, 0), coalesce(ino, 0), "offset" FROM files
                WHERE host_id = $1 AND kind = 'stream'"#,
            &[&target.host_id()],
        )
        .map_err(err("reading checkpoints"))?
        .iter()
        .map(|r| {
            let (dev, ino, offset): (i64, i64, i64) = (r.get(1), r.get(2), r.get(3));
            (r.get(0), (dev as u64, ino as u64, offset as u64))
        })
        .collect();
    // Monthly archives are SQLite's (RETENTION.md): no task is archived.
    let lag = lag_from(root, &known, &Default::default());
    status.lag_bytes = Some(lag.values().sum());
    let mut lagging: Vec<TaskLag> = lag
        .into_iter()
        .map(|(task_id, lag_bytes)| TaskLag { task_id, lag_bytes })
        .collect();
    lagging.sort_by(|a, b| {
        b.lag_bytes
            .cmp(&a.lag_bytes)
            .then(a.task_id.cmp(&b.task_id))
    });
    status.lagging_tasks = lagging;
    Ok(())
}
