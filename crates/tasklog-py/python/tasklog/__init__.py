"""Write tasklog task folders from Python.

Every write goes through the Rust tasklog writer (``tasklog._native``), so
validation, stamping (``v``, ``ts``, ``seq``, ``id``), the ``flock`` append
protocol, torn-tail mending, rollback of short writes and secret redaction
are the same code as for Rust agents. Files follow docs/FORMAT.md.

    import tasklog
    writer = tasklog.Writer("/var/log/tasklog")
    task = writer.task("gh-450")
    task.append("events", {"event": "message", "role": "user", "content": "hi"})
    with task.tool("Bash", {"command": "pytest"}) as call:
        call.output = {"exit_code": 0}
    task.final_result("completed", {"pr": 496})

Correlation: inside ``with task.tool(...)`` / ``with task.cycle(...)`` (and
their ``async with`` forms) the open span is kept in a ``contextvars``
variable, so records written meanwhile (in this thread or asyncio task,
and in tasks it creates) name it as ``parent_span_id``, and
:func:`child_env` hands it to child processes as ``TASKLOG_TRACEPARENT``.

All methods are synchronous and take microseconds (the GIL is released
during file I/O); they are safe to call from async code. Under
``append_fsync="always"`` a write waits for the disk: from a busy event
loop, call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextvars
import os
import secrets
from typing import Any, Mapping, NamedTuple, Optional, Union

from . import _native
from ._native import RefusedError, TasklogError

__all__ = [
    "Appended",
    "Cycle",
    "RefusedError",
    "Task",
    "TasklogError",
    "ToolCall",
    "Writer",
    "TRACEPARENT_ENV",
    "EVENTS_STREAM",
    "child_env",
    "current_traceparent",
]

TRACEPARENT_ENV: str = _native.TRACEPARENT_ENV
"""The environment variable a child process reads its trace from."""

EVENTS_STREAM: str = _native.EVENTS_STREAM
"""The stream the typed methods write to (``events``)."""

Json = Any
PathLike = Union[str, "os.PathLike[str]"]

# (trace_id, span_id) of the innermost open tool call or cycle.
_current: contextvars.ContextVar[Optional[tuple]] = contextvars.ContextVar(
    "tasklog_span", default=None
)


class Appended(NamedTuple):
    """Where an appended record landed."""

    seq: int
    """The ``seq`` stamped on it (0 when the record carried its own)."""
    id: str
    """The record's ``id``: the stamped ULID, or the record's own."""
    offset: int
    """Byte offset of the record's first byte in the stream."""


def current_traceparent() -> Optional[str]:
    """The W3C ``traceparent`` of the innermost open span, or ``None``."""
    cur = _current.get()
    return None if cur is None else f"00-{cur[0]}-{cur[1]}-01"


def child_env(env: Optional[Mapping[str, str]] = None) -> dict:
    """A copy of ``env`` (default ``os.environ``) whose ``TASKLOG_TRACEPARENT``
    makes a child process's records children of the innermost open span.

    Without an open span the variable is passed on unchanged."""
    out = dict(os.environ if env is None else env)
    tp = current_traceparent()
    if tp is not None:
        out[TRACEPARENT_ENV] = tp
    return out


class Writer:
    """Writes task folders under one log root (created if missing).

    ``append_fsync`` / ``document_fsync``: ``"never"``, ``"always"`` or
    ``"per-call"`` (docs/FORMAT.md §8.2). ``redact``: ``True`` masks the
    built-in secret patterns, a list of regular expressions masks those.
    Cheap to share across threads."""

    __slots__ = ("_native",)

    def __init__(
        self,
        root: PathLike,
        *,
        append_fsync: str = "never",
        document_fsync: str = "always",
        redact: Union[bool, list, None] = None,
    ) -> None:
        self._native = _native.Writer(
            os.fspath(root),
            append_fsync=append_fsync,
            document_fsync=document_fsync,
            redact=redact,
        )

    @property
    def root(self) -> str:
        """The log root."""
        return os.fspath(self._native.root)

    def task(self, task_id: str, *, traceparent: Optional[str] = None) -> "Task":
        """The task ``task_id``, its folder created if needed.

        Its records join the trace of ``traceparent`` if given, else of the
        innermost open span, else of ``TASKLOG_TRACEPARENT``, else a new one."""
        if traceparent is None:
            traceparent = current_traceparent()
        return Task(self._native.task(task_id, traceparent))

    def __repr__(self) -> str:
        return f"tasklog.Writer({self.root!r})"


