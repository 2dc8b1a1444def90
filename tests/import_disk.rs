//! Disk of imported sessions: `tasklog import --no-source` keeps the
//! normalized events and not the verbatim copy, and a source keeps the
//! choice of its first import.

use std::io::Write;

use crate::import_support::{import, index_view, transcript};
use crate::support::Env;

const SESSION: &str = "88888888-8888-4888-8888-888888888888";
const TASK: &str = "claude-88888888-8888-4888-8888-888888888888";

#[test]
fn no_source_keeps_every_event_and_figure_without_the_verbatim_copy() {
    let full = transcript(8);
    let lines: Vec<&str> = full.lines().collect();
    let lean = Env::new();
    let live = lean.dir.path().join(format!("{SESSION}.jsonl"));
    std::fs::write(&live, lines[..14].join("\n") + "\n").unwrap();
    let (code, summary) = import(
        &lean,
        &["claude-code", "--no-source", live.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["totals"]["source_records"], 0, "{summary}");
    // The session grows; imported again without the flag, it stays lean.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    file.write_all((lines[14..].join("\n") + "\n").as_bytes())
        .unwrap();
    drop(file);
    let (code, summary) = import(&lean, &["claude-code", live.to_str().unwrap()]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["files"]["appended"], 1, "{summary}");
    assert_eq!(summary["totals"]["source_records"], 0, "{summary}");
    let dir = lean.task_dir(TASK);
    assert!(!dir.join("source.jsonl").exists());
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("import.json")).unwrap()).unwrap();
    assert_eq!(state["sources"][0]["verbatim"], false, "{state}");
    lean.ok(&["index"]);
    lean.ok(&["verify"]);

    let full_copy = Env::new();
    let copy = full_copy.dir.path().join(format!("{SESSION}.jsonl"));
    std::fs::write(&copy, &full).unwrap();
    import(&full_copy, &["claude-code", copy.to_str().unwrap()]);
    full_copy.ok(&["index"]);
    let (events, figures) = index_view(&lean, TASK);
    let (want_events, want_figures) = index_view(&full_copy, TASK);
    assert_eq!(events, want_events);
    assert_eq!(
        (figures.0, figures.1, figures.2, figures.3),
        (
            want_figures.0,
            want_figures.1,
            want_figures.2,
            want_figures.3
        )
    );
    assert_eq!((figures.4, want_figures.4), (0, lines.len() as i64));
    let size = |env: &Env| {
        std::fs::read_dir(env.task_dir(TASK))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
    };
    assert!(size(&lean) < size(&full_copy));
}
