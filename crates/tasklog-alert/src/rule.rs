//! `[[alert]]` rules: what the config says, checked once at load so that a
//! typo or a missing key stops the command (exit 2) with the rule's name and
//! the key, instead of an alert that silently never fires.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// One `[[alert]]` table as written; every key optional so that the checks
/// below, not serde, say which one is missing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleConfig {
    name: Option<String>,
    when: Option<String>,
    usd: Option<f64>,
    per: Option<String>,
    count: Option<i64>,
    window: Option<String>,
    after: Option<String>,
    bytes: Option<i64>,
    webhook: Option<String>,
    format: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    command: Option<String>,
    retries: Option<i64>,
    backoff: Option<String>,
    timeout: Option<String>,
    breaker_failures: Option<i64>,
    breaker_reset: Option<String>,
}

/// What a `cost_over` budget is counted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// All spend of the current UTC day; subject: the day.
    Day,
    /// A task's whole spend; subject: the task id.
    Task,
    /// A model's spend of the current UTC day; subject: the model.
    Model,
    /// A project's whole spend (task.json `project`); subject: the project.
    Project,
}

/// The condition of a rule, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Spend over `usd` per `per`.
    CostOver {
        /// The budget in USD.
        usd: f64,
        /// What the budget is counted over.
        per: Per,
    },
    /// A task whose status is `failed`.
    TaskFailed,
    /// At least `count` failed tool calls of one task in one `window`.
    ToolFailures {
        /// Failures that fire.
        count: u64,
        /// The length of a window (windows start at multiples of it since the epoch).
        window: Duration,
    },
    /// A running task with no record for longer than `after`.
    Stalled {
        /// Silence that fires.
        after: Duration,
    },
    /// At least `count` quarantined lines in one task.
    Quarantined {
        /// Lines that fire (1 by default).
        count: u64,
    },
    /// The indexer behind by at least `bytes` for longer than `after`.
    Lag {
        /// How long the lag must hold.
        after: Duration,
        /// Bytes that count as behind (1 by default).
        bytes: u64,
    },
    /// Model calls with usage that no price covers; subject: the model.
    Unpriced,
}

impl Condition {
    /// The `when` value.
    pub fn when(&self) -> &'static str {
        match self {
            Condition::CostOver { .. } => "cost_over",
            Condition::TaskFailed => "task_failed",
            Condition::ToolFailures { .. } => "tool_failures",
            Condition::Stalled { .. } => "stalled",
            Condition::Quarantined { .. } => "quarantined",
            Condition::Lag { .. } => "lag",
            Condition::Unpriced => "unpriced",
        }
    }

    /// Whether the condition ending sends a `resolved` message: a failed
    /// task that is no longer failed, a stalled task that wrote again or
    /// stopped running, a lag that ended. The others fire once per id:
    /// counts per time window start a new alert with the next window, and
    /// sums (costs, quarantined lines, unpriced calls) only shrink while an
    /// index is being rebuilt, which must not read as "resolved".
    pub fn resolvable(&self) -> bool {
        matches!(
            self,
            Condition::TaskFailed | Condition::Stalled { .. } | Condition::Lag { .. }
        )
    }

    /// The threshold as sent in the payload, with its unit.
    pub fn threshold(&self) -> (f64, &'static str) {
        match self {
            Condition::CostOver { usd, .. } => (*usd, "usd"),
            Condition::TaskFailed => (1.0, "task"),
            Condition::ToolFailures { count, .. } => (*count as f64, "failures"),
            Condition::Stalled { after } => (after.as_secs_f64(), "seconds"),
            Condition::Quarantined { count } => (*count as f64, "lines"),
            Condition::Lag { bytes, .. } => (*bytes as f64, "bytes"),
            Condition::Unpriced => (1.0, "calls"),
        }
    }
}

/// Where a rule's alerts go.
#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    /// An HTTP POST of the JSON payload.
    Webhook {
        /// The URL (may hold a secret, as Slack's do: never shown whole).
        url: String,
        /// `format = "slack"`: a `{"text": ...}` body.
        slack: bool,
        /// Header name and value; a value `env:NAME` is read from the
        /// environment at each send.
        headers: Vec<(String, String)>,
    },
    /// `sh -c COMMAND` with the JSON payload on stdin; exit 0 is delivered.
    Command {
        /// The command line.
        command: String,
    },
}

impl Destination {
    /// The identity a circuit breaker is kept for (holds secrets: internal).
    pub fn key(&self) -> String {
        match self {
            Destination::Webhook { url, .. } => format!("webhook {url}"),
            Destination::Command { command } => format!("command {command}"),
        }
    }

