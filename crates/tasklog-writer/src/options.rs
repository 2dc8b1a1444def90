//! How the writer trades durability for speed, and what it redacts.

use crate::redact::Redactor;

/// When the writer calls `fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// After every write: a power loss loses nothing acknowledged.
    #[default]
    Always,
    /// Never: the page cache decides; a crash of the process loses nothing,
    /// a power loss may lose the last seconds.
    Never,
    /// Only when the call asks for it ([`crate::Durability::Sync`]).
    PerCall,
}

impl FsyncPolicy {
    /// Whether a call with `durability` must sync under this policy.
    pub fn should_sync(self, durability: crate::Durability) -> bool {
        match self {
            FsyncPolicy::Always => true,
            FsyncPolicy::Never => false,
            FsyncPolicy::PerCall => durability == crate::Durability::Sync,
        }
    }
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            "per-call" | "per_call" => Ok(FsyncPolicy::PerCall),
            other => Err(format!(
                "unknown fsync policy {other:?}; expected always, never or per-call"
            )),
        }
    }
}

/// Options of a [`crate::Writer`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Sync policy for document replacement (file, then folder).
    pub document_fsync: FsyncPolicy,
    /// Sync policy for stream appends (`fdatasync` after the write).
    pub append_fsync: FsyncPolicy,
    /// Masks secrets in every string value before it reaches disk.
    pub redactor: Option<Redactor>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            document_fsync: FsyncPolicy::Always,
            append_fsync: FsyncPolicy::Never,
            redactor: None,
        }
    }
}
