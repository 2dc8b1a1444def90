//! The importer's error type. Every variant names the source file it
//! concerns, and the line when there is one, so a message can say where.

use std::path::PathBuf;

/// Everything that can stop the import of one source file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source could not be read (or a folder could not be listed).
    #[error("{path}: {op}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done, e.g. "reading source".
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A single-document source (SWE-agent, OpenHands) is not valid JSON.
    #[error("{path}:{line}: not valid JSON: {message}")]
    Parse {
        /// The source file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// serde_json's message.
        message: String,
    },
    /// The content does not match the format that was asked for.
    #[error("{path}: not a {expected} log{}", detected.map(|d| format!(" (it looks like {d})")).unwrap_or_default())]
    WrongFormat {
        /// The source file.
        path: PathBuf,
        /// The format named on the command line.
        expected: &'static str,
        /// What detection found instead, if anything.
        detected: Option<&'static str>,
    },
    /// A format that copies a supported one's shape but is not it (iFlow
    /// CLI writes Claude Code's line shape): refused rather than imported
    /// with the wrong rules.
    #[error("{path}: {name} transcript ({why}); this format is not imported (docs/IMPORT.md, section 19)")]
    LookAlike {
        /// The source file.
        path: PathBuf,
        /// The tool that wrote it.
        name: &'static str,
        /// The feature that tells it apart.
        why: &'static str,
    },
    /// `auto` could not tell what the file is.
    #[error("{path}: format not recognized (tried {tried})")]
    Unrecognized {
        /// The source file.
        path: PathBuf,
        /// The formats it was compared with, comma-separated.
        tried: String,
    },
    /// The task's `import.json` exists but is not an import record, so what
    /// was imported before is unknown; importing again could duplicate.
    #[error("{path}: is not an import record ({message}); not importing into this task")]
    State {
        /// The `import.json` file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The keys of events already imported (`.import-keys`, beside
    /// `import.json`) cannot be read in full: importing again could
    /// duplicate.
    #[error("{message}; not importing into this task")]
    Keys {
        /// The `.import-keys` file.
        path: PathBuf,
        /// What is wrong with it, naming the file.
        message: String,
    },
    /// Writing the task folder failed.
    #[error("{path}: writing the imported task")]
    Write {
        /// The source file being imported.
        path: PathBuf,
        /// The writer's error (it names the task file).
        #[source]
        source: tasklog_writer::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    pub(crate) fn write(path: impl Into<PathBuf>, source: tasklog_writer::Error) -> Error {
        Error::Write {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
