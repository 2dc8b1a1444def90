#!/usr/bin/env python3
"""Counts agent transcripts independently of tasklog-import (docs/IMPORT.md 19).

    python3 scripts/count_import_totals.py FILE...

Prints one JSON line per file: model calls, input / output tokens
(OpenTelemetry sense: input includes cache reads and writes), tool calls
and failed tool calls, read straight from the source with the rules of
docs/IMPORT.md written again here in Python (standard library only), so
that `tasklog import --format json` totals can be checked against them.
Formats (told apart by file content): Claude Code, Codex, Gemini CLI
(JSONL recording and JSON document), GitHub Copilot CLI, OpenCode export,
Cline / Roo Code, SWE-agent, mini-SWE-agent, OpenHands event arrays.
"""

import json
import re
import sys


def lines(path):
    with open(path, encoding="utf-8") as f:
        for raw in f:
            raw = raw.strip()
            if raw:
                try:
                    yield json.loads(raw)
                except json.JSONDecodeError:
                    continue


def claude(path):
    calls, starts, fails = {}, set(), set()

    def line(v, thread_obj):
        msg = thread_obj.get("message") or {}
        u = msg.get("usage")
        if u and msg.get("model") != "<synthetic>":
            key = (msg.get("id"), thread_obj.get("requestId")) if msg.get("id") else thread_obj.get("uuid")
            c = calls.setdefault(key, [0, 0, 0, 0])
            for i, k in enumerate(["input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens"]):
                c[i] = max(c[i], u.get(k) or 0)
        content = msg.get("content")
        if isinstance(content, list):
            for b in content:
                if b.get("type") == "tool_use":
                    starts.add(b.get("id"))
                if b.get("type") == "tool_result" and b.get("is_error") is True:
                    fails.add(b.get("tool_use_id"))

    for v in lines(path):
        t = v.get("type")
        if t in ("assistant", "user") or (t is None and (v.get("message") or {}).get("usage")):
            line(v, v)
        elif t == "progress" and (v.get("data") or {}).get("type") == "agent_progress":
            inner = (v.get("data") or {}).get("message") or {}
            if inner.get("type") in ("assistant", "user"):
                line(inner, inner)
    inp = sum(c[0] + c[1] + c[2] for c in calls.values())
    out = sum(c[3] for c in calls.values())
    return len(calls), inp, out, len(starts), len(fails)


FAIL_TEXT = ("apply_patch verification failed", "execution error", "failed to parse function arguments",
             "exec command rejected by user", "patch rejected by user", "unsupported call",
             "unsupported custom tool call", "Failed to apply patch")


def codex_failed(output):
    if isinstance(output, dict):
        return output.get("success") is False
    if not isinstance(output, str):
        return False
    try:
        wrapped = json.loads(output)
        if isinstance(wrapped, dict) and ("metadata" in wrapped or "output" in wrapped):
            code = (wrapped.get("metadata") or {}).get("exit_code")
            return code not in (None, 0)
    except json.JSONDecodeError:
        pass
    header = output.split("\nOutput:")[0]
    m = re.search(r"^(?:Process exited with code|Exit code:) (-?\d+)", header, re.M)
    if m and int(m.group(1)) != 0:
        return True
    return output.lstrip().startswith(FAIL_TEXT)


def codex(path):
    n = inp = out = starts = fails = 0
    prev = None
    for v in lines(path):
        p = v.get("payload") or {}
        if p.get("type") == "token_count" and p.get("info"):
            info = p["info"]
            total = info.get("total_token_usage")
            if total is not None and total == prev:
                continue
            prev = total if total is not None else prev
            last = info.get("last_token_usage") or {}
            n += 1
            inp += last.get("input_tokens", 0)
            out += last.get("output_tokens", 0)
        elif v.get("type") == "response_item":
            t = p.get("type")
            if t in ("function_call", "custom_tool_call", "local_shell_call", "web_search_call"):
                starts += 1
                if t == "web_search_call" and p.get("status") in ("failed", "incomplete", "error"):
                    fails += 1
            elif t in ("function_call_output", "custom_tool_call_output") and codex_failed(p.get("output")):
                fails += 1
    return n, inp, out, starts, fails


