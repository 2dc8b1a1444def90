//! What every handler shares: the options, a pool of read-only
//! connections, and the stop signal for long-lived streams.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tasklog_index::{Questions, SqliteQuestions, StoreKind};
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::feed::Row;
use crate::guard::HostRule;
use crate::vitals::Vitals;

/// Idle connections kept for reuse; more are opened under load and dropped after.
const POOL_SIZE: usize = 8;

/// How the server is configured.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The log root, read for the lag report only.
    pub root: PathBuf,
    /// The index, opened read-only: a SQLite file, or a PostgreSQL URL
    /// (every host's rows, or those of `host_id`).
    pub db: PathBuf,
    /// On a PostgreSQL index, the one host whose rows the server shows
    /// (`--host-id`); every host's when `None`.
    pub host_id: Option<String>,
    /// The bearer token every request but `/healthz` must carry, when set.
    pub token: Option<String>,
    /// Longest a `POST /api/query` statement may run.
    pub query_timeout: Duration,
    /// Most rows a `POST /api/query` answer holds.
    pub query_rows: usize,
    /// Most bytes of JSON one `POST /api/query` answer holds.
    pub query_bytes: usize,
    /// Largest single value a `POST /api/query` may build (SQLite's length limit).
    pub query_value_bytes: usize,
    /// `POST /api/query` and search statements running at once; more wait
    /// up to their time limit, then get 503.
    pub query_concurrency: usize,
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// How often the event feed looks for new records.
    pub event_poll: Duration,
    /// Longest wait for a request head (request line and headers), from the
    /// connection's start or the end of the previous answer: slow senders
    /// and idle kept-alive connections are closed after it.
    pub header_timeout: Duration,
    /// Longest a request body may take to arrive in full (then 408).
    pub body_timeout: Duration,
    /// Longest a connection may go without a byte moving either way (a
    /// client that stopped reading an answer or an event stream).
    pub idle_timeout: Duration,
    /// Most bytes of events one stream holds that its client has not taken
    /// yet; past it the stream reads no more records until the client
    /// takes some (`crate::events`).
    pub event_buffer_bytes: usize,
    /// Who indexes: `in-process`, `external` or `none`, for `/api/status`.
    pub indexer: &'static str,
    /// `Host` names accepted besides IP literals and, on a loopback bind,
    /// `localhost` (`--allow-host`, `[serve] allowed_hosts`); `*` accepts any.
    pub allowed_hosts: Vec<String>,
    /// Whether the server is reached over TLS (then the cookie is `Secure`):
    /// set by [`crate::Server::bind`] when `https` is, and by hand behind a
    /// proxy that terminates TLS.
    pub tls: bool,
    /// The certificate and key to serve HTTPS with (`--tls-cert`,
    /// `--tls-key`); plain HTTP when `None`.
    pub https: Option<crate::Https>,
    /// The indexer's state and the limits' counters, shared with the
    /// sidecar's supervisor ([`crate::Sidecar::start`]).
    pub vitals: Arc<Vitals>,
}

impl ServeOptions {
    /// Defaults: no token, 2 s, 10,000 rows and 32 MiB per query, two at
    /// once, events polled every 50 ms, 10 s for a request head or body,
    /// 60 s idle, 1 MiB of unsent events per stream.
    pub fn new(root: PathBuf, db: PathBuf) -> ServeOptions {
        ServeOptions {
            root,
            db,
            host_id: None,
            token: None,
            query_timeout: Duration::from_secs(2),
            query_rows: 10_000,
            query_bytes: 32 << 20,
            query_value_bytes: 32 << 20,
            query_concurrency: 2,
            max_connections: 256,
            event_poll: Duration::from_millis(50),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            event_buffer_bytes: 1 << 20,
            indexer: "none",
            allowed_hosts: Vec::new(),
            tls: false,
            https: None,
            vitals: Arc::default(),
        }
    }
}

