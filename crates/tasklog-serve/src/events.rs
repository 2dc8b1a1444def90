//! `GET /api/events`: Server-Sent Events, one per record as soon as its
//! batch is committed, with the record's `record_id` as the event id.
//!
//! A stream first catches up from the index (everything after the client's
//! `Last-Event-ID`, or nothing for a new client), then follows the shared
//! feed ([`crate::feed`]). It subscribes to the feed before catching up and
//! skips ids it already sent, so a record committed in between is sent
//! once, never zero or two times. A stream that falls more than the feed's
//! capacity behind catches up from the index again.
//!
//! **Bytes per client are bounded.** Events wait in a queue between the
//! stream's task and the connection; the queue holds at most
//! `event_buffer_bytes` (1 MiB by default; always at least one event,
//! however large). A full queue stops the stream from reading more
//! records: a client that catches up on a long history gets it as fast as
//! it reads, and one that never reads costs the queue, hyper's write
//! buffer (about 400 KiB) and the kernel's socket buffer, never the
//! history. When the queue stays full for the idle time, the client is
//! dropped (`tasklog_event_streams_dropped_total`); by then no byte has
//! moved on its connection either, and the idle timer closes it
//! ([`crate::conns`]). It resumes with `Last-Event-ID` when it comes back.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, Notify};

use crate::error::ApiError;
use crate::feed::{self, Row};
use crate::names;
use crate::state::AppState;
use crate::vitals::Vitals;

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
        None => state.ask(feed::newest).await?,
    };
    let state_idle = state.options.idle_timeout;
    let (tx, rx) = queue(
        state.options.event_buffer_bytes,
        state.options.idle_timeout,
        Arc::clone(&state.options.vitals),
    );
    tokio::spawn(follow(state, task, start, feed, tx));
    let mut response = Sse::new(rx)
        .keep_alive(KeepAlive::new().interval(keep_alive_every(state_idle)))
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

