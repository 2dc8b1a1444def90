/* tasklog dashboard: a small single-page script over the REST API.
   Pages are chosen by the address's fragment: #/ (tasks), #/task/<id>,
   #/cost, #/status. Live updates come from /api/events (Server-Sent
   Events); the token, when one is set, travels in an HttpOnly cookie. */
"use strict";

const main = document.getElementById("main");
let stream = null;      // the page's EventSource, closed on navigation
let reloadTimer = null; // debounces reloads caused by events

/* ---------- helpers ---------- */

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, options) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, options));
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = text; }
  if (!r.ok) throw new Error((body && body.error) || ("HTTP " + r.status));
  return body;
}

const fmtTime = (ts) => ts ? ts.replace("T", " ").replace(/\.\d+Z$/, "").replace(/Z$/, "") : "–";
const fmtCost = (v) => (v === null || v === undefined) ? "–" : "$" + Number(v).toFixed(4);
const fmtInt = (v) => (v === null || v === undefined) ? "–" : Number(v).toLocaleString("en-US");
function fmtMs(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return "–";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  const m = Math.floor(ms / 60000), s = Math.round((ms % 60000) / 1000);
  return m < 60 ? m + " m " + s + " s" : Math.floor(m / 60) + " h " + (m % 60) + " m";
}
const parseTs = (ts) => ts ? Date.parse(ts) : NaN;
const badge = (s) => s ? h("span", { class: "badge " + s }, s) : h("span", { class: "muted" }, "–");
const show = (v) => (v === null || v === undefined) ? "" : (typeof v === "string" ? v : JSON.stringify(v, null, 2));

function table(columns, rows, rowAttrs) {
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.title)))),
    h("tbody", {}, rows.map((r) => h("tr", rowAttrs ? rowAttrs(r) : {},
      columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(r)))))));
}

function listen(query, onRecord) {
  if (stream) stream.close();
  const live = document.getElementById("live");
  stream = new EventSource("/api/events" + query);
  stream.onopen = () => live.classList.add("on");
  stream.onerror = () => live.classList.remove("on");
  stream.addEventListener("record", (e) => onRecord(JSON.parse(e.data)));
}

function later(fn, ms) {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(fn, ms);
}

/* Replaces the page; null parts are left out, arrays flattened. */
function setMain(...parts) {
  main.replaceChildren(...parts.flat().filter((p) => p !== null && p !== undefined && p !== false));
}

function fail(e) {
  main.replaceChildren(h("p", { class: "error-banner" }, "Error: " + e.message));
}

/* ---------- tasks ---------- */

