//! The index every read command asks, through the one question API
//! (`tasklog_index::Questions`): opened from `--db` by the facade, which is
//! the only place that tells a SQLite file from a PostgreSQL URL. Answers
//! are [`Rows`] (column names and rows of JSON values), as every data
//! command prints them.

use anyhow::{bail, Result};
use tasklog_index::{Capability, Hosts, Questions, Reading, TaskIdMatch};

use crate::config::Config;

/// A result set: column names and rows of JSON values.
pub type Rows = tasklog_index::Table;

/// The message for a task the index does not know.
pub fn unknown_task(task: &str) {
    errln!(
        "tasklog: no task {task:?} in the index (run `tasklog index`, or check the name with `tasklog tasks`)"
    );
}

/// Opens the index `config.db` names, read-only, for lists and reports:
/// on a shared PostgreSQL index every host's rows, or `--host-id`'s; with
/// `archives`, a SQLite index together with its monthly archives.
pub fn open(config: &Config, archives: bool) -> Result<Box<dyn Questions>> {
    Ok(tasklog_index::open_questions(
        &config.db,
        &Reading {
            host_id: config.host_id.clone(),
            hosts: Hosts::GivenOrAll,
            archives,
            statement_timeout: None,
        },
    )?)
}

/// Opens the index for a question about one task: on PostgreSQL,
/// narrowed to one host (`--host-id`, else this machine's), since two
/// hosts may both have the task.
pub fn open_for_task(config: &Config) -> Result<Box<dyn Questions>> {
    Ok(tasklog_index::open_questions(
        &config.db,
        &Reading {
            host_id: config.host_id.clone(),
            hosts: Hosts::GivenOrLocal,
            archives: false,
            statement_timeout: None,
        },
    )?)
}

/// The task `task` names: its id, or a prefix of exactly one id; `None`
/// when no task matches, an error listing the candidates when several do.
pub fn resolve_task(index: &mut dyn Questions, task: &str) -> Result<Option<String>> {
    match index.resolve_task(task)? {
        TaskIdMatch::One(id) => Ok(Some(id)),
        TaskIdMatch::None => Ok(None),
        TaskIdMatch::Ambiguous(ids) => bail!(
            "task id prefix {task:?} is ambiguous: it starts {}{} (give more of the id)",
            ids.join(", "),
            if ids.len() >= 10 { ", ..." } else { "" }
        ),
    }
}

/// Fails plainly, with the one message of the core's `store.rs`, when the
/// store `--db` names lacks what `command` needs.
pub fn require(config: &Config, capability: Capability, command: &str) -> Result<()> {
    Ok(config.store_kind().require(capability, command)?)
}
