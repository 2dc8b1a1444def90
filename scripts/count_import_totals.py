#!/usr/bin/env python3
"""Counts agent transcripts independently of tasklog-import (docs/IMPORT.md 19).

    python3 scripts/count_import_totals.py FILE...

Prints one JSON line per file: model calls, input / output tokens
(OpenTelemetry sense: input includes cache reads and writes), tool calls
and failed tool calls, read straight from the source with the rules of
docs/IMPORT.md written again here in Python (standard library only), so
that `tasklog import --format json` totals can be checked against them.
Formats: Claude Code, Codex, OpenHands event arrays (by file content).
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


def main():
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            head = f.read(4096)
        if head.lstrip().startswith("["):
            kind, counts = "openhands", openhands(path)
        elif '"payload"' in head:
            kind, counts = "codex", codex(path)
        else:
            kind, counts = "claude-code", claude(path)
        calls, inp, out, tools, failed = counts
        print(json.dumps({"file": path, "format": kind, "calls": calls, "input_tokens": inp,
                          "output_tokens": out, "tool_calls": tools, "failed_tool_calls": failed}))


if __name__ == "__main__":
    main()