async function pageTasks(params) {
  const status = params.get("status") || "", text = params.get("text") || "", q = params.get("q") || "";
  const apply = (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const p = new URLSearchParams();
    for (const k of ["status", "text", "q"]) if (f.get(k)) p.set(k, f.get(k));
    location.hash = "#/?" + p.toString();
  };
  const form = h("form", { class: "filters", onsubmit: apply },
    h("select", { name: "status", id: "status-filter" },
      ["", "detected", "active", "running", "completed", "failed"].map((s) =>
        h("option", { value: s, selected: s === status }, s || "any status"))),
    h("input", { name: "text", id: "text-filter", placeholder: "task id or title", value: text }),
    h("input", { name: "q", id: "search", placeholder: "search records (full text)", value: q, size: 30 }),
    h("button", { type: "submit" }, "Apply"));
  const listBox = h("div", { id: "task-list" }, h("p", { class: "muted" }, "Loading…"));
  const searchBox = h("div", { id: "search-results" });
  setMain(h("h1", {}, "Tasks"), form, searchBox, listBox);

  const load = async () => {
    const p = new URLSearchParams({ limit: "200" });
    if (status) p.set("status", status);
    if (text) p.set("text", text);
    const data = await api("/api/tasks?" + p);
    const now = Date.now();
    listBox.replaceChildren(data.tasks.length === 0 ? h("p", { class: "muted" }, "No tasks match.") :
      table([
        { title: "Task", cell: (t) => h("a", { href: "#/task/" + encodeURIComponent(t.task_id), class: "task-link" }, t.task_id) },
        { title: "Status", cell: (t) => badge(t.status) },
        { title: "Title", cell: (t) => t.title || "" },
        { title: "Started", cell: (t) => fmtTime(t.started_at) },
        { title: "Duration", num: true, cell: (t) => {
            // The index's duration (source times only); a running task's
            // elapsed time since its known start; else unknown.
            if (t.duration_ms != null) return fmtMs(t.duration_ms);
            return t.status === "running" && t.started_at ? fmtMs(now - parseTs(t.started_at)) : "";
          } },
        { title: "Calls", num: true, cell: (t) => fmtInt(t.llm_calls) },
        { title: "Tokens", num: true, cell: (t) => fmtInt(t.tokens) },
        { title: "Cost", num: true, cell: (t) => fmtCost(t.cost_usd) + (t.unpriced_calls ? " +" + t.unpriced_calls + " unpriced" : "") },
      ], data.tasks, (t) => ({ "data-task": t.task_id })));
  };
  if (q) {
    try {
      const res = await api("/api/search?" + new URLSearchParams({ q }));
      searchBox.replaceChildren(h("h2", {}, "Search: " + q),
        res.results.length === 0 ? h("p", { class: "muted" }, "Nothing matches.") :
          table([
            { title: "Time", cell: (r) => fmtTime(r.ts) },
            { title: "Task", cell: (r) => h("a", { href: "#/task/" + encodeURIComponent(r.task_id) }, r.task_id) },
            { title: "Event", cell: (r) => r.event || "" },
            { title: "Text", cell: (r) => r.text || "" },
          ], res.results), h("h2", {}, "All tasks"));
    } catch (e) { searchBox.replaceChildren(h("p", { class: "error-banner" }, e.message)); }
  }
  await load();
  listen("", () => later(() => load().catch(fail), 300));
}

/* ---------- one task ---------- */

function waterfall(calls) {
  if (calls.length === 0) return h("p", { class: "muted" }, "No tool calls.");
  const now = Date.now();
  const spans = calls.map((c) => {
    const start = parseTs(c.started_at);
    const end = c.completed_at ? parseTs(c.completed_at)
      : (c.duration_ms !== null ? start + c.duration_ms : now);
    const dur = c.duration_ms !== null && c.duration_ms !== undefined ? c.duration_ms : end - start;
    return { c, start, end: Math.max(end, start + (dur || 0)), dur };
  });
  const t0 = Math.min(...spans.map((s) => s.start));
  const t1 = Math.max(...spans.map((s) => s.end), t0 + 1);
  return h("div", { class: "waterfall" }, spans.map(({ c, start, end, dur }) => {
    const left = ((start - t0) / (t1 - t0)) * 100, width = ((end - start) / (t1 - t0)) * 100;
    return h("div", { class: "wf-row " + c.status, "data-status": c.status, title: c.error || "" },
      h("div", { class: "wf-name mono" }, (c.status === "failure" ? "✗ " : "") + (c.tool_name || "?")),
      h("div", { class: "wf-track" }, h("div", { class: "wf-bar " + c.status, style: `left:${left}%;width:${width}%` })),
      h("div", { class: "wf-dur " + c.status }, c.status === "failure" ? "failed " + fmtMs(dur) : fmtMs(dur)));
  }));
}

function timelineRow(r, fresh) {
  return h("tr", { class: (r.error ? "err " : "") + (fresh ? "fresh" : ""), id: r.record_id ? "rec-" + r.record_id : null, "data-event": r.event },
    h("td", {}, r.error ? "!!" : ""),
    h("td", { class: "mono" }, fmtTime(r.ts)),
    h("td", { class: "mono" }, r.source),
    h("td", {}, r.event || ""),
    h("td", {}, r.name || ""),
    h("td", {}, r.status ? badge(r.status) : ""),
    h("td", { class: "num" }, r.duration_ms !== null && r.duration_ms !== undefined ? fmtMs(r.duration_ms) : ""),
    h("td", {}, r.error ? h("span", { class: "error-banner" }, r.error) : (r.detail || ""),
      r.body ? h("details", {}, h("summary", { class: "muted" }, "body"), h("pre", {}, show(r.body))) : null));
}