    /// The destination as status shows it: a webhook's scheme, host and
    /// port only (Slack URLs carry their secret in the path), a command's
    /// first word.
    pub fn display(&self) -> String {
        match self {
            Destination::Webhook { url, .. } => {
                let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
                let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                let host = host.rsplit('@').next().unwrap_or(host);
                let scheme = url.split_once("://").map_or("http", |(s, _)| s);
                format!("webhook {scheme}://{host}")
            }
            Destination::Command { command } => format!(
                "command {}",
                command.split_whitespace().next().unwrap_or("")
            ),
        }
    }
}

/// How hard delivery tries before the alert waits for the next pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Attempts after the first one, within one pass.
    pub retries: u32,
    /// Wait before the first retry; doubled for each next one.
    pub backoff: Duration,
    /// Longest wait for one answer (a webhook) or one run (a command).
    pub timeout: Duration,
    /// Consecutive failed attempts that open the destination's breaker.
    pub breaker_failures: u32,
    /// How long an open breaker stays open before one probe is let through.
    pub breaker_reset: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            retries: 3,
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            breaker_failures: 5,
            breaker_reset: Duration::from_secs(60),
        }
    }
}

/// One checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The unique name (part of every alert id).
    pub name: String,
    /// What fires it.
    pub condition: Condition,
    /// Where it goes.
    pub destination: Destination,
    /// Retries, backoff, timeout and breaker settings.
    pub delivery: Delivery,
}

