//! Bulk loads: a backfill large enough that indexes are built and derived
//! tables filled once at its end. What comes out must equal what row-by-row
//! indexing gives, survive kill -9 midway, and leave the database tidy.

use crate::support::{append_raw, index, verify_equal, Env};

/// A backfill large enough for bulk mode (indexes and derived tables built
/// once at the end) gives the same derived rows as row-by-row indexing.
#[test]
fn a_bulk_backfill_builds_the_same_derived_tables() {
    let env = Env::new();
    let pad = "x".repeat(2000);
    for t in 0..4 {
        let mut bytes = Vec::new();
        for i in 0..5000 {
            bytes.extend_from_slice(
                format!(
                    r#"{{"event":"llm.call","ts":"2026-11-2{t}T00:00:{:02}Z","gen_ai":{{"request":{{"model":"m{}"}},"usage":{{"input_tokens":{i},"output_tokens":1}}}},"pad":"{pad}"}}"#,
                    i % 60,
                    i % 3
                )
                .as_bytes(),
            );
            bytes.push(b'\n');
        }
        append_raw(&env.stream(&format!("bulk-{t}"), "events"), &bytes);
    }
    index(&env);
    assert_eq!(env.count("SELECT count(*) FROM records"), 20_000);
    assert_eq!(env.count("SELECT count(*) FROM api_calls"), 20_000);
    assert_eq!(
        env.count("SELECT sum(tokens_input) FROM api_calls"),
        env.count("SELECT sum(input_tokens) FROM records WHERE event = 'llm.call'")
    );
    assert_eq!(
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'bulk_load'"),
        0
    );
    // The rollup, summed set-based at the end, agrees with the calls.
    assert_eq!(env.count("SELECT sum(calls) FROM cost_rollup"), 20_000);
    assert_eq!(
        env.count("SELECT sum(tokens_input) FROM cost_rollup"),
        env.count("SELECT sum(tokens_input) FROM api_calls")
    );
    for index in [
        "records_task_ts",
        "records_event_ts",
        "records_span",
        "records_model",
        "api_calls_model",
        "conversation_blocks_worker",
    ] {
        assert_eq!(
            env.count(&format!(
                "SELECT count(*) FROM sqlite_master WHERE name = '{index}'"
            )),
            1,
            "{index}"
        );
    }
    for trigger in ["records_api_calls_insert", "api_calls_rollup_insert"] {
        assert_eq!(
            env.count(&format!(
                "SELECT count(*) FROM sqlite_master WHERE name = '{trigger}'"
            )),
            1,
            "{trigger}"
        );
    }
    // New lines after the bulk load go through the restored triggers.
    append_raw(&env.stream("bulk-0", "events"), b"{\"event\":\"llm.call\",\"gen_ai\":{\"request\":{\"model\":\"m0\"},\"usage\":{\"input_tokens\":5}}}\n");
    index(&env);
    assert_eq!(env.count("SELECT count(*) FROM api_calls"), 20_001);
    assert_eq!(env.count("SELECT sum(calls) FROM cost_rollup"), 20_001);
    assert_eq!(env.count("SELECT sum(calls) FROM cost_daily"), 20_001);
    verify_equal(&env);
}