async function pageTask(id) {
  const d = await api("/api/tasks/" + encodeURIComponent(id));
  const s = d.summary || {};
  const errors = d.timeline.filter((r) => r.error);
  const summary = h("div", { class: "card" }, h("dl", { class: "kv" },
    h("dt", {}, "Status"), h("dd", {}, badge(s.status)),
    h("dt", {}, "Title"), h("dd", {}, s.title || "–"),
    h("dt", {}, "Started"), h("dd", {}, fmtTime(s.started_at)),
    h("dt", {}, "Finished"), h("dd", {}, fmtTime(s.finished_at)),
    h("dt", {}, "Model calls"), h("dd", {}, fmtInt(s.llm_calls) + " · " + fmtInt(s.tokens) + " tokens · " + fmtCost(s.cost_usd)),
    h("dt", {}, "Streams"), h("dd", {}, d.streams.map((st) => st.name + " (" + st.records + ")").join(", ") || "–"),
    h("dt", {}, "Raw"), h("dd", {}, h("a", { href: "/api/tasks/" + encodeURIComponent(id) + "/logs/full" }, "logs/full"))));
  const errBox = h("div", { class: "card errors", id: "errors" },
    h("strong", {}, errors.length + " error(s)"),
    errors.length ? h("ul", {}, errors.map((r) =>
      h("li", {}, h("a", { href: r.record_id ? "#/task/" + encodeURIComponent(id) + "?at=" + r.record_id : null, onclick: (ev) => {
        const row = r.record_id && document.getElementById("rec-" + r.record_id);
        if (row) { ev.preventDefault(); row.scrollIntoView({ block: "center" }); }
      } }, fmtTime(r.ts) + " " + (r.event || "") + " " + (r.name || r.source || "") + ": " + r.error)))) : null);
  const decisions = d.decisions.length === 0 ? h("p", { class: "muted" }, "No decisions.") :
    h("div", {}, d.decisions.map((x) => h("details", { class: "card decision" },
      h("summary", {}, h("strong", {}, x.decision_point || "decision"), " → ", show(x.decision_output) || "–",
        h("span", { class: "muted" }, "  " + fmtTime(x.timestamp) + (x.duration_ms ? " · " + fmtMs(x.duration_ms) : ""))),
      h("div", {}, h("div", { class: "muted" }, "Reasoning"), h("pre", {}, show(x.decision_reason) || "–"),
        x.decision_input ? [h("div", { class: "muted" }, "Input"), h("pre", {}, show(x.decision_input))] : null))));
  const conversation = d.conversation.length === 0 ? h("p", { class: "muted" }, "No conversation.") :
    h("div", {}, d.conversation.map((m) => {
      const role = m.content_type === "tool_use" || m.content_type === "tool_result" ? "tool" : (m.role || "");
      return h("div", { class: "msg " + role },
        h("div", { class: "role" }, (m.role || "?") + (m.content_type && m.content_type !== "text" ? " · " + m.content_type : "") +
          (m.tool_name ? " · " + m.tool_name : "") + (m.tool_success === 0 ? " · failed" : "")),
        m.tool_input ? h("pre", {}, show(m.tool_input)) : null,
        m.tool_output ? h("pre", {}, show(m.tool_output)) : null,
        !m.tool_input && !m.tool_output ? h("div", {}, show(m.content)) : null);
    }));
  const docs = d.documents.length === 0 ? h("p", { class: "muted" }, "No documents.") :
    h("div", {}, d.documents.map((doc) => h("details", { class: "card", open: doc.name !== "task" },
      h("summary", {}, h("strong", {}, doc.name + ".json"), h("span", { class: "muted" }, "  v" + doc.version + " · " + fmtTime(doc.updated_at))),
      h("pre", {}, show(doc.body)))));
  const tbody = h("tbody", {}, d.timeline.map((r) => timelineRow(r, false)));
  const timeline = h("table", { id: "timeline" },
    h("thead", {}, h("tr", {}, ["!", "Time", "Source", "Event", "Name", "Status", "Duration", "Detail"].map((c) => h("th", {}, c)))),
    tbody);
  const quarantined = d.quarantined.length === 0 ? null : [h("h2", {}, "Quarantined lines"),
    table([
      { title: "File", cell: (q) => q.path + ":" + (q.line ?? "?") },
      { title: "Byte", num: true, cell: (q) => q.offset },
      { title: "Reason", cell: (q) => q.reason },
    ], d.quarantined, () => ({ class: "err" }))];
  const waterfallBox = h("div", { class: "card", id: "waterfall" }, waterfall(d.tool_calls));
  setMain(h("h1", {}, "Task ", h("span", { class: "mono" }, id)), summary, errBox,
    h("h2", {}, "Tool calls"), waterfallBox,
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, "Decisions"), decisions),
      h("div", {}, h("h2", {}, "Conversation"), conversation)),
    h("h2", {}, "Documents"), docs, quarantined,
    h("h2", {}, "Timeline"), timeline);
  const seen = new Set(d.timeline.map((r) => r.record_id).filter(Boolean));
  listen("?task=" + encodeURIComponent(id), (e) => {
    if (seen.has(e.record_id)) return;
    seen.add(e.record_id);
    const rec = e.record || {};
    tbody.append(timelineRow({
      record_id: e.record_id, ts: e.ts, source: e.stream + ":" + e.line, event: e.event, name: e.name,
      status: e.status, duration_ms: rec.duration_ms ?? null, error: rec.error ? show(rec.error) : null,
      detail: e.event === "message" ? (rec.role || "") : "", body: rec,
    }, true));
    // The tool spans, decisions and conversation are derived in the index:
    // reload them shortly, keeping the appended timeline rows.
    later(async () => {
      try {
        const fresh = await api("/api/tasks/" + encodeURIComponent(id));
        waterfallBox.replaceChildren(waterfall(fresh.tool_calls));
      } catch (err) { /* the next event retries */ }
    }, 400);
  });
}

