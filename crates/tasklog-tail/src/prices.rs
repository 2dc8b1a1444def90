//! The model price table: parsed from TOML (config/prices.toml compiled in,
//! plus the user's file merged over it); each store installs it into its
//! `prices` table when the indexer opens.
//!
//! Calls that carry their own cost keep it; every other `llm.call` is priced
//! from this table by the `api_calls` trigger. When the table differs from
//! the one the database was last priced with, every stored call is
//! re-priced in the same transaction, so `api_calls` and `cost_rollup`
//! never mix two price lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, PriceProblem, Result};

/// The built-in price table (config/prices.toml), in USD per million tokens.
pub const DEFAULT_PRICES: &str = include_str!("../../../config/prices.toml");

/// The `indexer_state` key holding the fingerprint of the installed table.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    #[serde(default)]
    model: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    provider: Option<String>,
    effective_from: String,
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    cache_write_1h: Option<f64>,
}

/// One price row: a model name (or alias) from a day on.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    /// Model name as written in `gen_ai.request.model`.
    pub model: String,
    /// First UTC day (`YYYY-MM-DD`) the price applies.
    pub effective_from: String,
    /// Informative provider name.
    pub provider: Option<String>,
    /// USD per million uncached input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
    /// USD per million cache-read input tokens.
    pub cache_read: f64,
    /// USD per million cache-write input tokens (Anthropic: the
    /// five-minute lifetime).
    pub cache_write: f64,
    /// USD per million cache-write input tokens with a one-hour lifetime
    /// (`cache_write_1h`); `None` prices them at `cache_write`.
    pub cache_write_1h: Option<f64>,
    /// `built-in` or the user file's path.
    pub source: String,
}

/// A merged price table, keyed by (model, effective_from).
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    rows: BTreeMap<(String, String), Price>,
}

impl PriceTable {
    /// The built-in table, with the user's file (if any) merged over it.
    pub fn load(user: Option<&Path>) -> Result<PriceTable> {
        let mut table = PriceTable::default();
        table.merge(DEFAULT_PRICES, Path::new("built-in"))?;
        if let Some(path) = user {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::io(path, "reading price table", e))?;
            table.merge(&text, path)?;
        }
        Ok(table)
    }

    /// Adds the entries of one TOML price file; same (model, day) replaces.
    pub fn merge(&mut self, text: &str, path: &Path) -> Result<()> {
        let file: PriceFile = toml::from_str(text).map_err(|source| Error::PriceFile {
            path: PathBuf::from(path),
            source,
        })?;
        for entry in file.model {
            let bad = |problem| Error::PriceEntry {
                path: PathBuf::from(path),
                model: entry.name.clone(),
                effective_from: entry.effective_from.clone(),
                problem,
            };
            if entry.name.trim().is_empty() {
                return Err(bad(PriceProblem::EmptyName));
            }
            if !is_day(&entry.effective_from) {
                return Err(bad(PriceProblem::BadDay));
            }
            let cache_read = entry.cache_read.unwrap_or(entry.input);
            let cache_write = entry.cache_write.unwrap_or(entry.input);
            for (label, v) in [
                ("input", entry.input),
                ("output", entry.output),
                ("cache_read", cache_read),
                ("cache_write", cache_write),
                (
                    "cache_write_1h",
                    entry.cache_write_1h.unwrap_or(cache_write),
                ),
            ] {
                if !v.is_finite() || v < 0.0 {
                    return Err(bad(PriceProblem::BadPrice(label)));
                }
            }
            for model in std::iter::once(&entry.name).chain(&entry.aliases) {
                self.rows.insert(
                    (model.clone(), entry.effective_from.clone()),
                    Price {
                        model: model.clone(),
                        effective_from: entry.effective_from.clone(),
                        provider: entry.provider.clone(),
                        input: entry.input,
                        output: entry.output,
                        cache_read,
                        cache_write,
                        cache_write_1h: entry.cache_write_1h,
                        source: path.display().to_string(),
                    },
                );
            }
        }
        Ok(())
    }

    /// The rows, ordered by model and day.
    pub fn rows(&self) -> impl Iterator<Item = &Price> {
        self.rows.values()
    }

    /// A fingerprint of the prices (not of their source), to detect change.
    pub fn fingerprint(&self) -> String {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for p in self.rows.values() {
            h.update(
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{:?}\n",
                    p.model,
                    p.effective_from,
                    p.input,
                    p.output,
                    p.cache_read,
                    p.cache_write,
                    p.cache_write_1h
                )
                .as_bytes(),
            );
        }
        format!("{:016x}", h.digest())
    }
}

fn is_day(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_has_both_providers() {
        let t = PriceTable::load(None).expect("built-in prices");
        assert!(t.rows().any(|p| p.model == "claude-sonnet-4-5"));
        assert!(t.rows().any(|p| p.model == "gpt-5"));
        assert!(t.rows().all(|p| is_day(&p.effective_from)));
    }

    #[test]
    fn a_user_file_overrides_and_adds() {
        let mut t = PriceTable::load(None).expect("built-in prices");
        t.merge(
            "[[model]]\nname = \"claude-sonnet-4-5\"\neffective_from = \"2025-09-29\"\ninput = 1\noutput = 2\n\n[[model]]\nname = \"in-house\"\neffective_from = \"2026-01-01\"\ninput = 0.5\noutput = 1\n",
            Path::new("user.toml"),
        )
        .expect("user prices");
        let sonnet = t
            .rows()
            .find(|p| p.model == "claude-sonnet-4-5" && p.effective_from == "2025-09-29")
            .expect("sonnet");
        assert_eq!((sonnet.input, sonnet.cache_read), (1.0, 1.0));
        assert!(t.rows().any(|p| p.model == "in-house"));
    }

    #[test]
    fn bad_files_name_the_problem() {
        let mut t = PriceTable::default();
        for (text, needle) in [
            ("[[model]]\nname = \"x\"\neffective_from = \"2025/01/01\"\ninput = 1\noutput = 1\n", "YYYY-MM-DD"),
            ("[[model]]\nname = \"x\"\neffective_from = \"2025-01-01\"\ninput = -1\noutput = 1\n", "non-negative"),
            ("[[model]]\nname = \"x\"\n", "missing field"),
            ("[[model]]\nnam = \"x\"\n", "unknown field"),
        ] {
            // As the user reads it: the error and its sources.
            let e = crate::committer::format_chain(&t.merge(text, Path::new("p.toml")).expect_err(text));
            assert!(e.contains(needle) && e.contains("p.toml"), "{e}");
        }
    }
}
