/* One task: the summary card, the errors box, the tool waterfall (each call
   labelled by what it did) and the transcript, read a page at a time from
   /api/tasks/<id>/transcript and rendered in chunks: chunks far from the
   viewport are emptied (their height kept), so the DOM stays small however
   long the task is. New records arrive from the shared event stream. */
"use strict";

const CHUNK = 40;        // items per chunk of the transcript
const PAGE_ITEMS = 150;  // items per API page
const FOLD_LINES = 14, FOLD_CHARS = 2000;

/* Long text folded to its first lines, with a button that unfolds it. */
function foldPre(text, cls) {
  text = String(text ?? "");
  const lines = text.split("\n");
  const pre = h("pre", { class: cls || null });
  if (lines.length <= FOLD_LINES && text.length <= FOLD_CHARS) { pre.textContent = text; return pre; }
  const head = lines.slice(0, FOLD_LINES).join("\n").slice(0, FOLD_CHARS);
  pre.textContent = head;
  const more = h("button", { type: "button", class: "unfold", onclick: () => { pre.textContent = text; more.remove(); } },
    "show all " + fmtInt(lines.length) + " lines (" + fmtInt(text.length) + " characters)");
  return h("div", { class: "folded" }, pre, more);
}

function partNode(p) {
  switch (p.kind) {
    case "text": return markdown(p.text);
    case "thinking": return h("details", { class: "thinking" }, h("summary", {}, "thinking ", h("span", { class: "muted" }, (p.text || "").slice(0, 90))), markdown(p.text));
    case "tool_use": return h("div", { class: "tool-use" }, h("span", { class: "muted" }, "tool use "), h("strong", {}, p.name || "?"), foldPre(show(p.value)));
    case "tool_result": return h("div", { class: "tool-result" + (p.is_error ? " failed" : "") }, h("span", { class: "muted" }, p.is_error ? "tool error" : "tool result"), foldPre(p.text ?? show(p.value), p.is_error ? "err" : null));
    case "image": return h("div", { class: "muted" }, "(image)");
    default: return p.text ? markdown(p.text) : foldPre(show(p.value));
  }
}

function itemHead(it, ...parts) {
  return h("div", { class: "head" }, ...parts, h("span", { class: "when" }, fmtTime(it.ts)));
}

/* One transcript item as DOM. */
function renderItem(it, source) {
  const attrs = { class: "item " + it.kind + (it.error ? " has-error" : ""), "data-key": it.key, id: it.record_id ? "rec-" + it.record_id : null };
  let el;
  switch (it.kind) {
    case "message":
      el = h("div", Object.assign(attrs, { class: attrs.class + " " + (it.role || "") }),
        itemHead(it, h("span", { class: "role" }, it.role || "message")), (it.parts || []).map(partNode));
      break;
    case "thinking":
      el = h("div", attrs, (it.parts || []).map(partNode));
      break;
    case "tool": {
      const st = it.status || "running";
      const icon = st === "ok" ? "✓" : st === "error" ? "✗" : "…";
      el = h("div", Object.assign(attrs, { class: attrs.class + " " + st, "data-span": it.span_id || null }),
        itemHead(it, h("span", { class: "icon" }, icon), h("strong", {}, it.name || it.event || "tool"),
          it.label ? h("code", { class: "label" }, it.label) : null,
          h("span", { class: "dur" }, st === "running" ? "running" : (st === "error" ? "failed " : "") + fmtMs(it.duration_ms))),
        it.input !== undefined && it.input !== null ? h("details", { class: "input" }, h("summary", {}, "input"), foldPre(show(it.input))) : null,
        it.output !== undefined && it.output !== null ? foldPre(show(it.output), "output") : null,
        it.error ? foldPre(it.error, "err") : null);
      break;
    }
    case "llm":
      el = h("div", attrs, itemHead(it, h("span", { class: "role" }, "model call"), h("strong", {}, it.model || it.name || "?"),
        h("span", { class: "muted" }, fmtInt(it.tokens_input) + " in · " + fmtInt(it.tokens_output) + " out · " +
          (it.cost_usd === undefined || it.cost_usd === null ? "unpriced" : fmtCost(it.cost_usd)) +
          (it.duration_ms ? " · " + fmtMs(it.duration_ms) : ""))),
        it.error ? foldPre(it.error, "err") : null);
      break;
    case "decision":
      el = h("div", attrs, itemHead(it, h("span", { class: "role" }, "decision"), h("strong", {}, it.name || ""),
        it.output !== undefined ? [" → ", h("code", {}, show(it.output).slice(0, 200))] : null),
        (it.parts || []).map(partNode),
        it.input !== undefined && it.input !== null ? h("details", {}, h("summary", {}, "input"), foldPre(show(it.input))) : null);
      break;
    case "system":
      el = h("div", Object.assign(attrs, { class: attrs.class + " " + (it.status || "") }),
        itemHead(it, h("span", { class: "role" }, "system"), badge(it.status), " ", it.name || ""), (it.parts || []).map(partNode));
      break;
    case "document":
      el = h("details", attrs, h("summary", {}, itemHead(it, h("span", { class: "role" }, "document"), h("strong", {}, it.name + ".json"), h("span", { class: "muted" }, it.status || ""))),
        foldPre(show(it.output)));
      break;
    default:
      el = h("div", attrs, itemHead(it, h("span", { class: "role" }, it.event || "record"), it.name ? h("strong", {}, it.name) : null, it.status ? badge(it.status) : null),
        it.error ? foldPre(it.error, "err") : null,
        !source && it.body ? h("details", {}, h("summary", {}, "record"), foldPre(show(it.body))) : null);
  }
  if (source && it.body) el.append(h("details", { class: "source-line" }, h("summary", {}, "source line " + (it.source || "")), foldPre(show(it.body))));
  return el;
}

