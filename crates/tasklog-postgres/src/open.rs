//! Opening a host's sidecar on PostgreSQL: connect (retrying while the
//! server is unreachable), take the host's lock, migrate, install the
//! price table, and load this host's checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use postgres::Client;

use super::{lock, schema, PgSink, PgTarget};
use tasklog_tail::batch::{FileKey, FileKind};
use tasklog_tail::checkpoint::Checkpoint;
use tasklog_tail::PriceTable;
use tasklog_tail::Result;
use tasklog_tail::{IndexOptions, Loaded, RunMode, Shutdown, Tailer};

/// Connections each host's sidecar ships over: one server process each, so
/// a backfill's COPY is not bound by one core of the server.
pub(crate) const CONNECTIONS: usize = 2;

/// What the reader needs from the database before it starts.
pub(crate) struct Opened {
    /// One sink per connection (`shards.rs`).
    pub sinks: Vec<PgSink>,
    pub checkpoints: BTreeMap<String, Checkpoint>,
    pub registered: BTreeSet<String>,
    pub diagnostics: BTreeMap<String, String>,
}

/// Opens a [`Tailer`] that ships into PostgreSQL
/// (`Tailer::open_postgres(root, target, ...)` with this trait in scope).
pub trait OpenPostgres: Sized {
    /// Opens a sidecar that ships into PostgreSQL as `target`'s host
    /// (issue 13). While the server is unreachable it retries with backoff
    /// (`tasklog index`: for 30 s; `tasklog watch`: until `shutdown`, so a
    /// signal handler can be listening before the server comes back).
    fn open_postgres(
        root: &Path,
        target: &PgTarget,
        options: IndexOptions,
        mode: RunMode,
        shutdown: Shutdown,
    ) -> Result<Self>;
}

impl OpenPostgres for Tailer {
    fn open_postgres(
        root: &Path,
        target: &PgTarget,
        options: IndexOptions,
        mode: RunMode,
        shutdown: Shutdown,
    ) -> Result<Tailer> {
        let prices = PriceTable::load(options.prices.as_deref())?;
        let opened = open(target, &prices, mode.retry_for(), &shutdown)?;
        let loaded = Loaded {
            checkpoints: opened.checkpoints,
            registered: opened.registered,
            // Monthly archives are SQLite's (RETENTION.md): none here.
            archived: BTreeSet::new(),
            diagnostics: opened.diagnostics,
        };
        Tailer::assemble(root, options, mode, opened.sinks, loaded, shutdown)
    }
}