class Task:
    """One task folder. Methods raise :class:`RefusedError` when the input is
    refused (nothing written) and :class:`TasklogError` when the system fails."""

    __slots__ = ("_native",)

    def __init__(self, native: "_native.Task") -> None:
        self._native = native

    def _t(self) -> "_native.Task":
        # The innermost open span of this trace is the parent of new records.
        cur = _current.get()
        if cur is None or cur[0] != self._native.trace_id:
            return self._native
        return self._native.with_parent(cur[1])

    @property
    def id(self) -> str:
        """The task id."""
        return self._native.id

    @property
    def dir(self) -> str:
        """The task folder."""
        return os.fspath(self._native.dir)

    @property
    def trace_id(self) -> str:
        """The trace id (32 hex digits) of this task's records."""
        return self._native.trace_id

    def traceparent(self) -> str:
        """The ``traceparent`` for a child process: the innermost open span
        of this trace, else this task's parent span, else a fresh span id."""
        cur = _current.get()
        if cur is not None and cur[0] == self.trace_id:
            return f"00-{cur[0]}-{cur[1]}-01"
        span = self._native.parent_span_id or secrets.token_hex(8)
        return self._native.traceparent(span)

    def child_env(self, env: Optional[Mapping[str, str]] = None) -> dict:
        """``env`` (default ``os.environ``) plus ``TASKLOG_TRACEPARENT`` = :meth:`traceparent`."""
        out = dict(os.environ if env is None else env)
        out[TRACEPARENT_ENV] = self.traceparent()
        return out

    # -- raw records and documents ------------------------------------------

    def append(self, stream: str, record: Mapping[str, Json]) -> Appended:
        """Appends ``record`` (a dict) to ``<stream>.jsonl``, adding the
        envelope fields it lacks; returns its ``seq``, ``id`` and offset."""
        return Appended(*self._t().append(stream, record))

    def append_json(self, stream: str, data: Union[str, bytes]) -> Appended:
        """Appends one JSON object given as text, keeping its bytes."""
        return Appended(*self._native.append_json(stream, _utf8(data)))

    def put(self, doc: str, value: Json) -> None:
        """Atomically replaces ``<doc>.json`` with ``value``."""
        self._native.put(doc, value)

    def put_json(self, doc: str, data: Union[str, bytes]) -> None:
        """Atomically replaces ``<doc>.json`` with JSON text, kept as given."""
        self._native.put_json(doc, _utf8(data))

    def read_doc(self, doc: str) -> Optional[Json]:
        """The parsed ``<doc>.json``, or ``None`` when it does not exist."""
        return self._native.read_doc(doc)

    def event(self, event: str, fields: Optional[Mapping[str, Json]] = None) -> None:
        """Appends any event kind to ``events.jsonl``."""
        self._t().event(event, fields)

    # -- tool calls and cycles ----------------------------------------------

    def tool_start(self, name: str, input: Json = None) -> "ToolCall":
        """Writes ``tool.start`` before the tool runs; returns the open call,
        whose ``complete(output)`` / ``fail(error)`` write the end row."""
        return ToolCall(self, self._t().tool_start(name, input))

    def tool(self, name: str, input: Json = None) -> "ToolCall":
        """``with task.tool(name, input) as call:`` writes ``tool.start``,
        then ``tool.complete`` with ``call.output`` when the block ends, or
        ``tool.fail`` when it raises (the exception propagates). Also
        ``async with``. Records written inside are children of the call."""
        return ToolCall(self, None, name, input)

    def cycle_start(self, name: str, goals: Json = None) -> "Cycle":
        """Writes ``cycle.start``; ``complete(status, outcome)`` ends it."""
        return Cycle(self, self._t().cycle_start(name, goals))

    def cycle(self, name: str, goals: Json = None) -> "Cycle":
        """``with task.cycle(name, goals) as c:`` writes ``cycle.start`` and
        ``cycle.complete`` (status ``ok``, or ``failed`` when the block
        raises; ``c.outcome`` is recorded). Also ``async with``."""
        return Cycle(self, None, name, goals)

    # -- typed events (docs/FORMAT.md §5) -----------------------------------

    def llm_call(self, model: str, **fields: Any) -> None:
        """Appends ``llm.call`` with OpenTelemetry GenAI usage and cost.

        Keywords: ``provider``, ``input_tokens`` (cached included),
        ``output_tokens``, ``cache_read_tokens``, ``cache_write_tokens``,
        ``cost_usd``, ``duration_ms``, ``time_to_first_token_ms``, ``error``,
        ``extra`` (a dict of further fields)."""
        self._t().llm_call(model, **fields)

    def decision(self, decision_point: str, reason: str, **fields: Any) -> None:
        """Appends a ``decision`` with its full reasoning.

        Keywords: ``input``, ``output``, ``context_type``, ``context_id``,
        ``function_name``, ``duration_ms``, ``source_file``."""
        self._t().decision(decision_point, reason, **fields)

    def message(self, role: str, content: Json) -> None:
        """Appends one conversation ``message``."""
        self._t().message(role, content)

    def trigger(self, trigger_type: str, source: str, data: Json = None) -> None:
        """Appends what triggered the agent."""
        self._t().trigger(trigger_type, source, data)

    def set_status(self, status: str, fields: Optional[Mapping[str, Json]] = None) -> None:
        """Appends ``task.status`` and merges the status into ``task.json``."""
        self._t().set_status(status, fields)

    def worker_spawn(
        self, worker_id: str, pid: Optional[int] = None, details: Optional[Mapping[str, Json]] = None
    ) -> None:
        """Appends ``worker.spawn``."""
        self._t().worker_spawn(worker_id, pid, details)

    def worker_exit(
        self,
        worker_id: str,
        status: str,
        exit_code: Optional[int] = None,
        reason: Optional[str] = None,
    ) -> None:
        """Appends ``worker.exit`` (``status``: completed or failed)."""
        self._t().worker_exit(worker_id, status, exit_code, reason)

    def system(self, severity: str, component: str, message: str, details: Json = None) -> None:
        """Appends a ``system`` event (severity: debug, info, warning, error, critical)."""
        self._t().system(severity, component, message, details)

    def session_start(self, session_id: str, details: Json = None) -> None:
        """Appends ``session.start`` (with this process's pid)."""
        self._t().session_start(session_id, details)

    def session_end(self, session_id: str, exit_reason: str = "normal") -> None:
        """Appends ``session.end`` (exit_reason: normal, signal, error)."""
        self._t().session_end(session_id, exit_reason)

    def worktree(
        self, operation: str, path: str, reason: str, details: Optional[Mapping[str, Json]] = None
    ) -> None:
        """Appends a ``worktree`` operation (create, remove, preserve, check)."""
        self._t().worktree(operation, path, reason, details)

    def set_state(self, key: str, value: Json, ttl_seconds: Optional[int] = None) -> None:
        """Sets one key of agent state: ``state.set`` plus ``state.json``
        (latest value per key, with ``expires_at`` when a TTL is given)."""
        self._t().set_state(key, value, ttl_seconds)

    def memory_fact(self, subject: str, fact: str, body: Json = None) -> None:
        """Appends a long-term ``memory.fact``."""
        self._t().memory_fact(subject, fact, body)

    def final_result(self, status: str, result: Json = None) -> None:
        """Appends ``result``, updates ``task.json`` and writes ``result.json``,
        which seals the task."""
        self._t().final_result(status, result)

    def __repr__(self) -> str:
        return f"tasklog.Task({self.id!r})"


