/* Markdown of records to DOM nodes, safely: every piece of record text
   becomes a text node or an element built here, never HTML (no innerHTML),
   so markup inside a record is shown, not obeyed. Only http(s) and mailto
   links become links. Covers what agents write: paragraphs, headings,
   fenced code, lists, quotes, inline code, bold, italics, links. */
"use strict";

const MD_SAFE_URL = /^(https?:|mailto:)/i;

function mdInline(text, parent) {
  // Tokens: `code`, **bold**, *em* / _em_, [text](url), bare http(s) URLs.
  const re = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([^*\n]+)\*\*|(?<![\w*])[*_]([^*_\n]+)[*_](?![\w*])|\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;
  let last = 0, m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
    let el;
    if (m[1]) { el = document.createElement("code"); el.textContent = m[2].trim() ? m[2] : m[2]; }
    else if (m[3] !== undefined) { el = document.createElement("strong"); mdInline(m[3], el); }
    else if (m[4] !== undefined) { el = document.createElement("em"); mdInline(m[4], el); }
    else if (m[5] !== undefined) {
      if (MD_SAFE_URL.test(m[6])) {
        el = document.createElement("a"); el.href = m[6]; el.rel = "noopener noreferrer"; el.target = "_blank";
        mdInline(m[5], el);
      } else { el = document.createTextNode(m[0]); }
    } else {
      el = document.createElement("a"); el.href = m[7]; el.rel = "noopener noreferrer"; el.target = "_blank";
      el.textContent = m[7];
    }
    parent.append(el);
    last = re.lastIndex;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

/* Returns a <div class="md"> holding `text` rendered. */
function markdown(text) {
  const root = document.createElement("div");
  root.className = "md";
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  const para = [];
  const flush = () => {
    if (para.length === 0) return;
    const p = document.createElement("p");
    para.forEach((l, k) => { if (k) p.append(document.createElement("br")); mdInline(l, p); });
    root.append(p);
    para.length = 0;
  };
  while (i < lines.length) {
    const line = lines[i];
    const fenceM = line.match(/^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)/);
    if (fenceM) {
      flush();
      const close = fenceM[1];
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(close)) body.push(lines[i++]);
      i++;
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.textContent = body.join("\n");
      pre.append(code);
      root.append(pre);
      continue;
    }
    const head = line.match(/^(#{1,6})\s+(.*)$/);
    if (head) {
      flush();
      const el = document.createElement("h" + Math.min(6, head[1].length + 2));
      mdInline(head[2], el);
      root.append(el);
      i++;
      continue;
    }
    if (/^\s*>/.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s*>\s?/, ""));
      const bq = document.createElement("blockquote");
      bq.append(markdown(quoted.join("\n")));
      root.append(bq);
      continue;
    }
    const item = line.match(/^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/);
    if (item) {
      flush();
      const ordered = /\d/.test(item[1]);
      const list = document.createElement(ordered ? "ol" : "ul");
      while (i < lines.length) {
        const m = lines[i].match(/^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/);
        if (!m) {
          // A continuation line of the item above.
          if (lines[i].trim() && /^\s{2,}/.test(lines[i]) && list.lastChild) {
            list.lastChild.append(document.createElement("br"));
            mdInline(lines[i].trim(), list.lastChild);
            i++;
            continue;
          }
          break;
        }
        const li = document.createElement("li");
        mdInline(m[2], li);
        list.append(li);
        i++;
      }
      root.append(list);
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flush(); root.append(document.createElement("hr")); i++; continue; }
    if (line.trim() === "") { flush(); i++; continue; }
    para.push(line);
    i++;
  }
  flush();
  return root;
}
