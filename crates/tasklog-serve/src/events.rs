//! `GET /api/events`: Server-Sent Events, one per record as soon as its
//! batch is committed.
//!
//! Each stream polls the index for records with a larger `record_id` than
//! the last one it sent (a range seek on the primary key, so an idle poll
//! costs microseconds) and uses the `record_id` as the event id, so a client
//! reconnecting with `Last-Event-ID` resumes exactly after the last event it
//! saw. Polling reads only committed rows, which is the contract: an event
//! is never sent for a record a reader could not see yet.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::names;
use crate::state::AppState;

/// Most records read per poll; a full batch polls again at once.
const BATCH: usize = 500;

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
    let start = match resume {
        Some(id) => id,
        None => {
            state
                .read(|c| {
                    Ok(
                        c.query_row("SELECT coalesce(max(record_id), 0) FROM records", [], |r| {
                            r.get(0)
                        })?,
                    )
                })
                .await?
        }
    };
    let (tx, rx) = mpsc::channel(BATCH);
    tokio::spawn(follow(state, task, start, tx));
    Ok(Sse::new(EventStream { rx })
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Sends new records until the client goes away or the server stops.
async fn follow(
    state: Arc<AppState>,
    task: Option<String>,
    mut last: i64,
    tx: mpsc::Sender<Event>,
) {
    let mut stopping = state.stopping();
    let poll = state.options.event_poll;
    loop {
        let task_filter = task.clone();
        let batch = state
            .read(move |c| fetch(c, last, task_filter.as_deref()))
            .await;
        let full = match batch {
            Ok(events) => {
                let full = events.len() == BATCH;
                for (id, event) in events {
                    last = id;
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                full
            }
            Err(e) => {
                tracing::debug!(error = %e.message, "event stream: reading the index failed; retrying");
                false
            }
        };
        if *stopping.borrow() {
            return;
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
            () = tx.closed() => return,
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Records after `last`, as events with their id.
fn fetch(
    conn: &rusqlite::Connection,
    last: i64,
    task: Option<&str>,
) -> Result<Vec<(i64, Event)>, ApiError> {
    let mut stmt = conn.prepare_cached(
        r#"SELECT record_id, task_id, stream, "offset", line, ts, event, name, status, body
             FROM records WHERE record_id > ?1 AND (?2 IS NULL OR task_id = ?2)
            ORDER BY record_id LIMIT ?3"#,
    )?;
    let mut rows = stmt.query((last, task, BATCH as i64))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let text = |i: usize| -> rusqlite::Result<String> {
            let v: Option<String> = r.get(i)?;
            Ok(serde_json::to_string(&v).unwrap_or_else(|_| "null".into()))
        };
        let body: String = r.get(9)?;
        // The record's bytes are embedded as written; a stray CR between
        // JSON tokens would end the SSE line, and is only whitespace.
        let body = if body.contains('\r') {
            body.replace('\r', " ")
        } else {
            body
        };
        let data = format!(
            r#"{{"record_id":{id},"task_id":{},"stream":{},"offset":{},"line":{},"ts":{},"event":{},"name":{},"status":{},"record":{body}}}"#,
            text(1)?,
            text(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            text(5)?,
            text(6)?,
            text(7)?,
            text(8)?,
        );
        out.push((
            id,
            Event::default()
                .id(id.to_string())
                .event("record")
                .data(data),
        ));
    }
    Ok(out)
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
