//! The shared feed of newly committed records: one poller per server reads
//! the index and broadcasts each new record to every event stream.
//!
//! One query per tick serves any number of clients, so the tick can be
//! short (50 ms) and a record reaches a hundred streams as fast as one.
//! Polling reads only committed rows: an event never names a record a
//! reader could not fetch yet, whichever process indexes.

use std::sync::Arc;

use tasklog_index::Questions;
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::state::AppState;

/// Most records read per query; a full batch is followed by another at once.
pub const BATCH: usize = 500;

/// Records a slow stream may fall behind before it re-reads from the index.
pub const CAPACITY: usize = 4096;

/// Most bytes of records the poller reads per query (at least one record).
const POLL_BYTES: usize = 8 << 20;

/// One record as an event: its id, its task, and the event's JSON data.
#[derive(Debug)]
pub struct Row {
    /// `records.record_id`, the event id.
    pub id: i64,
    /// For the `task=` filter.
    pub task_id: String,
    /// The data line: the record's place and its bytes as written.
    pub data: String,
    /// [`AppState::db_generation`] it was read in: ids restart when the
    /// database file is replaced.
    pub db_generation: u64,
}

/// Polls the index until the server stops, broadcasting every new record.
pub async fn run(state: Arc<AppState>) {
    let mut stopping = state.stopping();
    let mut last = loop {
        match state.ask(newest).await {
            Ok(id) => break id,
            Err(e) => {
                tracing::debug!(error = %e.message, "event feed: index not readable yet");
                tokio::select! {
                    _ = stopping.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(state.options.event_poll * 4) => {}
                }
            }
        }
    };
    let mut generation = state.db_generation();
    loop {
        if state.db_generation() != generation {
            // A rebuilt index numbers its records from 1 again: follow the
            // new file from where it stood when first seen.
            match state.db_switch() {
                (g, Some(id)) => {
                    generation = g;
                    last = id;
                }
                (g, None) => match state.ask(newest).await {
                    Ok(id) => {
                        generation = g;
                        last = id;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e.message, "event feed: the new index is not readable yet")
                    }
                },
            }
        }
        let from = last;
        match state
            .ask(move |index| fetch(index, from, None, POLL_BYTES))
            .await
        {
            Ok((rows, full)) if state.db_generation() == generation => {
                for mut row in rows {
                    row.db_generation = generation;
                    last = row.id;
                    // No receiver is fine: nobody is listening right now.
                    let _ = state.feed.send(Arc::new(row));
                }
                if full {
                    continue;
                }
            }
            // Read from a file replaced meanwhile: read again.
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(error = %e.message, "event feed: reading the index failed; retrying")
            }
        }
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
            () = tokio::time::sleep(state.options.event_poll) => {}
        }
    }
}

/// The newest record id (0 when there is none).
pub fn newest(index: &mut dyn Questions) -> Result<i64, ApiError> {
    Ok(index.newest_record_id()?)
}

/// Up to [`BATCH`] records after `last`, optionally of one task, by id,
/// and at most `bytes` of them (one record always); true when more may
/// follow. The byte bound keeps what a reader holds at once small,
/// however large the records are.
pub fn fetch(
    index: &mut dyn Questions,
    last: i64,
    task: Option<&str>,
    bytes: usize,
) -> Result<(Vec<Row>, bool), ApiError> {
    let found = index.records_since(last, &[], task, BATCH as u64, bytes as u64)?;
    let n = found.rows.len();
    let held: usize = found
        .rows
        .iter()
        .filter_map(|r| r.get(9)?.as_str().map(str::len))
        .sum();
    let out: Vec<Row> = found.rows.into_iter().filter_map(row_of).collect();
    // Cut by rows or by bytes: more may follow at once.
    Ok((out, n == BATCH || held >= bytes))
}

/// One row of [`tasklog_index::FEED_COLUMNS`] as an event.
fn row_of(r: Vec<serde_json::Value>) -> Option<Row> {
    use serde_json::Value;
    let id = r.first()?.as_i64()?;
    let task_id = r.get(1)?.as_str()?.to_owned();
    let text = |i: usize| match r.get(i) {
        Some(Value::String(s)) => serde_json::to_string(s).unwrap_or_else(|_| "null".into()),
        _ => "null".to_owned(),
    };
    let int = |i: usize| r.get(i).and_then(Value::as_i64).unwrap_or(0);
    let body = r.get(9)?.as_str()?;
    // The record's bytes are embedded as written; a stray CR between
    // JSON tokens would end the SSE line, and is only whitespace.
    let body = if body.contains('\r') {
        body.replace('\r', " ")
    } else {
        body.to_owned()
    };
    let data = format!(
        r#"{{"record_id":{id},"task_id":{},"stream":{},"offset":{},"line":{},"ts":{},"event":{},"name":{},"status":{},"record":{body}}}"#,
        serde_json::to_string(&task_id).unwrap_or_else(|_| "null".into()),
        text(2),
        int(3),
        int(4),
        text(5),
        text(6),
        text(7),
        text(8),
    );
    Some(Row {
        id,
        task_id,
        data,
        db_generation: 0,
    })
}

/// The feed's sending end, for [`AppState`].
pub fn channel() -> broadcast::Sender<Arc<Row>> {
    broadcast::Sender::new(CAPACITY)
}