def openhands(path):
    events = json.load(open(path, encoding="utf-8"))
    responses, tools, fails = {}, set(), 0
    not_tools = {"message", "system", "think", "finish", "change_agent_state", "recall", "null", ""}
    for e in events:
        r = (e.get("tool_call_metadata") or {}).get("model_response")
        if r and isinstance(r.get("usage"), dict):
            responses.setdefault(r.get("id"), r["usage"])
        a = e.get("action")
        if a is not None and a not in not_tools and not (e.get("source") == "environment" and not e.get("tool_call_metadata")):
            tools.add(e.get("id"))
        if e.get("observation") is not None and e.get("cause") in tools:
            x = e.get("extras") or {}
            code = (x.get("metadata") or {}).get("exit_code", x.get("exit_code"))
            if e["observation"] == "error" or code not in (None, 0):
                fails += 1
    inp = sum(u.get("prompt_tokens", 0) for u in responses.values())
    out = sum(u.get("completion_tokens", 0) for u in responses.values())
    return len(responses), inp, out, len(tools), fails


def gemini(messages):
    # One call per message id, the largest counts over its versions (sections 3, 6).
    calls, tools = {}, {}
    for m in messages:
        t = m.get("tokens")
        if isinstance(t, dict):
            c = calls.setdefault(m.get("id"), {})
            for k in ("input", "tool", "output", "thoughts"):
                c[k] = max(c.get(k, 0), t.get(k) or 0)
        for tc in m.get("toolCalls") or []:
            tools.setdefault(tc.get("id"), tc.get("status"))  # first version that has the call
    inp = sum(c["input"] + c["tool"] for c in calls.values())
    out = sum(c["output"] + c["thoughts"] for c in calls.values())
    return len(calls), inp, out, len(tools), sum(1 for s in tools.values() if s != "success")


def gemini_lines(path):
    return gemini(v for v in lines(path) if "type" in v and "id" in v)


def copilot(path):
    # Usage only in session.shutdown: one aggregate call per model (section 7).
    n = inp = out = 0
    starts, fails = set(), set()
    for v in lines(path):
        d, t = v.get("data") or {}, v.get("type")
        if t == "session.shutdown":
            for m in (d.get("modelMetrics") or {}).values():
                u = m.get("usage") or {}
                n += 1
                inp += u.get("inputTokens", 0)
                out += u.get("outputTokens", 0)
        elif t == "tool.execution_start":
            starts.add(d.get("toolCallId"))
        elif t == "tool.execution_complete" and d.get("success") is False:
            fails.add(d.get("toolCallId"))
    return n, inp, out, len(starts), len(fails)


def opencode(doc):
    # One call per step-finish part; a message without steps: one from info.tokens (section 8).
    usages, tools, fails = [], set(), 0
    for m in doc.get("messages") or []:
        parts = m.get("parts") or []
        steps = [p.get("tokens") or {} for p in parts if p.get("type") == "step-finish"]
        info = m.get("info") or {}
        if not steps and info.get("role") == "assistant" and isinstance(info.get("tokens"), dict):
            steps = [info["tokens"]]
        usages += steps
        for p in parts:
            if p.get("type") == "tool" and p.get("id") not in tools:
                tools.add(p.get("id"))
                fails += (p.get("state") or {}).get("status") == "error"
    inp = sum(u.get("input", 0) + (u.get("cache") or {}).get("read", 0) + (u.get("cache") or {}).get("write", 0)
              for u in usages)
    out = sum(u.get("output", 0) + u.get("reasoning", 0) for u in usages)
    return len(usages), inp, out, len(tools), fails


CLINE_RESULT = re.compile(r"\[[\w.:-]+(?: for .*)?\] Result:")


