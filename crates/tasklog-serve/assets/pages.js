/* The list pages: tasks (filters, sorting, paging), search (hits grouped by
   task, each linking to its record in the transcript) and indexer status. */
"use strict";

const STATUSES = ["running", "completed", "completed_with_errors", "failed", "cancelled"];
const SORTS = [["started", "Started"], ["last_activity", "Last activity"], ["cost", "Cost"], ["duration", "Duration"]];
const PAGE_SIZE = 50;

/* A task's duration: the index's duration_ms, else the span of its times. */
function taskDuration(t, now) {
  if (t.duration_ms !== undefined && t.duration_ms !== null) return t.duration_ms;
  if (!t.started_at) return null;
  const end = t.finished_at ? parseTs(t.finished_at) : (t.sealed ? parseTs(t.updated_at) : now);
  return end - parseTs(t.started_at);
}

PAGES.tasks = async function (params) {
  const sort = params.get("sort") || "started", order = params.get("order") || "desc";
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  const go = (changes) => {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) { if (v) p.set(k, v); else p.delete(k); }
    location.hash = "#/?" + p.toString();
  };
  const apply = (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const changes = { offset: null };
    for (const k of ["status", "agent", "project", "model", "text"]) changes[k] = f.get(k) || null;
    changes.errors = f.get("errors") ? "1" : null;
    go(changes);
  };
  const field = (name, label) => h("input", { name, id: name + "-filter", placeholder: label, value: params.get(name) || "", size: 12 });
  const form = h("form", { class: "filters", onsubmit: apply },
    h("select", { name: "status", id: "status-filter" },
      ["", ...STATUSES].map((s) => h("option", { value: s, selected: s === (params.get("status") || "") }, s ? s.replace(/_/g, " ") : "any status"))),
    field("agent", "agent"), field("project", "project"), field("model", "model"), field("text", "title or id"),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "errors", id: "errors-filter", checked: params.get("errors") === "1" }), " has errors"),
    h("select", { id: "sort-select", onchange: (e) => go({ sort: e.target.value, offset: null }) },
      SORTS.map(([v, l]) => h("option", { value: v, selected: v === sort }, "sort: " + l))),
    h("button", { type: "submit" }, "Apply"));
  const listBox = h("div", { id: "task-list" }, h("p", { class: "muted" }, "Loading…"));
  const pager = h("div", { class: "pager", id: "pager" });
  setMain(h("h1", {}, "Tasks"), rangePicker(params, "/"), form, listBox, pager);

  const load = async () => {
    const p = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset), sort, order });
    const b = rangeBounds(params);
    if (b.since) p.set("since", b.since);
    if (b.until) p.set("until", b.until);
    for (const k of ["status", "agent", "project", "model", "text", "errors"]) if (params.get(k)) p.set(k, params.get(k));
    const data = await api("api/tasks?" + p);
    const now = Date.now();
    if (data.total === undefined) {
      // An index without the task facts (issue 20) does not sort: sort the page here.
      const key = { cost: (t) => t.cost_usd || 0, duration: (t) => taskDuration(t, now) || 0,
        last_activity: (t) => parseTs(t.last_activity_at || t.updated_at) || 0, started: (t) => parseTs(t.started_at) || 0 }[sort];
      if (key) data.tasks.sort((a, b) => (order === "asc" ? 1 : -1) * (key(a) - key(b)));
    }
    const onSort = (s) => go({ sort: s, order: s === sort && order === "desc" ? "asc" : "desc", offset: null });
    fill(listBox,data.tasks.length === 0 ? h("p", { class: "muted" }, "No tasks match.") :
      table([
        { title: "Task", cls: "title", cell: (t) => h("a", { href: taskHref(t.task_id), class: "task-link" },
          h("span", { class: "t" }, t.title || t.task_id), t.title ? h("span", { class: "id mono" }, t.task_id) : null) },
        { title: "Status", cell: (t) => badge(t.status) },
        { title: "Project", cell: (t) => t.project || "–" },
        { title: "Agent", cell: (t) => t.agent || "–" },
        { title: "Model", cls: "models", cell: (t) => t.models || "–" },
        { title: "Started", sort: "started", cell: (t) => fmtTime(t.started_at) },
        { title: "Duration", num: true, sort: "duration", cell: (t) => fmtMs(taskDuration(t, now)) },
        { title: "Calls", num: true, cell: (t) => fmtInt(t.llm_calls) },
        { title: "Tokens", num: true, cell: (t) => fmtInt(t.tokens) },
        { title: "Cost", num: true, sort: "cost", cell: (t) => [fmtCost(t.cost_usd), t.unpriced_calls ? h("span", { class: "muted" }, " +" + t.unpriced_calls + " unpriced") : null] },
        { title: "Errors", num: true, cell: (t) => t.error_count ? h("span", { class: "bad" }, fmtInt(t.error_count)) : (t.error_count === 0 ? "0" : "–") },
      ], data.tasks, (t) => ({ "data-task": t.task_id }), { sort, order, onSort }));
    const total = data.total;
    const to = offset + data.tasks.length;
    fill(pager,
      offset > 0 ? h("button", { type: "button", id: "prev-page", onclick: () => go({ offset: String(Math.max(0, offset - PAGE_SIZE)) }) }, "‹ previous") : null,
      h("span", { class: "muted" }, data.tasks.length ? (offset + 1) + "–" + to + (total !== undefined && total !== null ? " of " + fmtInt(total) : "") : ""),
      data.next_offset !== null && data.next_offset !== undefined ? h("button", { type: "button", id: "next-page", onclick: () => go({ offset: String(data.next_offset) }) }, "next ›") : null);
  };
  await load();
  // Any new record may change a row: the page is read again (rows are
  // replaced, never appended, so no phantom rows).
  const again = coalesce(() => load().catch(() => {}), 400);
  hub.on(again);
};

