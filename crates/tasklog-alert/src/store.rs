//! The seam between the alerter and an index: the questions a condition
//! asks and the fired-alert log, one implementation per store (`sqlite.rs`,
//! `postgres.rs`). When the typed question API of the stores lands, the
//! `observe` half moves onto it; the log half stays here.

use jiff::Timestamp;

use crate::alert::{Alert, Entry, Observation, State};
use crate::error::Result;
use crate::rule::Rule;

/// What the alerter needs from an index.
pub trait AlertStore: Send {
    /// The subjects for which `rule`'s condition holds at `now` (every
    /// condition but `lag`, which is asked through `lag_bytes`).
    fn observe(&mut self, rule: &Rule, now: Timestamp) -> Result<Vec<Observation>>;
    /// Whether the index shows that `alert`'s condition no longer holds for
    /// its subject: the subject is there and says so (a task row with
    /// another status, a newer record). Absence is not proof: an index
    /// being rebuilt lacks rows that will come back.
    fn resolved(&mut self, rule: &Rule, alert: &Alert) -> Result<bool>;
    /// Bytes on disk this host has not indexed yet; `None` when unknown.
    fn lag_bytes(&mut self) -> Result<Option<u64>>;
    /// Records `alert` as pending unless its (id, state) is already in the
    /// log, from any host: `true` means this host now owns sending it.
    fn claim(&mut self, alert: &Alert, at: &str) -> Result<bool>;
    /// Notes a failed attempt.
    fn attempted(&mut self, id: &str, state: State, error: &str, at: &str) -> Result<()>;
    /// Marks the message delivered.
    fn delivered(&mut self, id: &str, state: State, at: &str) -> Result<()>;
    /// Pending messages this host sends: its own, and any other host's
    /// untouched since `stale_before` (that host is gone), taken over.
    fn pending(&mut self, host: &str, stale_before: &str, at: &str) -> Result<Vec<Entry>>;
    /// Firing messages of `rule` about `subject`, resolved or not.
    fn fired(&mut self, rule: &str, subject: &str) -> Result<Vec<Alert>>;
    /// Firing messages of `rule` with no resolution yet.
    fn open(&mut self, rule: &str) -> Result<Vec<Alert>>;
    /// The whole log, oldest first.
    fn entries(&mut self) -> Result<Vec<Entry>>;
}

/// The time facts the condition queries take, computed once per pass.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    /// `YYYY-MM-DD`, UTC.
    pub today: String,
    /// Now, RFC 3339 UTC (seconds).
    pub now: Timestamp,
}

impl Clock {
    pub(crate) fn new(now: Timestamp) -> Clock {
        Clock {
            today: now.strftime("%Y-%m-%d").to_string(),
            now,
        }
    }

    /// The tumbling window of length `secs` holding now: its start and
    /// end as `YYYY-MM-DDTHH:MM:SS` (a prefix every RFC 3339 UTC `ts`
    /// compares against as text).
    pub(crate) fn window(&self, secs: u64) -> (String, String) {
        let secs = secs.max(1) as i64;
        let start = self.now.as_second().div_euclid(secs) * secs;
        (prefix(start), prefix(start.saturating_add(secs)))
    }

    /// `now - secs` as a `ts` prefix.
    pub(crate) fn before(&self, secs: u64) -> String {
        prefix(self.now.as_second().saturating_sub(secs as i64))
    }
}

fn prefix(second: i64) -> String {
    Timestamp::from_second(second)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Seconds from `ts` (RFC 3339) to `now`; 0 when `ts` does not parse.
pub(crate) fn seconds_since(ts: &str, now: Timestamp) -> f64 {
    ts.parse::<Timestamp>()
        .map(|t| (now.as_millisecond() - t.as_millisecond()) as f64 / 1000.0)
        .unwrap_or(0.0)
}

/// RFC 3339 UTC with milliseconds: the log's and the payload's time stamps.
pub fn now_text(now: Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_compare_as_text() {
        let now: Timestamp = "2026-12-07T01:17:42.5Z".parse().expect("ts");
        let clock = Clock::new(now);
        assert_eq!(clock.today, "2026-12-07");
        let (start, end) = clock.window(3600);
        assert_eq!(
            (start.as_str(), end.as_str()),
            ("2026-12-07T01:00:00", "2026-12-07T02:00:00")
        );
        assert!("2026-12-07T01:00:00.000001Z" >= start.as_str());
        assert!("2026-12-07T01:59:59.999999Z" < end.as_str());
        assert_eq!(clock.before(60), "2026-12-07T01:16:42");
        assert_eq!(seconds_since("2026-12-07T01:16:42.5Z", now), 60.0);
    }
}
