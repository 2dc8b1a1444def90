//! `serve --no-index` over a database file that is deleted and rebuilt
//! (issue 22): it used to keep reading the deleted file, serving stale
//! tasks and no new events until restarted. It now notices the new file
//! (its inode) and reads it: new tasks appear, and an open event stream
//! carries the new records though their ids restarted from 1.

use std::time::Duration;

use crate::serve_support::fixture::{wait_until, Server};
use crate::serve_support::http::Sse;
use crate::support::{append_raw, index, Env};

fn task_ids(server: &Server) -> Vec<String> {
    let r = server.get("/api/tasks");
    if r.status != 200 {
        return Vec::new();
    }
    r.json()["tasks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["task_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn serve_without_an_indexer_follows_a_database_file_that_was_replaced() {
    let env = Env::new();
    let lines: String = (0..50)
        .map(|i| format!("{{\"event\":\"message\",\"content\":\"old {i}\"}}\n"))
        .collect();
    append_raw(&env.stream("old", "events"), lines.as_bytes());
    index(&env);
    let server = Server::start(&env, &["--no-index"], &[]);
    assert_eq!(task_ids(&server), ["old"]);
    let mut sse = Sse::open(&server.addr, "/api/events", None, &[]);
    assert_eq!(sse.status, 200);

    // The index is deleted and rebuilt from other files.
    std::fs::remove_dir_all(env.task_dir("old")).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = env.db.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    append_raw(
        &env.stream("new", "events"),
        b"{\"event\":\"message\",\"content\":\"new 0\"}\n",
    );
    index(&env);
    wait_until("the new task listed", Duration::from_secs(10), || {
        task_ids(&server) == ["new"]
    });

    // A record committed now reaches the stream opened before.
    append_raw(&env.stream("new", "events"), b"{\"event\":\"late\"}\n");
    index(&env);
    let got = sse.take(2, Duration::from_secs(10));
    assert!(
        got.iter()
            .any(|e| e.data["task_id"] == "new" && e.data["event"] == "late"),
        "{got:?}\n{}",
        server.log()
    );
}