/* Search terms to highlight: quoted phrases whole, other words alone. */
function searchTerms(q) {
  const out = [];
  q.replace(/"([^"]+)"|(\S+)/g, (m, phrase, word) => { out.push((phrase || word).toLowerCase()); return ""; });
  return out.filter((t) => t && !["and", "or", "not"].includes(t));
}

/* Text with every term wrapped in <mark>, as DOM nodes. */
function highlight(text, terms) {
  const frag = document.createDocumentFragment();
  const lower = text.toLowerCase();
  let i = 0;
  while (i < text.length) {
    let best = -1, len = 0;
    for (const t of terms) {
      const k = lower.indexOf(t, i);
      if (k >= 0 && (best < 0 || k < best)) { best = k; len = t.length; }
    }
    if (best < 0) break;
    if (best > i) frag.append(text.slice(i, best));
    frag.append(h("mark", {}, text.slice(best, best + len)));
    i = best + len;
  }
  if (i < text.length) frag.append(text.slice(i));
  return frag;
}

PAGES.search = async function (params) {
  const q = params.get("q") || "";
  const go = (ev) => {
    ev.preventDefault();
    const p = rangeQuery(params);
    const v = new FormData(ev.target).get("q");
    if (v) p.set("q", v);
    location.hash = "#/search?" + p.toString();
  };
  const box = h("div", { id: "search-results" });
  setMain(h("h1", {}, "Search"),
    h("form", { class: "filters", onsubmit: go },
      h("input", { name: "q", id: "search", placeholder: 'words, or "an exact phrase"', value: q, size: 40 }),
      h("button", { type: "submit" }, "Search")),
    box);
  if (!q) { box.append(h("p", { class: "muted" }, "Every word must occur; put a phrase in double quotes.")); return; }
  const res = await api("api/search?" + new URLSearchParams({ q, limit: "200" }));
  if (res.results.length === 0) { box.append(h("p", { class: "muted" }, "Nothing matches " + q + ".")); return; }
  const terms = searchTerms(q);
  const groups = new Map();
  for (const r of res.results) {
    if (!groups.has(r.task_id)) groups.set(r.task_id, []);
    groups.get(r.task_id).push(r);
  }
  box.append(h("p", { class: "muted" }, res.results.length + " hit(s) in " + groups.size + " task(s)"));
  for (const [task, hits] of groups) {
    box.append(h("section", { class: "card hits", "data-task": task },
      h("h2", {}, h("a", { href: taskHref(task) }, hits[0].title || task),
        hits[0].title ? h("span", { class: "id mono muted" }, " " + task) : null, h("span", { class: "muted" }, " · " + hits.length + " hit(s)")),
      h("ul", {}, hits.map((r) => h("li", {},
        h("a", { class: "hit", href: taskHref(task, "at=" + r.record_id) },
          fmtTime(r.ts), " ", h("span", { class: "badge" }, r.event || "record"), " ",
          h("span", { class: "snippet" }, highlight(r.text || "", terms))))))));
  }
};

