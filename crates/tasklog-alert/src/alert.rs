//! One alert message: its stable id, the payload sent, and the entry the
//! fired-alert log keeps for it.

use serde::{Deserialize, Serialize};

use crate::rule::{Condition, Per, Rule};

/// Firing or resolved; with the id, the key of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The condition holds.
    Firing,
    /// It held and no longer does.
    Resolved,
}

impl State {
    /// `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }

    /// The inverse of `as_str`.
    pub fn parse(s: &str) -> Option<State> {
        match s {
            "firing" => Some(State::Firing),
            "resolved" => Some(State::Resolved),
            _ => None,
        }
    }
}

/// One subject for which a rule's condition holds now.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The task, model, project, day or host it is about.
    pub subject: String,
    /// The measured value (USD, failures, seconds, lines, bytes, calls).
    pub value: f64,
    /// What makes this occurrence distinct from a later one of the same
    /// subject: the day or window start, a stalled task's last activity,
    /// a lag's start; empty for conditions that fire once per subject.
    pub window: String,
}

/// The stable id of an alert: rule, subject and window, hashed (xxh3-128,
/// hex). The same facts give the same id on every host and every restart.
pub fn alert_id(rule: &str, subject: &str, window: &str) -> String {
    let mut key = Vec::with_capacity(rule.len() + subject.len() + window.len() + 2);
    for (i, part) in [rule, subject, window].iter().enumerate() {
        if i > 0 {
            key.push(0);
        }
        key.extend_from_slice(part.as_bytes());
    }
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&key))
}

/// The JSON every destination receives (the Slack form carries `text`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id: receivers de-duplicate on it (with `state`).
    pub id: String,
    /// The rule's name.
    pub rule: String,
    /// `firing` or `resolved`.
    pub state: State,
    /// The rule's condition (`cost_over`, ...).
    pub when: String,
    /// What it is about.
    pub subject: String,
    /// `task`, `model`, `project`, `day` or `host`.
    pub subject_kind: String,
    /// The measured value when it fired (or resolved).
    pub value: f64,
    /// The rule's threshold.
    pub threshold: f64,
    /// The unit of `value` and `threshold`.
    pub unit: String,
    /// The window of the id (see `Observation::window`).
    pub window: String,
    /// When the condition was seen (RFC 3339 UTC); the same on every retry.
    pub ts: String,
    /// A line for people.
    pub text: String,
    /// The host that sent it.
    pub host_id: String,
    /// `tasklog alerts test`: not a real condition.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

fn subject_kind(condition: &Condition) -> &'static str {
    match condition {
        Condition::CostOver { per: Per::Day, .. } => "day",
        Condition::CostOver {
            per: Per::Model, ..
        }
        | Condition::Unpriced => "model",
        Condition::CostOver {
            per: Per::Project, ..
        } => "project",
        Condition::Lag { .. } => "host",
        _ => "task",
    }
}

fn describe(condition: &Condition, subject: &str, value: f64) -> String {
    match condition {
        Condition::CostOver { usd, per } => {
            let what = match per {
                Per::Day => format!("spend on {subject}"),
                Per::Task => format!("spend of task {subject}"),
                Per::Model => format!("today's spend on model {subject}"),
                Per::Project => format!("spend of project {subject}"),
            };
            format!("{what} is {value:.2} USD (budget {usd:.2} USD)")
        }
        Condition::TaskFailed => format!("task {subject} failed"),
        Condition::ToolFailures { count, window } => format!(
            "task {subject} has {value} failed tool calls in {} (threshold {count})",
            humantime::format_duration(*window)
        ),
        Condition::Stalled { after } => format!(
            "task {subject} is running and silent for {}s (limit {})",
            value.round(),
            humantime::format_duration(*after)
        ),
        Condition::Quarantined { .. } => format!("task {subject} has {value} quarantined line(s)"),
        Condition::Lag { after, .. } => format!(
            "indexer on {subject} is {value} bytes behind for over {}",
            humantime::format_duration(*after)
        ),
        Condition::Unpriced => {
            format!("{value} call(s) of model {subject} have usage but no price")
        }
    }
}

impl Alert {
    /// The message for `rule` about `obs`, in `state`, seen at `ts`.
    pub fn new(rule: &Rule, obs: &Observation, state: State, ts: &str, host_id: &str) -> Alert {
        let (threshold, unit) = rule.condition.threshold();
        let facts = describe(&rule.condition, &obs.subject, obs.value);
        let text = match state {
            State::Firing => format!("[{}] {facts}", rule.name),
            State::Resolved => format!("[{}] resolved: {facts}", rule.name),
        };
        Alert {
            id: alert_id(&rule.name, &obs.subject, &obs.window),
            rule: rule.name.clone(),
            state,
            when: rule.condition.when().to_owned(),
            subject: obs.subject.clone(),
            subject_kind: subject_kind(&rule.condition).to_owned(),
            value: obs.value,
            threshold,
            unit: unit.to_owned(),
            window: obs.window.clone(),
            ts: ts.to_owned(),
            text,
            host_id: host_id.to_owned(),
            test: false,
        }
    }

    /// The resolution of a firing alert, with the value seen now (0 when
    /// the subject is gone from the answer).
    pub fn resolution(&self, value: f64, ts: &str, host_id: &str) -> Alert {
        Alert {
            state: State::Resolved,
            value,
            ts: ts.to_owned(),
            text: format!(
                "[{}] resolved: {} {} ({} {} when it fired)",
                self.rule, self.subject_kind, self.subject, self.value, self.unit
            ),
            host_id: host_id.to_owned(),
            ..self.clone()
        }
    }

    /// The body a destination gets: the alert as JSON, or Slack's
    /// `{"text": ...}` with the id in the text (Slack cannot de-duplicate
    /// on a field; a person can on the text).
    pub fn body(&self, slack: bool) -> String {
        let value = if slack {
            serde_json::json!({ "text": format!("{} (id {} {})", self.text, self.id, self.state.as_str()) })
        } else {
            serde_json::to_value(self).unwrap_or_default()
        };
        value.to_string()
    }
}

/// Whether a message reached its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Recorded, not yet answered with success (sent again until it is).
    Pending,
    /// The destination said yes.
    Delivered,
}

/// One message in the fired-alert log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The message.
    #[serde(flatten)]
    pub alert: Alert,
    /// Where it stands.
    pub delivery: Delivery,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When the destination said yes.
    pub delivered_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = alert_id("budget", "2026-12-07", "2026-12-07");
        assert_eq!(a, alert_id("budget", "2026-12-07", "2026-12-07"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, alert_id("budget", "2026-12-08", "2026-12-07"));
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        assert_ne!(alert_id("ab", "c", ""), alert_id("a", "bc", ""));
    }
}