def _utf8(data: Union[str, bytes]) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode("utf-8", "strict")
        except UnicodeEncodeError as e:
            # A lone surrogate: what the Rust writer refuses in a JSON text too.
            raise RefusedError(f"not valid UTF-8 (lone surrogate?): {e}") from e
    return data


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Scope:
    """Sets the contextvar for the block of a ``with`` / ``async with``."""

    __slots__ = ("_token",)

    def _push(self, trace_id: str, span_id: str) -> None:
        self._token = _current.set((trace_id, span_id))

    def _pop(self) -> None:
        token = getattr(self, "_token", None)
        if token is not None:
            self._token = None
            try:
                _current.reset(token)
            except ValueError:
                # Exited in another context (e.g. a generator resumed
                # elsewhere): the variable there was never set by us.
                pass


class ToolCall(_Scope):
    """An open tool call. ``tool.start`` is on disk; :meth:`complete` or
    :meth:`fail` writes the end row with the same ``span_id`` and the
    measured ``duration_ms``. As a context manager it closes itself."""

    __slots__ = ("_task", "_span", "_name", "_input", "output")

    def __init__(self, task: Task, span: Any, name: str = "", input: Json = None) -> None:
        self._task = task
        self._span = span
        self._name = name
        self._input = input
        self.output: Json = None
        """What ``tool.complete`` records when the ``with`` block ends."""

    @property
    def span_id(self) -> str:
        """The span id shared by the start and end rows."""
        return self._started().span_id

    @property
    def traceparent(self) -> str:
        """The ``traceparent`` for a child process run by this tool."""
        return self._started().traceparent

    @property
    def closed(self) -> bool:
        """Whether the end row was written."""
        return self._span is not None and self._span.closed

    def child_env(self, env: Optional[Mapping[str, str]] = None) -> dict:
        """``env`` (default ``os.environ``) with ``TASKLOG_TRACEPARENT`` set to this call."""
        out = dict(os.environ if env is None else env)
        out[TRACEPARENT_ENV] = self.traceparent
        return out

    def _started(self) -> Any:
        if self._span is None:
            raise TasklogError("tool call not started: use it in a with block")
        return self._span

    def complete(self, output: Json = None) -> None:
        """Writes ``tool.complete`` with the tool's output."""
        self._started().complete(output)

    def fail(self, error: Json) -> None:
        """Writes ``tool.fail`` with the error (a message or any JSON value)."""
        self._started().fail(error)

    def __enter__(self) -> "ToolCall":
        if self._span is None:
            self._span = self._task._t().tool_start(self._name, self._input)
        self._push(self._task.trace_id, self._span.span_id)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._pop()
        if self._span.closed:
            return None
        if exc is None:
            self._span.complete(self.output)
        else:
            self._span.fail(_describe(exc))
        return None

    async def __aenter__(self) -> "ToolCall":
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        return self.__exit__(exc_type, exc, tb)