/* The transcript: chunks of items, paged in both directions, live at the end. */
function transcriptView(id, opts) {
  const base = "api/tasks/" + encodeURIComponent(id) + "/transcript";
  const st = { chunks: [], where: new Map(), first: null, last: null, more: false, moreBefore: false, source: !!opts.source };
  const root = h("div", { id: "transcript", class: "transcript" });
  const before = h("div", { class: "more-before" });
  const list = h("div", { class: "chunks" });
  const sentinel = h("div", { class: "sentinel" });
  root.append(before, list, sentinel);
  let chain = Promise.resolve();
  const serial = (fn) => (chain = chain.then(fn).catch((e) => console.error(e)));

  const io = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const c = e.target.__chunk;
      if (!c) continue;
      if (e.isIntersecting && !c.rendered) renderChunk(c);
      else if (!e.isIntersecting && c.rendered && c.items.length >= CHUNK) {
        c.el.style.height = c.el.offsetHeight + "px";
        c.el.replaceChildren();
        c.rendered = false;
      }
    }
  }, { rootMargin: "1500px 0px" });
  const tail = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && st.more) serial(loadAfter);
  }, { rootMargin: "800px 0px" });
  tail.observe(sentinel);

  function renderChunk(c) {
    c.el.replaceChildren(...c.items.map((it) => renderItem(it, st.source)));
    c.el.style.height = "";
    c.rendered = true;
  }
  function newChunk(atStart) {
    const c = { items: [], rendered: true, el: h("div", { class: "chunk" }) };
    c.el.__chunk = c;
    if (atStart) { st.chunks.unshift(c); list.prepend(c.el); } else { st.chunks.push(c); list.append(c.el); }
    io.observe(c.el);
    return c;
  }
  function reindex() {
    st.where.clear();
    st.chunks.forEach((c) => c.items.forEach((it, i) => st.where.set(it.key, { c, i })));
  }
  function replace(it) {
    const at = st.where.get(it.key);
    if (!at) return false;
    at.c.items[at.i] = it;
    if (at.c.rendered) {
      const old = at.c.el.querySelector('[data-key="' + CSS.escape(it.key) + '"]');
      if (old) old.replaceWith(renderItem(it, st.source));
    }
    return true;
  }
  function append(items) {
    for (const it of items) {
      if (replace(it)) continue;
      let c = st.chunks[st.chunks.length - 1];
      if (!c || c.items.length >= CHUNK) c = newChunk(false);
      c.items.push(it);
      st.where.set(it.key, { c, i: c.items.length - 1 });
      if (c.rendered) c.el.append(renderItem(it, st.source));
    }
  }
  function prepend(items) {
    const fresh = items.filter((it) => !st.where.has(it.key));
    const y = document.documentElement.scrollHeight;
    for (let k = fresh.length; k > 0; k -= CHUNK) {
      const c = newChunk(true);
      c.items = fresh.slice(Math.max(0, k - CHUNK), k);
      renderChunk(c);
    }
    reindex();
    window.scrollBy(0, document.documentElement.scrollHeight - y);
  }
  function moreButton() {
    fill(before, st.moreBefore ? h("button", { type: "button", id: "load-earlier", onclick: () => serial(loadBefore) }, "load earlier records") : null);
  }
  const q = (extra) => base + "?" + new URLSearchParams(Object.assign({ limit: String(PAGE_ITEMS) }, st.source ? { source: "1" } : {}, extra));
  async function loadFirst() {
    const page = await api(q(opts.at ? { at: opts.at } : {}));
    if (page.source && !st.source) { st.source = true; if (opts.onSource) opts.onSource(true); }
    st.first = page.first; st.last = page.last; st.more = page.more; st.moreBefore = page.more_before;
    append(page.items);
    moreButton();
    if (page.items.length === 0) list.append(h("p", { class: "muted empty" }, "No records yet."));
  }
  async function loadAfter() {
    const page = await api(q({ after: st.last }));
    st.last = page.last; st.more = page.more;
    if (page.items.length) { const e = list.querySelector(".empty"); if (e) e.remove(); }
    append(page.items);
  }
  async function loadBefore() {
    if (!st.first) return;
    const page = await api(q({ before: st.first }));
    st.first = page.first || st.first; st.moreBefore = page.more_before;
    prepend(page.items);
    moreButton();
  }
  const ready = serial(loadFirst);
  const follow = coalesce(() => { if (!st.more) serial(loadAfter); }, 120);
  return {
    el: root,
    ready,
    /* A record of this task was indexed. */
    onRecord(rec) {
      if ((rec.event === "tool.complete" || rec.event === "tool.fail") && rec.record && rec.record.span_id) {
        // Its start is an item already: fetch it again, with the end folded in.
        serial(async () => {
          const page = await api(q({ at: String(rec.record_id), limit: "1" }));
          for (const it of page.items) if (!replace(it) && !st.more) append([it]);
        });
      }
      follow();
    },
    /* Shows record `rid`, loading the transcript from it when it is not here. */
    async jump(rid) {
      let el = null;
      for (const c of st.chunks) {
        const it = c.items.find((x) => x.record_id === rid || x.end_record_id === rid);
        if (!it) continue;
        if (!c.rendered) renderChunk(c);
        el = document.getElementById("rec-" + it.record_id);
        break;
      }
      if (!el) {
        location.hash = "#/task/" + encodeURIComponent(id) + "?at=" + rid;
        return;
      }
      el.scrollIntoView({ block: "center" });
      el.classList.add("target");
    },
  };
}

