//! The thread that owns the database connection and commits batches.
//!
//! The reader sends ops over a bounded channel (so a slow disk slows the
//! reader instead of growing memory). Ops accumulate in one transaction that
//! commits when it holds `batch_rows` rows, when `batch_interval` has passed
//! since it opened, or on `flush`. When the database cannot be written the
//! uncommitted ops are kept and replayed with backoff: nothing is skipped.
//!
//! Shutdown reaches the thread directly (the [`ShutdownFlag`]): a retry loop
//! waiting for a locked database checks it between short sleeps and gives
//! up, rolling its batch back. The checkpoints roll back with the rows, so
//! the next start reads those lines again: nothing lost, nothing twice.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::batch::Op;
use crate::error::{CommitterStop, Error, Result};
use crate::shutdown::ShutdownFlag;
use crate::sink::Sink;

/// Longest sleep between two looks at the shutdown flag while retrying.
const STOP_CHECK: Duration = Duration::from_millis(50);

enum Message {
    Op(Op),
    Flush(mpsc::Sender<Result<()>>),
}

/// Ops in flight between the reader and one database connection. Small,
/// because every op waiting here is latency for the records behind it.
pub(crate) const CHANNEL_CAPACITY: usize = 2;

/// Handle to the committing thread.
pub(crate) struct Committer {
    /// The bounded channel to the thread. A std `sync_channel`: the sender
    /// is the reader's plain thread, and a full channel must block it (that
    /// is the back-pressure). When the thread stops, the receiver drops and
    /// a blocked send returns at once.
    tx: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<Result<()>>>,
}

/// Commit policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommitPolicy {
    pub batch_rows: usize,
    pub batch_interval: Duration,
    /// How long to keep retrying a failing database before giving up;
    /// `None` retries until shutdown (the watcher).
    pub retry_for: Option<Duration>,
    /// Ops the channel to the thread holds before the reader waits
    /// ([`CHANNEL_CAPACITY`] for one connection; more when several share
    /// the reader, so that one committing does not stall the others).
    pub channel: usize,
}