class Cycle(_Scope):
    """An open planning cycle: ``cycle.start`` is on disk; :meth:`complete`
    writes ``cycle.complete`` with the status and ``duration_ms``."""

    __slots__ = ("_task", "_span", "_name", "_goals", "outcome")

    def __init__(self, task: Task, span: Any, name: str = "", goals: Json = None) -> None:
        self._task = task
        self._span = span
        self._name = name
        self._goals = goals
        self.outcome: Json = None
        """What ``cycle.complete`` records when the ``with`` block ends."""

    @property
    def span_id(self) -> str:
        """The span id shared by the start and end rows."""
        if self._span is None:
            raise TasklogError("cycle not started: use it in a with block")
        return self._span.span_id

    def complete(self, status: str = "ok", outcome: Json = None) -> None:
        """Writes ``cycle.complete`` (status: ok, failed, aborted)."""
        if self._span is None:
            raise TasklogError("cycle not started: use it in a with block")
        self._span.complete(status, outcome)
        self._span = _Closed(self._span.span_id)

    def __enter__(self) -> "Cycle":
        if self._span is None:
            self._span = self._task._t().cycle_start(self._name, self._goals)
        self._push(self._task.trace_id, self._span.span_id)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._pop()
        if isinstance(self._span, _Closed):
            return None
        if exc is None:
            self.complete("ok", self.outcome)
        else:
            outcome = self.outcome if self.outcome is not None else {"error": _describe(exc)}
            self.complete("failed", outcome)
        return None

    async def __aenter__(self) -> "Cycle":
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        return self.__exit__(exc_type, exc, tb)


class _Closed:
    __slots__ = ("span_id",)

    def __init__(self, span_id: str) -> None:
        self.span_id = span_id
