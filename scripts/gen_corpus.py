#!/usr/bin/env python3
"""Writes a deterministic benchmark corpus of tasklog task folders.

Usage: gen_corpus.py ROOT [--records N] [--seed S] [--end YYYY-MM-DD]

About 100 records per task (tool calls, model calls, messages, decisions,
system events, workers, worktrees, cycles, state, memory facts, results)
plus one coordinator session folder per 100 tasks, spread over the 30 days
that end on --end (default: today, UTC, so that "today" queries have rows).
The same arguments give the same bytes. Lines are what the typed helpers
write (docs/FORMAT.md section 5.1); 5% of model calls use a model without a
price, half of the priced ones carry their own cost.
"""

import argparse
import json
import os
import random
from datetime import datetime, timedelta, timezone

MODELS = [  # (model, provider, weight)
    ("claude-sonnet-4-5", "anthropic", 50),
    ("claude-haiku-4-5", "anthropic", 20),
    ("gpt-5", "openai", 15),
    ("gpt-5-mini", "openai", 10),
    ("local-llama-3", "local", 5),
]
TOOLS = ["Bash", "Read", "Edit", "Grep", "Write", "WebFetch"]
COMPONENTS = ["worktree_manager", "coordinator", "github_client", "worker_pool"]
DECISIONS = [
    ("create_worktree", "create_worktree.worktree_exists_with_changes"),
    ("select_next_task", "select_next_task"),
    ("spawn_worker", "spawn_worker.capacity_check"),
    ("handle_failure", "handle_failure.retry_or_abandon"),
]
WORDS = ("budget widget token flaky test build cache dashboard migration retry timeout "
         "worker coordinator issue label priority refactor parser schema index query").split()


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Stream:
    def __init__(self, path, task_id, trace):
        self.f = open(path, "w", encoding="utf-8")
        self.seq = 0
        self.task_id = task_id
        self.trace = trace
        self.count = 0

    def write(self, t, event, rnd, fields, span=None, parent=None):
        self.seq += 1
        rec = {"v": 1, "ts": ts(t), "seq": self.seq, "id": "%026X" % rnd.getrandbits(104),
               "event": event, "task_id": self.task_id, "trace_id": self.trace,
               "span_id": span or "%016x" % rnd.getrandbits(64)}
        if parent:
            rec["parent_span_id"] = parent
        rec.update(fields)
        self.f.write(dumps(rec) + "\n")
        self.count += 1

    def close(self):
        self.f.close()


def put(path, doc):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=2) + "\n")