/// A file's identity: device, inode and, where the file system records
/// it, birth time. The inode alone is not enough: once the last connection
/// to a deleted database closes, the file created next may get the same
/// inode number (ext4 hands it out again at once), and it was then taken
/// for the old file (its new records, numbered from 1, never streamed).
type FileId = (u64, u64, Option<std::time::SystemTime>);

fn file_id(path: &std::path::Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.created().ok()))
}

/// The database file as last seen (see [`AppState::db_generation`]).
#[derive(Default)]
struct DbFile {
    id: Option<FileId>,
    /// Found missing since `id` was seen: the next file is another one,
    /// whatever its identity (where there is no birth time, a reused inode
    /// looks the same).
    gone: bool,
    generation: u64,
    newest_at_switch: Option<i64>,
}

/// Shared by every request.
pub(crate) struct AppState {
    /// The configuration.
    pub options: ServeOptions,
    /// Which `Host` names this server answers to.
    pub host_rule: HostRule,
    /// Permits for user SQL and search, so their memory is a known multiple.
    pub questions: Arc<Semaphore>,
    /// Idle read-only connections, each with the identity of the database
    /// file it was opened on. A std mutex: it is held only to push or pop,
    /// never across an await, and the work runs on blocking threads.
    pool: Mutex<Vec<(Connection, Option<FileId>)>>,
    /// Which store `options.db` names.
    pub kind: StoreKind,
    /// Idle readers of a PostgreSQL index (each its own connection, with
    /// the server's statement time limit).
    pg_pool: Mutex<Vec<Box<dyn Questions + Send>>>,
    /// The database file's identity when last looked at, and how many
    /// times it was found replaced (deleted and rebuilt: issue 22). A
    /// connection stays on the file it opened, so one to a replaced file
    /// is dropped, and the feed and event streams restart their record ids
    /// (a rebuilt index numbers from 1 again) when the count moves.
    db_file: Mutex<DbFile>,
    /// Becomes true when the server stops, so that event streams end and
    /// graceful shutdown can finish. A watch channel: every stream sees the
    /// latest value, even one that subscribes after the change.
    stop: watch::Sender<bool>,
    /// New records for every event stream. A broadcast channel: one
    /// poller, many streams, each with its own cursor; a stream that falls
    /// behind is told so (`Lagged`) and re-reads from the index.
    pub feed: broadcast::Sender<Arc<Row>>,
}

impl AppState {
    /// A state for a server bound to `addr`.
    pub fn bound(options: ServeOptions, addr: SocketAddr) -> Arc<AppState> {
        let host_rule = HostRule {
            port: addr.port(),
            loopback: addr.ip().is_loopback(),
            allowed: options
                .allowed_hosts
                .iter()
                .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        };
        let questions = Arc::new(Semaphore::new(options.query_concurrency.max(1)));
        Arc::new(AppState {
            kind: tasklog_index::store_kind(&options.db),
            pg_pool: Mutex::new(Vec::new()),
            options,
            host_rule,
            questions,
            pool: Mutex::new(Vec::new()),
            db_file: Mutex::new(DbFile::default()),
            stop: watch::Sender::new(false),
            feed: crate::feed::channel(),
        })
    }

    /// Runs `f` with a pooled read-only connection on a blocking thread.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
    {
        let state = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let (conn, id) = state.take()?;
            let out = f(&conn);
            state.give_back(conn, id);
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }

