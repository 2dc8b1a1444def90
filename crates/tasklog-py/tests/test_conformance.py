"""The conformance vectors (crates/tasklog-writer/tests/conformance.json)
through the Python binding: same acceptance, refusals and bytes as Rust."""

import os

import pytest

import tasklog
from conftest import line_pattern, vectors

V = vectors()


def _check(v, task, run, stream):
    path = os.path.join(task.dir, f"{stream}.jsonl")
    if "refuse" in v:
        with pytest.raises(tasklog.RefusedError) as err:
            run()
        assert v["refuse"] in str(err.value)
        assert os.listdir(task.dir) == [], "a refused record wrote a file"
        return
    appended = run()
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    assert data.endswith("\n") and data.count("\n") == 1
    m = line_pattern(v["line"]).fullmatch(data[:-1])
    assert m, f"{data!r} does not match {v['line']!r}"
    assert appended.seq == v["seq"]
    assert appended.id == v.get("id", m.groupdict().get("id"))


@pytest.mark.parametrize("v", V["records"], ids=[v["name"] for v in V["records"]])
def test_record_vectors(v, root):
    task = tasklog.Writer(root).task("gh-450")
    _check(v, task, lambda: task.append(v["stream"], v["record"]), v["stream"])


@pytest.mark.parametrize("v", V["raw"], ids=[v["name"] for v in V["raw"]])
def test_raw_vectors(v, root):
    task = tasklog.Writer(root).task("gh-450")
    data = bytes.fromhex(v["hex"]) if "hex" in v else v["text"].encode("utf-8")
    _check(v, task, lambda: task.append_json("events", data), "events")


@pytest.mark.parametrize("v", V["docs"], ids=[v["name"] for v in V["docs"]])
def test_document_vectors(v, root):
    task = tasklog.Writer(root).task("gh-450")
    if "text" in v:
        run = lambda: task.put_json(v["doc"], v["text"])  # noqa: E731
    else:
        run = lambda: task.put(v["doc"], v["value"])  # noqa: E731
    if "refuse" in v:
        with pytest.raises(tasklog.RefusedError) as err:
            run()
        assert v["refuse"] in str(err.value)
        assert os.listdir(task.dir) == []
        return
    run()
    with open(os.path.join(task.dir, v["doc"] + ".json"), encoding="utf-8") as f:
        assert f.read() == v["bytes"]


def test_the_matcher_can_fail():
    assert not line_pattern('{"a":"<TS>"}').fullmatch('{"a":"2026"}')
    assert not line_pattern('{"a":1}').fullmatch('{"a":2}')
    assert line_pattern('{"id":"<ID>"}').fullmatch('{"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}')
