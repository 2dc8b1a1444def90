//! The non-blocking mode: records go to a bounded queue that a background
//! thread drains into the files.
//!
//! The caller never waits on the disk. When the queue is full, `append`
//! returns [`Error::QueueFull`] with the record inside, so the caller decides
//! (retry, block via `flush`, or write it elsewhere); nothing is dropped
//! silently. When a write fails, the record and every later one that also
//! fails are kept, and the next `append` or `flush` returns them all in
//! [`Error::Background`].

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tasklog_format::{StreamName, TaskId};

use crate::error::{Error, Result};
use crate::writer::{Record, Task, Writer};

/// A record waiting in (or handed back from) the background queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The task it belongs to.
    pub task: TaskId,
    /// The stream it goes to.
    pub stream: StreamName,
    /// The record itself.
    pub record: Record,
}

enum Message {
    Record(Pending),
    Flush(mpsc::Sender<()>),
}

#[derive(Default)]
struct Failure {
    first: Option<Error>,
    failed: Vec<Pending>,
}

/// A writer that never blocks the caller. Dropping it drains the queue.
pub struct BackgroundWriter {
    tx: Option<SyncSender<Message>>,
    capacity: usize,
    /// Failures reported by the thread; a std mutex since both sides only
    /// push or take a vector.
    failure: Arc<Mutex<Failure>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for BackgroundWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundWriter")
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl BackgroundWriter {
    /// Starts the background thread with a queue of `capacity` records.
    pub fn spawn(writer: Writer, capacity: usize) -> Result<BackgroundWriter> {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::sync_channel(capacity);
        let failure = Arc::new(Mutex::new(Failure::default()));
        let thread_failure = Arc::clone(&failure);
        let thread = std::thread::Builder::new()
            .name("tasklog-writer".into())
            .spawn(move || drain(writer, rx, thread_failure))
            .map_err(|e| Error::io("tasklog-writer thread", "spawning background writer", e))?;
        Ok(BackgroundWriter {
            tx: Some(tx),
            capacity,
            failure,
            thread: Some(thread),
        })
    }

    /// Queues `record` for `<task>/<stream>.jsonl`. Invalid names are refused
    /// at once; earlier write failures are returned here first.
    pub fn append(&self, task: &str, stream: &str, record: Record) -> Result<()> {
        self.take_failure()?;
        let pending = Pending {
            task: TaskId::new(task)?,
            stream: StreamName::new(stream)?,
            record,
        };
        let tx = self.tx.as_ref().ok_or(Error::BackgroundStopped)?;
        match tx.try_send(Message::Record(pending)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(Message::Record(record))) => Err(Error::QueueFull {
                capacity: self.capacity,
                record: Box::new(record),
            }),
            Err(_) => Err(Error::BackgroundStopped),
        }
    }

    /// Waits until everything queued so far is written; returns the failures.
    pub fn flush(&self) -> Result<()> {
        let tx = self.tx.as_ref().ok_or(Error::BackgroundStopped)?;
        let (ack_tx, ack_rx) = mpsc::channel();
        tx.send(Message::Flush(ack_tx))
            .map_err(|_| Error::BackgroundStopped)?;
        ack_rx.recv().map_err(|_| Error::BackgroundStopped)?;
        self.take_failure()
    }

    fn take_failure(&self) -> Result<()> {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        match failure.first.take() {
            None => Ok(()),
            Some(first) => Err(Error::Background {
                source: Box::new(first),
                failed: std::mem::take(&mut failure.failed),
            }),
        }
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if !failure.failed.is_empty() {
            tracing::error!(
                records = failure.failed.len(),
                "background writer dropped with unwritten records; call flush() to get them back"
            );
        }
    }
}

fn drain(writer: Writer, rx: Receiver<Message>, failure: Arc<Mutex<Failure>>) {
    let mut tasks: HashMap<TaskId, Task> = HashMap::new();
    for message in rx {
        let pending = match message {
            Message::Record(p) => p,
            Message::Flush(ack) => {
                let _ = ack.send(());
                continue;
            }
        };
        let result = match tasks.get(&pending.task) {
            Some(task) => Ok(task.clone()),
            None => writer.task(pending.task.as_str()).inspect(|t| {
                tasks.insert(pending.task.clone(), t.clone());
            }),
        }
        .and_then(|task| task.append(pending.stream.as_str(), pending.record.clone()));
        if let Err(e) = result {
            tracing::warn!(error = %e, "background append failed");
            let mut failure = failure.lock().unwrap_or_else(|p| p.into_inner());
            failure.first.get_or_insert(e);
            failure.failed.push(pending);
        }
    }
}
