//! The shared feed of newly committed records: one poller per server reads
//! the index and broadcasts each new record to every event stream.
//!
//! One query per tick serves any number of clients, so the tick can be
//! short (50 ms) and a record reaches a hundred streams as fast as one.
//! Polling reads only committed rows: an event never names a record a
//! reader could not fetch yet, whichever process indexes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How long an id the feed skipped is looked for again. On PostgreSQL ids
/// are taken when rows are written and become visible when their
/// transaction commits, so a host's batch may appear after a later id of
/// another host's: the feed asks again for the ids it has not seen below
/// the newest it sent. A sink's transaction lasts milliseconds to seconds;
/// an id still missing after this was rolled back (or deleted) for good.
const GAP_WAIT: Duration = Duration::from_secs(10);

/// Most skipped ids looked for at once (the oldest are given up first).
const MAX_GAPS: usize = 4096;

/// Ids below the newest sent that the feed has not seen yet, with when
/// they were first missed ([`GAP_WAIT`]). SQLite commits in id order (one
/// writer), so only a PostgreSQL feed keeps them.
#[derive(Debug, Default)]
struct Gaps {
    missing: BTreeMap<i64, Instant>,
}

impl Gaps {
    /// The ids to ask for again, after dropping those waited for long enough.
    fn wanted(&mut self, now: Instant) -> Vec<i64> {
        self.missing
            .retain(|_, since| now.duration_since(*since) < GAP_WAIT);
        self.missing.keys().copied().collect()
    }

    /// Notes the rows of one read: a skipped id is missing from now on; an
    /// id found is missing no more. True when `id` filled a gap (a record
    /// that committed after a later one was sent).
    fn saw(&mut self, last: i64, id: i64, now: Instant) -> bool {
        if self.missing.remove(&id).is_some() {
            return true;
        }
        if id > last + 1 {
            for skipped in (last + 1..id).rev().take(MAX_GAPS) {
                self.missing.insert(skipped, now);
            }
            while self.missing.len() > MAX_GAPS {
                self.missing.pop_first();
            }
        }
        false
    }
}

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
    /// A PostgreSQL record that committed after a record with a later id
    /// was sent ([`GAP_WAIT`]): streams send it although its id is below
    /// their last.
    pub late: bool,
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
    let mut gaps = Gaps::default();
    let keep_gaps = state.kind != tasklog_index::StoreKind::Sqlite;
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
        let also = if keep_gaps {
            gaps.wanted(Instant::now())
        } else {
            Vec::new()
        };
        match state
            .ask(move |index| fetch_with(index, from, &also, None, POLL_BYTES))
            .await
        {
            Ok((rows, full)) if state.db_generation() == generation => {
                let now = Instant::now();
                for mut row in rows {
                    row.db_generation = generation;
                    if keep_gaps {
                        row.late = gaps.saw(last, row.id, now);
                    }
                    last = last.max(row.id);
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
    fetch_with(index, last, &[], task, bytes)
}

/// [`fetch`], and the records of ids in `also`.
fn fetch_with(
    index: &mut dyn Questions,
    last: i64,
    also: &[i64],
    task: Option<&str>,
    bytes: usize,
) -> Result<(Vec<Row>, bool), ApiError> {
    let found = index.records_since(last, also, task, BATCH as u64, bytes as u64)?;
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
        late: false,
    })
}

/// The feed's sending end, for [`AppState`].
pub fn channel() -> broadcast::Sender<Arc<Row>> {
    broadcast::Sender::new(CAPACITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_ids_are_looked_for_until_found_or_given_up() {
        let t0 = Instant::now();
        let mut gaps = Gaps::default();
        assert!(!gaps.saw(0, 1, t0));
        // 2 and 3 are taken by a transaction still open: 4 shows first.
        assert!(!gaps.saw(1, 4, t0));
        assert_eq!(gaps.wanted(t0), [2, 3]);
        assert!(gaps.saw(4, 3, t0), "3 fills a gap");
        assert_eq!(gaps.wanted(t0), [2]);
        // 2 was rolled back: given up after the wait.
        assert!(gaps.wanted(t0 + GAP_WAIT).is_empty());
        // A huge jump keeps only the newest ids.
        assert!(!gaps.saw(4, 1_000_000, t0));
        assert_eq!(gaps.missing.len(), MAX_GAPS);
        assert_eq!(gaps.missing.keys().next_back(), Some(&999_999));
    }
}
