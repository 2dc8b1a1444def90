//! The writer's error type. Every variant names the file it concerns.

use std::path::PathBuf;

use tasklog_format::{LineError, NameError};

/// Everything that can go wrong while writing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A task id, stream name or document name was refused.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A record was refused before anything was written.
    #[error("{path}: record refused: {reason}")]
    Record {
        /// The stream the record was meant for.
        path: PathBuf,
        /// What is wrong with it.
        reason: LineError,
    },
    /// A document was refused before anything was written.
    #[error("{path}: document refused: {reason}")]
    Document {
        /// The document the content was meant for.
        path: PathBuf,
        /// What is wrong with it.
        reason: LineError,
    },
    /// A file system operation failed.
    #[error("{path}: {op}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done, e.g. "appending a record".
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A task folder, stream or document path is a symbolic link; following
    /// it could write outside the log root.
    #[error("{path}: is a symbolic link; refusing to follow it")]
    Symlink {
        /// The offending path.
        path: PathBuf,
    },
    /// `prune` was asked to remove a task that is still open.
    #[error("{path}: the task is not sealed (no result.json); refusing to remove it")]
    NotSealed {
        /// The task folder.
        path: PathBuf,
    },
    /// The stream exists only compressed (`tasklog compress` made it
    /// `<stream>.jsonl.gz`): a compressed stream is finished, never appended to.
    #[error(
        "{path}: the stream is compressed ({path}.gz); appending to a compressed stream is refused"
    )]
    Compressed {
        /// The plain stream path the append was meant for.
        path: PathBuf,
    },
    /// The background queue is full; the record is handed back, not dropped.
    #[error("background queue is full ({capacity} records); the record was not queued")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
        /// The record that was not queued.
        record: Box<crate::background::Pending>,
    },
    /// Records queued in the background could not be written. They are
    /// handed back so the caller can retry them or write them elsewhere.
    #[error("{} queued record(s) could not be written", failed.len())]
    Background {
        /// The first error the background writer met.
        #[source]
        source: Box<Error>,
        /// Every record that was not written, in queue order.
        failed: Vec<crate::background::Pending>,
    },
    /// The background writer thread is gone (it panicked or was shut down).
    #[error("the background writer has stopped")]
    BackgroundStopped,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    /// Whether the caller's input was refused (as opposed to the system failing).
    /// The CLI maps this to exit code 2 with no retry advice.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Name(_)
                | Error::Record { .. }
                | Error::Document { .. }
                | Error::Symlink { .. }
                | Error::NotSealed { .. }
                | Error::Compressed { .. }
        )
    }
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
