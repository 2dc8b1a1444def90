//! Correlation: trace and span ids carried through tasks and processes.
//!
//! A child process inherits its parent's trace through the
//! `TASKLOG_TRACEPARENT` environment variable, in the W3C `traceparent`
//! format (`00-<32 hex trace id>-<16 hex span id>-01`), so the same value
//! also works with OpenTelemetry tooling.

use tasklog_format::{new_span_id, new_trace_id};

/// The environment variable a child process reads its trace from.
pub const TRACEPARENT_ENV: &str = "TASKLOG_TRACEPARENT";

/// A trace id plus the span new records hang under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits shared by everything in one trace.
    pub trace_id: String,
    /// The span that new records name as `parent_span_id`, if any.
    pub parent_span_id: Option<String>,
}

impl TraceContext {
    /// A fresh trace with no parent.
    pub fn new_root() -> TraceContext {
        TraceContext {
            trace_id: new_trace_id(),
            parent_span_id: None,
        }
    }

    /// The trace from `TASKLOG_TRACEPARENT`, or a fresh one when it is unset
    /// or malformed (a malformed value is logged, not fatal: losing the
    /// correlation must never stop an agent from logging).
    pub fn from_env() -> TraceContext {
        match std::env::var(TRACEPARENT_ENV) {
            Ok(value) => TraceContext::parse(&value).unwrap_or_else(|| {
                tracing::warn!(
                    value,
                    "{TRACEPARENT_ENV} is not a W3C traceparent; starting a new trace"
                );
                TraceContext::new_root()
            }),
            Err(_) => TraceContext::new_root(),
        }
    }

    /// Parses a W3C `traceparent` value.
    pub fn parse(value: &str) -> Option<TraceContext> {
        let mut parts = value.trim().split('-');
        let (version, trace, span, _flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        if parts.next().is_some() || !hex(version, 2) || !hex(trace, 32) || !hex(span, 16) {
            return None;
        }
        Some(TraceContext {
            trace_id: trace.to_ascii_lowercase(),
            parent_span_id: Some(span.to_ascii_lowercase()),
        })
    }

    /// The `traceparent` value that makes a child's records children of `span_id`.
    pub fn traceparent(&self, span_id: &str) -> String {
        format!("00-{}-{}-01", self.trace_id, span_id)
    }

    /// A new span id for a record or a span.
    pub fn new_span(&self) -> String {
        new_span_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let ctx = TraceContext::new_root();
        let child = TraceContext::parse(&ctx.traceparent("0123456789abcdef")).unwrap();
        assert_eq!(child.trace_id, ctx.trace_id);
        assert_eq!(child.parent_span_id.as_deref(), Some("0123456789abcdef"));
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "00-abc-def-01",
            "00-0123456789abcdef0123456789abcdef-0123456789abcdeg-01",
            "x-y-z-w-v",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
    }
}
