//! `GET /api/events`: Server-Sent Events, one per record as soon as its
//! batch is committed, with the record's `record_id` as the event id.
//!
//! A stream first catches up from the index (everything after the client's
//! `Last-Event-ID`, or nothing for a new client), then follows the shared
//! feed ([`crate::feed`]). It subscribes to the feed before catching up and
//! skips ids it already sent, so a record committed in between is sent
//! once, never zero or two times. A stream that falls more than the feed's
//! capacity behind catches up from the index again.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use crate::error::ApiError;
use crate::feed::{self, Row};
use crate::names;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct EventParams {
    /// Only records of this task.
    task: Option<String>,
    /// Start after this record id (as `Last-Event-ID` does); default: now.
    after: Option<i64>,
}

pub async fn events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Result<Query<EventParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let task = params.task.as_deref().map(names::task_id).transpose()?;
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be a record id"))?,
        ),
        None => params.after,
    };
    // Subscribe before reading where to start: nothing committed after
    // that read can be missed.
    let feed = state.feed.subscribe();
    let start = match resume {
        Some(id) => id,
        None => state.read(feed::newest).await?,
    };
    let (tx, rx) = mpsc::channel(feed::BATCH);
    tokio::spawn(follow(state, task, start, feed, tx));
    let mut response = Sse::new(EventStream { rx })
        .keep_alive(KeepAlive::default())
        .into_response();
    // Behind a reverse proxy an event stream must not be buffered or
    // compressed, or no event arrives until the buffer fills (nginx's
    // `proxy_buffering` and `gzip` are on by default; issue 22).
    let h = response.headers_mut();
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    Ok(response)
}

/// Why a stream stopped.
enum End {
    /// The client went away or the server is stopping.
    Gone,
}

/// Sends records until the client goes away or the server stops.
async fn follow(
    state: Arc<AppState>,
    task: Option<String>,
    mut last: i64,
    mut feed: broadcast::Receiver<Arc<Row>>,
    tx: mpsc::Sender<Event>,
) {
    let mut stopping = state.stopping();
    let mut generation = state.db_generation();
    if catch_up(&state, &task, &mut last, &tx).await.is_err() {
        return;
    }
    loop {
        let next = tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
            () = tx.closed() => return,
            next = feed.recv() => next,
        };
        match next {
            Ok(row) => {
                if row.db_generation != generation {
                    // The database file was replaced and its ids restarted.
                    generation = row.db_generation;
                    last = row.id - 1;
                }
                if row.id <= last || task.as_deref().is_some_and(|t| t != row.task_id) {
                    continue;
                }
                last = row.id;
                if tx.send(event(&row)).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if catch_up(&state, &task, &mut last, &tx).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Sends everything after `last` from the index, up to the present.
async fn catch_up(
    state: &Arc<AppState>,
    task: &Option<String>,
    last: &mut i64,
    tx: &mpsc::Sender<Event>,
) -> Result<(), End> {
    loop {
        let (from, filter) = (*last, task.clone());
        let rows = match state
            .read(move |c| feed::fetch(c, from, filter.as_deref()))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!(error = %e.message, "event stream: catching up failed; following the feed");
                return Ok(());
            }
        };
        let full = rows.len() == feed::BATCH;
        for row in rows {
            *last = row.id;
            tx.send(event(&row)).await.map_err(|_| End::Gone)?;
        }
        if !full {
            return Ok(());
        }
    }
}

fn event(row: &Row) -> Event {
    Event::default()
        .id(row.id.to_string())
        .event("record")
        .data(&row.data)
}

/// The receiving end of a stream's channel as the `Stream` SSE needs.
struct EventStream {
    /// Fed by [`follow`]; closes when it returns.
    rx: mpsc::Receiver<Event>,
}

impl futures_core::Stream for EventStream {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|e| e.map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ServeOptions;

    /// A database with `n` message records of task `t`, and the state over it.
    fn fixture(n: i64) -> (tempfile::TempDir, Arc<AppState>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("index.db");
        let conn = tasklog_index::open_for_writing(&db).expect("create index");
        for i in 1..=n {
            conn.execute(
                r#"INSERT INTO records (file_id, task_id, stream, "offset", line, ts, ts_source, event, body)
                   VALUES (1, 't', 'events', ?1, ?1, '2026-11-30T00:00:00.000000Z', 'ts', 'x', ?2)"#,
                (i, format!(r#"{{"event":"x","i":{i}}}"#)),
            )
            .expect("insert record");
        }
        let options = ServeOptions::new(dir.path().join("tasks"), db);
        (dir, AppState::bound(options, ([127, 0, 0, 1], 0).into()))
    }

    async fn ids(
        rx: &mut mpsc::Receiver<Event>,
        n: usize,
        wait: std::time::Duration,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            let got = tokio::time::timeout(wait, rx.recv()).await;
            let Ok(Some(event)) = got else { break };
            // The id is the only `id:` line of the rendered event.
            let text = format!("{event:?}");
            out.push(text);
        }
        out
    }

    #[tokio::test]
    async fn a_lagging_stream_catches_up_from_the_index_once_each() {
        let (_dir, state) = fixture(6);
        // A feed that overflowed: the stream must notice and re-read.
        let (feed_tx, feed_rx) = broadcast::channel::<Arc<Row>>(2);
        let rows = state.read(|c| feed::fetch(c, 0, None)).await.expect("rows");
        assert_eq!(rows.len(), 6);
        for row in rows {
            let _ = feed_tx.send(Arc::new(row));
        }
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(follow(Arc::clone(&state), None, 2, feed_rx, tx));
        // Ask for one more than expected: a duplicate would show up here.
        let got = ids(&mut rx, 5, std::time::Duration::from_millis(500)).await;
        assert_eq!(got.len(), 4, "records 3 to 6, each once: {got:?}");
        for (event, id) in got.iter().zip(3..) {
            assert!(
                event.contains(&format!("id: {id}\\n")) || event.contains(&format!("id:{id}")),
                "{event}"
            );
        }
        state.stop();
        tokio::time::timeout(std::time::Duration::from_secs(2), task)
            .await
            .expect("the stream ends on stop")
            .expect("no panic");
    }
}
