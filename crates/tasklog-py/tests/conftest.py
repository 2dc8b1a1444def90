"""Shared helpers of the tasklog Python tests."""

import json
import os
import re
from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parents[2] / "tasklog-writer" / "tests" / "conformance.json"

HOLES = {
    "<TS>": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z",
    "<ID>": r"(?P<id>[0-9A-HJKMNP-TV-Z]{26})",
    "<TRACE>": r"[0-9a-f]{32}",
    "<SPAN>": r"[0-9a-f]{16}",
}


def line_pattern(expected: str) -> "re.Pattern[str]":
    """The regex of an expected line: literal text, placeholders as their forms."""
    parts = re.split(r"(<TS>|<ID>|<TRACE>|<SPAN>)", expected)
    return re.compile("".join(HOLES.get(p, re.escape(p)) for p in parts), re.S)


def vectors() -> dict:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def lines(path) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f.read().splitlines()]


@pytest.fixture(autouse=True)
def _no_inherited_trace(monkeypatch):
    # A traceparent from the environment running the tests would change
    # every record's trace.
    monkeypatch.delenv("TASKLOG_TRACEPARENT", raising=False)
    yield
    os.environ.pop("TASKLOG_TRACEPARENT", None)
