"""The Python API: typed events, tool calls and cycles, correlation through
contextvars and child processes, errors, threads."""

import asyncio
import json
import os
import subprocess
import sys
import threading

import pytest

import tasklog
from conftest import lines


def events(task):
    return lines(os.path.join(task.dir, "events.jsonl"))


def test_append_returns_seq_and_id(root):
    task = tasklog.Writer(root).task("gh-450")
    a = task.append("events", {"event": "message", "role": "user", "content": "hi"})
    b = task.append("events", {"event": "message", "role": "assistant", "content": "yo"})
    assert (a.seq, b.seq) == (1, 2)
    assert a.offset == 0 and b.offset > 0
    recs = events(task)
    assert [r["id"] for r in recs] == [a.id, b.id] and a.id < b.id


def test_tool_context_manager_completes_with_output(root):
    task = tasklog.Writer(root).task("gh-450")
    with task.tool("Bash", {"command": "pytest"}) as call:
        # The pre-execution row is on disk before the tool runs.
        assert [r["event"] for r in events(task)] == ["tool.start"]
        task.message("assistant", "running")
        call.output = {"exit_code": 0}
    start, msg, end = events(task)
    assert start["status"] == "running" and start["input"] == {"command": "pytest"}
    assert msg["parent_span_id"] == call.span_id == start["span_id"] == end["span_id"]
    assert end["event"] == "tool.complete" and end["output"] == {"exit_code": 0}
    assert end["duration_ms"] >= 0
    task.message("assistant", "after")
    assert "parent_span_id" not in events(task)[-1]


def test_tool_exception_writes_fail_and_reraises(root):
    task = tasklog.Writer(root).task("gh-450")
    with pytest.raises(KeyError):
        with task.tool("Read", {"path": "x"}):
            raise KeyError("x")
    end = events(task)[-1]
    assert end["event"] == "tool.fail" and end["status"] == "error"
    assert end["error"] == "KeyError: 'x'"


def test_tool_start_complete_and_fail(root):
    task = tasklog.Writer(root).task("gh-450")
    call = task.tool_start("Grep", {"q": "x"})
    call.complete(["a.rs"])
    with pytest.raises(tasklog.TasklogError, match="already closed"):
        call.fail("late")
    other = task.tool_start("Grep")
    other.fail({"message": "boom"})
    kinds = [(r["event"], r.get("output"), r.get("error")) for r in events(task)]
    assert kinds == [
        ("tool.start", None, None),
        ("tool.complete", ["a.rs"], None),
        ("tool.start", None, None),
        ("tool.fail", None, {"message": "boom"}),
    ]


def test_async_tool_and_contextvars_follow_each_asyncio_task(root):
    task = tasklog.Writer(root).task("gh-450")

    async def worker(name):
        async with task.tool(name) as call:
            await asyncio.sleep(0.01)
            task.message("assistant", name)
            call.output = name
        return call.span_id

    async def main():
        return await asyncio.gather(worker("a"), worker("b"))

    span_a, span_b = asyncio.run(main())
    msgs = {r["content"]: r["parent_span_id"] for r in events(task) if r["event"] == "message"}
    assert msgs == {"a": span_a, "b": span_b}


def test_cycle_records_outcome_and_failure(root):
    task = tasklog.Writer(root).task("gh-450")
    with task.cycle("plan-1", ["fix bug"]) as c:
        task.decision("select_next_task", "highest priority", input=[1, 2], output=1)
        c.outcome = {"done": 1}
    with pytest.raises(RuntimeError):
        with task.cycle("plan-2"):
            raise RuntimeError("stuck")
    recs = events(task)
    assert [r["event"] for r in recs] == [
        "cycle.start", "decision", "cycle.complete", "cycle.start", "cycle.complete",
    ]
    assert recs[1]["parent_span_id"] == recs[0]["span_id"]
    assert recs[1]["reason"] == "highest priority" and recs[1]["name"] == "select_next_task"
    assert recs[2]["status"] == "ok" and recs[2]["outcome"] == {"done": 1}
    assert recs[4]["status"] == "failed" and recs[4]["outcome"] == {"error": "RuntimeError: stuck"}


