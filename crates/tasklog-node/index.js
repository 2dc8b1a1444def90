'use strict';
/**
 * Write tasklog task folders from Node.js.
 *
 * Every write goes through the Rust tasklog writer (tasklog.node, built by
 * `npm install`), so validation, stamping (v, ts, seq, id), the flock
 * append protocol, torn-tail mending, rollback of short writes and secret
 * redaction are the same code as for Rust agents (docs/FORMAT.md).
 *
 *   const { Writer } = require('tasklog');
 *   const task = new Writer('/var/log/tasklog').task('gh-450');
 *   task.append('events', { event: 'message', role: 'user', content: 'hi' });
 *   await task.tool('Bash', { command: 'npm test' }, async () => runTests());
 *   task.finalResult('completed', { pr: 496 });
 *
 * Correlation: inside `task.tool(...)` / `task.cycle(...)` callbacks the
 * open span is kept in an AsyncLocalStorage, so records written meanwhile
 * (across awaits) name it as parent_span_id, and `childEnv()` hands it to
 * child processes as TASKLOG_TRACEPARENT.
 *
 * Methods are synchronous and take microseconds; under appendFsync
 * 'always' a write waits for the disk.
 */

const { AsyncLocalStorage } = require('node:async_hooks');
const crypto = require('node:crypto');
const native = require('./tasklog.node');

const TRACEPARENT_ENV = 'TASKLOG_TRACEPARENT';
const EVENTS_STREAM = 'events';

/** {traceId, spanId} of the innermost open tool call or cycle. */
const storage = new AsyncLocalStorage();

/** A tasklog write failed; the message is the Rust writer's. */
class TasklogError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'TasklogError';
  }
}

/** The input was refused (bad name, not an object, bad envelope field); nothing was written. */
class RefusedError extends TasklogError {
  constructor(message, options) {
    super(message, options);
    this.name = 'RefusedError';
  }
}

// The native layer throws Errors whose `code` is napi's status:
// GenericFailure for system failures, InvalidArg (or a type-check status
// such as StringExpected) when the input was refused.
function wrap(e) {
  if (e instanceof TasklogError || !(e instanceof Error) || typeof e.code !== 'string') {
    return e;
  }
  const Cls = e.code === 'GenericFailure' ? TasklogError : RefusedError;
  return new Cls(e.message, { cause: e });
}

function stringify(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    // BigInt, cycles: refused before anything is written.
    throw new RefusedError(`not JSON: ${e.message}`, { cause: e });
  }
  return text; // undefined for undefined/functions: the native side writes null
}

function describe(error) {
  if (error instanceof Error) {
    return error.message ? `${error.name}: ${error.message}` : error.name;
  }
  return error === undefined ? null : error;
}

function traceparentOf(cur) {
  return `00-${cur.traceId}-${cur.spanId}-01`;
}

/** The W3C traceparent of the innermost open span, or null. */
function currentTraceparent() {
  const cur = storage.getStore();
  return cur === undefined ? null : traceparentOf(cur);
}

/**
 * A copy of `env` (default process.env) whose TASKLOG_TRACEPARENT makes a
 * child process's records children of the innermost open span.
 */
function childEnv(env) {
  const out = { ...(env === undefined ? process.env : env) };
  const tp = currentTraceparent();
  if (tp !== null) out[TRACEPARENT_ENV] = tp;
  return out;
}

/** Writes task folders under one log root (created if missing). */
class Writer {
  /**
   * @param {string} root
   * @param {{appendFsync?: string, documentFsync?: string, redact?: boolean|string[]}} [options]
   */
  constructor(root, options = {}) {
    const { appendFsync, documentFsync, redact } = options;
    try {
      this._native = new native.NativeWriter(
        String(root),
        appendFsync,
        documentFsync,
        redact === undefined ? undefined : JSON.stringify(redact),
      );
    } catch (e) {
      throw wrap(e);
    }
  }

  /** The log root. */
  get root() {
    return this._native.root;
  }

  /**
   * The task `id`, its folder created if needed; in the trace of
   * `traceparent`, else of the innermost open span, else of
   * TASKLOG_TRACEPARENT, else a new one.
   */
  task(id, options = {}) {
    const traceparent = options.traceparent ?? currentTraceparent() ?? undefined;
    try {
      return new Task(this._native.task(id, traceparent));
    } catch (e) {
      throw wrap(e);
    }
  }
}

