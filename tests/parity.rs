//! Every question of the one read API (`tasklog_index::Questions`) gives
//! the same ordered values on SQLite and on PostgreSQL for the same files:
//! the task list under each sort and filter, summaries, timelines, cost by
//! every grouping and range, the tail, every export section, the parts of
//! the task page, documents and streams. Only what a database fills itself (row ids, `host_id`, the
//! time it saw a bad line) is left out; values are compared in order, not
//! counted.

use serde_json::Value;
use tasklog_index::{
    open_questions, CostKey, CostQuery, ExportSection, Hosts, Questions, Reading, SearchQuery,
    Table, TaskFilter, TaskPart, TaskSort, TranscriptPage,
};

use crate::pg_scenarios::{comparable_value, OWN_COLUMNS};
use crate::pg_support::Cluster;
use crate::query_fixture::fixture;
use crate::support::{code, stderr, Env};

/// A table's rows in order, each without the database's own columns (and
/// the time a quarantined line was seen, which is its `ts`), values as the
/// parity of views compares them.
fn values(t: &Table) -> Vec<Vec<(String, Value)>> {
    let event = t.column("event");
    t.rows
        .iter()
        .map(|row| {
            let quarantined = event.is_some_and(|i| row[i] == "quarantined");
            t.columns
                .iter()
                .zip(row)
                .filter(|(c, _)| !OWN_COLUMNS.contains(&c.as_str()))
                .filter(|(c, _)| !(quarantined && c.as_str() == "ts"))
                .filter(|(c, v)| {
                    !((c.as_str() == "id" || c.as_str() == "at" || c.ends_with("_id"))
                        && v.is_number())
                })
                .map(|(c, v)| (c.clone(), comparable_value(v)))
                .collect()
        })
        .collect()
}

fn same(what: &str, sqlite: Table, pg: Table) {
    let mut columns = pg.columns.clone();
    columns.retain(|c| c != "host_id");
    assert_eq!(columns, sqlite.columns, "{what}: columns");
    let (p, s) = (values(&pg), values(&sqlite));
    assert_eq!(p.len(), s.len(), "{what}: rows");
    for (i, (p, s)) in p.iter().zip(&s).enumerate() {
        let differ: Vec<_> = p.iter().zip(s).filter(|(a, b)| a != b).collect();
        assert!(
            differ.is_empty(),
            "{what}: row {i}: (PostgreSQL, SQLite) {differ:?}"
        );
    }
}

/// The transcript and feed questions of one task (the server's transcript,
/// logs and events): the same rows, in the same order, on both stores.
fn transcript_alike(id: &str, s: &mut dyn Questions, p: &mut dyn Questions) {
    let hidden = s.source_streams(id).unwrap();
    assert_eq!(hidden, p.source_streams(id).unwrap(), "source streams {id}");
    for (backwards, with_sources, after_ts) in [
        (false, false, ""),
        (false, true, ""),
        (true, false, "9999"),
        (false, false, "2026-11-22T10:00:00.000000Z"),
    ] {
        let page = |limit| TranscriptPage {
            task: id,
            after_ts,
            after_id: if backwards { i64::MAX } else { 0 },
            backwards,
            with_sources,
            hidden: &hidden,
            limit,
        };
        for limit in [3, 1000] {
            same(
                &format!("transcript {id} backwards={backwards} sources={with_sources} after {after_ts:?} limit {limit}"),
                s.transcript_rows(&page(limit)).unwrap(),
                p.transcript_rows(&page(limit)).unwrap(),
            );
        }
    }
    for (lo, hi, backwards) in [
        (Some(""), None, false),
        (None, Some("2026-11-22T10:00:00.000000Z"), true),
        (
            Some("2026-01-01T00:00:00.000000Z"),
            Some("2100-01-01"),
            false,
        ),
    ] {
        same(
            &format!("documents {id} {lo:?}..{hi:?}"),
            s.documents_between(id, lo, hi, backwards).unwrap(),
            p.documents_between(id, lo, hi, backwards).unwrap(),
        );
    }
    for stream in s.streams(id).unwrap().texts(0) {
        for (after, limit) in [(0, None), (1, Some(2))] {
            same(
                &format!("stream {id}/{stream} from {after}"),
                s.stream_records(id, &stream, after, limit).unwrap(),
                p.stream_records(id, &stream, after, limit).unwrap(),
            );
        }
    }
    // Feed rows cut by a byte budget: the first row always, then while the
    // bodies before a row hold fewer bytes.
    for budget in [1, 300] {
        same(
            &format!("feed {id} within {budget} bytes"),
            s.records_since(0, &[], Some(id), 10_000, budget).unwrap(),
            p.records_since(0, &[], Some(id), 10_000, budget).unwrap(),
        );
    }
    // Feed rows of the task, from the start (ids are each store's own).
    same(
        &format!("feed {id}"),
        s.records_since(0, &[], Some(id), 10_000, u64::MAX >> 2)
            .unwrap(),
        p.records_since(0, &[], Some(id), 10_000, u64::MAX >> 2)
            .unwrap(),
    );
}

