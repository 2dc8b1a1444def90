//! What a search box means, shared by `GET /api/search` and `tasklog
//! search`: every word must occur, a phrase in double quotes must occur as
//! written, and nothing typed is FTS5 syntax (`src/lib.rs`, `don't`, `NOT`
//! are text). Plus the words to highlight and the window of text around the
//! first match that a result shows.

/// The words and phrases of a search box (the core's one rule), and the
/// FTS5 query SQLite's store makes of them.
pub use tasklog_index::{fts_query, search_terms as terms};

/// About `width` characters of `text` around the first occurrence of any
/// term (case-insensitive), whitespace flattened, `…` where it is cut.
pub fn window(text: &str, terms: &[String], width: usize) -> String {
    let flat: Vec<char> = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let lower: Vec<char> = flat
        .iter()
        .map(|c| c.to_lowercase().next().unwrap_or(*c))
        .collect();
    let wanted: Vec<Vec<char>> = terms
        .iter()
        .map(|t| t.to_lowercase().chars().collect())
        .filter(|t: &Vec<char>| !t.is_empty())
        .collect();
    let first = (0..lower.len())
        .find(|&i| wanted.iter().any(|t| lower[i..].starts_with(t)))
        .unwrap_or(0);
    let start = first.saturating_sub(width / 3);
    let end = (start + width).min(flat.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&flat[start..end]);
    if end < flat.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_stay_whole_and_syntax_is_text() {
        assert_eq!(
            terms(r#"fix "flaky   widget" test"#),
            ["fix", "flaky widget", "test"]
        );
        assert_eq!(terms(r#""unclosed phrase"#), ["unclosed phrase"]);
        assert_eq!(terms(r#" "" a"#), ["a"]);
        assert_eq!(
            fts_query(r#"src/lib.rs "exact phrase" NOT"#),
            r#""src/lib.rs" "exact phrase" "NOT""#
        );
        assert_eq!(fts_query("   "), "");
        assert_eq!(fts_query(r#"say"hi"#), r#""say""hi""#);
    }

    #[test]
    fn the_window_holds_the_first_match() {
        let text = format!(
            "{} the budget was exceeded {}",
            "x".repeat(500),
            "y".repeat(500)
        );
        let w = window(&text, &["BUDGET".into()], 60);
        assert!(w.starts_with('…') && w.ends_with('…'), "{w}");
        assert!(w.contains("budget"), "{w}");
        assert_eq!(window("short\ntext", &["zzz".into()], 60), "short text");
    }
}