def cline(doc):
    # One call per assistant message with metrics.tokens; tool_use blocks, ended by tool_result
    # blocks or by Cline's text results "[tool for '...'] Result:" in order (section 9).
    n = inp = out = starts = fails = 0
    pending = []
    for m in doc:
        tokens = (m.get("metrics") or {}).get("tokens")
        if m.get("role") == "assistant" and isinstance(tokens, dict):
            anthropic = (m.get("modelInfo") or {}).get("providerId") == "anthropic"
            n += 1
            inp += (tokens.get("prompt") or 0) + (tokens.get("cached") or 0 if anthropic else 0)
            out += tokens.get("completion") or 0
        content = m.get("content")
        for b in content if isinstance(content, list) else []:
            if b.get("type") == "tool_use":
                starts += 1
                pending.append(b.get("id"))
            elif b.get("type") == "tool_result":
                if b.get("tool_use_id") in pending:
                    pending.remove(b.get("tool_use_id"))
                fails += b.get("is_error") is True
            elif b.get("type") == "text" and m.get("role") == "user" and CLINE_RESULT.match(b.get("text") or ""):
                if pending:
                    pending.pop(0)
                else:
                    starts += 1  # a call of the text protocol, with no tool_use block
                text = b["text"]
                fails += "The tool execution failed" in text or "[ERROR]" in text
    return n, inp, out, starts, fails


def swe_agent(doc):
    # Run totals only: one aggregate call from info.model_stats; a tool call per step (section 10).
    st = (doc.get("info") or {}).get("model_stats") or {}
    has = any(st.get(k) for k in ("tokens_sent", "tokens_received", "api_calls"))
    return int(has), st.get("tokens_sent", 0), st.get("tokens_received", 0), len(doc.get("trajectory") or []), 0


BASH_BLOCK = re.compile(r"```bash\s*\n(.*?)\n```", re.S)


def mini_swe_agent(doc):
    # One call per assistant message with extra.response.usage; one tool call per assistant
    # message with exactly one ```bash block, failed when the next user message's
    # <returncode> is not 0 (section 11).
    n = inp = out = starts = fails = 0
    waiting = False
    for m in doc.get("messages") or []:
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
        content = content or ""
        if m.get("role") == "assistant":
            u = (((m.get("extra") or {}).get("response")) or {}).get("usage")
            if isinstance(u, dict):
                n += 1
                inp += u.get("prompt_tokens") or 0
                out += u.get("completion_tokens") or 0
            waiting = len(BASH_BLOCK.findall(content)) == 1
            starts += waiting
        elif m.get("role") == "user" and waiting:
            code = re.search(r"<returncode>\s*(-?\d+)\s*</returncode>", content)
            fails += bool(code) and int(code.group(1)) != 0
            waiting = False
    if n == 0:  # no per-message usage: one aggregate call, like SWE-agent
        st = (doc.get("info") or {}).get("model_stats") or {}
        if st.get("tokens_sent") or st.get("tokens_received") or st.get("api_calls"):
            n, inp, out = 1, st.get("tokens_sent", 0), st.get("tokens_received", 0)
    return n, inp, out, starts, fails


def document(path):
    """The whole file as one JSON document, or None (JSONL)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def detect(path):
    doc = document(path)
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        if "role" in doc[0] and "content" in doc[0]:
            return "cline", lambda: cline(doc)
        return "openhands", lambda: openhands(path)
    if isinstance(doc, dict):
        if "trajectory" in doc and "history" in doc:
            return "swe-agent", lambda: swe_agent(doc)
        if "messages" in doc and ("trajectory_format" in doc or "info" in doc and "model_stats" in doc["info"]):
            return "mini-swe-agent", lambda: mini_swe_agent(doc)
        if "messages" in doc and "info" in doc:
            return "opencode", lambda: opencode(doc)
        if "messages" in doc and "sessionId" in doc:
            return "gemini-cli", lambda: gemini(doc["messages"])
    with open(path, encoding="utf-8") as f:
        head = f.read(4096)
    first = next(lines(path), {})
    if '"payload"' in head:
        return "codex", lambda: codex(path)
    if isinstance(first.get("data"), dict) and "." in str(first.get("type")):
        return "copilot-cli", lambda: copilot(path)
    if "sessionId" in first and "projectHash" in first:
        return "gemini-cli", lambda: gemini_lines(path)
    return "claude-code", lambda: claude(path)


def main():
    for path in sys.argv[1:]:
        kind, count = detect(path)
        calls, inp, out, tools, failed = count()
        print(json.dumps({"file": path, "format": kind, "calls": calls, "input_tokens": inp,
                          "output_tokens": out, "tool_calls": tools, "failed_tool_calls": failed}))


if __name__ == "__main__":
    main()