def sentence(rnd, n=8):
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def write_task(root, n, start, rnd, session_id):
    task_id = "gh-%d" % n
    d = os.path.join(root, task_id)
    os.makedirs(d, exist_ok=True)
    trace = "%032x" % rnd.getrandbits(128)
    s = Stream(os.path.join(d, "events.jsonl"), task_id, trace)
    t = start
    step = lambda lo=0.2, hi=20.0: timedelta(seconds=rnd.uniform(lo, hi))
    title = "Issue %d: %s" % (n, sentence(rnd, 5))
    s.write(t, "trigger", rnd, {"name": "issue_detected", "source": "github",
                                "data": {"issue_number": n, "title": title, "labels": ["rpi-auto"]}})
    t += step()
    s.write(t, "task.status", rnd, {"status": "detected", "source": "github", "issue_number": n,
                                    "title": title, "session_id": session_id})
    detected = t
    for fn, point in rnd.sample(DECISIONS, 3):
        t += step(0.01, 1)
        s.write(t, "decision", rnd, {"name": point, "context_type": "task", "context_id": task_id,
                                     "function_name": fn, "input": {"queue": rnd.randint(0, 9)},
                                     "output": {"action": rnd.choice(["go", "wait", "preserve"])},
                                     "reason": sentence(rnd, 12),
                                     "duration_ms": round(rnd.expovariate(1 / 40.0), 3)})
    t += step()
    s.write(t, "worktree", rnd, {"name": rnd.choice(["create", "preserve", "check"]),
                                 "worktree_path": "/trees/" + task_id, "reason": sentence(rnd, 6),
                                 "had_changes": rnd.random() < 0.3, "was_clean": rnd.random() < 0.7,
                                 "worker_running": False, "file_mtime_age_minutes": round(rnd.uniform(0, 120), 1)})
    worker = "w-abc123" if n == 450 else "w-%06x" % rnd.getrandbits(24)
    wspan = "%016x" % rnd.getrandbits(64)
    t += step()
    s.write(t, "worker.spawn", rnd, {"worker_id": worker, "status": "spawned", "pid": rnd.randint(1000, 60000),
                                     "worktree_path": "/trees/" + task_id, "branch_name": "auto/" + worker},
            span=wspan)
    t += step()
    s.write(t, "task.status", rnd, {"status": "active"})
    active = t
    cspan = "%016x" % rnd.getrandbits(64)
    s.write(t, "cycle.start", rnd, {"name": "plan", "status": "running", "goals": ["fix", "test"]},
            span=cspan, parent=wspan)
    cycle_start = t
    turns = rnd.randint(16, 24)
    for i in range(turns):
        model, provider = rnd.choices([m[:2] for m in MODELS], [m[2] for m in MODELS])[0]
        inp = rnd.randint(2000, 60000)
        cr = int(inp * rnd.uniform(0, 0.8))
        cw = int((inp - cr) * rnd.uniform(0, 0.3))
        out = rnd.randint(50, 3000)
        dur = round(rnd.uniform(500, 20000), 1)
        usage = {"input_tokens": inp, "output_tokens": out, "cache_read": {"input_tokens": cr},
                 "cache_creation": {"input_tokens": cw}}
        if provider != "local" and rnd.random() < 0.5:
            usage["cost"] = {"amount": round((inp * 3 + out * 15) / 1e6, 6), "currency": "USD"}
        gen_ai = {"operation": {"name": "chat"}, "provider": {"name": provider},
                  "request": {"model": model}, "usage": usage,
                  "server": {"time_to_first_token_ms": round(rnd.uniform(200, 2000), 1)}}
        t += step()
        failed = rnd.random() < 0.02
        fields = {"name": model, "status": "error" if failed else "ok", "duration_ms": dur}
        if failed:
            fields["error"] = "overloaded_error: " + sentence(rnd, 3)
        fields["gen_ai"] = gen_ai
        s.write(t, "llm.call", rnd, fields, parent=wspan)
        tool = rnd.choice(TOOLS)
        tool_input = {"command": "cargo test " + rnd.choice(WORDS)} if tool == "Bash" else {"path": "src/%s.rs" % rnd.choice(WORDS)}
        t += step(0.1, 2)
        s.write(t, "message", rnd, {"role": "assistant", "content": [
            {"type": "text", "text": sentence(rnd, 14)},
            {"type": "tool_use", "id": "toolu_%08x" % rnd.getrandbits(32), "name": tool, "input": tool_input}]},
            parent=wspan)
        span = "%016x" % rnd.getrandbits(64)
        s.write(t, "tool.start", rnd, {"name": tool, "status": "running",
                                       "gen_ai": {"operation": {"name": "execute_tool"}, "tool": {"name": tool}},
                                       "input": tool_input}, span=span, parent=wspan)
        ms = round(rnd.expovariate(1 / 800.0), 3)
        t += timedelta(milliseconds=ms)
        if rnd.random() < 0.06:
            s.write(t, "tool.fail", rnd, {"name": tool, "status": "error", "duration_ms": ms,
                                          "gen_ai": {"tool": {"name": tool}},
                                          "error": "No such file or directory: " + tool_input.get("path", "x")},
                    span=span, parent=wspan)
        else:
            s.write(t, "tool.complete", rnd, {"name": tool, "status": "ok", "duration_ms": ms,
                                              "gen_ai": {"tool": {"name": tool}},
                                              "output": {"exit_code": 0, "stdout": sentence(rnd, 10)}},
                    span=span, parent=wspan)
        r = rnd.random()
        if r < 0.15:
            fn, point = rnd.choice(DECISIONS)
            s.write(t, "decision", rnd, {"name": point, "context_type": "worker", "context_id": worker,
                                         "function_name": fn, "input": {"turn": i}, "output": {"action": "continue"},
                                         "reason": sentence(rnd, 12),
                                         "duration_ms": round(rnd.expovariate(1 / 60.0), 3)}, parent=wspan)
        elif r < 0.25:
            sev = rnd.choices(["info", "warning", "error", "critical"], [60, 25, 12, 3])[0]
            s.write(t, "system", rnd, {"severity": sev, "component": rnd.choice(COMPONENTS),
                                       "message": sentence(rnd, 6), "details": {"turn": i}}, parent=wspan)
    t += step()
    s.write(t, "cycle.complete", rnd, {"status": "ok", "duration_ms": round((t - cycle_start).total_seconds() * 1000, 3),
                                       "outcome": {"turns": turns}}, span=cspan, parent=wspan)
    s.write(t, "state.set", rnd, {"name": "session:%s:plan" % task_id, "value": {"turns": turns}}, parent=wspan)
    s.write(t, "memory.fact", rnd, {"name": "repo:" + rnd.choice(WORDS), "fact": sentence(rnd, 8),
                                    "body": {"confidence": round(rnd.random(), 2)}}, parent=wspan)
    status = rnd.choices(["completed", "failed", "active"], [80, 12, 8])[0]
    doc = {"task_id": task_id, "created_at": ts(detected), "status": status if status != "active" else "active",
           "detected_at": ts(detected), "active_at": ts(active), "updated_at": ts(t), "source": "github",
           "issue_number": n, "title": title, "session_id": session_id}
    if status != "active":
        t += step()
        ok = status == "completed"
        s.write(t, "worker.exit", rnd, {"worker_id": worker, "status": status, "exit_code": 0 if ok else 1,
                                        **({} if ok else {"failure_reason": "tests failed"})})
        s.write(t, "task.status", rnd, {"status": status})
        s.write(t, "result", rnd, {"status": status, "result": {"summary": sentence(rnd, 6)}})
        doc[status + "_at"] = ts(t)
        doc["updated_at"] = ts(t)
        put(os.path.join(d, "result.json"), {"task_id": task_id, "status": status, "completed_at": ts(t),
                                              "result": {"summary": "done"}})
    put(os.path.join(d, "task.json"), doc)
    s.close()
    return s.count


