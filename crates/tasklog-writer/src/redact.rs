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
    r"github_pat_[A-Za-z0-9_]{22,}",
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",
    r"[sr]k_(?:live|test)_[A-Za-z0-9]{10,}",
    r"xox[abprs]-[A-Za-z0-9\-]{10,}",
    r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]+:[^\s@/]+@",
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

    /// Every default pattern against the key shapes it is for: `(text,
    /// the secret part that must go, what must stay)`.
    #[test]
    fn key_shapes() {
        let r = Redactor::with_defaults();
        let table: &[(&str, &str, &str)] = &[
            ("key sk-ant-api03-abcdefghijklmnopqrstuv end", "abcdefghijklmnop", "end"),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123456789 x", "abcdefghijklmnop", " x"),
            ("github_pat_11ABCDEFG0abcdefghijklmn_opqrstuvwxyz012345 x", "ABCDEFG0abc", " x"),
            ("AKIAIOSFODNN7EXAMPLE in use", "IOSFODNN7", "in use"),
            ("ASIAY34FZKBOKMUTVV7A temp", "Y34FZKBOK", "temp"),
            ("stripe sk_live_51Habcdefghijklmnop ok", "51Habcdefgh", "ok"),
            ("stripe sk_test_4eC39HqLyjWDarjtT1zdp7dc ok", "4eC39HqLy", "ok"),
            ("stripe rk_live_51Habcdefghijklmnop ok", "51Habcdefgh", "ok"),
            ("slack xoxb-123456789012-abcdefghij ok", "123456789012", "ok"),
            ("slack xoxp-123456789012-abcdefghij ok", "123456789012", "ok"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
                "dozjgNryP4J3",
                "ok",
            ),
            ("db postgres://app:hunter2hunter2@db.internal:5432/x", "hunter2", "db.internal:5432/x"),
            ("redis rediss://default:s3cr%2Ft@cache:6380", "s3cr", "cache:6380"),
            ("Authorization: Bearer abcdefghijklmnopqrstuvwx", "abcdefghijklmnop", "Authorization"),
        ];
        for (text, secret, kept) in table {
            let mut s = (*text).to_owned();
            assert!(r.redact_str(&mut s), "nothing matched in {text:?}");
            assert!(!s.contains(secret), "{text:?} -> {s:?}");
            assert!(s.contains(kept) && s.contains(MASK), "{text:?} -> {s:?}");
        }
        // Look-alikes that are no secrets stay.
        for text in [
            "https://example.org/path",
            "see sk-short",
            "AKIA lowercase akiaiosfodnn7example",
            "eyJ only.once",
            "mailto:user@example.org",
        ] {
            let mut s = text.to_owned();
            assert!(!r.redact_str(&mut s), "{text:?} -> {s:?}");
        }
    }

    #[test]
    fn bad_pattern_is_named() {
        let err = Redactor::new(&["("]).unwrap_err();
        assert!(err.contains("\"(\""), "{err}");
    }
}