/** One task folder. */
class Task {
  constructor(nativeTask) {
    this._native = nativeTask;
    this._traceId = nativeTask.traceId;
  }

  // The innermost open span of this trace is the parent of new records.
  _t() {
    const cur = storage.getStore();
    if (cur === undefined || cur.traceId !== this._traceId) return this._native;
    return this._native.withParent(cur.spanId);
  }

  _call(method, ...args) {
    try {
      return this._t()[method](...args);
    } catch (e) {
      throw wrap(e);
    }
  }

  /** The task id. */
  get id() {
    return this._native.id;
  }

  /** The task folder. */
  get dir() {
    return this._native.dir;
  }

  /** The trace id of this task's records. */
  get traceId() {
    return this._traceId;
  }

  /**
   * The traceparent for a child process: the innermost open span of this
   * trace, else this task's parent span, else a fresh span id.
   */
  traceparent() {
    const cur = storage.getStore();
    if (cur !== undefined && cur.traceId === this._traceId) return traceparentOf(cur);
    const span = this._native.parentSpanId ?? crypto.randomBytes(8).toString('hex');
    return this._native.traceparent(span);
  }

  /** `env` (default process.env) plus TASKLOG_TRACEPARENT = traceparent(). */
  childEnv(env) {
    return { ...(env === undefined ? process.env : env), [TRACEPARENT_ENV]: this.traceparent() };
  }

  /**
   * Appends `record` (an object) to `<stream>.jsonl`, adding the envelope
   * fields it lacks; returns `{seq, id, offset}`.
   */
  append(stream, record) {
    return this._call('append', stream, stringify(record));
  }

  /** Appends one JSON object given as text or bytes, keeping its bytes. */
  appendJson(stream, data) {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    try {
      return this._native.appendJson(stream, buf);
    } catch (e) {
      throw wrap(e);
    }
  }

  /** Atomically replaces `<doc>.json` with `value`. */
  put(doc, value) {
    const text = stringify(value);
    if (text === undefined) throw new RefusedError(`${doc}: a document must be a JSON value`);
    this._call('put', doc, text);
  }

  /** Atomically replaces `<doc>.json` with JSON text or bytes, kept as given. */
  putJson(doc, data) {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this._call('putJson', doc, buf);
  }

  /** The parsed `<doc>.json`, or null when it does not exist. */
  readDoc(doc) {
    const text = this._call('readDoc', doc);
    return text === null || text === undefined ? null : JSON.parse(text);
  }

  /** Appends any event kind to events.jsonl. */
  event(event, fields) {
    this._call('event', event, stringify(fields));
  }

  /**
   * Writes `tool.start` before the tool runs; returns the open call, whose
   * `complete(output)` / `fail(error)` write the end row.
   */
  toolStart(name, input) {
    return new ToolCall(this, this._call('toolStart', name, stringify(input)));
  }

  /**
   * Writes `tool.start`, runs `fn(call)` with the call as the current span,
   * then `tool.complete` with its result, or `tool.fail` when it throws
   * (the error is rethrown). Resolves to `fn`'s result.
   */
  async tool(name, input, fn) {
    const call = this.toolStart(name, input);
    let result;
    try {
      result = await storage.run({ traceId: this._traceId, spanId: call.spanId }, fn, call);
    } catch (e) {
      if (!call.closed) call.fail(e);
      throw e;
    }
    if (!call.closed) call.complete(result);
    return result;
  }

  /** Writes `cycle.start`; returns the open cycle (`complete(status, outcome)`). */
  cycleStart(name, goals) {
    return new Cycle(this._call('cycleStart', name, stringify(goals)));
  }

  /**
   * Writes `cycle.start`, runs `fn(cycle)` as the current span, then
   * `cycle.complete` with status 'ok' and its result as the outcome, or
   * 'failed' when it throws (rethrown).
   */
  async cycle(name, goals, fn) {
    const cycle = this.cycleStart(name, goals);
    let result;
    try {
      result = await storage.run({ traceId: this._traceId, spanId: cycle.spanId }, fn, cycle);
    } catch (e) {
      if (!cycle.closed) cycle.complete('failed', { error: describe(e) });
      throw e;
    }
    if (!cycle.closed) cycle.complete('ok', result);
    return result;
  }

