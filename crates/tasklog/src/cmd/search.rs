//! `tasklog search TEXT`: full-text search over messages, decisions and
//! tool inputs, outputs and errors, best match first (the `search`
//! question: FTS5's `records_fts` on SQLite, `records_search` on
//! PostgreSQL, which adds `host_id` first). Exit 1 when nothing matches.

use anyhow::{Context, Result};
use clap::Args;
use tasklog_index::SearchQuery;

use crate::cli::Format;
use crate::config::Config;
use crate::output;
use crate::rows;
use crate::Outcome;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to find (all of them, in any order); a phrase in double quotes
    /// (`'"flaky widget"'`) must occur as written. With --raw: the store's
    /// query language: on SQLite an FTS5 query (`"exact phrase"`, `a OR b`,
    /// `prefix*`, `NEAR(a b)`); on PostgreSQL websearch_to_tsquery's
    /// (`"exact phrase"`, `a or b`, `-word`).
    #[arg(required = true)]
    pub text: Vec<String>,
    /// Pass TEXT to the store's query language instead of as plain words.
    #[arg(long)]
    pub raw: bool,
    /// Only this task.
    #[arg(long, value_name = "TASK")]
    pub task: Option<String>,
    /// At most N results.
    #[arg(long, short = 'n', default_value_t = 50, value_name = "N")]
    pub limit: u32,
    /// Output format [default: table on a terminal, jsonl otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub fn run(config: &Config, args: SearchArgs) -> Result<Outcome> {
    let text = args.text.join(" ");
    if tasklog_index::search_terms(&text).is_empty() && (!args.raw || text.trim().is_empty()) {
        anyhow::bail!("nothing to search for");
    }
    let mut index = rows::open(config, false)?;
    let query = SearchQuery {
        text: text.clone(),
        raw: args.raw,
        task: args.task.clone(),
        limit: u64::from(args.limit),
    };
    let mut rows = index
        .search(&query)
        .with_context(|| format!("search {text:?}"))?;
    // The board's columns: ts, task_id, source, event, name, snippet, rank.
    rows.drop_column("record_id");
    rows.drop_column("title");
    let terms = terms(&args.text);
    if let Some(at) = rows.column("snippet") {
        for row in &mut rows.rows {
            if let Some(text) = row[at].as_str() {
                row[at] = snippet(text, &terms).into();
            }
        }
    }
    if rows.rows.is_empty() {
        errln!("tasklog: nothing matches {text}");
        return Ok(Outcome::NothingFound);
    }
    output::print(&rows, output::resolve(args.format))?;
    Ok(Outcome::Success)
}

/// The words to highlight: quoted phrases whole, FTS5 operators and
/// syntax dropped, lowercased.
fn terms(text: &[String]) -> Vec<String> {
    tasklog_serve::search::terms(&text.join(" "))
        .iter()
        .flat_map(|t| {
            if t.contains(' ') {
                vec![t.to_lowercase()]
            } else {
                t.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .filter(|w| !w.is_empty() && !matches!(*w, "AND" | "OR" | "NOT" | "NEAR"))
                    .map(str::to_lowercase)
                    .collect()
            }
        })
        .collect()
}

/// About 120 characters around the first match, matches in `[...]`. The
/// index is contentless (FTS5's snippet() needs stored text), so the text
/// comes from `records_fts_source` and is marked here.
fn snippet(text: &str, terms: &[String]) -> String {
    const WIDTH: usize = 120;
    let flat: Vec<char> = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let lower: Vec<char> = flat.iter().flat_map(|c| c.to_lowercase().next()).collect();
    let matches_at = |i: usize| -> Option<usize> {
        let starts_word = i == 0 || !lower[i - 1].is_alphanumeric();
        terms.iter().filter(|_| starts_word).find_map(|t| {
            let t: Vec<char> = t.chars().collect();
            (lower.len() >= i + t.len() && lower[i..i + t.len()] == t[..]).then_some(t.len())
        })
    };
    let first = (0..lower.len())
        .find(|&i| matches_at(i).is_some())
        .unwrap_or(0);
    let start = first.saturating_sub(WIDTH / 3);
    let end = (start + WIDTH).min(flat.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut i = start;
    while i < end {
        match matches_at(i) {
            Some(len) => {
                out.push('[');
                out.extend(&flat[i..(i + len).min(flat.len())]);
                out.push(']');
                i += len;
            }
            None => {
                out.push(flat[i]);
                i += 1;
            }
        }
    }
    if end < flat.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn snippets_mark_whole_word_prefixes() {
        let terms = super::terms(&["Cargo".into(), "--raw".into(), "te*".into()]);
        assert_eq!(terms, ["cargo", "raw", "te"]);
        assert_eq!(
            super::snippet("run `cargo test`\nthen rest", &terms),
            "run `[cargo] [te]st` then rest"
        );
    }

    #[test]
    fn plain_words_are_quoted() {
        let q = tasklog_index::fts_query("src/lib.rs say NOT");
        assert_eq!(q, r#""src/lib.rs" "say" "NOT""#);
        let q = tasklog_index::fts_query("\"flaky widget\" test");
        assert_eq!(q, r#""flaky widget" "test""#);
        assert_eq!(
            super::terms(&["\"Flaky Widget\" te*".into()]),
            ["flaky widget", "te"]
        );
    }
}