    /// Runs `f` with the index's questions, whichever store it is, on a
    /// blocking thread: a pooled SQLite connection, or a pooled PostgreSQL
    /// reader. A PostgreSQL reader that failed is not pooled again (its
    /// connection may be the cause).
    pub async fn ask<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Questions) -> Result<T, ApiError> + Send + 'static,
    {
        if self.kind == StoreKind::Sqlite {
            let at = self.options.db.display().to_string();
            return self
                .read(move |c| f(&mut SqliteQuestions::new(c, at)))
                .await;
        }
        let state = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let idle = state.pg_pool.lock().ok().and_then(|mut p| p.pop());
            let mut reader = match idle {
                Some(reader) => reader,
                None => state.open_pg_reader()?,
            };
            let out = f(reader.as_mut());
            if out.is_ok() {
                if let Ok(mut pool) = state.pg_pool.lock() {
                    if pool.len() < POOL_SIZE {
                        pool.push(reader);
                    }
                }
            }
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }

    fn open_pg_reader(&self) -> Result<Box<dyn Questions + Send>, ApiError> {
        let reading = tasklog_index::Reading {
            host_id: self.options.host_id.clone(),
            hosts: tasklog_index::Hosts::GivenOrAll,
            archives: false,
            statement_timeout: Some(self.options.query_timeout),
        };
        Ok(tasklog_index::open_questions(&self.options.db, &reading)?)
    }

    /// A connection to the database file there now: an idle one opened on
    /// it, or a new one. One `stat` per request notices a replaced file.
    fn take(&self) -> Result<(Connection, Option<FileId>), ApiError> {
        let now = file_id(&self.options.db);
        if self.note_db_file(now) {
            // Where the new file's records stand when first seen: the feed
            // follows from there, so a record committed after it is sent
            // even when the feed looks later (ids restarted from 1). A file
            // seen before its schema or first commit holds no record yet:
            // every record it gets is after the switch (0), not the newest
            // at whatever later moment the feed would ask.
            let opened = tasklog_index::open_query_connection(&self.options.db);
            let newest = opened.as_ref().ok().and_then(|conn| {
                let at = self.options.db.display().to_string();
                crate::feed::newest(&mut SqliteQuestions::new(conn, at)).ok()
            });
            if let Ok(mut seen) = self.db_file.lock() {
                seen.newest_at_switch = Some(newest.unwrap_or(0));
            }
            return Ok((opened?, now));
        }
        let idle = self.pool.lock().ok().and_then(|mut p| {
            // Connections to a replaced file read the old one: dropped.
            p.retain(|(_, id)| *id == now);
            p.pop()
        });
        match idle {
            Some(found) => Ok(found),
            None => Ok((tasklog_index::open_query_connection(&self.options.db)?, now)),
        }
    }

    fn give_back(&self, conn: Connection, id: Option<FileId>) {
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < POOL_SIZE {
                pool.push((conn, id));
            }
        }
    }

    /// Records the database file's identity; true when it was replaced.
    fn note_db_file(&self, now: Option<FileId>) -> bool {
        let Ok(mut seen) = self.db_file.lock() else {
            return false;
        };
        let replaced = seen.id.is_some() && now.is_some() && (seen.id != now || seen.gone);
        if now.is_none() && seen.id.is_some() {
            seen.gone = true;
        }
        if replaced {
            seen.generation += 1;
            seen.newest_at_switch = None;
            tracing::info!(db = %self.options.db.display(), "the database file was replaced; reading the new one");
        }
        if now.is_some() {
            seen.id = now;
            seen.gone = false;
        }
        replaced
    }

    /// How many times the database file was found replaced.
    pub fn db_generation(&self) -> u64 {
        self.db_file.lock().map_or(0, |seen| seen.generation)
    }

    /// The generation and, when known, the newest record id of the file
    /// when it was first seen.
    pub fn db_switch(&self) -> (u64, Option<i64>) {
        self.db_file
            .lock()
            .map_or((0, None), |seen| (seen.generation, seen.newest_at_switch))
    }

    /// A permit to run user SQL or a search, waited for up to `within`.
    pub async fn question_permit(
        &self,
        within: Duration,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        let acquire = Arc::clone(&self.questions).acquire_owned();
        match tokio::time::timeout(within, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError {
                status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                message: format!(
                    "busy: {} questions are already running; ask again",
                    self.options.query_concurrency
                ),
            }),
        }
    }

    /// A receiver that sees the stop signal.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Tells every event stream to end.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}