/// Worker rows (spans, sessions with their latest exit) and what reads
/// them (the worker of each API call and conversation block) come out the
/// same from row-by-row triggers, from one bulk load of everything, and
/// from a bulk load on top of sessions indexed before it (their exits
/// arrive in the load). Exits sit in their own stream, some ahead of their
/// spawns.
#[test]
fn bulk_loads_derive_workers_like_row_by_row_triggers() {
    let env = Env::new();
    let pad = "p".repeat(1500);
    let db_at = |name: &str| env.root.parent().unwrap().join(name);
    let (rows_db, all_db, late_db) = (db_at("rows.db"), db_at("all.db"), db_at("late.db"));
    let index_into = |db: &std::path::Path| {
        env.ok(&["--db", &db.display().to_string(), "index"]);
    };
    for chunk in 0..10 {
        for t in 0..3 {
            let events = env.stream(&format!("wk-{t}"), "events");
            let exits = env.stream(&format!("wk-{t}"), "exits");
            let mut bytes = Vec::new();
            for w in 0..4 {
                let worker = format!("w{t}-{chunk}-{w}");
                let span = format!("s{t}-{chunk}-{w}");
                bytes.extend_from_slice(format!(
                    "{{\"event\":\"worker.spawn\",\"worker_id\":\"{worker}\",\"span_id\":\"{span}\",\"pid\":{w}}}\n\
                     {{\"event\":\"llm.call\",\"parent_span_id\":\"{span}\",\"gen_ai\":{{\"request\":{{\"model\":\"m\"}},\"usage\":{{\"input_tokens\":{w}}}}}}}\n\
                     {{\"event\":\"message\",\"role\":\"assistant\",\"parent_span_id\":\"{span}\",\"content\":\"hi\"}}\n"
                ).as_bytes());
                // Workers of the previous chunk end in this one (so the
                // late load folds exits into sessions indexed before it);
                // one worker of the next chunk ends before it starts.
                let (ended, status) = match w {
                    0 if chunk > 0 => (format!("w{t}-{}-0", chunk - 1), "ok"),
                    1 => (format!("w{t}-{}-1", chunk + 1), "failed"),
                    _ => continue,
                };
                append_raw(&exits, format!("{{\"event\":\"worker.exit\",\"worker_id\":\"{ended}\",\"status\":\"{status}\",\"exit_code\":{w}}}\n").as_bytes());
            }
            for i in 0..1000 {
                bytes.extend_from_slice(
                    format!("{{\"event\":\"message\",\"i\":{i},\"pad\":\"{pad}\"}}\n").as_bytes(),
                );
            }
            append_raw(&events, &bytes);
        }
        index_into(&rows_db);
        if chunk == 0 {
            index_into(&late_db);
        }
    }
    index_into(&all_db); // ~45 MB at once: a bulk load
    index_into(&late_db); // chunks 1-9, ~40 MB: a bulk load over chunk 0's sessions
    let answers = |db: &std::path::Path| {
        let conn = rusqlite::Connection::open(db).unwrap();
        let rows = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            let n = stmt.column_count();
            stmt.query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        [
            rows("SELECT worker_id, task_id, status, completed_at IS NOT NULL, failed_at IS NOT NULL, exit_code, pid, span_id FROM worker_sessions ORDER BY task_id, worker_id, implicit"),
            rows("SELECT span_id, worker_id, task_id FROM worker_spans ORDER BY span_id"),
            rows("SELECT worker_id, count(*), sum(tokens_input) FROM api_calls GROUP BY 1 ORDER BY 1"),
            rows("SELECT worker_id, count(*) FROM conversation_blocks GROUP BY 1 ORDER BY 1"),
        ]
    };
    let expected = answers(&rows_db);
    assert_eq!(expected[0].len(), 3 * 10 * 4, "one session per spawn");
    assert!(
        expected[0].iter().any(|r| r.contains("\"failed\"")),
        "{:?}",
        expected[0]
    );
    assert_eq!(expected[2].len(), 3 * 10 * 4, "every call found its worker");
    for db in [&all_db, &late_db] {
        let conn = rusqlite::Connection::open(db).unwrap();
        let bulk_ran: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_stat1", [], |r| r.get(0))
            .unwrap();
        assert!(bulk_ran > 0, "{}: no bulk load ran", db.display());
        assert_eq!(answers(db), expected, "{}", db.display());
    }
}

/// kill -9 in the middle of a bulk backfill: the next run finishes it,
/// with every line once, the indexes back and the derived rows complete.
#[test]
fn a_bulk_backfill_killed_midway_resumes_without_duplicates() {
    let env = Env::new();
    let pad = "y".repeat(1500);
    for t in 0..6 {
        let mut bytes = Vec::new();
        for i in 0..5000 {
            let event = if i % 4 == 0 { "llm.call" } else { "message" };
            bytes.extend_from_slice(
                format!(r#"{{"event":"{event}","i":{i},"content":"needle {i}","gen_ai":{{"usage":{{"input_tokens":{i}}}}},"pad":"{pad}"}}"#).as_bytes(),
            );
            bytes.push(b'\n');
        }
        append_raw(&env.stream(&format!("kill-{t}"), "events"), &bytes);
    }
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..3 {
        let mut child = env
            .cmd()
            .arg("index")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(100..900)));
        crate::support::kill9(&mut child);
    }
    index(&env);
    assert_eq!(env.count("SELECT count(*) FROM records"), 30_000);
    assert_eq!(env.count("SELECT count(*) FROM api_calls"), 7_500);
    // Derived rows equal what row-by-row triggers give: a second database
    // indexed in small steps (no bulk load) has the same counts.
    assert_eq!(env.count("SELECT count(*) FROM records_fts"), 22_500);
    assert_eq!(
        env.count("SELECT count(*) FROM conversation_blocks"),
        22_500
    );
    assert_eq!(
        env.count("SELECT count(*) FROM records_fts WHERE records_fts MATCH 'needle'"),
        22_500
    );
    assert_eq!(
        env.count("SELECT count(*) FROM indexer_state WHERE key = 'bulk_load'"),
        0
    );
    assert_eq!(
        env.count("SELECT count(*) FROM sqlite_master WHERE name = 'records_task_ts'"),
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM sqlite_master WHERE name = 'records_api_calls_insert'"),
        1
    );
    verify_equal(&env);
}

/// The WAL is checkpointed off the committer thread while the backfill
/// runs and folded into the database when `index` exits: no WAL is left
/// behind, and the rows are in the main file.
#[test]
fn index_leaves_no_wal_behind() {
    let env = Env::new();
    let pad = "w".repeat(1000);
    for t in 0..4 {
        let mut bytes = Vec::new();
        for i in 0..5000 {
            bytes.extend_from_slice(
                format!(r#"{{"event":"message","i":{i},"pad":"{pad}"}}"#).as_bytes(),
            );
            bytes.push(b'\n');
        }
        append_raw(&env.stream(&format!("wal-{t}"), "events"), &bytes);
    }
    index(&env);
    let wal = format!("{}-wal", env.db.display());
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "{wal} holds {wal_len} bytes after index exited");
    assert!(std::fs::metadata(&env.db).unwrap().len() > 20_000_000);
    assert_eq!(env.count("SELECT count(*) FROM records"), 20_000);
}