/* ---------- cost ---------- */

async function pageCost() {
  const [byDayModel, byModel, byTask] = await Promise.all([
    api("/api/cost?by=day,model"), api("/api/cost?by=model"), api("/api/cost?by=task")]);
  const total = byModel.total || {};
  const chartBox = h("div", { class: "card", id: "cost-chart" });
  setMain(h("h1", {}, "Cost"),
    h("div", { class: "card" }, h("div", { class: "muted" }, "Total (priced calls)"),
      h("div", { class: "big", id: "cost-total" }, fmtCost(total.cost_usd)),
      h("div", { class: "muted" }, fmtInt(total.calls) + " calls · " + fmtInt((total.tokens_input || 0) + (total.tokens_output || 0)) + " tokens · " +
        fmtInt(total.unpriced_calls) + " unpriced")),
    h("h2", {}, "Cost per day by model"), chartBox,
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, "By model"), table([
        { title: "Model", cell: (r) => r.model },
        { title: "Calls", num: true, cell: (r) => fmtInt(r.calls) },
        { title: "Tokens in", num: true, cell: (r) => fmtInt(r.tokens_input) },
        { title: "Tokens out", num: true, cell: (r) => fmtInt(r.tokens_output) },
        { title: "Cost", num: true, cell: (r) => r.unpriced_calls === r.calls ? "unpriced" : fmtCost(r.cost_usd) },
        { title: "Unpriced", num: true, cell: (r) => fmtInt(r.unpriced_calls) },
      ], byModel.rows)),
      h("div", {}, h("h2", {}, "Most expensive tasks"), table([
        { title: "Task", cell: (r) => h("a", { href: "#/task/" + encodeURIComponent(r.task_id) }, r.task_id) },
        { title: "Calls", num: true, cell: (r) => fmtInt(r.calls) },
        { title: "Cost", num: true, cell: (r) => fmtCost(r.cost_usd) },
      ], byTask.rows.slice(0, 20)))),
    h("h2", {}, "Unpriced calls"),
    byModel.unpriced_calls.length === 0 ? h("p", { class: "muted" }, "Every call has a price.") : table([
      { title: "Time", cell: (r) => fmtTime(r.timestamp) },
      { title: "Task", cell: (r) => h("a", { href: "#/task/" + encodeURIComponent(r.task_id) }, r.task_id) },
      { title: "Model", cell: (r) => r.model || "(none)" },
      { title: "Tokens in", num: true, cell: (r) => fmtInt(r.tokens_input) },
      { title: "Tokens out", num: true, cell: (r) => fmtInt(r.tokens_output) },
    ], byModel.unpriced_calls, () => ({ class: "unpriced" })));
  drawCostChart(chartBox, byDayModel.rows);
}

