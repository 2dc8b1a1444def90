//! What every handler shares: the options, a pool of read-only
//! connections, and the stop signal for long-lived streams.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{broadcast, watch};

use crate::error::ApiError;
use crate::feed::Row;

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
    /// How often the event feed looks for new records.
    pub event_poll: Duration,
    /// Who indexes: `in-process`, `external` or `none`, for `/api/status`.
    pub indexer: &'static str,
}

impl ServeOptions {
    /// Defaults: no token, 2 s and 10,000 rows per query, events polled every 50 ms.
    pub fn new(root: PathBuf, db: PathBuf) -> ServeOptions {
        ServeOptions {
            root,
            db,
            token: None,
            query_timeout: Duration::from_secs(2),
            query_rows: 10_000,
            event_poll: Duration::from_millis(50),
            indexer: "none",
        }
    }
}

/// Shared by every request.
pub(crate) struct AppState {
    /// The configuration.
    pub options: ServeOptions,
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
    pub fn new(options: ServeOptions) -> Arc<AppState> {
        Arc::new(AppState {
            options,
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

    /// A receiver that sees the stop signal.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Tells every event stream to end.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}
