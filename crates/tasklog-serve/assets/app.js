/* tasklog dashboard: a small single-page script over the REST API.
   Pages are chosen by the address's fragment: #/ (tasks), #/task/<id>,
   #/search, #/cost, #/alerts, #/status; the date range (range=, since=, until=)
   travels in the fragment too, so every page and every link keeps it.
   Live updates come from ONE event stream per browser, shared by all tabs
   (hub below); the token, when one is set, travels in an HttpOnly cookie.
   Record text is never parsed as HTML: everything is built with DOM calls. */
"use strict";

const main = document.getElementById("main");
let pageSubs = [];       // the current page's hub subscriptions
let pageTimers = [];     // and its timers, all dropped on navigation

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

const TZ = (() => { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "local"; } catch (e) { return "local"; } })();
const LOCAL = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
/* A time in the viewer's zone; the UTC instant on hover. */
function fmtTime(ts) {
  if (!ts) return h("span", { class: "muted" }, "–");
  const d = new Date(ts);
  if (isNaN(d)) return h("span", {}, ts);
  return h("time", { datetime: ts, title: ts.replace("T", " ").replace(/(\.\d{3})\d*Z$/, "$1") + " UTC" }, LOCAL.format(d));
}
const fmtCost = (v) => (v === null || v === undefined) ? "–" : "$" + Number(v).toFixed(4);
const fmtInt = (v) => (v === null || v === undefined) ? "–" : Number(v).toLocaleString("en-US");
function fmtMs(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return "–";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  const s = Math.round(ms / 1000), m = Math.floor(s / 60);
  return m < 60 ? m + " m " + (s % 60) + " s" : Math.floor(m / 60) + " h " + (m % 60) + " m";
}
const parseTs = (ts) => ts ? Date.parse(ts) : NaN;
const badge = (s) => s ? h("span", { class: "badge " + String(s).replace(/[^\w-]/g, "") }, String(s).replace(/_/g, " ")) : h("span", { class: "muted" }, "–");
const show = (v) => (v === null || v === undefined) ? "" : (typeof v === "string" ? v : JSON.stringify(v, null, 2));
const taskHref = (id, extra) => "#/task/" + encodeURIComponent(id) + (extra ? "?" + extra : "");

/* A table; on phones (CSS) each row becomes a card, cells labelled by data-label. */
function table(columns, rows, rowAttrs, opts) {
  opts = opts || {};
  return h("table", { class: "rows" },
    h("thead", {}, h("tr", {}, columns.map((c) => {
      const sortable = opts.onSort && c.sort;
      const active = sortable && opts.sort === c.sort;
      return h("th", { class: (c.num ? "num " : "") + (sortable ? "sortable " : "") + (active ? "sorted " + opts.order : ""),
        "data-sort": sortable ? c.sort : null, onclick: sortable ? () => opts.onSort(c.sort) : null },
        c.title, active ? (opts.order === "asc" ? " ▲" : " ▼") : "");
    }))),
    h("tbody", {}, rows.map((r) => h("tr", rowAttrs ? rowAttrs(r) : {},
      columns.map((c) => h("td", { class: (c.num ? "num " : "") + (c.cls || ""), "data-label": c.title }, c.cell(r)))))));
}

/* Replaces el's children; null parts are left out, arrays flattened. */
function fill(el, ...parts) {
  el.replaceChildren(...parts.flat().filter((p) => p !== null && p !== undefined && p !== false));
}

function setMain(...parts) {
  fill(main, ...parts);
}

function fail(e) {
  main.replaceChildren(h("p", { class: "error-banner" }, "Error: " + e.message));
}

/* Runs fn `ms` after the first of a burst of calls, once for the burst:
   under a steady stream of records it still runs every `ms` (a debounce
   would wait for a quiet moment that never comes). Dropped on navigation. */
function coalesce(fn, ms) {
  let t = null;
  return () => {
    if (t !== null) return;
    t = setTimeout(() => { t = null; fn(); }, ms);
    pageTimers.push(t);
  };
}

/* ---------- one event stream per browser ---------- */

/* The tab holding the Web Lock "tasklog-events" is the leader: it alone
   opens /api/events and forwards each record to the other tabs over a
   BroadcastChannel. When it closes, the lock passes to another tab, which
   resumes after the last record id seen, so nothing is lost or repeated.
   So ten tabs hold one connection, within HTTP/1.1's six per host. The
   stream is closed when the page is left (pagehide), never kept by the
   back/forward cache. */