function drawCostChart(box, rows) {
  if (rows.length === 0) { box.append(h("p", { class: "muted" }, "No model calls yet.")); return; }
  const seen = [...new Set(rows.map((r) => r.day))].sort();
  // An empty day either side, so that one day of data is not stretched over years.
  const shift = (d, n) => new Date(Date.parse(d + "T00:00:00Z") + n * 86400000).toISOString().slice(0, 10);
  const days = [shift(seen[0], -1), ...seen, shift(seen[seen.length - 1], 1)];
  const models = [...new Set(rows.map((r) => r.model))].sort();
  const xs = days.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
  const series = models.map((m) => days.map((d) => {
    const r = rows.find((x) => x.day === d && x.model === m);
    // A day whose calls all lack a price has no cost to draw (not $0).
    return r && !(r.cost_usd === 0 && r.unpriced_calls === r.calls) ? r.cost_usd : null;
  }));
  const palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
  const opts = {
    width: Math.max(320, box.clientWidth - 30), height: 260,
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max * 1.15, 0.01)] } },
    axes: [{}, { values: (u, vals) => vals.map((v) => "$" + v.toFixed(2)) }],
    series: [{}].concat(models.map((m, i) => ({
      label: m, stroke: palette[i % palette.length], width: 2,
      points: { show: true, size: 6 }, value: (u, v) => v === null ? "–" : "$" + v.toFixed(4),
    }))),
  };
  new uPlot(opts, [xs, ...series], box);
}

/* ---------- status ---------- */

async function pageStatus() {
  const s = await api("/api/status");
  setMain(h("h1", {}, "Indexer status"),
    h("div", { class: "card" }, h("dl", { class: "kv" },
      h("dt", {}, "Indexer"), h("dd", { id: "indexer" }, s.indexer + (s.indexer_running ? " (running)" : " (not running)")),
      h("dt", {}, "Lag"), h("dd", { id: "lag" }, fmtInt(s.lag_bytes) + " bytes in " + s.lagging_tasks.length + " task(s)"),
      h("dt", {}, "Last commit"), h("dd", {}, fmtTime(s.last_commit_at) +
        (s.seconds_since_last_commit !== null ? " (" + fmtMs(s.seconds_since_last_commit * 1000) + " ago)" : "")),
      h("dt", {}, "Watch mode"), h("dd", {}, (s.watch_mode || "–") + " · " + (s.watches ?? "–") + " watched · " + (s.polled_tasks ?? "–") + " polled"),
      h("dt", {}, "Tasks / records / documents"), h("dd", {}, fmtInt(s.tasks) + " / " + fmtInt(s.records) + " / " + fmtInt(s.documents)),
      h("dt", {}, "Quarantined"), h("dd", { id: "quarantined-count" }, fmtInt(s.quarantined)),
      h("dt", {}, "Schema"), h("dd", {}, "v" + s.schema_version))),
    s.lagging_tasks.length ? [h("h2", {}, "Lagging tasks"), table([
      { title: "Task", cell: (t) => h("a", { href: "#/task/" + encodeURIComponent(t.task_id) }, t.task_id) },
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
  listen("", () => later(() => pageStatus().catch(fail), 1000));
}

/* ---------- routing ---------- */

async function route() {
  if (stream) { stream.close(); stream = null; }
  document.getElementById("live").classList.remove("on");
  clearTimeout(reloadTimer);
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const page = path.startsWith("/task/") ? "tasks" : (path.slice(1) || "tasks");
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.page === page);
  try {
    if (path.startsWith("/task/")) await pageTask(decodeURIComponent(path.slice(6)));
    else if (path === "/cost") await pageCost();
    else if (path === "/status") await pageStatus();
    else await pageTasks(params);
    document.body.dataset.ready = hash;
  } catch (e) { fail(e); document.body.dataset.ready = hash; }
}

window.addEventListener("hashchange", route);
route();