function summaryCard(ov) {
  const s = ov.summary || {};
  const kv = (k, v, idv) => [h("dt", {}, k), h("dd", { id: idv || null }, v)];
  const dur = s.duration_ms !== undefined && s.duration_ms !== null ? s.duration_ms
    : (s.started_at && s.finished_at ? parseTs(s.finished_at) - parseTs(s.started_at) : null);
  return h("dl", { class: "kv" },
    kv("Status", badge(s.status), "task-status"),
    s.project ? kv("Project", s.project) : null,
    s.git_branch ? kv("Branch", h("span", { class: "mono" }, s.git_branch)) : null,
    s.agent ? kv("Agent", s.agent) : null,
    s.models ? kv("Models", s.models) : null,
    kv("Started", fmtTime(s.started_at)),
    kv("Finished", s.finished_at ? fmtTime(s.finished_at) : h("span", { class: "muted" }, "–")),
    kv("Duration", fmtMs(dur)),
    s.last_activity_at ? kv("Last activity", fmtTime(s.last_activity_at)) : null,
    kv("Model calls", [fmtInt(s.llm_calls), " · ", fmtInt(s.tokens), " tokens · ", fmtCost(s.cost_usd),
      s.unpriced_calls ? " · " + s.unpriced_calls + " unpriced" : ""], "task-totals"),
    kv("Errors", fmtInt(s.error_count ?? ov.errors.length), "task-errors"),
    kv("Records", fmtInt(ov.records) + " in " + ov.streams.map((x) => x.name).join(", ")));
}

const WF_ROWS = 120;  // waterfall rows drawn before "show all"