PAGES.status = async function () {
  const render = async () => {
  const s = await api("api/status");
  setMain(h("h1", {}, "Indexer status"),
    h("div", { class: "card" }, h("dl", { class: "kv" },
      h("dt", {}, "Indexer"), h("dd", { id: "indexer" }, s.indexer + (s.indexer_running ? " (running)" : " (not running)")),
      h("dt", {}, "Lag"), h("dd", { id: "lag" }, fmtInt(s.lag_bytes) + " bytes in " + s.lagging_tasks.length + " task(s)"),
      h("dt", {}, "Last commit"), h("dd", {}, fmtTime(s.last_commit_at),
        s.seconds_since_last_commit !== null ? " (" + fmtMs(s.seconds_since_last_commit * 1000) + " ago)" : ""),
      h("dt", {}, "Watch mode"), h("dd", {}, (s.watch_mode || "–") + " · " + (s.watches ?? "–") + " watched · " + (s.polled_tasks ?? "–") + " polled"),
      h("dt", {}, "Tasks / records / documents"), h("dd", {}, fmtInt(s.tasks) + " / " + fmtInt(s.records) + " / " + fmtInt(s.documents)),
      h("dt", {}, "Quarantined"), h("dd", { id: "quarantined-count" }, fmtInt(s.quarantined)),
      h("dt", {}, "Schema"), h("dd", {}, "v" + s.schema_version))),
    s.lagging_tasks.length ? [h("h2", {}, "Lagging tasks"), table([
      { title: "Task", cell: (t) => h("a", { href: taskHref(t.task_id) }, t.task_id) },
      { title: "Bytes behind", num: true, cell: (t) => fmtInt(t.lag_bytes) },
    ], s.lagging_tasks)] : null,
    h("h2", {}, "Quarantined lines"),
    s.quarantined_lines.length === 0 ? h("p", { class: "muted" }, "None.") : table([
      { title: "File", cell: (q) => h("span", { class: "mono" }, q.path + ":" + (q.line ?? "?")) },
      { title: "Byte", num: true, cell: (q) => q.offset },
      { title: "Reason", cell: (q) => q.reason },
      { title: "Start of line", cell: (q) => h("span", { class: "mono" }, q.prefix || "") },
      { title: "Seen", cell: (q) => fmtTime(q.detected_at) },
    ], s.quarantined_lines, () => ({ class: "err" })));
  };
  await render();
  hub.on(coalesce(() => render().catch(fail), 1000));
};

/* Alerts (docs/ALERTS.md): what fired and resolved, what waits for its
   destination, and each destination's circuit breaker. Re-read when records
   commit (the alerter evaluates as they do) and every 5 s. */
PAGES.alerts = async function () {
  const render = async () => {
    const a = await api("api/alerts");
    const dests = (a.destinations && a.destinations.destinations) || [];
    setMain(h("h1", {}, "Alerts"),
      h("h2", {}, "Destinations"),
      dests.length === 0 ? h("p", { class: "muted" }, "No [[alert]] rules, or none sent yet (docs/ALERTS.md).") : table([
        { title: "Destination", cell: (d) => h("span", { class: "mono" }, d.destination) },
        { title: "Rules", cell: (d) => (d.rules || []).join(", ") },
        { title: "Breaker", cell: (d) => badge(d.state) },
        { title: "Delivered", num: true, cell: (d) => fmtInt(d.delivered) },
        { title: "Pending", num: true, cell: (d) => fmtInt(d.pending) },
        { title: "Last error", cell: (d) => d.last_error || "" },
      ], dests, (d) => (d.state === "closed" ? {} : { class: "err" })),
      h("h2", {}, "Fired"),
      a.alerts.length === 0 ? h("p", { class: "muted", id: "no-alerts" }, "No alert has fired.") : table([
        { title: "When", cell: (x) => fmtTime(x.ts) },
        { title: "Rule", cell: (x) => x.rule },
        { title: "State", cell: (x) => badge(x.state) },
        { title: "Subject", cell: (x) => x.subject_kind === "task" ? h("a", { href: taskHref(x.subject) }, x.subject) : x.subject },
        { title: "Value", num: true, cell: (x) => String(x.value) },
        { title: "Threshold", num: true, cell: (x) => String(x.threshold) },
        { title: "Message", cell: (x) => x.text },
        { title: "Delivery", cell: (x) => x.delivered_at ? h("span", {}, "sent ", fmtTime(x.delivered_at)) : h("span", { class: "err" }, "pending" + (x.last_error ? ": " + x.last_error : "")) },
      ], a.alerts, () => ({ class: "alert-row" })));
  };
  await render();
  hub.on(coalesce(() => render().catch(fail), 1000));
  const again = () => { pageTimers.push(setTimeout(() => render().then(again, fail), 5000)); };
  again();
};
