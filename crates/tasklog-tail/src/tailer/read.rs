//! Reading one file for the tailer: a stream from its checkpoint, one
//! batch at a time, or a document when it changed; and what to send when
//! a file is unusable or gone.

use super::{RunMode, Tailer};
use crate::batch::{FileKey, Op};
use crate::checkpoint::Checkpoint;
use crate::error::Result;
use crate::tail::{self, Outcome, ReadLimits};

impl Tailer {
    pub(super) fn limits(&self) -> ReadLimits {
        match self.mode {
            // Backfill: big reads, few transactions.
            RunMode::Once => ReadLimits {
                line_limit: self.options.line_limit,
                max_rows: self.options.batch_rows.max(1),
                max_bytes: 16 << 20,
            },
            // Live: small turns, so one busy stream cannot make quiet ones
            // wait behind megabytes of its own lines (fair reads).
            RunMode::Watch => ReadLimits {
                line_limit: self.options.line_limit,
                max_rows: self.options.batch_rows.clamp(1, 256),
                max_bytes: 256 << 10,
            },
        }
    }

    /// Reads a stream to its current end, one batch at a time.
    pub(crate) fn drain_stream(&mut self, key: FileKey) -> Result<()> {
        loop {
            self.check_shutdown()?;
            if !self.read_stream_once(&key)? {
                return Ok(());
            }
        }
    }

    /// The file's checkpoint, or a fresh one for a file never seen.
    pub(super) fn checkpoint_of(&self, key: &FileKey) -> Checkpoint {
        self.checkpoints
            .get(&key.path)
            .cloned()
            .unwrap_or_else(|| Checkpoint::new(key.clone()))
    }

    /// Reads and sends one batch of a stream; returns whether there may be more.
    pub(crate) fn read_stream_once(&mut self, key: &FileKey) -> Result<bool> {
        let cp = self.checkpoint_of(key);
        let abs = self.root.join(&key.path);
        // A file with an open diagnostic is always looked at: a chmod that
        // fixes it changes neither its size nor its mtime.
        if !self.diagnostics.contains_key(&key.path) && tail::unchanged(&abs, &cp) {
            return Ok(false);
        }
        let now = tasklog_format::now_rfc3339();
        let mut outcome = tail::read_stream(&abs, &cp, self.limits(), &now, &mut self.read_buf);
        if matches!(outcome, Outcome::Gone) {
            // No plain file: the stream may be compressed (`X.jsonl.gz`),
            // same stream, same checkpoint (see `compressed.rs`).
            let gz = crate::compressed::gz_path(&abs);
            let limits = self.limits();
            outcome = crate::compressed::read(&gz, &cp, limits, &now, &mut self.gz_cursor);
        }
        if !matches!(outcome, Outcome::Unusable(_)) {
            self.resolve(&key.path)?;
        }
        match outcome {
            Outcome::Idle => Ok(false),
            Outcome::Gone => {
                self.file_gone(&key.path)?;
                Ok(false)
            }
            Outcome::Unusable(reason) => {
                self.report_unusable(key, &cp, reason)?;
                Ok(false)
            }
            Outcome::Batch(batch) => {
                self.stats.records += batch.rows.len() as u64;
                self.stats.quarantined += batch.errors.len() as u64;
                self.stats.bytes += batch.new_offset
                    - if batch.rotation.is_some() {
                        0
                    } else {
                        cp.offset
                    };
                if let Some(r) = &batch.rotation {
                    self.stats.rotations += 1;
                    tracing::info!(path = %key.path, reason = r.reason, generation = batch.generation, "file starts a new generation");
                }
                let next = Checkpoint {
                    key: key.clone(),
                    dev: batch.dev,
                    ino: batch.ino,
                    generation: batch.generation,
                    offset: batch.new_offset,
                    line_count: batch.new_line_count,
                    anchor: batch.anchor,
                    size: batch.new_offset,
                    mtime_ns: batch.mtime_ns,
                };
                let more =
                    !batch.rows.is_empty() || !batch.errors.is_empty() || batch.rotation.is_some();
                self.send(Op::Stream(batch))?;
                self.checkpoints.insert(key.path.clone(), next);
                Ok(more)
            }
        }
    }

    pub(super) fn refresh_document(&mut self, key: FileKey) -> Result<()> {
        let cp = self.checkpoint_of(&key);
        let abs = self.root.join(&key.path);
        let outcome = tail::read_document(&abs, &cp, self.options.line_limit);
        if !matches!(outcome, Outcome::Unusable(_)) {
            self.resolve(&key.path)?;
        }
        match outcome {
            Outcome::Idle => Ok(()),
            Outcome::Gone => self.file_gone(&key.path),
            Outcome::Unusable(reason) => self.report_unusable(&key, &cp, reason),
            Outcome::Batch(doc) => {
                match &doc.content {
                    crate::batch::DocContent::Body { .. } => self.stats.documents += 1,
                    crate::batch::DocContent::Invalid(q) => {
                        self.stats.quarantined += 1;
                        tracing::warn!(path = %key.path, reason = %q.reason, "document quarantined; previous version kept");
                    }
                }
                let next = Checkpoint {
                    key: key.clone(),
                    dev: doc.dev,
                    ino: doc.ino,
                    generation: 1,
                    offset: doc.size,
                    line_count: 0,
                    anchor: doc.hash,
                    size: doc.size,
                    mtime_ns: doc.mtime_ns,
                };
                self.send(Op::Document(doc))?;
                self.checkpoints.insert(key.path, next);
                Ok(())
            }
        }
    }

    pub(super) fn file_gone(&mut self, path: &str) -> Result<()> {
        self.resolve(path)?;
        let Some(cp) = self.checkpoints.remove(path) else {
            return Ok(());
        };
        self.stats.removed += 1;
        tracing::info!(path, "file removed; its rows move to superseded_records");
        self.send(Op::Gone {
            key: cp.key,
            expected_offset: cp.offset,
            expected_generation: cp.generation,
        })
    }
}
