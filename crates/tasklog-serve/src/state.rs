//! What every handler shares: the options, a pool of read-only
//! connections, and the stop signal for long-lived streams.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
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
    /// The SQLite index, opened read-only.
    pub db: PathBuf,
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
    /// Whether the server is reached over TLS (then the cookie is `Secure`).
    pub tls: bool,
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
            vitals: Arc::default(),
        }
    }
}

/// Shared by every request.
pub(crate) struct AppState {
    /// The configuration.
    pub options: ServeOptions,
    /// Which `Host` names this server answers to.
    pub host_rule: HostRule,
    /// Permits for user SQL and search, so their memory is a known multiple.
    pub questions: Arc<Semaphore>,
    /// Idle read-only connections. A std mutex: it is held only to push or
    /// pop, never across an await, and the work runs on blocking threads.
    pool: Mutex<Vec<Connection>>,
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
            options,
            host_rule,
            questions,
            pool: Mutex::new(Vec::new()),
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
            let conn = state.take()?;
            let out = f(&conn);
            state.give_back(conn);
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }

    fn take(&self) -> Result<Connection, ApiError> {
        let idle = self.pool.lock().ok().and_then(|mut p| p.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => Ok(tasklog_index::open_query_connection(&self.options.db)?),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < POOL_SIZE {
                pool.push(conn);
            }
        }
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