/// Opens the sink. While the server is unreachable (refused, starting,
/// restarting) it retries with backoff, for `retry_for` or, when `None`,
/// until `shutdown`; wrong credentials, a missing database or a newer
/// schema fail at once.
pub(crate) fn open(
    target: &PgTarget,
    prices: &PriceTable,
    retry_for: Option<Duration>,
    shutdown: &Shutdown,
) -> Result<Opened> {
    let started = Instant::now();
    loop {
        // A server that goes away after the connection (between the
        // migration and loading the checkpoints, say) is waited for too.
        match open_once(target, prices, retry_for, shutdown) {
            Err(e)
                if tasklog_tail::is_transient(&e)
                    && !shutdown.is_requested()
                    && retry_for.is_none_or(|limit| started.elapsed() < limit) =>
            {
                tracing::warn!(error = %tasklog_tail::format_chain(&e), "opening on PostgreSQL failed; starting over");
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn open_once(
    target: &PgTarget,
    prices: &PriceTable,
    retry_for: Option<Duration>,
    shutdown: &Shutdown,
) -> Result<Opened> {
    let mut client = connect_with_retry(target, 0, retry_for, shutdown)?;
    let now = tasklog_format::now_rfc3339();
    schema::migrate(&mut client, target, &now)?;
    schema::build_search_index(&mut client, target)?;
    let host = target.host_id();
    client
        .execute(
            "INSERT INTO hosts (host_id, first_seen_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&host, &now],
        )
        .map_err(|e| target.error("registering the host", e))?;
    install_prices(&mut client, target, prices)?;
    let checkpoints = load_checkpoints(&mut client, target)?;
    let registered = client
        .query("SELECT task_id FROM tasks WHERE host_id = $1", &[&host])
        .map_err(|e| target.error("loading tasks", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let diagnostics = client
        .query(
            "SELECT path, reason FROM ingest_errors WHERE host_id = $1 AND kind = 'file' AND resolved_at IS NULL",
            &[&host],
        )
        .map_err(|e| target.error("loading diagnostics", e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut sinks = vec![PgSink::new(target.clone(), client, 0, shutdown.flag())?];
    for shard in 1..CONNECTIONS {
        let client = connect_with_retry(target, shard, retry_for, shutdown)?;
        sinks.push(PgSink::new(target.clone(), client, shard, shutdown.flag())?);
    }
    Ok(Opened {
        sinks,
        checkpoints,
        registered,
        diagnostics,
    })
}

/// Connects shard `shard` (shard 0 taking the host's lock), retrying
/// while the server is unreachable.
fn connect_with_retry(
    target: &PgTarget,
    shard: usize,
    retry_for: Option<Duration>,
    shutdown: &Shutdown,
) -> Result<Client> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = target
            .connect(&super::sink::role(shard))
            .and_then(|mut client| {
                if shard == 0 {
                    // Before the lock: through a transaction pooler it would
                    // stay held on a pooled server connection.
                    super::pooler::refuse_transaction_pooler(&mut client, target)?;
                    lock::acquire(&mut client, target)?;
                }
                Ok(client)
            });
        match attempt {
            Ok(client) => return Ok(client),
            Err(e) if tasklog_tail::is_transient(&e) => {
                let expired = retry_for.is_some_and(|limit| started.elapsed() >= limit);
                if expired || shutdown.is_requested() {
                    return Err(e);
                }
                tracing::warn!(
                    error = %tasklog_tail::format_chain(&e),
                    retry_in_ms = backoff.as_millis() as u64,
                    "PostgreSQL unreachable; the files keep growing and are shipped when it returns"
                );
                let until = Instant::now() + backoff;
                while Instant::now() < until && !shutdown.is_requested() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Replaces the shared price table with this host's, under the migration
/// lock so that two sidecars starting together do not interleave.
fn install_prices(client: &mut Client, target: &PgTarget, prices: &PriceTable) -> Result<()> {
    let err = |e| target.error("installing prices", e);
    let mut tx = client.transaction().map_err(err)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&schema::MIGRATION_LOCK],
    )
    .map_err(err)?;
    tx.execute("DELETE FROM prices", &[]).map_err(err)?;
    let insert = tx
        .prepare(
            "INSERT INTO prices (model, effective_from, provider, input_per_mtok, output_per_mtok,
                                 cache_read_per_mtok, cache_write_per_mtok, source,
                                 cache_write_1h_per_mtok)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .map_err(err)?;
    for p in prices.rows() {
        tx.execute(
            &insert,
            &[
                &p.model,
                &p.effective_from,
                &p.provider,
                &p.input,
                &p.output,
                &p.cache_read,
                &p.cache_write,
                &p.source,
                &p.cache_write_1h,
            ],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)
}

fn load_checkpoints(
    client: &mut Client,
    target: &PgTarget,
) -> Result<BTreeMap<String, Checkpoint>> {
    let rows = client
        .query(
            r#"SELECT path, task_id, name, kind, coalesce(dev, 0), coalesce(ino, 0), generation, "offset",
                      line_count, coalesce(anchor_hash, 0), coalesce(size, 0), coalesce(mtime_ns, 0)
                 FROM files WHERE host_id = $1"#,
            &[&target.host_id()],
        )
        .map_err(|e| target.error("loading checkpoints", e))?;
    Ok(rows
        .iter()
        .map(|r| {
            let kind = match r.get::<_, &str>(3) {
                "document" => FileKind::Document,
                _ => FileKind::Stream,
            };
            let cp = Checkpoint {
                key: FileKey {
                    path: r.get(0),
                    task_id: r.get(1),
                    name: r.get(2),
                    kind,
                },
                dev: r.get::<_, i64>(4) as u64,
                ino: r.get::<_, i64>(5) as u64,
                generation: r.get::<_, i64>(6) as u64,
                offset: r.get::<_, i64>(7) as u64,
                line_count: r.get::<_, i64>(8) as u64,
                anchor: r.get(9),
                size: r.get::<_, i64>(10) as u64,
                mtime_ns: r.get(11),
            };
            (cp.key.path.clone(), cp)
        })
        .collect())
}