const hub = (() => {
  const subs = new Set();
  let es = null, bc = null, lastId = null, release = null, started = false, on = false;
  const seen = new Set();
  const setLive = (v) => {
    on = v;
    const el = document.getElementById("live");
    if (el) el.classList.toggle("on", v);
  };
  function deliver(rec) {
    if (seen.has(rec.record_id)) return;
    seen.add(rec.record_id);
    if (seen.size > 20000) seen.clear();
    if (lastId === null || rec.record_id > lastId) lastId = rec.record_id;
    for (const fn of [...subs]) { try { fn(rec); } catch (e) { console.error(e); } }
  }
  function open() {
    const q = lastId !== null ? "?after=" + lastId : "";
    es = new EventSource("api/events" + q);
    es.onopen = () => { setLive(true); if (bc) bc.postMessage({ live: true }); };
    es.onerror = () => { setLive(false); if (bc) bc.postMessage({ live: false }); };
    es.addEventListener("record", (e) => {
      let rec;
      try { rec = JSON.parse(e.data); } catch (err) { return; }
      if (bc) bc.postMessage({ rec });
      deliver(rec);
    });
  }
  function start() {
    if (started) return;
    started = true;
    const shared = "BroadcastChannel" in window && navigator.locks && navigator.locks.request;
    if (!shared) { open(); return; }
    bc = new BroadcastChannel("tasklog-events");
    bc.onmessage = (m) => {
      if (m.data.rec) deliver(m.data.rec);
      if (m.data.live !== undefined && !es) setLive(m.data.live);
      if (m.data.hello && es && on) bc.postMessage({ live: true });
    };
    bc.postMessage({ hello: true });
    navigator.locks.request("tasklog-events", () => new Promise((resolve) => {
      release = resolve;
      if (!started) { resolve(); return; }
      open();
    })).catch(() => {});
  }
  function stop() {
    started = false;
    if (es) { es.close(); es = null; }
    if (release) { release(); release = null; }
    if (bc) { bc.close(); bc = null; }
    setLive(false);
  }
  window.addEventListener("pagehide", stop);
  window.addEventListener("pageshow", (e) => { if (e.persisted) start(); });
  return {
    start,
    on(fn) { subs.add(fn); pageSubs.push(() => subs.delete(fn)); },
    isLeader: () => es !== null,
  };
})();
window.tasklogHub = hub; // for the browser tests: which tab holds the stream

/* ---------- the date range every page shares ---------- */

const RANGES = [["today", "Today"], ["7d", "7 days"], ["30d", "30 days"], ["all", "All time"], ["custom", "Custom"]];

/* The range of a page's parameters as API bounds: { since, until }. */
function rangeBounds(params) {
  const r = params.get("range") || "all";
  if (r === "today") return { since: "today" };
  if (r === "7d" || r === "30d") return { since: r };
  if (r === "custom") {
    const out = {};
    if (params.get("since")) out.since = params.get("since");
    if (params.get("until")) {
      // The last day is included: the bound is the next day's midnight (UTC).
      const d = new Date(params.get("until") + "T00:00:00Z");
      out.until = isNaN(d) ? params.get("until") : new Date(d.getTime() + 86400000).toISOString().slice(0, 10);
    }
    return out;
  }
  return {};
}

/* Only the range parameters, to carry from page to page. */
function rangeQuery(params) {
  const p = new URLSearchParams();
  for (const k of ["range", "since", "until"]) if (params.get(k)) p.set(k, params.get(k));
  return p;
}

function rangePicker(params, path) {
  const current = params.get("range") || "all";
  const go = (changes) => {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) { if (v) p.set(k, v); else p.delete(k); }
    p.delete("offset");
    location.hash = "#" + path + "?" + p.toString();
  };
  const since = h("input", { type: "date", name: "since", value: params.get("since") || "", "aria-label": "from" });
  const until = h("input", { type: "date", name: "until", value: params.get("until") || "", "aria-label": "to" });
  return h("div", { class: "range", id: "range" },
    RANGES.map(([v, label]) => h("button", { type: "button", class: "chip" + (v === current ? " on" : ""), "data-range": v,
      onclick: () => go(v === "custom" ? { range: "custom" } : { range: v === "all" ? null : v, since: null, until: null }) }, label)),
    current === "custom" ? h("span", { class: "custom" }, since, " – ", until,
      h("button", { type: "button", onclick: () => go({ range: "custom", since: since.value, until: until.value }) }, "Apply")) : null);
}

/* ---------- routing ---------- */

const PAGES = {};

async function route() {
  for (const unsub of pageSubs) unsub();
  pageSubs = [];
  for (const t of pageTimers) clearTimeout(t);
  pageTimers = [];
  const hash = location.hash.replace(/^#/, "") || "/";
  const q = hash.indexOf("?");
  const path = q < 0 ? hash : hash.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : hash.slice(q + 1));
  const page = path.startsWith("/task/") ? "tasks" : (path.slice(1) || "tasks");
  const keep = rangeQuery(params).toString();
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("active", a.dataset.page === page);
    a.href = "#/" + (a.dataset.page === "tasks" ? "" : a.dataset.page) + (keep ? "?" + keep : "");
  }
  document.body.dataset.ready = "";
  hub.start();
  try {
    if (path.startsWith("/task/")) await PAGES.task(decodeURIComponent(path.slice(6)), params);
    else if (path === "/cost") await PAGES.cost(params);
    else if (path === "/status") await PAGES.status(params);
    else if (path === "/alerts") await PAGES.alerts(params);
    else if (path === "/search") await PAGES.search(params);
    else await PAGES.tasks(params);
  } catch (e) { fail(e); }
  document.body.dataset.ready = hash;
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  const tz = document.getElementById("tz");
  if (tz) { tz.textContent = "times: " + TZ; tz.title = "Times are shown in your time zone; hover one for UTC."; }
  route();
});
