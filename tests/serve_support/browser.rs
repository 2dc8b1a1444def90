//! The dashboard in headless Chromium, driven through chromedriver: the
//! tasks page lists the tasks, the task page marks the failed tool call and
//! shows a record appended while it is open within 2 s without a reload,
//! the cost page shows the right total, the status page lists the
//! quarantined line (tests/dashboard.rs asks the rest). A screenshot of each page is saved under
//! `<target dir>/serve-screenshots/`. Skips with one line on stderr when
//! Chromium or chromedriver is absent.

use std::time::{Duration, Instant};

use super::fixture::{
    append, indexed, screenshot_dir, wait_until, write_design_layout, write_rich_task, Server, LONG,
};
use super::support::Env;
use super::webdriver;

#[test]
fn dashboard_in_headless_chromium() {
    let (browser, driver) = match webdriver::find() {
        Ok(found) => found,
        Err(why) => {
            crate::support::skip("dashboard_in_headless_chromium", &why.to_string());
            return;
        }
    };
    let env = Env::new();
    write_rich_task(&env, "rich");
    write_design_layout(&env, "task-abc123");
    let server = Server::start(&env, &[], &[]);
    wait_until("rich indexed", LONG, || {
        server.get("/api/tasks/rich").json()["summary"]["llm_calls"] == 3
    });
    indexed(&server, "task-abc123", "final-result");
    let b = webdriver::Browser::start(&browser, &driver);
    let base = format!("http://{}", server.addr);
    let shots = screenshot_dir();
    let ready = |hash: &str| format!("return document.body.dataset.ready === {hash:?};");

    // Tasks: the list shows the tasks the test wrote.
    b.goto(&format!("{base}/#/"));
    b.wait_for("tasks page", &ready("/"), LONG);
    b.wait_for("task rows", "return !!document.querySelector('[data-task=\"rich\"]') && !!document.querySelector('[data-task=\"task-abc123\"]');", LONG);
    let row = b.eval("return document.querySelector('[data-task=\"rich\"]').textContent;");
    assert!(
        row.as_str()
            .is_some_and(|t| t.contains("Fix the widget") && t.contains("$0.7500")),
        "{row}"
    );
    b.screenshot(&shots.join("tasks.png"));

    // Filter by text and by status, and search the records.
    b.goto(&format!("{base}/#/?text=widget"));
    b.wait_for("text filter", &ready("/?text=widget"), LONG);
    assert_eq!(
        b.eval("return [...document.querySelectorAll('[data-task]')].map(e => e.dataset.task);"),
        serde_json::json!(["rich"])
    );
    b.goto(&format!("{base}/#/?status=completed"));
    b.wait_for("status filter", &ready("/?status=completed"), LONG);
    // The design-layout task is completed (metadata.json and its final
    // result, issue 20); the rich one is still running.
    assert_eq!(
        b.eval("return [...document.querySelectorAll('[data-task]')].map(e => e.dataset.task);"),
        serde_json::json!(["task-abc123"])
    );
    b.goto(&format!("{base}/#/search?q=budget"));
    b.wait_for("search", &ready("/search?q=budget"), LONG);
    let found = b.eval("return document.getElementById('search-results').textContent;");
    assert!(
        found
            .as_str()
            .is_some_and(|t| t.contains("rich") && t.contains("budget")),
        "{found}"
    );

    // Task: the failed tool call is marked; a record appended while the
    // page is open appears without a reload within 2 s.
    b.goto(&format!("{base}/#/task/rich"));
    b.wait_for("task page", &ready("/task/rich"), LONG);
    let failed =
        b.eval("return [...document.querySelectorAll('.wf-row.failure')].map(e => e.textContent);");
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{failed}");
    assert!(
        failed[0]
            .as_str()
            .is_some_and(|t| t.contains("Bash") && t.contains("failed")),
        "{failed}"
    );
    assert_eq!(
        b.eval("return document.querySelectorAll('.wf-row.success').length;"),
        1
    );
    let errors = b.eval("return document.getElementById('errors').textContent;");
    assert!(
        errors
            .as_str()
            .is_some_and(|t| t.contains("exit status 101")),
        "{errors}"
    );
    b.eval("window.__marker = 1; return true;");
    b.wait_for(
        "live stream open",
        "return document.getElementById('live').classList.contains('on');",
        LONG,
    );
    let appended = Instant::now();
    append(&env, "rich", "live-marker-4711");
    b.wait_for(
        "the appended record",
        "return document.getElementById('transcript').textContent.includes('live-marker-4711');",
        Duration::from_secs(2).saturating_sub(appended.elapsed()),
    );
    assert_eq!(
        b.eval("return window.__marker === 1;"),
        true,
        "no reload happened"
    );
    b.screenshot(&shots.join("task.png"));
    b.eval("document.querySelector('#transcript .item:last-child').scrollIntoView({block: 'center'}); return true;");
    b.screenshot(&shots.join("task-timeline.png"));

    // Cost: the total is the sum of the priced calls; unpriced calls are listed.
    b.goto(&format!("{base}/#/cost"));
    b.wait_for("cost page", &ready("/cost"), LONG);
    assert_eq!(
        b.eval("return document.getElementById('cost-total').textContent;"),
        "$0.7500"
    );
    assert_eq!(
        b.eval("return !!document.querySelector('#cost-chart .seg');"),
        true,
        "the chart is drawn"
    );
    assert_eq!(
        b.eval("return document.querySelectorAll('tr.unpriced').length;"),
        1
    );
    b.screenshot(&shots.join("cost.png"));

    // Status: the quarantined line with its file and line.
    b.goto(&format!("{base}/#/status"));
    b.wait_for("status page", &ready("/status"), LONG);
    let text = b.eval("return document.getElementById('main').textContent;");
    assert!(
        text.as_str()
            .is_some_and(|t| t.contains("rich/events.jsonl:11")),
        "{text}"
    );
    b.screenshot(&shots.join("status.png"));

    // With a token: the dashboard takes it once from the address, keeps it
    // in its cookie, and the API calls and the event stream carry it.
    drop(server);
    let guarded = Server::start(
        &env,
        &["--no-index"],
        &[("TASKLOG_TOKEN", "browser-token-0123456")],
    );
    let base = format!("http://{}", guarded.addr);
    b.goto(&format!("{base}/?token=browser-token-0123456#/"));
    b.wait_for("tasks page with a token", &ready("/"), LONG);
    b.wait_for(
        "task rows with a token",
        "return !!document.querySelector('[data-task=\"rich\"]');",
        LONG,
    );
    b.wait_for(
        "event stream with a token",
        "return document.getElementById('live').classList.contains('on');",
        LONG,
    );
    assert_eq!(
        b.eval("return location.search;"),
        "",
        "the token left the address"
    );
    assert_eq!(
        b.eval("return document.cookie;"),
        "",
        "scripts cannot read the cookie"
    );
    eprintln!("screenshots in {}", shots.display());
}
