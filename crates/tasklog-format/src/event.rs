//! The event names the writer's typed helpers use.
//!
//! `event` is free text on disk: any agent may invent its own name. These are
//! the names with a defined meaning, which the indexer's views rely on.

/// A well-known event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A tool call began; its completion shares the `span_id`.
    ToolStart,
    /// A tool call finished; carries `duration_ms` and the output.
    ToolComplete,
    /// A tool call failed; carries `duration_ms` and the error.
    ToolFail,
    /// One model request with usage and cost under `gen_ai`.
    LlmCall,
    /// A decision with its input, output and full reasoning.
    Decision,
    /// A planning cycle began, with its goals.
    CycleStart,
    /// A planning cycle ended, with its outcome.
    CycleComplete,
    /// One conversation message (user, assistant, system or tool).
    Message,
    /// What made the agent act (webhook, poll, signal, schedule).
    Trigger,
    /// The task changed status; `task.json` is rewritten with it.
    TaskStatus,
    /// A worker process or sub-agent started.
    WorkerSpawn,
    /// A worker process or sub-agent ended.
    WorkerExit,
    /// A system event with severity and component.
    System,
    /// A coordinator or agent session started.
    SessionStart,
    /// A coordinator or agent session ended.
    SessionEnd,
    /// A git worktree was created, removed, preserved or checked.
    Worktree,
    /// A key of agent state was set (the state document holds the latest value).
    StateSet,
    /// A long-term memory fact was recorded.
    MemoryFact,
    /// The task's final result (also written as `result.json`).
    Result,
}

impl EventKind {
    /// Every kind, for documentation and tests.
    pub const ALL: [EventKind; 19] = [
        EventKind::ToolStart,
        EventKind::ToolComplete,
        EventKind::ToolFail,
        EventKind::LlmCall,
        EventKind::Decision,
        EventKind::CycleStart,
        EventKind::CycleComplete,
        EventKind::Message,
        EventKind::Trigger,
        EventKind::TaskStatus,
        EventKind::WorkerSpawn,
        EventKind::WorkerExit,
        EventKind::System,
        EventKind::SessionStart,
        EventKind::SessionEnd,
        EventKind::Worktree,
        EventKind::StateSet,
        EventKind::MemoryFact,
        EventKind::Result,
    ];

    /// The name written in the `event` field.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::ToolStart => "tool.start",
            EventKind::ToolComplete => "tool.complete",
            EventKind::ToolFail => "tool.fail",
            EventKind::LlmCall => "llm.call",
            EventKind::Decision => "decision",
            EventKind::CycleStart => "cycle.start",
            EventKind::CycleComplete => "cycle.complete",
            EventKind::Message => "message",
            EventKind::Trigger => "trigger",
            EventKind::TaskStatus => "task.status",
            EventKind::WorkerSpawn => "worker.spawn",
            EventKind::WorkerExit => "worker.exit",
            EventKind::System => "system",
            EventKind::SessionStart => "session.start",
            EventKind::SessionEnd => "session.end",
            EventKind::Worktree => "worktree",
            EventKind::StateSet => "state.set",
            EventKind::MemoryFact => "memory.fact",
            EventKind::Result => "result",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
    }
}
