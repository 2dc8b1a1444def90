//! The importer's keys of imported events live in `.import-keys` beside
//! `import.json` (crates/tasklog-import/src/keys.rs), so the indexed
//! document stays small however long a followed session grows, and the
//! keys agree with the record across a crash between writing the two.

use std::path::Path;

use serde_json::Value;

use crate::import_support::{index_view, transcript};
use crate::support::{code, stderr, Env};

const TASK: &str = "claude-88888888-8888-4888-8888-888888888888";
const FILE: &str = "88888888-8888-4888-8888-888888888888.jsonl";

fn import(env: &Env, path: &Path) {
    let out = env.run(&["import", "claude-code", path.to_str().unwrap(), "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

fn import_doc(env: &Env) -> Value {
    let path = env.task_dir(TASK).join("import.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The index a single import of `turns` turns gives.
fn once(turns: usize) -> crate::import_support::View {
    let env = Env::new();
    let path = env.dir.path().join(FILE);
    std::fs::write(&path, transcript(turns)).unwrap();
    import(&env, &path);
    env.ok(&["index"]);
    index_view(&env, TASK)
}

#[test]
fn a_followed_session_keeps_import_json_the_same_size() {
    let env = Env::new();
    let path = env.dir.path().join(FILE);
    let full = transcript(40);
    let lines: Vec<&str> = full.lines().collect();
    let mut sizes = Vec::new();
    for turn in 1..=40 {
        std::fs::write(&path, lines[..turn * 4].join("\n") + "\n").unwrap();
        import(&env, &path);
        sizes.push(
            std::fs::metadata(env.task_dir(TASK).join("import.json"))
                .unwrap()
                .len(),
        );
    }
    let doc = import_doc(&env);
    assert!(doc.get("seen").is_none(), "no keys in the indexed document");
    let committed = doc["seen_keys_bytes"].as_u64().unwrap();
    let keys = std::fs::read_to_string(env.task_dir(TASK).join(".import-keys")).unwrap();
    assert_eq!(keys.len() as u64, committed);
    assert!(keys.lines().any(|k| k == "llm:msg_38:req_38"), "{keys}");
    // 40 turns add 40 calls and 160 keyed lines; the document only grows
    // by the digits of its totals.
    assert!(sizes[39] < sizes[0] + 200, "import.json grew: {sizes:?}");
    env.ok(&["index"]);
    assert_eq!(index_view(&env, TASK), once(40));
    // The index never sees the keys file (a dot-file is no stream).
    assert_eq!(
        env.count("SELECT count(*) FROM files WHERE path LIKE '%import-keys%'"),
        0
    );
}

#[test]
fn keys_a_crashed_run_appended_past_the_record_are_not_taken_as_imported() {
    let env = Env::new();
    let path = env.dir.path().join(FILE);
    let full = transcript(6);
    let lines: Vec<&str> = full.lines().collect();
    std::fs::write(&path, lines[..12].join("\n") + "\n").unwrap();
    import(&env, &path);
    // A run that appended the keys of turns 3 to 5 and died before writing
    // import.json: the keys file is longer than the record says.
    let keys = env.task_dir(TASK).join(".import-keys");
    let mut tail = String::new();
    for t in 3..6 {
        tail.push_str(&format!(
            "llm:msg_{t}:req_{t}\nuuid:u{t}#0\nuuid:a{t}-0#0\nuuid:a{t}-1#0\nuuid:r{t}#0\n"
        ));
    }
    let before = std::fs::read_to_string(&keys).unwrap();
    std::fs::write(&keys, before.clone() + &tail).unwrap();
    std::fs::write(&path, &full).unwrap();
    import(&env, &path);
    env.ok(&["index"]);
    assert_eq!(index_view(&env, TASK), once(6), "turns 3-5 imported once");
    let after = std::fs::read_to_string(&keys).unwrap();
    assert!(after.starts_with(&before));
    assert_eq!(
        after.len() as u64,
        import_doc(&env)["seen_keys_bytes"].as_u64().unwrap()
    );
}

#[test]
fn an_import_record_from_before_the_keys_file_moves_its_keys_out() {
    let env = Env::new();
    let path = env.dir.path().join(FILE);
    let full = transcript(6);
    let lines: Vec<&str> = full.lines().collect();
    std::fs::write(&path, lines[..12].join("\n") + "\n").unwrap();
    import(&env, &path);
    // Rewrite the task as an older tasklog left it: keys inside import.json.
    let dir = env.task_dir(TASK);
    let keys = std::fs::read_to_string(dir.join(".import-keys")).unwrap();
    let mut doc = import_doc(&env);
    let map = doc.as_object_mut().unwrap();
    map.remove("seen_keys_bytes");
    map.insert("seen".into(), keys.lines().collect::<Vec<_>>().into());
    std::fs::write(dir.join("import.json"), serde_json::to_vec(&doc).unwrap()).unwrap();
    std::fs::remove_file(dir.join(".import-keys")).unwrap();

    std::fs::write(&path, &full).unwrap();
    import(&env, &path);
    env.ok(&["index"]);
    assert_eq!(index_view(&env, TASK), once(6));
    let doc = import_doc(&env);
    assert!(doc.get("seen").is_none());
    let moved = std::fs::read_to_string(dir.join(".import-keys")).unwrap();
    let old: std::collections::BTreeSet<&str> = keys.lines().collect();
    let first: std::collections::BTreeSet<&str> = moved.lines().take(old.len()).collect();
    assert_eq!(first, old, "the old keys first, then the new");
    assert_eq!(moved.len() as u64, doc["seen_keys_bytes"].as_u64().unwrap());
}

#[test]
fn a_lost_keys_file_stops_the_import_of_that_task_with_its_path() {
    let env = Env::new();
    let path = env.dir.path().join(FILE);
    let full = transcript(4);
    let lines: Vec<&str> = full.lines().collect();
    std::fs::write(&path, lines[..8].join("\n") + "\n").unwrap();
    import(&env, &path);
    std::fs::remove_file(env.task_dir(TASK).join(".import-keys")).unwrap();
    std::fs::write(&path, &full).unwrap();
    let out = env.run(&["import", "claude-code", path.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(".import-keys holds 0 of the"),
        "{}",
        stderr(&out)
    );
    env.ok(&["index"]);
    // Nothing was written twice: the first import's calls, once each.
    assert_eq!(index_view(&env, TASK).1 .0, 2);
}
