//! The conformance vectors (`tests/conformance.json`) against the Rust
//! writer. The Python and Node bindings run the same file through their own
//! test runners (crates/tasklog-py/tests, crates/tasklog-node/test): the
//! three writers must accept, refuse and write byte for byte alike.

use std::path::Path;

use serde_json::Value;
use tasklog_writer::{Durability, Record, Writer, WriterOptions};

fn vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance.json");
    let text = std::fs::read_to_string(&path).expect("reading conformance.json");
    serde_json::from_str(&text).expect("conformance.json is JSON")
}

/// A placeholder of the vectors: its text, length and allowed bytes.
type Hole = (&'static str, usize, fn(u8) -> bool);

/// Checks `actual` against `expected`, where `<TS>`, `<ID>`, `<TRACE>` and
/// `<SPAN>` stand for stamped values; returns the stamped id, if any.
fn matches(expected: &str, actual: &str) -> Result<Option<String>, String> {
    let holes: [Hole; 4] = [
        ("<TS>", 27, |b| b.is_ascii_digit() || b"-T:.Z".contains(&b)),
        ("<ID>", 26, |b| {
            b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b))
        }),
        ("<TRACE>", 32, |b| {
            b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
        }),
        ("<SPAN>", 16, |b| {
            b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
        }),
    ];
    let (mut e, mut a) = (expected.as_bytes(), actual.as_bytes());
    let mut id = None;
    'outer: while !e.is_empty() {
        for (hole, len, ok) in holes {
            if e.starts_with(hole.as_bytes()) {
                if a.len() < len || !a[..len].iter().all(|&b| ok(b)) {
                    return Err(format!(
                        "{hole} does not match at {:?}",
                        String::from_utf8_lossy(a)
                    ));
                }
                if hole == "<ID>" {
                    id = Some(String::from_utf8_lossy(&a[..len]).into_owned());
                }
                e = &e[hole.len()..];
                a = &a[len..];
                continue 'outer;
            }
        }
        if a.first() != e.first() {
            return Err(format!(
                "differs at {:?} (expected {:?})",
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(e)
            ));
        }
        e = &e[1..];
        a = &a[1..];
    }
    if a.is_empty() {
        Ok(id)
    } else {
        Err(format!("trailing {:?}", String::from_utf8_lossy(a)))
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Checks one append's outcome against a vector; `written` is the stream's content.
fn check(
    v: &Value,
    outcome: Result<tasklog_writer::Appended, tasklog_writer::Error>,
    written: &str,
) {
    let name = v["name"].as_str().unwrap_or("?");
    if let Some(needle) = v.get("refuse").and_then(Value::as_str) {
        let err = match outcome {
            Ok(_) => panic!("{name}: accepted, expected a refusal containing {needle:?}"),
            Err(e) => e,
        };
        assert!(
            err.to_string().contains(needle),
            "{name}: {err} lacks {needle:?}"
        );
        assert!(err.is_refusal(), "{name}: {err} is not a refusal");
        assert_eq!(written, "", "{name}: a refused record wrote something");
        return;
    }
    let appended = outcome.unwrap_or_else(|e| panic!("{name}: refused: {e}"));
    let expected = v["line"].as_str().expect("line");
    let line = written
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{name}: no final newline in {written:?}"));
    let id = matches(expected, line).unwrap_or_else(|e| panic!("{name}: {e}\n{line}"));
    assert_eq!(Some(appended.seq), v["seq"].as_u64(), "{name}: seq");
    match v.get("id").and_then(Value::as_str) {
        // A caller's own id: the writer kept it, and the line shows it.
        Some(own) => assert!(line.contains(own), "{name}"),
        None => assert_eq!(id.as_deref(), Some(appended.stamped_id()), "{name}: id"),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn records_match_the_vectors() {
    let vectors = vectors();
    let cases = vectors["records"].as_array().expect("records");
    assert!(cases.len() >= 10);
    for v in cases {
        let root = tempfile::tempdir().expect("tempdir");
        let task = Writer::open(root.path(), WriterOptions::default())
            .and_then(|w| w.task("gh-450"))
            .expect("task");
        let stream = v["stream"].as_str().expect("stream");
        let Value::Object(map) = v["record"].clone() else {
            panic!("record is an object")
        };
        let outcome = task.append(stream, Record::from_map(map));
        let path = task.dir().join(format!("{stream}.jsonl"));
        let written = if v.get("refuse").is_some() {
            String::new()
        } else {
            read(&path)
        };
        if v.get("refuse").is_some() {
            let files = std::fs::read_dir(task.dir()).expect("task dir").count();
            assert_eq!(files, 0, "{}: a refused record created a file", v["name"]);
        }
        check(v, outcome, &written);
    }
}

#[test]
fn raw_records_match_the_vectors() {
    let vectors = vectors();
    let cases = vectors["raw"].as_array().expect("raw");
    assert!(cases.len() >= 10);
    for v in cases {
        let root = tempfile::tempdir().expect("tempdir");
        let task = Writer::open(root.path(), WriterOptions::default())
            .and_then(|w| w.task("gh-450"))
            .expect("task");
        let bytes = match v.get("hex").and_then(Value::as_str) {
            Some(h) => hex(h),
            None => v["text"].as_str().expect("text").as_bytes().to_vec(),
        };
        let outcome = task.append_json("events", &bytes, Durability::Default);
        let written = read(&task.dir().join("events.jsonl"));
        check(v, outcome, &written);
    }
}

#[test]
fn documents_match_the_vectors() {
    let vectors = vectors();
    for v in vectors["docs"].as_array().expect("docs") {
        let name = v["name"].as_str().unwrap_or("?");
        let root = tempfile::tempdir().expect("tempdir");
        let task = Writer::open(root.path(), WriterOptions::default())
            .and_then(|w| w.task("gh-450"))
            .expect("task");
        let doc = v["doc"].as_str().expect("doc");
        let outcome = match v.get("text").and_then(Value::as_str) {
            Some(text) => task.put_json(doc, text.as_bytes(), Durability::Default),
            None => task.put(doc, &v["value"]),
        };
        match v.get("refuse").and_then(Value::as_str) {
            Some(needle) => {
                let err = outcome.expect_err(name);
                assert!(err.to_string().contains(needle), "{name}: {err}");
                assert_eq!(
                    std::fs::read_dir(task.dir()).expect("dir").count(),
                    0,
                    "{name}"
                );
            }
            None => {
                outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
                let bytes = read(&task.dir().join(format!("{doc}.json")));
                assert_eq!(bytes, v["bytes"].as_str().expect("bytes"), "{name}");
            }
        }
    }
}

#[test]
fn the_matcher_can_fail() {
    assert!(matches(
        "{\"ts\":\"<TS>\"}",
        "{\"ts\":\"2026-01-02T03:04:05.123456Z\"}"
    )
    .is_ok());
    assert!(matches("{\"ts\":\"<TS>\"}", "{\"ts\":\"2026\"}").is_err());
    assert!(matches("{\"a\":1}", "{\"a\":2}").is_err());
    assert!(matches("{\"a\":1}", "{\"a\":1}x").is_err());
    assert!(matches("<ID>", "01ARZ3NDEKTSV4RRFFQ69G5FAU").is_err());
}