def write_session(root, session_id, start, rnd, triggers, open_session):
    d = os.path.join(root, session_id)
    os.makedirs(d, exist_ok=True)
    s = Stream(os.path.join(d, "events.jsonl"), session_id, "%032x" % rnd.getrandbits(128))
    t = start
    s.write(t, "session.start", rnd, {"session_id": session_id, "pid": rnd.randint(1000, 60000),
                                      "details": {"hostname": "build-01", "git_branch": "main",
                                                  "config": {"max_workers": 1, "poll_interval": 30}}})
    s.write(t, "system", rnd, {"severity": "info", "component": "coordinator", "message": "coordinator starting",
                               "details": {"event_type": "startup"}})
    for _ in range(triggers):
        t += timedelta(seconds=30)
        s.write(t, "trigger", rnd, {"name": "poll_cycle", "source": "github",
                                    "data": {"issues_found": rnd.randint(0, 3)}})
    if not open_session:
        t += timedelta(seconds=5)
        s.write(t, "session.end", rnd, {"session_id": session_id,
                                        "exit_reason": rnd.choices(["normal", "signal", "error"], [85, 10, 5])[0]})
    s.close()
    return s.count


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--end", default=datetime.now(timezone.utc).strftime("%Y-%m-%d"))
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    end = datetime.strptime(args.end, "%Y-%m-%d").replace(tzinfo=timezone.utc) + timedelta(days=1)
    begin = end - timedelta(days=30)
    os.makedirs(args.root, exist_ok=True)
    total, n, tasks = 0, 0, 0
    session_id = None
    while total < args.records:
        if tasks % 100 == 0:
            session_id = "ses-2026-11-22-a1" if tasks == 0 else "ses-%05d" % (tasks // 100)
            start = begin + timedelta(seconds=rnd.uniform(0, 29.5 * 86400))
            total += write_session(args.root, session_id, start, rnd, 50, open_session=tasks % 1000 == 900)
        n = 450 if tasks == 0 else 1000 + tasks
        # The newest tasks finish today, so that "today" questions have answers.
        if tasks % 30 == 0:
            start = end - timedelta(hours=rnd.uniform(1, 20))
        else:
            start = begin + timedelta(seconds=rnd.uniform(0, 29.5 * 86400))
        total += write_task(args.root, n, start, rnd, session_id)
        tasks += 1
    print(json.dumps({"records": total, "tasks": tasks, "sessions": (tasks + 99) // 100}))


if __name__ == "__main__":
    main()
