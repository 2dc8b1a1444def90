//! The reader's copy of a file's checkpoint: where the next read starts.
//! The stores keep it (SQLite's and PostgreSQL's `files` table) in the
//! same transaction as the rows read up to it.

use crate::batch::FileKey;

/// The in-memory mirror of a checkpoint row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The file.
    pub key: FileKey,
    /// Device of the file read.
    pub dev: u64,
    /// Inode of the file read.
    pub ino: u64,
    /// Generation: bumped when the file is replaced or truncated.
    pub generation: u64,
    /// Bytes of the file indexed (the next line starts here).
    pub offset: u64,
    /// Lines indexed.
    pub line_count: u64,
    /// Hash of the first bytes, to notice a replaced file.
    pub anchor: i64,
    /// Documents: the size and mtime last read, to skip unchanged files.
    pub size: u64,
    /// Documents: the mtime last read, in nanoseconds.
    pub mtime_ns: i64,
}

impl Checkpoint {
    /// A file never read: generation 1, offset 0.
    pub fn new(key: FileKey) -> Checkpoint {
        Checkpoint {
            key,
            dev: 0,
            ino: 0,
            generation: 1,
            offset: 0,
            line_count: 0,
            anchor: 0,
            size: 0,
            mtime_ns: 0,
        }
    }
}