#[test]
fn every_question_answers_alike_on_sqlite_and_postgres() {
    let Some(cluster) = Cluster::shared("every_question_answers_alike_on_sqlite_and_postgres")
    else {
        return;
    };
    let url = cluster.database();
    let env = Env::new();
    fixture(&env);
    let out = env.run(&["--host-id", "h1", "index", "--sink", &url]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    env.ok(&["index"]);
    let reading = |host: Option<&str>| Reading {
        host_id: host.map(str::to_owned),
        hosts: Hosts::GivenOrAll,
        archives: false,
        statement_timeout: None,
    };
    let mut s: Box<dyn Questions> = open_questions(&env.db, &reading(None)).unwrap();
    let mut p: Box<dyn Questions> =
        open_questions(std::path::Path::new(&url), &reading(Some("h1"))).unwrap();

    // The task list, under every sort, both orders, filters and pages.
    let mut filters = Vec::new();
    for sort in TaskSort::ALL {
        for ascending in [false, true] {
            filters.push(TaskFilter {
                sort,
                ascending,
                ..TaskFilter::default()
            });
        }
    }
    filters.push(TaskFilter {
        errors: true,
        ..TaskFilter::default()
    });
    filters.push(TaskFilter {
        text: Some("GH".into()),
        limit: Some(2),
        offset: 1,
        ..TaskFilter::default()
    });
    filters.push(TaskFilter {
        since: Some("2026-01-01T00:00:00.000000Z".into()),
        status: Some("failed".into()),
        ..TaskFilter::default()
    });
    for f in &filters {
        same(
            &format!("tasks {f:?}"),
            s.tasks(f).unwrap(),
            p.tasks(f).unwrap(),
        );
        assert_eq!(
            s.count_tasks(f).unwrap(),
            p.count_tasks(f).unwrap(),
            "{f:?}"
        );
    }
    let all = s.tasks(&TaskFilter::default()).unwrap();
    let at = all.column("task_id").unwrap();
    let ids: Vec<String> = all
        .rows
        .iter()
        .filter_map(|r| r[at].as_str().map(str::to_owned))
        .collect();
    assert!(ids.len() >= 3, "{ids:?}");

    let mut parts_seen = 0;
    // Per task: resolution, summary, timeline, tail, export, documents, streams.
    for id in &ids {
        assert_eq!(s.resolve_task(id).unwrap(), p.resolve_task(id).unwrap());
        let prefix = &id[..id.len().min(2)];
        assert_eq!(
            s.resolve_task(prefix).unwrap(),
            p.resolve_task(prefix).unwrap()
        );
        same(
            &format!("summary {id}"),
            s.task_summary(id).unwrap(),
            p.task_summary(id).unwrap(),
        );
        same(
            &format!("timeline {id}"),
            s.timeline(id, None).unwrap(),
            p.timeline(id, None).unwrap(),
        );
        same(
            &format!("timeline {id} limit 3"),
            s.timeline(id, Some(3)).unwrap(),
            p.timeline(id, Some(3)).unwrap(),
        );
        for n in [None, Some(1), Some(4)] {
            same(
                &format!("last records {id} {n:?}"),
                s.last_records(id, n).unwrap(),
                p.last_records(id, n).unwrap(),
            );
        }
        for section in ExportSection::ALL {
            same(
                &format!("export {id} {section:?}"),
                s.export(id, section).unwrap(),
                p.export(id, section).unwrap(),
            );
        }
        for part in TaskPart::ALL {
            parts_seen += s.task_part(id, part, None).unwrap().rows.len();
            for limit in [None, Some(2)] {
                same(
                    &format!("part {id} {part:?} {limit:?}"),
                    s.task_part(id, part, limit).unwrap(),
                    p.task_part(id, part, limit).unwrap(),
                );
            }
        }
        same(
            &format!("task cost {id}"),
            s.task_cost(id).unwrap(),
            p.task_cost(id).unwrap(),
        );
        same(
            &format!("documents {id}"),
            s.documents(id).unwrap(),
            p.documents(id).unwrap(),
        );
        same(
            &format!("streams {id}"),
            s.streams(id).unwrap(),
            p.streams(id).unwrap(),
        );
        for part in [TaskPart::Errors, TaskPart::Counts] {
            same(
                &format!("part {id} {part:?}"),
                s.task_part(id, part, Some(500)).unwrap(),
                p.task_part(id, part, Some(500)).unwrap(),
            );
        }
        transcript_alike(id, s.as_mut(), p.as_mut());
    }
    assert!(
        parts_seen > 10,
        "the fixture has tool calls, decisions, messages: {parts_seen}"
    );
    assert_eq!(
        s.resolve_task("no-such-task").unwrap(),
        p.resolve_task("no-such-task").unwrap()
    );

    // Cost by every key and pair, over whole days and over instants.
    let keys = [
        CostKey::Model,
        CostKey::Day,
        CostKey::Task,
        CostKey::Provider,
        CostKey::Project,
        CostKey::Agent,
    ];
    let mut groupings: Vec<Vec<CostKey>> = keys.iter().map(|k| vec![*k]).collect();
    groupings.push(vec![CostKey::Day, CostKey::Model]);
    groupings.push(vec![CostKey::Task, CostKey::Model]);
    let ranges = [
        (None, None),
        (
            Some("2020-01-01T00:00:00.000000Z"),
            Some("2100-01-01T00:00:00.000000Z"),
        ),
        (Some("2020-01-01T00:00:00.000001Z"), None),
    ];
    for by in &groupings {
        for (since, until) in ranges {
            let q = CostQuery {
                by: by.clone(),
                since: since.map(str::to_owned),
                until: until.map(str::to_owned),
            };
            same(
                &format!("cost {q:?}"),
                s.cost(&q).unwrap(),
                p.cost(&q).unwrap(),
            );
            same(
                &format!("unpriced {q:?}"),
                s.unpriced(&q).unwrap(),
                p.unpriced(&q).unwrap(),
            );
            same(
                &format!("unpriced calls {since:?} {until:?}"),
                s.unpriced_calls(since, until, 200).unwrap(),
                p.unpriced_calls(since, until, 200).unwrap(),
            );
        }
    }
    let some = s
        .cost(&CostQuery {
            by: vec![CostKey::Model],
            since: None,
            until: None,
        })
        .unwrap();
    assert!(!some.rows.is_empty(), "the fixture has model calls");

    // Raw SQL both dialects read alike.
    let sql = "SELECT task_id, count(*) AS n FROM records GROUP BY task_id ORDER BY task_id";
    same("query", s.query(sql).unwrap(), p.query(sql).unwrap());

    // Search: both stores have it; the same records match (ranks are each
    // engine's own: FTS5's bm25, PostgreSQL's ts_rank), best first.
    for text in [
        "widget",
        "\"flaky budget widget\"",
        "cargo test",
        "no-such-word-anywhere",
    ] {
        let q = SearchQuery {
            text: text.into(),
            raw: false,
            task: None,
            limit: 50,
        };
        let (a, b) = (s.search(&q).unwrap(), p.search(&q).unwrap());
        let mut columns = b.columns.clone();
        columns.retain(|c| c != "host_id");
        assert_eq!(columns, a.columns, "search {text}: columns");
        let hits = |t: &Table| {
            let (task, source) = (t.column("task_id").unwrap(), t.column("source").unwrap());
            let mut v: Vec<String> = t
                .rows
                .iter()
                .map(|r| format!("{} {}", r[task], r[source]))
                .collect();
            v.sort();
            v
        };
        assert_eq!(hits(&b), hits(&a), "search {text}");
        if text == "widget" {
            assert!(!a.rows.is_empty(), "the fixture mentions a widget");
        }
    }
    // The CLI asks the same question on PostgreSQL (no refusal any more).
    let out = env.run(&["--db", &url, "search", "widget", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rows.iter().all(|r| r["host_id"] == "h1"), "{rows:?}");
    assert!(rows.iter().any(|r| r["snippet"]
        .as_str()
        .is_some_and(|s| s.contains("[widget]"))));
}