function waterfall(ov, onPick, all) {
  const calls = all ? ov.tools : ov.tools.slice(0, WF_ROWS);
  if (calls.length === 0) return h("p", { class: "muted" }, "No tool calls.");
  const now = Date.now();
  const spans = calls.map((c) => {
    const start = parseTs(c.started_at);
    const end = c.completed_at ? parseTs(c.completed_at) : (c.duration_ms !== null ? start + c.duration_ms : now);
    const dur = c.duration_ms !== null && c.duration_ms !== undefined ? c.duration_ms : end - start;
    return { c, start, end: Math.max(end, start + (dur || 0)), dur };
  });
  const t0 = Math.min(...spans.map((s) => s.start));
  const t1 = Math.max(...spans.map((s) => s.end), t0 + 1);
  return h("div", { class: "waterfall" }, spans.map(({ c, start, end, dur }) => {
    const bar = h("div", { class: "wf-bar " + c.status });
    bar.style.left = ((start - t0) / (t1 - t0)) * 100 + "%";
    bar.style.width = ((end - start) / (t1 - t0)) * 100 + "%";
    return h("div", { class: "wf-row " + c.status, "data-status": c.status, title: c.error || c.label || "", onclick: () => onPick(c.id) },
      h("div", { class: "wf-name" }, h("span", { class: "mono" }, (c.status === "failure" ? "✗ " : "") + (c.tool_name || "?")),
        c.label ? h("span", { class: "wf-label mono" }, " " + c.label) : null),
      h("div", { class: "wf-track" }, bar),
      h("div", { class: "wf-dur " + c.status }, c.status === "failure" ? "failed " + fmtMs(dur) : fmtMs(dur)));
  }), ov.tool_count > calls.length ? h("p", { class: "muted" }, "first " + calls.length + " of " + ov.tool_count + " tool calls ",
    calls.length < ov.tools.length ? h("button", { type: "button", class: "unfold", onclick: (e) => e.target.closest(".waterfall").replaceWith(waterfall(ov, onPick, true)) }, "show " + ov.tools.length) : null) : null);
}

function errorList(ov, onPick) {
  const n = ov.errors.length + ov.quarantined.length;
  return [h("strong", {}, n === 0 ? "No errors." : n + " error(s)"),
    n ? h("ul", {}, ov.errors.map((e) => h("li", {},
      h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); onPick(e.at); } }, fmtTime(e.ts), " ", (e.event || "") + " " + (e.name || "") + ": "),
      h("span", { class: "err-text" }, String(e.error ?? "").slice(0, 240)))),
    ov.quarantined.map((q) => h("li", {}, "quarantined " + q.path + ":" + (q.line ?? "?") + " (byte " + q.offset + "): " + q.reason))) : null];
}

PAGES.task = async function (id, params) {
  const t0 = performance.now();
  const enc = encodeURIComponent(id);
  const ov = await api("api/tasks/" + enc + "/overview");
  let view = null;
  const pick = (rid) => view && view.jump(rid);
  const card = h("div", { class: "card summary", id: "summary" }, summaryCard(ov));
  const errBox = h("div", { class: "card errors", id: "errors" }, errorList(ov, pick));
  const wfBox = h("div", { class: "card", id: "waterfall" }, waterfall(ov, pick));
  const sourceBox = h("input", { type: "checkbox", id: "show-source", checked: params.get("source") === "1",
    onchange: (e) => { const p = new URLSearchParams(params); if (e.target.checked) p.set("source", "1"); else p.delete("source"); location.hash = "#/task/" + enc + "?" + p; } });
  const title = (ov.summary && ov.summary.title) || id;
  view = transcriptView(id, { at: params.get("at"), source: params.get("source") === "1", onSource: (v) => { sourceBox.checked = v; } });
  setMain(
    h("div", { class: "crumbs" }, h("a", { href: "#/?" + rangeQuery(params) }, "‹ tasks")),
    h("h1", {}, title, title !== id ? h("span", { class: "id mono" }, " " + id) : null),
    h("div", { class: "exports" }, "Export: ",
      h("a", { href: "api/tasks/" + enc + "/export?format=markdown", id: "export-md" }, "Markdown"), " · ",
      h("a", { href: "api/tasks/" + enc + "/export?format=html", id: "export-html" }, "HTML"), " · ",
      h("a", { href: "api/tasks/" + enc + "/logs/full", download: id + ".json", id: "export-json" }, "JSON")),
    card, errBox, h("h2", {}, "Tool calls"), wfBox,
    h("h2", {}, "Transcript ", h("label", { class: "check small" }, sourceBox, " show source lines")),
    view.el);
  await view.ready;
  window.__taskReadyMs = performance.now() - t0;
  if (params.get("at")) view.jump(Number(params.get("at")));
  const refresh = coalesce(async () => {
    try {
      const fresh = await api("api/tasks/" + enc + "/overview");
      card.replaceChildren(summaryCard(fresh));
      fill(errBox, errorList(fresh, pick));
      wfBox.replaceChildren(waterfall(fresh, pick));
    } catch (e) { /* the next record retries */ }
  }, 300);
  hub.on((rec) => {
    if (rec.task_id !== id) return;
    view.onRecord(rec);
    refresh();
  });
};