/// How often a quiet stream sends a comment: 15 s, or a third of the
/// idle time when that is shorter, so that the idle timer never closes a
/// stream that is merely quiet.
fn keep_alive_every(idle: Duration) -> Duration {
    (idle / 3).clamp(Duration::from_millis(100), Duration::from_secs(15))
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
    tx: Queue,
) {
    let mut stopping = state.stopping();
    let mut generation = state.db_generation();
    if catch_up(&state, &task, &mut last, &tx).await.is_err() {
        return;
    }
    loop {
        let next = tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
            () = tx.tx.closed() => return,
            next = feed.recv() => next,
        };
        match next {
            Ok(row) => {
                if row.db_generation != generation {
                    // The database file was replaced and its ids restarted.
                    generation = row.db_generation;
                    last = row.id - 1;
                }
                let seen = row.id <= last && !row.late;
                if seen || task.as_deref().is_some_and(|t| t != row.task_id) {
                    continue;
                }
                last = last.max(row.id);
                if tx.send(&row).await.is_err() {
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
    tx: &Queue,
) -> Result<(), End> {
    loop {
        let (from, filter) = (*last, task.clone());
        let bytes = state.options.event_buffer_bytes;
        let (rows, full) = match state
            .ask(move |index| feed::fetch(index, from, filter.as_deref(), bytes))
            .await
        {
            Ok(read) => read,
            Err(e) => {
                tracing::debug!(error = %e.message, "event stream: catching up failed; following the feed");
                return Ok(());
            }
        };
        for row in rows {
            *last = row.id;
            tx.send(&row).await?;
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

/// A stream's queue of events not yet taken by its connection, bounded
/// in bytes: the sending half and the receiving half (the SSE body) share
/// the count.
fn queue(bound: usize, idle: Duration, vitals: Arc<Vitals>) -> (Queue, EventStream) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Unsent::default());
    (
        Queue {
            tx,
            unsent: Arc::clone(&shared),
            bound,
            idle,
            vitals,
        },
        EventStream { rx, unsent: shared },
    )
}

/// The bytes in a queue and the signal that some were taken.
#[derive(Default)]
struct Unsent {
    /// Bytes of the events in the queue. An atomic: the stream's task adds,
    /// the connection's task takes, neither waits for the other.
    bytes: AtomicUsize,
    /// Notified each time the connection takes an event.
    taken: Notify,
}

/// The sending half of a stream's queue.
struct Queue {
    /// Unbounded in events: the bound is on bytes, checked before a send.
    tx: mpsc::UnboundedSender<(Event, usize)>,
    /// Shared with the [`EventStream`].
    unsent: Arc<Unsent>,
    /// Most bytes queued (one event is always let through).
    bound: usize,
    /// How long a full queue may wait for its client to take something.
    idle: Duration,
    /// Counts the streams dropped for not reading.
    vitals: Arc<Vitals>,
}

impl Queue {
    /// Queues `row`'s event once there is room; `Gone` when the client went
    /// away, or took nothing for the idle time while the queue was full.
    async fn send(&self, row: &Row) -> Result<(), End> {
        // The event as the wire shows it: data, id and name lines.
        let size = row.data.len() + 32;
        let deadline = tokio::time::Instant::now() + self.idle;
        loop {
            let taken = self.unsent.taken.notified();
            tokio::pin!(taken);
            taken.as_mut().enable();
            let queued = self.unsent.bytes.load(Ordering::Acquire);
            if queued == 0 || queued + size <= self.bound {
                break;
            }
            tokio::select! {
                () = &mut taken => {}
                () = self.tx.closed() => return Err(End::Gone),
                () = tokio::time::sleep_until(deadline) => {
                    Vitals::count(&self.vitals.slow_streams);
                    tracing::debug!(queued, "event stream: the client took nothing for the idle time; dropping it");
                    return Err(End::Gone);
                }
            }
        }
        self.unsent.bytes.fetch_add(size, Ordering::AcqRel);
        self.tx.send((event(row), size)).map_err(|_| End::Gone)
    }
}

/// The receiving half of a stream's queue, as the `Stream` SSE needs.
struct EventStream {
    /// Fed by [`follow`]; closes when it returns.
    rx: mpsc::UnboundedReceiver<(Event, usize)>,
    /// Shared with the [`Queue`].
    unsent: Arc<Unsent>,
}

impl futures_core::Stream for EventStream {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|next| {
            next.map(|(event, size)| {
                self.unsent.bytes.fetch_sub(size, Ordering::AcqRel);
                self.unsent.taken.notify_one();
                Ok(event)
            })
        })
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

    async fn ids(rx: &mut EventStream, n: usize, wait: std::time::Duration) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            let got = tokio::time::timeout(wait, rx.rx.recv()).await;
            let Ok(Some((event, _))) = got else { break };
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
        let rows = state
            .ask(|index| feed::fetch(index, 0, None, usize::MAX))
            .await
            .expect("rows")
            .0;
        assert_eq!(rows.len(), 6);
        for row in rows {
            let _ = feed_tx.send(Arc::new(row));
        }
        let (tx, mut rx) = queue(1 << 20, std::time::Duration::from_secs(5), Arc::default());
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

    fn row(id: i64, bytes: usize) -> Row {
        Row {
            id,
            task_id: "t".into(),
            data: "x".repeat(bytes),
            db_generation: 0,
            late: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_queue_holds_its_bound_in_bytes_and_drops_a_client_that_takes_nothing() {
        let vitals = Arc::new(Vitals::default());
        let (tx, mut rx) = queue(1000, Duration::from_secs(3), Arc::clone(&vitals));
        // One event larger than the bound still goes (alone).
        tx.send(&row(1, 5000))
            .await
            .map_err(|_| "gone")
            .expect("first");
        assert!(rx.rx.recv().await.is_some());
        let n = rx.unsent.bytes.load(Ordering::Acquire);
        assert_eq!(
            n, 5032,
            "taken but not yet counted: the stream counts on poll"
        );
        // Take it the way the SSE body does.
        rx.unsent.bytes.fetch_sub(n, Ordering::AcqRel);
        tx.send(&row(2, 400))
            .await
            .map_err(|_| "gone")
            .expect("second");
        tx.send(&row(3, 400))
            .await
            .map_err(|_| "gone")
            .expect("third");
        assert_eq!(rx.unsent.bytes.load(Ordering::Acquire), 864);
        // The fourth does not fit; nobody takes anything for the idle time.
        let started = tokio::time::Instant::now();
        assert!(tx.send(&row(4, 400)).await.is_err(), "dropped");
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert_eq!(vitals.slow_streams.load(Ordering::Relaxed), 1);
        assert_eq!(
            rx.unsent.bytes.load(Ordering::Acquire),
            864,
            "nothing more queued"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_goes_on_when_its_client_takes() {
        use futures_core::Stream;
        let (tx, rx) = queue(1000, Duration::from_secs(3), Arc::default());
        let mut rx = Box::pin(rx);
        tx.send(&row(1, 600))
            .await
            .map_err(|_| "gone")
            .expect("first");
        let send = tokio::spawn(async move { tx.send(&row(2, 600)).await.is_ok() });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!send.is_finished(), "waits for room");
        let taken = std::future::poll_fn(|cx| rx.as_mut().poll_next(cx)).await;
        assert!(matches!(taken, Some(Ok(_))));
        assert!(send.await.expect("sender"), "room made, sent");
    }
}
