//! Several committers over one database, for a sink that commits in
//! parallel (PostgreSQL: one server process per connection, where one
//! connection's COPY is bound by one core).
//!
//! Every op of a task goes to the same shard, so each file's batches stay
//! in order and each file's rows and checkpoint stay in one transaction of
//! one connection: the exactly-once argument of a single committer holds
//! per shard. Ops of no task (indexer state, the start of a bulk load) go
//! to shard 0; the end of a bulk load waits until every other shard has
//! committed, so the indexes are built over every row.

use crate::batch::Op;
use crate::committer::{CommitPolicy, Committer};
use crate::error::Result;
use crate::shutdown::ShutdownFlag;
use crate::sink::Sink;

/// The committers of one reader.
pub(crate) struct Committers {
    shards: Vec<Committer>,
}

impl Committers {
    /// One committer thread per sink.
    pub(crate) fn spawn<S: Sink + Send + 'static>(
        sinks: Vec<S>,
        policy: CommitPolicy,
        stop: ShutdownFlag,
    ) -> Result<Committers> {
        let shards = sinks
            .into_iter()
            .map(|sink| Committer::spawn(sink, policy, stop.clone()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Committers { shards })
    }

    /// Queues an op on its task's shard; fails with the error of any shard
    /// that stopped, so a failure is seen at the next op, whatever its task.
    pub(crate) fn send(&mut self, op: Op) -> Result<()> {
        if let Some(stopped) = self.shards.iter().position(Committer::has_stopped) {
            return self.shards[stopped].send(op);
        }
        if matches!(op, Op::Bulk(false)) {
            for shard in self.shards.iter_mut().skip(1) {
                shard.flush()?;
            }
        }
        let i = shard_of(&op, self.shards.len());
        self.shards[i].send(op)
    }

    /// Commits everything sent so far, on every shard, and waits for it.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.shards.iter_mut().try_for_each(Committer::flush)
    }

    /// Commits what is pending and stops every shard; the first error wins.
    pub(crate) fn finish(self) -> Result<()> {
        let mut first = Ok(());
        for shard in self.shards {
            let result = shard.finish();
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}

/// The shard of an op: by its task folder's name.
fn shard_of(op: &Op, shards: usize) -> usize {
    if shards < 2 {
        return 0;
    }
    let task = match op {
        Op::Task { task_id } | Op::TaskGone { task_id } => task_id.as_str(),
        Op::Stream(b) => &b.key.task_id,
        Op::Document(d) => &d.key.task_id,
        Op::Gone { key, .. } | Op::Errors { key, .. } => &key.task_id,
        Op::Diagnostic { task_id, .. } => task_id,
        // `task/file`, or `task` for a folder-level diagnostic: the same
        // task as the diagnostic it resolves.
        Op::Resolved { path } => path.split('/').next().unwrap_or(path),
        Op::State { .. } | Op::Bulk(_) => return 0,
    };
    (xxhash_rust::xxh3::xxh3_64(task.as_bytes()) % shards as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diagnostic and its resolution, and every op of one task, land on
    /// the same shard.
    #[test]
    fn a_task_s_ops_share_a_shard() {
        for n in 1..5 {
            for task in ["a", "gh-450", "t-17", "zz"] {
                let ops = [
                    Op::Task {
                        task_id: task.into(),
                    },
                    Op::Diagnostic {
                        task_id: task.into(),
                        path: format!("{task}/events.jsonl"),
                        generation: 1,
                        offset: 0,
                        reason: "r".into(),
                    },
                    Op::Resolved {
                        path: format!("{task}/events.jsonl"),
                    },
                    Op::Resolved { path: task.into() },
                    Op::TaskGone {
                        task_id: task.into(),
                    },
                ];
                let shards: Vec<usize> = ops.iter().map(|op| shard_of(op, n)).collect();
                assert!(
                    shards.iter().all(|s| *s == shards[0] && *s < n),
                    "{task} over {n}: {shards:?}"
                );
            }
        }
    }
}