/// Checks every `[[alert]]` table (`tables` as TOML values): names unique,
/// `when` known, the parameters that `when` needs and no others, one
/// destination.
pub fn parse_rules(tables: &[toml::Value]) -> Result<Vec<Rule>> {
    let mut names = HashSet::new();
    let mut rules = Vec::with_capacity(tables.len());
    for (i, table) in tables.iter().enumerate() {
        let fallback = format!("#{}", i + 1);
        let label = table
            .get("name")
            .and_then(toml::Value::as_str)
            .map_or(fallback, |n| format!("{n:?}"));
        let config: RuleConfig = table.clone().try_into().map_err(|e: toml::de::Error| {
            let message = e.message().trim().to_owned();
            // serde names the key in its message ("unknown field `usdd`",
            // "invalid type ... for key `usd`"); repeat it as the key.
            let key = message.split('`').nth(1).unwrap_or("?").to_owned();
            Error::Rule {
                rule: label.clone(),
                key,
                message,
            }
        })?;
        let rule = check(config, &label)?;
        if !names.insert(rule.name.clone()) {
            return Err(bad(
                &label,
                "name",
                "another [[alert]] has this name; names are unique",
            ));
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn bad(rule: &str, key: &str, message: impl Into<String>) -> Error {
    Error::Rule {
        rule: rule.to_owned(),
        key: key.to_owned(),
        message: message.into(),
    }
}

fn duration(rule: &str, key: &str, value: Option<String>) -> Result<Option<Duration>> {
    value
        .map(|v| {
            let d = humantime::parse_duration(v.trim()).map_err(|e| {
                bad(
                    rule,
                    key,
                    format!("{v:?} is not a duration like \"10m\": {e}"),
                )
            })?;
            if d.is_zero() {
                return Err(bad(rule, key, "must be longer than 0s"));
            }
            Ok(d)
        })
        .transpose()
}

fn positive(rule: &str, key: &str, value: Option<i64>) -> Result<Option<u64>> {
    value
        .map(|v| {
            u64::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| {
                bad(
                    rule,
                    key,
                    format!("{v} must be a whole number of at least 1"),
                )
            })
        })
        .transpose()
}

fn check(c: RuleConfig, label: &str) -> Result<Rule> {
    let name = c
        .name
        .clone()
        .ok_or_else(|| bad(label, "name", "missing"))?;
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(bad(label, "name", "must be printable and not empty"));
    }
    let when = c.when.clone().ok_or_else(|| {
        bad(label, "when", "missing (cost_over, task_failed, tool_failures, stalled, quarantined, lag or unpriced)")
    })?;
    let required = |key: &str, present: bool| {
        if present {
            Ok(())
        } else {
            Err(bad(
                label,
                key,
                format!("missing: `when = \"{when}\"` needs it"),
            ))
        }
    };
    let allowed: &[&str] = match when.as_str() {
        "cost_over" => &["usd", "per"],
        "tool_failures" => &["count", "window"],
        "stalled" => &["after"],
        "quarantined" => &["count"],
        "lag" => &["after", "bytes"],
        "task_failed" | "unpriced" => &[],
        other => {
            return Err(bad(
                label,
                "when",
                format!("{other:?} is not one of cost_over, task_failed, tool_failures, stalled, quarantined, lag, unpriced"),
            ))
        }
    };
    let given = [
        ("usd", c.usd.is_some()),
        ("per", c.per.is_some()),
        ("count", c.count.is_some()),
        ("window", c.window.is_some()),
        ("after", c.after.is_some()),
        ("bytes", c.bytes.is_some()),
    ];
    for (key, present) in given {
        if present && !allowed.contains(&key) {
            return Err(bad(
                label,
                key,
                format!("not a parameter of `when = \"{when}\"`"),
            ));
        }
    }
    let condition = match when.as_str() {
        "cost_over" => {
            required("usd", c.usd.is_some())?;
            required("per", c.per.is_some())?;
            let usd = c.usd.unwrap_or(0.0);
            if !usd.is_finite() || usd < 0.0 {
                return Err(bad(
                    label,
                    "usd",
                    format!("{usd} must be a number of USD, 0 or more"),
                ));
            }
            let per = match c.per.as_deref().unwrap_or("") {
                "day" => Per::Day,
                "task" => Per::Task,
                "model" => Per::Model,
                "project" => Per::Project,
                other => {
                    return Err(bad(
                        label,
                        "per",
                        format!("{other:?} is not one of day, task, model, project"),
                    ))
                }
            };
            Condition::CostOver { usd, per }
        }
        "tool_failures" => {
            required("count", c.count.is_some())?;
            required("window", c.window.is_some())?;
            Condition::ToolFailures {
                count: positive(label, "count", c.count)?.unwrap_or(1),
                window: duration(label, "window", c.window.clone())?.unwrap_or_default(),
            }
        }
        "stalled" => {
            required("after", c.after.is_some())?;
            Condition::Stalled {
                after: duration(label, "after", c.after.clone())?.unwrap_or_default(),
            }
        }
        "quarantined" => Condition::Quarantined {
            count: positive(label, "count", c.count)?.unwrap_or(1),
        },
        "lag" => {
            required("after", c.after.is_some())?;
            Condition::Lag {
                after: duration(label, "after", c.after.clone())?.unwrap_or_default(),
                bytes: positive(label, "bytes", c.bytes)?.unwrap_or(1),
            }
        }
        "task_failed" => Condition::TaskFailed,
        _ => Condition::Unpriced,
    };
    let destination = destination(&c, label)?;
    let defaults = Delivery::default();
    let delivery = Delivery {
        retries: match c.retries {
            None => defaults.retries,
            Some(v) => u32::try_from(v)
                .ok()
                .filter(|v| *v <= 20)
                .ok_or_else(|| bad(label, "retries", format!("{v} must be from 0 to 20")))?,
        },
        backoff: duration(label, "backoff", c.backoff)?.unwrap_or(defaults.backoff),
        timeout: duration(label, "timeout", c.timeout)?.unwrap_or(defaults.timeout),
        breaker_failures: positive(label, "breaker_failures", c.breaker_failures)?
            .map_or(defaults.breaker_failures, |v| {
                v.min(u64::from(u32::MAX)) as u32
            }),
        breaker_reset: duration(label, "breaker_reset", c.breaker_reset)?
            .unwrap_or(defaults.breaker_reset),
    };
    Ok(Rule {
        name,
        condition,
        destination,
        delivery,
    })
}

fn destination(c: &RuleConfig, label: &str) -> Result<Destination> {
    match (&c.webhook, &c.command) {
        (Some(_), Some(_)) => Err(bad(
            label,
            "command",
            "a rule has one destination: `webhook` or `command`, not both",
        )),
        (None, None) => Err(bad(
            label,
            "webhook",
            "missing: give `webhook = \"URL\"` or `command = \"...\"`",
        )),
        (None, Some(command)) => {
            for key in [
                ("format", c.format.is_some()),
                ("headers", c.headers.is_some()),
            ] {
                if key.1 {
                    return Err(bad(label, key.0, "only a webhook takes it"));
                }
            }
            if command.trim().is_empty() {
                return Err(bad(label, "command", "is empty"));
            }
            Ok(Destination::Command {
                command: command.clone(),
            })
        }
        (Some(url), None) => {
            let lower = url.to_ascii_lowercase();
            let rest = lower
                .strip_prefix("http://")
                .or_else(|| lower.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                return Err(bad(
                    label,
                    "webhook",
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
            let slack = match c.format.as_deref() {
                None | Some("json") => false,
                Some("slack") => true,
                Some(other) => {
                    return Err(bad(
                        label,
                        "format",
                        format!("{other:?} is not one of json, slack"),
                    ))
                }
            };
            let mut headers = Vec::new();
            for (name, value) in c.headers.iter().flatten() {
                let key = format!("headers.{name}");
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                {
                    return Err(bad(label, &key, "is not a header name"));
                }
                if let Some(var) = value.strip_prefix("env:") {
                    if var.is_empty() {
                        return Err(bad(label, &key, "`env:` names no environment variable"));
                    }
                } else if value.bytes().any(|b| b.is_ascii_control()) {
                    return Err(bad(label, &key, "holds a control character"));
                }
                headers.push((name.clone(), value.clone()));
            }
            Ok(Destination::Webhook {
                url: url.clone(),
                slack,
                headers,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Result<Vec<Rule>> {
        let value: toml::Table = toml::from_str(text).expect("test TOML");
        let tables = value
            .get("alert")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        parse_rules(&tables)
    }

    fn error(text: &str) -> String {
        match rules(text) {
            Ok(r) => panic!("accepted: {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn good_rules_parse() {
        let r = rules(
            r#"
            [[alert]]
            name = "budget"
            when = "cost_over"
            usd = 25.0
            per = "day"
            webhook = "https://hooks.slack.com/services/T/B/X"
            format = "slack"
            headers = { Authorization = "env:SLACK_TOKEN" }

            [[alert]]
            name = "stall"
            when = "stalled"
            after = "10m"
            command = "notify-send tasklog"
            "#,
        )
        .expect("valid");
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].condition,
            Condition::CostOver {
                usd: 25.0,
                per: Per::Day
            }
        );
        assert_eq!(
            r[0].destination.display(),
            "webhook https://hooks.slack.com"
        );
        assert_eq!(
            r[1].condition,
            Condition::Stalled {
                after: Duration::from_secs(600)
            }
        );
    }

    #[test]
    fn bad_rules_name_the_rule_and_the_key() {
        let cases = [
            (
                r#"[[alert]]
                when = "task_failed"
                command = "x""#,
                "#1",
                "name",
            ),
            (
                r#"[[alert]]
                name = "a"
                when = "cost_over"
                per = "day"
                command = "x""#,
                "\"a\"",
                "usd",
            ),
            (
                r#"[[alert]]
                name = "a"
                when = "cost_over"
                usd = 1
                per = "week"
                command = "x""#,
                "\"a\"",
                "per",
            ),
            (
                r#"[[alert]]
                name = "b"
                when = "stalled"
                after = "soon"
                command = "x""#,
                "\"b\"",
                "after",
            ),
            (
                r#"[[alert]]
                name = "c"
                when = "oops"
                command = "x""#,
                "\"c\"",
                "when",
            ),
            (
                r#"[[alert]]
                name = "d"
                when = "unpriced"
                webhook = "ftp://x""#,
                "\"d\"",
                "webhook",
            ),
            (
                r#"[[alert]]
                name = "e"
                when = "unpriced""#,
                "\"e\"",
                "webhook",
            ),
            (
                r#"[[alert]]
                name = "f"
                when = "unpriced"
                usdd = 3
                command = "x""#,
                "\"f\"",
                "usdd",
            ),
            (
                r#"[[alert]]
                name = "g"
                when = "lag"
                after = "1m"
                count = 3
                command = "x""#,
                "\"g\"",
                "count",
            ),
            (
                r#"[[alert]]
                name = "h"
                when = "tool_failures"
                count = 0
                window = "1h"
                command = "x""#,
                "\"h\"",
                "count",
            ),
            (
                r#"[[alert]]
                name = "i"
                when = "unpriced"
                command = "x"
                format = "slack""#,
                "\"i\"",
                "format",
            ),
            (
                r#"[[alert]]
                name = "j"
                when = "unpriced"
                command = "x"
                [[alert]]
                name = "j"
                when = "task_failed"
                command = "y""#,
                "\"j\"",
                "name",
            ),
        ];
        for (text, rule, key) in cases {
            let e = error(text);
            assert!(
                e.starts_with(&format!("[[alert]] {rule}: key `{key}`")),
                "{text}\n -> {e}"
            );
        }
    }
}
