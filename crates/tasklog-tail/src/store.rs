//! Which store answers, and what each can do beyond the questions both
//! answer: one list of capabilities, and one message for a capability a
//! store lacks (so no command words its own refusal).

use crate::error::{Error, Result};

/// The kinds of store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// One SQLite file per log root (`tasklog-sqlite`).
    Sqlite,
    /// A PostgreSQL database shared by many hosts (`tasklog-postgres`).
    Postgres,
}

/// What a command may need that not every store has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Monthly archive databases (`archive`, `unarchive`, `--archives`).
    Archives,
}

impl Capability {
    /// What it is, and what to do on a store without it.
    fn explain(self) -> (&'static str, &'static str) {
        match self {
            Capability::Archives => (
                "monthly archives are SQLite files beside a SQLite index (docs/RETENTION.md)",
                "they do not apply",
            ),
        }
    }
}

impl StoreKind {
    /// The store's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "SQLite",
            StoreKind::Postgres => "PostgreSQL",
        }
    }

    /// Whether many hosts ship into one such store, each with its own
    /// sidecar (PostgreSQL): a server over it only reads, and questions
    /// about one task name a host. A SQLite index is one host's, written by
    /// the sidecar beside it.
    pub fn shared(self) -> bool {
        match self {
            StoreKind::Sqlite => false,
            StoreKind::Postgres => true,
        }
    }

    /// Whether this kind of store has `capability`.
    pub fn supports(self, capability: Capability) -> bool {
        match (self, capability) {
            (StoreKind::Sqlite, _) => true,
            (StoreKind::Postgres, Capability::Archives) => false,
        }
    }

    /// `Ok` when this kind of store has `capability`, else
    /// [`Error::Unsupported`] naming `command`.
    pub fn require(self, capability: Capability, command: &str) -> Result<()> {
        if self.supports(capability) {
            return Ok(());
        }
        let (why, instead) = capability.explain();
        Err(Error::Unsupported {
            command: command.to_owned(),
            store: self.name(),
            why,
            instead,
        })
    }
}
