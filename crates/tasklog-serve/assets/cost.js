/* Cost: the range's total, daily stacked bars by model family, a table
   grouped by family, model, day, task, project, agent or provider (with a
   CSV download of what is shown), and the unpriced usage per model with the
   setting that prices it. */
"use strict";

const GROUPS = [["family", "model family"], ["model", "model"], ["day", "day"], ["task", "task"],
  ["project", "project"], ["agent", "agent"], ["provider", "provider"]];
const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];

/* A model's family: dated snapshots and "-latest" under their family,
   a provider prefix dropped: claude-sonnet-4-5-20250929 -> claude-sonnet-4-5,
   gpt-4o-2024-08-06 -> gpt-4o, openai/gpt-5 -> gpt-5. */
function modelFamily(m) {
  if (!m || m === "(none)") return m;
  return m.replace(/^[\w.-]+\//, "")
    .replace(/[-@](\d{8}|\d{4}-\d{2}-\d{2})$/, "")
    .replace(/-(latest|preview)$/, "")
    .replace(/-v\d+(:\d+)?$/, "");
}

/* Rows merged by key(row), numbers summed. */
function mergeRows(rows, key) {
  const out = new Map();
  for (const r of rows) {
    const k = key(r);
    const m = out.get(k) || { key: k, calls: 0, tokens_input: 0, tokens_output: 0, cost_usd: 0, unpriced_calls: 0, unpriced_tokens: 0, members: new Set() };
    for (const f of ["calls", "tokens_input", "tokens_output", "cost_usd", "unpriced_calls", "unpriced_tokens"]) m[f] += Number(r[f] || 0);
    if (r.model) m.members.add(r.model);
    out.set(k, m);
  }
  return [...out.values()];
}

function csvText(columns, rows) {
  const cell = (v) => { const s = String(v ?? ""); return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
  return [columns.map((c) => cell(c[1])).join(",")].concat(rows.map((r) => columns.map((c) => cell(r[c[0]])).join(","))).join("\r\n") + "\r\n";
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/* Stacked bars, one per day, one colour per series; drawn with elements. */
function stackedBars(rows, split) {
  if (rows.length === 0) return h("p", { class: "muted" }, "No model calls in this range.");
  const series = (r) => split ? r.model : modelFamily(r.model);
  const byDay = new Map();
  const totals = new Map();
  const priced = new Set();
  for (const r of rows) {
    const s = series(r), c = Number(r.cost_usd || 0);
    if (r.unpriced_calls < r.calls) priced.add(s);
    if (!byDay.has(r.day)) byDay.set(r.day, new Map());
    byDay.get(r.day).set(s, (byDay.get(r.day).get(s) || 0) + c);
    totals.set(s, (totals.get(s) || 0) + c);
  }
  const names = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  const colour = new Map(names.map((n, i) => [n, i < PALETTE.length - 1 ? PALETTE[i] : PALETTE[PALETTE.length - 1]]));
  const known = [...byDay.keys()].filter((d) => /^\d{4}-\d{2}-\d{2}$/.test(d)).sort();
  const days = [];
  if (known.length) {
    // Every day of the span, so gaps show as gaps; at most 400 bars.
    for (let t = Date.parse(known[0] + "T00:00:00Z"), end = Date.parse(known[known.length - 1] + "T00:00:00Z"); t <= end && days.length < 400; t += 86400000) {
      days.push(new Date(t).toISOString().slice(0, 10));
    }
  }
  const max = Math.max(...days.map((d) => [...(byDay.get(d) || new Map()).values()].reduce((a, b) => a + b, 0)), 0.0001);
  const bars = h("div", { class: "bars" }, days.map((d) => {
    const m = byDay.get(d) || new Map();
    const sum = [...m.values()].reduce((a, b) => a + b, 0);
    const col = h("div", { class: "bar", title: d + ": " + fmtCost(sum) + [...m].map(([k, v]) => "\n" + k + " " + fmtCost(v)).join("") });
    for (const n of names) {
      if (!m.get(n)) continue;
      const seg = h("div", { class: "seg" });
      seg.style.height = (m.get(n) / max) * 100 + "%";
      seg.style.background = colour.get(n);
      col.append(seg);
    }
    return col;
  }));
  const legend = h("div", { class: "legend" }, names.map((n) => {
    const sw = h("span", { class: "swatch" });
    sw.style.background = colour.get(n);
    return h("span", {}, sw, n + " " + (priced.has(n) ? fmtCost(totals.get(n)) : "unpriced"));
  }));
  return h("div", { class: "chart" },
    h("div", { class: "axis muted" }, fmtCost(max)), bars,
    h("div", { class: "days muted" }, h("span", {}, days[0] || ""), h("span", {}, days[days.length - 1] || "")), legend);
}

PAGES.cost = async function (params) {
  await renderCost(params);
  // New model calls change the figures: the page is drawn again (not appended to).
  const again = coalesce(() => { renderCost(params).catch(fail); }, 1000);
  hub.on((rec) => { if (rec.event === "llm.call") again(); });
};

async function renderCost(params) {
  const group = params.get("by") || "family";
  const split = params.get("split") === "1";
  const b = rangeBounds(params);
  const bounds = new URLSearchParams();
  if (b.since) bounds.set("since", b.since);
  if (b.until) bounds.set("until", b.until);
  const apiBy = group === "family" ? "model" : group;
  const [byDayModel, grouped] = await Promise.all([
    api("api/cost?by=day,model&" + bounds), api("api/cost?by=" + apiBy + "&" + bounds)]);
  const byModel = apiBy === "model" ? grouped : await api("api/cost?by=model&" + bounds);
  const total = grouped.total || {};
  const go = (changes) => {
    const p = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) { if (v) p.set(k, v); else p.delete(k); }
    location.hash = "#/cost?" + p;
  };
  let rows;
  if (group === "family") {
    rows = mergeRows(grouped.rows, (r) => modelFamily(r.model)).map((r) => Object.assign(r, { family: r.key, models: [...r.members].sort().join(", ") }));
  } else {
    const col = group === "task" ? "task_id" : group;
    rows = grouped.rows.map((r) => Object.assign({}, r, { key: r[col] }));
    if (group === "day") rows.sort((a, b) => String(a.key).localeCompare(String(b.key)));
  }
  const label = GROUPS.find((g) => g[0] === group)[1];
  const keyCell = (r) => group === "task" && r.key !== "(none)" ? h("a", { href: taskHref(r.key) }, r.key) : r.key;
  const columns = [
    { title: label, cell: keyCell },
    group === "family" ? { title: "Models", cls: "models", cell: (r) => r.models } : null,
    { title: "Calls", num: true, cell: (r) => fmtInt(r.calls) },
    { title: "Tokens in", num: true, cell: (r) => fmtInt(r.tokens_input) },
    { title: "Tokens out", num: true, cell: (r) => fmtInt(r.tokens_output) },
    { title: "Cost", num: true, cell: (r) => r.unpriced_calls === r.calls && r.calls > 0 ? "unpriced" : fmtCost(r.cost_usd) },
    { title: "Unpriced", num: true, cell: (r) => fmtInt(r.unpriced_calls) },
  ].filter(Boolean);
  const csvCols = [["key", label], ["calls", "calls"], ["tokens_input", "tokens_input"], ["tokens_output", "tokens_output"],
    ["cost_usd", "cost_usd"], ["unpriced_calls", "unpriced_calls"]];
  const unpriced = byModel.rows.filter((r) => r.unpriced_calls > 0);
  setMain(h("h1", {}, "Cost"), rangePicker(params, "/cost"),
    h("div", { class: "card" }, h("div", { class: "muted" }, "Total (priced calls)"),
      h("div", { class: "big", id: "cost-total" }, fmtCost(total.cost_usd)),
      h("div", { class: "muted" }, fmtInt(total.calls) + " calls · " + fmtInt((total.tokens_input || 0) + (total.tokens_output || 0)) + " tokens · " +
        fmtInt(total.unpriced_calls) + " unpriced")),
    h("h2", {}, "Cost per day by model ", h("label", { class: "check small" },
      h("input", { type: "checkbox", id: "split-models", checked: split, onchange: (e) => go({ split: e.target.checked ? "1" : null }) }),
      " split dated snapshots")),
    h("div", { class: "card", id: "cost-chart" }, stackedBars(byDayModel.rows, split)),
    h("h2", {}, "By ", h("select", { id: "group-by", onchange: (e) => go({ by: e.target.value }) },
      GROUPS.map(([v, l]) => h("option", { value: v, selected: v === group }, l))),
      " ", h("button", { type: "button", id: "csv", onclick: () => download("tasklog-cost-by-" + group + ".csv", csvText(csvCols, rows)) }, "CSV")),
    h("div", { id: "cost-table" }, table(columns, rows, (r) => ({ "data-key": r.key }))),
    h("h2", {}, "Unpriced usage"),
    unpriced.length === 0 ? h("p", { class: "muted" }, "Every call in this range has a price.") : [
      table([
        { title: "Model", cell: (r) => r.model },
        { title: "Calls", num: true, cell: (r) => fmtInt(r.unpriced_calls) },
        { title: "Tokens", num: true, cell: (r) => fmtInt(r.unpriced_tokens ?? (r.tokens_input + r.tokens_output)) },
        { title: "Priced by", cell: (r) => h("code", {}, '[[model]] name = "' + r.model + '" input = … output = …') },
      ], unpriced, () => ({ class: "unpriced" })),
      h("p", { class: "muted" }, "Add the entry (USD per million tokens) to a price file named by ", h("code", {}, "[index] prices"),
        " in tasklog.toml or by ", h("code", {}, "TASKLOG_PRICES"), " (see config/prices.toml); the indexer prices these calls when it next opens the index.")]);
}