impl Committer {
    pub(crate) fn spawn<S: Sink + Send + 'static>(
        sink: S,
        policy: CommitPolicy,
        stop: ShutdownFlag,
    ) -> Result<Committer> {
        let (tx, rx) = mpsc::sync_channel(policy.channel);
        let thread = std::thread::Builder::new()
            .name("tasklog-committer".into())
            .spawn(move || {
                Loop {
                    sink,
                    policy,
                    stop,
                    pending: Vec::new(),
                    pending_rows: 0,
                    tx_open: false,
                }
                .run(rx)
            })
            .map_err(|e| Error::io("tasklog-committer", "spawning committer thread", e))?;
        Ok(Committer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Whether the thread has ended (an error of its own, or a panic).
    pub(crate) fn has_stopped(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Queues an op; blocks while the channel is full.
    pub(crate) fn send(&mut self, op: Op) -> Result<()> {
        let sent = self.tx.as_ref().map(|tx| tx.send(Message::Op(op)).is_ok());
        match sent {
            Some(true) => Ok(()),
            _ => Err(self.stopped_error()),
        }
    }

    /// Commits everything sent so far and waits for it.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let (ack_tx, ack_rx) = mpsc::channel();
        let sent = self
            .tx
            .as_ref()
            .map(|tx| tx.send(Message::Flush(ack_tx)).is_ok());
        if sent != Some(true) {
            return Err(self.stopped_error());
        }
        match ack_rx.recv() {
            Ok(result) => result,
            Err(_) => Err(self.stopped_error()),
        }
    }

    /// Commits what is pending and stops the thread.
    pub(crate) fn finish(mut self) -> Result<()> {
        drop(self.tx.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::CommitterStopped {
                cause: CommitterStop::Panicked,
            }),
            None => Ok(()),
        }
    }

    fn stopped_error(&mut self) -> Error {
        drop(self.tx.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Ok(Ok(()))) | None => Error::CommitterStopped {
                cause: CommitterStop::Exited,
            },
            Some(Err(_)) => Error::CommitterStopped {
                cause: CommitterStop::Panicked,
            },
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Loop<S> {
    sink: S,
    policy: CommitPolicy,
    stop: ShutdownFlag,
    /// Ops applied in the open transaction (or to replay after a failure).
    pending: Vec<Op>,
    pending_rows: usize,
    tx_open: bool,
}

impl<S: Sink> Loop<S> {
    fn run(mut self, rx: Receiver<Message>) -> Result<()> {
        let mut opened_at = Instant::now();
        loop {
            let message = if self.pending.is_empty() {
                rx.recv().ok()
            } else {
                let deadline = opened_at + self.policy.batch_interval;
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => {
                        self.commit()?;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            };
            match message {
                None => return self.commit(),
                Some(Message::Flush(ack)) => {
                    let result = self.commit();
                    let failed = result.is_err();
                    let _ = ack.send(result);
                    if failed {
                        return Err(Error::CommitterStopped {
                            cause: CommitterStop::FlushFailed,
                        });
                    }
                }
                Some(Message::Op(op)) => {
                    if self.pending.is_empty() {
                        opened_at = Instant::now();
                    }
                    self.apply(op)?;
                    // Age counts too: under a steady stream of ops the
                    // receive never times out, and a batch that only
                    // committed by size would hold quiet tasks' rows back
                    // for as long as a busy task takes to fill it.
                    if self.pending_rows >= self.policy.batch_rows
                        || opened_at.elapsed() >= self.policy.batch_interval
                    {
                        self.commit()?;
                    }
                }
            }
        }
    }

    fn apply(&mut self, op: Op) -> Result<()> {
        self.pending_rows += op.row_count();
        let result = if self.tx_open {
            self.sink.apply(&op, &tasklog_format::now_rfc3339())
        } else {
            self.sink.begin().and_then(|()| {
                self.tx_open = true;
                self.sink.apply(&op, &tasklog_format::now_rfc3339())
            })
        };
        self.pending.push(op);
        match result {
            Ok(()) => Ok(()),
            Err(e @ Error::CheckpointConflict { .. }) => {
                self.sink.rollback();
                Err(e)
            }
            Err(e) => {
                tracing::warn!(error = %format_chain(&e), "index write failed; will retry");
                self.sink.rollback();
                self.tx_open = false;
                self.commit()
            }
        }
    }

    /// Commits the open transaction, or replays the pending ops into a new
    /// one until it commits (with backoff), or gives up per the policy.
    fn commit(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut backoff = Duration::from_millis(50);
        // Ops per replayed transaction: halved after each failure, so work
        // too large for the database (a statement timeout, a lock held
        // against long transactions) goes through in smaller transactions.
        // Each op carries its file's rows and checkpoint move, and ops keep
        // their order, so any split is still exactly once.
        let mut chunk = self.pending.len();
        loop {
            let (result, ops) = if self.tx_open {
                (self.sink.commit(), self.pending.len())
            } else {
                let n = chunk.min(self.pending.len());
                (self.replay(n).and_then(|()| self.sink.commit()), n)
            };
            match result {
                Ok(()) => {
                    self.pending.drain(..ops);
                    self.tx_open = false;
                    if self.pending.is_empty() {
                        self.pending_rows = 0;
                        return Ok(());
                    }
                    self.pending_rows = self.pending.iter().map(Op::row_count).sum();
                }
                Err(e) => {
                    chunk = (ops / 2).max(1);
                    self.sink.rollback();
                    self.tx_open = false;
                    if is_transient(&e) && self.stop.is_set() {
                        return Err(self.abandon(&e));
                    }
                    let give_up = !is_transient(&e)
                        || self
                            .policy
                            .retry_for
                            .is_some_and(|limit| started.elapsed() >= limit);
                    if give_up {
                        return Err(e);
                    }
                    tracing::warn!(
                        error = %format_chain(&e),
                        retry_in_ms = backoff.as_millis() as u64,
                        pending_ops = self.pending.len(),
                        "index database not writable; holding the batch and retrying"
                    );
                    if self.sleep_unless_stopped(backoff) {
                        return Err(self.abandon(&e));
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Sleeps `total` in short steps; true when shutdown came meanwhile.
    fn sleep_unless_stopped(&self, total: Duration) -> bool {
        let until = Instant::now() + total;
        loop {
            if self.stop.is_set() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(STOP_CHECK));
        }
    }

    /// Gives the batch up on shutdown: it was rolled back, and its
    /// checkpoints with it, so its lines are read again at the next start.
    fn abandon(&mut self, cause: &Error) -> Error {
        let uncommitted_ops = self.pending.len();
        tracing::warn!(
            uncommitted_ops,
            error = %format_chain(cause),
            "stopping with the batch uncommitted; its lines are read again at the next start"
        );
        self.pending.clear();
        self.pending_rows = 0;
        Error::ShuttingDown { uncommitted_ops }
    }

    /// Applies the first `n` pending ops in a new transaction.
    fn replay(&mut self, n: usize) -> Result<()> {
        self.sink.begin()?;
        self.tx_open = true;
        let now = tasklog_format::now_rfc3339();
        for op in &self.pending[..n] {
            self.sink.apply(op, &now)?;
        }
        Ok(())
    }
}

/// Whether waiting may cure the error: the database is busy, locked, full,
/// read-only or failing I/O. A checkpoint conflict or an SQL error is not
/// cured by waiting, so it is reported at once.
pub fn is_transient(e: &Error) -> bool {
    match e {
        Error::Store { transient, .. } => *transient,
        Error::Io { .. } => true,
        _ => false,
    }
}

/// An error and its sources on one line, for logs.
pub fn format_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A sink that records when it commits and takes a while per op, so
    /// that the committer, not the sender, is the slow side.
    struct Recording(Arc<Mutex<Vec<Instant>>>);

    impl Sink for Recording {
        fn begin(&mut self) -> Result<()> {
            Ok(())
        }
        fn apply(&mut self, _op: &Op, _now: &str) -> Result<()> {
            std::thread::sleep(Duration::from_millis(2));
            Ok(())
        }
        fn commit(&mut self) -> Result<()> {
            self.0.lock().unwrap().push(Instant::now());
            Ok(())
        }
        fn rollback(&mut self) {}
    }

    fn state_op() -> Op {
        Op::State {
            key: crate::state::StateKey::WatchMode,
            value: "v".into(),
        }
    }

    /// When ops arrive faster than they apply, the receive never times out;
    /// a batch must still commit once it is `batch_interval` old, not only
    /// when full.
    #[test]
    fn a_busy_stream_still_commits_by_age() {
        let commits = Arc::new(Mutex::new(Vec::new()));
        let mut committer = Committer::spawn(
            Recording(Arc::clone(&commits)),
            CommitPolicy {
                batch_rows: usize::MAX,
                batch_interval: Duration::from_millis(20),
                retry_for: None,
                channel: CHANNEL_CAPACITY,
            },
            crate::Shutdown::new().flag(),
        )
        .unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(300) {
            committer.send(state_op()).unwrap(); // blocks while the channel is full
        }
        let during = commits.lock().unwrap().len();
        committer.finish().unwrap();
        // 300 ms of ops at a 20 ms age limit: about 15 commits while they
        // kept coming (none when only a timed-out receive committed).
        assert!(during >= 5, "{during} commits while ops kept coming");
    }

    /// A store that refuses, as too slow, any transaction of more than
    /// `max_ops` ops (a DBA's statement timeout) and records what commits.
    struct Timeouts {
        max_ops: usize,
        open: Vec<String>,
        committed: Arc<Mutex<Vec<String>>>,
    }

    impl Sink for Timeouts {
        fn begin(&mut self) -> Result<()> {
            self.open.clear();
            Ok(())
        }
        fn apply(&mut self, op: &Op, _now: &str) -> Result<()> {
            if let Op::State { value, .. } = op {
                self.open.push(value.clone());
            }
            Ok(())
        }
        fn commit(&mut self) -> Result<()> {
            if self.open.len() > self.max_ops {
                return Err(Error::store(
                    "test",
                    "committing",
                    std::io::Error::other("canceling statement due to statement timeout"),
                    true,
                ));
            }
            self.committed.lock().unwrap().append(&mut self.open);
            Ok(())
        }
        fn rollback(&mut self) {
            self.open.clear();
        }
    }

    /// Work too large for the store's time limit commits in smaller
    /// transactions, every op once and in order, instead of retrying the
    /// same batch forever (issue 22).
    #[test]
    fn a_batch_too_large_for_the_store_commits_in_smaller_transactions() {
        let committed = Arc::new(Mutex::new(Vec::new()));
        let mut committer = Committer::spawn(
            Timeouts {
                max_ops: 3,
                open: Vec::new(),
                committed: Arc::clone(&committed),
            },
            CommitPolicy {
                batch_rows: usize::MAX,
                batch_interval: Duration::from_secs(3600),
                retry_for: None,
                channel: CHANNEL_CAPACITY,
            },
            crate::Shutdown::new().flag(),
        )
        .unwrap();
        let values: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        for v in &values {
            committer
                .send(Op::State {
                    key: crate::state::StateKey::WatchMode,
                    value: v.clone(),
                })
                .unwrap();
        }
        committer.finish().unwrap();
        assert_eq!(*committed.lock().unwrap(), values);
    }
}