def test_typed_events(root):
    task = tasklog.Writer(root).task("gh-450")
    task.session_start("s-1", {"argv": ["agent"]})
    task.trigger("issue_detected", "github", {"issue": 450})
    task.llm_call(
        "claude-sonnet-4-5", provider="anthropic", input_tokens=1200, output_tokens=300,
        cache_read_tokens=1000, cost_usd=0.0123, duration_ms=812.5, extra={"request_id": "r1"},
    )
    task.worker_spawn("w-1", 4242, {"worktree": "/tmp/w"})
    task.worker_exit("w-1", "completed", 0)
    task.worktree("create", "/tmp/w", "new task", {"branch": "fix"})
    task.system("warning", "scheduler", "slow", {"ms": 900})
    task.memory_fact("repo", "uses cargo", {"source": "Cargo.toml"})
    task.set_status("running", {"title": "Fix it"})
    task.set_state("lease", {"owner": "w-1"}, ttl_seconds=60)
    task.event("custom.kind", {"x": 1})
    task.session_end("s-1", "normal")
    task.final_result("completed", {"pr": 496})
    recs = events(task)
    kinds = [r["event"] for r in recs]
    assert kinds == [
        "session.start", "trigger", "llm.call", "worker.spawn", "worker.exit", "worktree",
        "system", "memory.fact", "task.status", "state.set", "custom.kind", "session.end", "result",
    ]
    llm = recs[2]["gen_ai"]
    assert llm["request"]["model"] == "claude-sonnet-4-5"
    assert llm["usage"]["input_tokens"] == 1200 and llm["usage"]["cache_read"] == {"input_tokens": 1000}
    assert llm["usage"]["cost"] == {"amount": 0.0123, "currency": "USD"}
    assert recs[2]["request_id"] == "r1"
    assert recs[0]["pid"] == os.getpid()
    state = task.read_doc("state")
    assert state["lease"]["value"] == {"owner": "w-1"} and state["lease"]["expires_at"] > state["lease"]["updated_at"]
    doc = task.read_doc("task")
    assert doc["status"] == "completed" and doc["title"] == "Fix it"
    assert task.read_doc("result")["result"] == {"pr": 496}
    assert task.read_doc("missing") is None


@pytest.mark.parametrize(
    "record, needle",
    [
        ({"x": float("nan")}, "not a JSON number"),
        ({"x": float("inf")}, "not a JSON number"),
        ({"x": {1, 2}}, "set is not JSON"),
        ({1: "x"}, "keys must be str"),
        ({"x": 2**64}, "does not fit in 64 bits"),
        ({"x": "\ud800"}, "lone surrogate"),
        (["not", "a", "dict"], "must be a dict"),
    ],
)
def test_refused_values_write_nothing(root, record, needle):
    task = tasklog.Writer(root).task("gh-450")
    with pytest.raises(tasklog.RefusedError, match=needle):
        task.append("events", record)
    assert os.listdir(task.dir) == []


def test_dict_depth_limit_matches_the_raw_path(root):
    task = tasklog.Writer(root).task("gh-450")
    for depth in (127, 128):
        value = 1
        for _ in range(depth - 1):
            value = {"a": value}
        record = {"a": value}
        raw = json.dumps(record).encode()
        outcomes = []
        for run in (lambda: task.append("d", record), lambda: task.append_json("d", raw)):
            try:
                run()
                outcomes.append("ok")
            except tasklog.RefusedError:
                outcomes.append("refused")
        assert outcomes == (["ok", "ok"] if depth == 127 else ["refused", "refused"])


def test_io_errors_name_the_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(tasklog.TasklogError, match=str(blocker)) as err:
        tasklog.Writer(blocker / "root")
    assert not isinstance(err.value, tasklog.RefusedError)


def test_bad_names_and_options_are_refused(root):
    with pytest.raises(tasklog.RefusedError, match="fsync"):
        tasklog.Writer(root, append_fsync="sometimes")
    with pytest.raises(tasklog.RefusedError):
        tasklog.Writer(root).task("../escape")
    with pytest.raises(tasklog.RefusedError, match="traceparent"):
        tasklog.Writer(root).task("gh-1", traceparent="garbage")


def test_redaction(root):
    task = tasklog.Writer(root, redact=True).task("gh-450")
    task.message("user", "key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789")
    assert "sk-ant" not in open(os.path.join(task.dir, "events.jsonl")).read()
    custom = tasklog.Writer(root, redact=["hunter[0-9]"]).task("gh-451")
    custom.message("user", "pw hunter2")
    assert events(custom)[0]["content"] == "pw [REDACTED]"


def test_child_process_joins_the_trace(root):
    task = tasklog.Writer(root).task("gh-450")
    code = (
        "import sys, tasklog; t = tasklog.Writer(sys.argv[1]).task('gh-450');"
        "t.message('assistant', 'from child')"
    )
    with task.tool("spawn") as call:
        subprocess.run([sys.executable, "-c", code, str(root)], env=call.child_env(), check=True)
    child = [r for r in events(task) if r.get("content") == "from child"][0]
    assert child["trace_id"] == task.trace_id
    assert child["parent_span_id"] == call.span_id
    # A task opened inside a span, in this process, joins it the same way.
    with task.tool("sub") as sub:
        inner = tasklog.Writer(root).task("gh-451")
        assert inner.trace_id == task.trace_id
        inner.message("user", "x")
    assert events(inner)[0]["parent_span_id"] == sub.span_id


def test_threads_share_a_stream(root):
    writer = tasklog.Writer(root)

    def run(n):
        task = writer.task("gh-450")
        for i in range(500):
            task.append("events", {"thread": n, "i": i})

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recs = lines(os.path.join(root, "gh-450", "events.jsonl"))
    assert [r["seq"] for r in recs] == list(range(1, 2001))


def test_text_with_a_lone_surrogate_is_refused(root):
    task = tasklog.Writer(root).task("gh-450")
    with pytest.raises(tasklog.RefusedError, match="lone surrogate"):
        task.append_json("events", '{"a":"\ud800"}')
    with pytest.raises(tasklog.RefusedError, match="lone surrogate"):
        task.put_json("plan", '"\ud800"')
    assert os.listdir(task.dir) == []