  /**
   * Appends `llm.call` with OpenTelemetry GenAI usage and cost:
   * `{model, provider, inputTokens, outputTokens, cacheReadTokens,
   * cacheWriteTokens, costUsd, durationMs, timeToFirstTokenMs, error, extra}`.
   */
  llmCall(call) {
    this._call('llmCall', stringify(call));
  }

  /**
   * Appends a `decision`: `{decisionPoint, reason, input, output,
   * contextType, contextId, functionName, durationMs, sourceFile}`.
   */
  decision(decision) {
    this._call('decision', stringify(decision));
  }

  /** Appends one conversation message. */
  message(role, content) {
    this._call('message', role, stringify(content));
  }

  /** Appends what triggered the agent. */
  trigger(triggerType, source, data) {
    this._call('trigger', triggerType, source, stringify(data));
  }

  /** Appends `task.status` and merges the status into task.json. */
  setStatus(status, fields) {
    this._call('setStatus', status, stringify(fields));
  }

  /** Appends `worker.spawn`. */
  workerSpawn(workerId, pid, details) {
    this._call('workerSpawn', workerId, pid ?? undefined, stringify(details));
  }

  /** Appends `worker.exit` (status: completed or failed). */
  workerExit(workerId, status, exitCode, reason) {
    this._call('workerExit', workerId, status, exitCode ?? undefined, reason ?? undefined);
  }

  /** Appends a `system` event (severity: debug, info, warning, error, critical). */
  system(severity, component, message, details) {
    this._call('system', severity, component, message, stringify(details));
  }

  /** Appends `session.start` (with this process's pid). */
  sessionStart(sessionId, details) {
    this._call('sessionStart', sessionId, stringify(details));
  }

  /** Appends `session.end` (exitReason: normal, signal, error). */
  sessionEnd(sessionId, exitReason = 'normal') {
    this._call('sessionEnd', sessionId, exitReason);
  }

  /** Appends a worktree operation (create, remove, preserve, check). */
  worktree(operation, path, reason, details) {
    this._call('worktree', operation, path, reason, stringify(details));
  }

  /** Sets one key of agent state (state.set plus state.json), with an optional TTL. */
  setState(key, value, ttlSeconds) {
    this._call('setState', key, stringify(value), ttlSeconds ?? undefined);
  }

  /** Appends a long-term memory fact. */
  memoryFact(subject, fact, body) {
    this._call('memoryFact', subject, fact, stringify(body));
  }

  /** Appends `result`, updates task.json and writes result.json, which seals the task. */
  finalResult(status, result) {
    this._call('finalResult', status, stringify(result));
  }
}

/** An open tool call: `tool.start` is on disk. */
class ToolCall {
  constructor(task, span) {
    this._task = task;
    this._span = span;
  }

  /** The span id shared by the start and end rows. */
  get spanId() {
    return this._span.spanId;
  }

  /** The traceparent for a child process run by this tool. */
  get traceparent() {
    return this._span.traceparent;
  }

  /** Whether the end row was written. */
  get closed() {
    return this._span.closed;
  }

  /** `env` (default process.env) with TASKLOG_TRACEPARENT set to this call. */
  childEnv(env) {
    return { ...(env === undefined ? process.env : env), [TRACEPARENT_ENV]: this.traceparent };
  }

  /** Writes `tool.complete` with the tool's output. */
  complete(output) {
    try {
      this._span.complete(stringify(output));
    } catch (e) {
      throw wrap(e);
    }
  }

  /** Writes `tool.fail`; an Error is recorded as "Name: message". */
  fail(error) {
    try {
      this._span.fail(stringify(describe(error)));
    } catch (e) {
      throw wrap(e);
    }
  }
}

/** An open planning cycle: `cycle.start` is on disk. */
class Cycle {
  constructor(span) {
    this._span = span;
  }

  /** The span id shared by the start and end rows. */
  get spanId() {
    return this._span.spanId;
  }

  /** Whether `cycle.complete` was written. */
  get closed() {
    return this._span.closed;
  }

  /** Writes `cycle.complete` (status: ok, failed, aborted). */
  complete(status = 'ok', outcome) {
    try {
      this._span.complete(status, stringify(outcome));
    } catch (e) {
      throw wrap(e);
    }
  }
}

module.exports = {
  Writer,
  Task,
  ToolCall,
  Cycle,
  TasklogError,
  RefusedError,
  TRACEPARENT_ENV,
  EVENTS_STREAM,
  currentTraceparent,
  childEnv,
};
