//! Which entries of a task folder mean what.
//!
//! The indexer and the writer must agree on this to the byte: a temp file
//! mistaken for a document would index half-written JSON.

/// Prefix of the writer's temp files; every dotfile is ignored anyway.
pub const TEMP_PREFIX: &str = ".tmp-";

/// The task document (`task.json`): status, title, times.
pub const TASK_DOC: &str = "task";

/// The final result document (`result.json`); its presence seals the task.
pub const RESULT_DOC: &str = "result";

/// The suffix `tasklog compress` gives a stream: `<name>.jsonl.gz` holds
/// the same bytes as `<name>.jsonl`, gzipped, and is the same stream.
pub const COMPRESSED_SUFFIX: &str = ".gz";

/// `Some(stem)` when `file_name` is a compressed stream `<stem>.jsonl.gz`.
/// Kept apart from [`classify_entry`] so every reader that only knows plain
/// streams keeps ignoring it; the indexer, `verify` and the writer ask.
pub fn compressed_stream(file_name: &str) -> Option<&str> {
    match classify_entry(file_name.strip_suffix(COMPRESSED_SUFFIX)?) {
        EntryKind::Stream(stem) => Some(stem),
        _ => None,
    }
}

/// What an entry of a task folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind<'a> {
    /// `<name>.jsonl`: an append-only stream.
    Stream(&'a str),
    /// `<name>.json`: an atomically replaced document.
    Document(&'a str),
    /// Anything else: dotfiles (temp files), other extensions, bad names.
    Ignored,
}

/// Classifies a file name found in a task folder.
pub fn classify_entry(file_name: &str) -> EntryKind<'_> {
    if file_name.starts_with('.') {
        return EntryKind::Ignored;
    }
    let valid = |stem: &str| crate::name::TaskId::new(stem).is_ok();
    if let Some(stem) = file_name.strip_suffix(".jsonl") {
        if valid(stem) {
            return EntryKind::Stream(stem);
        }
    } else if let Some(stem) = file_name.strip_suffix(".json") {
        if valid(stem) {
            return EntryKind::Document(stem);
        }
    }
    EntryKind::Ignored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let cases = [
            ("events.jsonl", EntryKind::Stream("events")),
            (
                "02-webhook-flow.jsonl",
                EntryKind::Stream("02-webhook-flow"),
            ),
            ("task.json", EntryKind::Document("task")),
            ("a.b.json", EntryKind::Document("a.b")),
            (".tmp-abc123", EntryKind::Ignored),
            (".events.jsonl", EntryKind::Ignored),
            ("notes.txt", EntryKind::Ignored),
            (".json", EntryKind::Ignored),
            ("x.jsonl.gz", EntryKind::Ignored),
        ];
        for (name, want) in cases {
            assert_eq!(classify_entry(name), want, "{name}");
        }
        let compressed = [
            ("x.jsonl.gz", Some("x")),
            ("x.jsonl", None),
            ("x.json.gz", None),
            (".x.jsonl.gz", None),
            ("x.jsonl.gz.gz", None),
        ];
        for (name, want) in compressed {
            assert_eq!(compressed_stream(name), want, "{name}");
        }
    }
}
