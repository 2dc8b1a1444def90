//! Secret redaction: configured patterns masked in string values.
//!
//! Redaction walks parsed JSON values instead of rewriting the raw line, so
//! a pattern can never cut through an escape sequence or a quote and leave
//! invalid JSON on disk.

use regex::Regex;
use serde_json::Value;

/// What replaces a matched secret.
pub const MASK: &str = "[REDACTED]";

/// Patterns for common credentials; used when redaction is on and no
/// patterns are configured.
pub const DEFAULT_PATTERNS: &[&str] = &[
    r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}",
    r"gh[pousr]_[A-Za-z0-9]{36,}",
    r"AKIA[0-9A-Z]{16}",
    r"xox[abprs]-[A-Za-z0-9\-]{10,}",
    r"(?i)bearer\s+[A-Za-z0-9\-._~+/]{16,}=*",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
];

/// A compiled set of secret patterns.
#[derive(Debug, Clone)]
pub struct Redactor {
    patterns: Vec<Regex>,
}

impl Redactor {
    /// Compiles `patterns`; an invalid pattern is named in the error.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Redactor, String> {
        let patterns = patterns
            .iter()
            .map(|p| {
                Regex::new(p.as_ref())
                    .map_err(|e| format!("redaction pattern {:?}: {e}", p.as_ref()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Redactor { patterns })
    }

    /// The built-in patterns.
    pub fn with_defaults() -> Redactor {
        Redactor::new(DEFAULT_PATTERNS).unwrap_or_else(|e| unreachable!("built-in pattern: {e}"))
    }

    /// Masks matches in one string; returns whether anything changed.
    pub fn redact_str(&self, s: &mut String) -> bool {
        let mut changed = false;
        for re in &self.patterns {
            if re.is_match(s) {
                *s = re.replace_all(s, MASK).into_owned();
                changed = true;
            }
        }
        changed
    }

    /// Masks matches in every string of `value`, keys included.
    pub fn redact_value(&self, value: &mut Value) -> bool {
        match value {
            Value::String(s) => self.redact_str(s),
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |c, v| self.redact_value(v) | c),
            Value::Object(map) => {
                let mut changed = false;
                let entries = std::mem::take(map);
                for (mut k, mut v) in entries {
                    changed |= self.redact_str(&mut k);
                    changed |= self.redact_value(&mut v);
                    map.insert(k, v);
                }
                changed
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_in_nested_strings() {
        let r = Redactor::with_defaults();
        let mut v = serde_json::json!({
            "cmd": "curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwx'",
            "env": ["OPENAI_API_KEY=sk-proj-aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "AWS=AKIAABCDEFGHIJKLMNOP"],
            "safe": "nothing here", "n": 5
        });
        assert!(r.redact_value(&mut v));
        let text = v.to_string();
        assert!(!text.contains("sk-proj-aaaa"), "{text}");
        assert!(!text.contains("AKIAABCD"), "{text}");
        assert!(!text.contains("abcdefghijklmnop"), "{text}");
        assert!(text.contains("nothing here"));
        assert_eq!(v["n"], 5);
    }

    #[test]
    fn bad_pattern_is_named() {
        let err = Redactor::new(&["("]).unwrap_err();
        assert!(err.contains("\"(\""), "{err}");
    }
}
