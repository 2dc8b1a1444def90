// Types of the tasklog Node.js writer (index.js). docs/WRITERS.md documents it.

/** Any value JSON.stringify accepts. */
export type Json = unknown;

/** The environment variable a child process reads its trace from. */
export const TRACEPARENT_ENV: 'TASKLOG_TRACEPARENT';
/** The stream the typed methods write to. */
export const EVENTS_STREAM: 'events';

/** A tasklog write failed; the message is the Rust writer's, naming the file. */
export class TasklogError extends Error {}
/** The input was refused (bad name, not an object, bad envelope field); nothing was written. */
export class RefusedError extends TasklogError {}

/** Where an appended record landed. */
export interface Appended {
  /** The `seq` stamped on it (0 when the record carried its own). */
  seq: number;
  /** The record's `id`: the stamped ULID, or the record's own. */
  id: string;
  /** Byte offset of the record's first byte in the stream. */
  offset: number;
}

export type FsyncPolicy = 'never' | 'always' | 'per-call';

export interface WriterOptions {
  /** fdatasync after each append (default 'never'). */
  appendFsync?: FsyncPolicy;
  /** fsync of replaced documents (default 'always'). */
  documentFsync?: FsyncPolicy;
  /** true masks the built-in secret patterns; an array masks those regular expressions. */
  redact?: boolean | string[];
}

/** The W3C traceparent of the innermost open span, or null. */
export function currentTraceparent(): string | null;
/** A copy of env (default process.env) with TASKLOG_TRACEPARENT set to the innermost open span. */
export function childEnv(env?: Record<string, string | undefined>): Record<string, string | undefined>;

/** Writes task folders under one log root (created if missing). */
export class Writer {
  constructor(root: string, options?: WriterOptions);
  /** The log root. */
  readonly root: string;
  /**
   * The task `id`, its folder created if needed; in the trace of `traceparent`,
   * else of the innermost open span, else of TASKLOG_TRACEPARENT, else a new one.
   */
  task(id: string, options?: { traceparent?: string }): Task;
}

export interface LlmCall {
  /** Requested model, e.g. claude-sonnet-4-5. */
  model: string;
  /** Provider, e.g. anthropic, openai. */
  provider?: string;
  /** Input tokens, OpenTelemetry semantics: cached tokens included. */
  inputTokens?: number;
  outputTokens?: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  /** Cost in USD when the provider reported one; otherwise the index prices it. */
  costUsd?: number;
  durationMs?: number;
  timeToFirstTokenMs?: number;
  /** An error message when the request failed. */
  error?: string;
  /** Further fields of the record (request id, raw usage, ...). */
  extra?: Record<string, Json>;
}

export interface Decision {
  /** What was decided, e.g. select_next_task. */
  decisionPoint: string;
  /** The reasoning, in full. */
  reason: string;
  input?: Json;
  output?: Json;
  /** coordinator, worker, task, worktree. */
  contextType?: string;
  contextId?: string;
  functionName?: string;
  durationMs?: number;
  /** file:line of the decision in the agent's code. */
  sourceFile?: string;
}

/** One task folder. Methods throw RefusedError / TasklogError. */
export class Task {
  readonly id: string;
  readonly dir: string;
  readonly traceId: string;
  /** traceparent for a child process: the innermost open span of this trace, else the task's parent. */
  traceparent(): string;
  childEnv(env?: Record<string, string | undefined>): Record<string, string | undefined>;

  /** Appends `record` to `<stream>.jsonl`, adding the envelope fields it lacks. */
  append(stream: string, record: Record<string, Json>): Appended;
  /** Appends one JSON object given as text or bytes, keeping its bytes. */
  appendJson(stream: string, data: string | Buffer): Appended;
  /** Atomically replaces `<doc>.json` with `value`. */
  put(doc: string, value: Json): void;
  /** Atomically replaces `<doc>.json` with JSON text or bytes, kept as given. */
  putJson(doc: string, data: string | Buffer): void;
  /** The parsed `<doc>.json`, or null when it does not exist. */
  readDoc(doc: string): Json | null;
  /** Appends any event kind to events.jsonl. */
  event(event: string, fields?: Record<string, Json>): void;

  /** Writes `tool.start` before the tool runs; complete()/fail() write the end row. */
  toolStart(name: string, input?: Json): ToolCall;
  /**
   * Writes `tool.start`, runs `fn` with the call as the current span, then
   * `tool.complete` with its result, or `tool.fail` when it throws (rethrown).
   */
  tool<T>(name: string, input: Json, fn: (call: ToolCall) => T | Promise<T>): Promise<T>;
  /** Writes `cycle.start`; complete(status, outcome) writes `cycle.complete`. */
  cycleStart(name: string, goals?: Json): Cycle;
  /** Runs `fn` inside a planning cycle; status 'ok' with its result, or 'failed'. */
  cycle<T>(name: string, goals: Json, fn: (cycle: Cycle) => T | Promise<T>): Promise<T>;

  /** Appends `llm.call` with OpenTelemetry GenAI usage and cost. */
  llmCall(call: LlmCall): void;
  /** Appends a `decision` with its full reasoning. */
  decision(decision: Decision): void;
  message(role: string, content: Json): void;
  trigger(triggerType: string, source: string, data?: Json): void;
  /** Appends `task.status` and merges the status into task.json. */
  setStatus(status: string, fields?: Record<string, Json>): void;
  workerSpawn(workerId: string, pid?: number | null, details?: Record<string, Json>): void;
  workerExit(workerId: string, status: 'completed' | 'failed' | string, exitCode?: number | null, reason?: string | null): void;
  system(severity: 'debug' | 'info' | 'warning' | 'error' | 'critical' | string, component: string, message: string, details?: Json): void;
  sessionStart(sessionId: string, details?: Json): void;
  sessionEnd(sessionId: string, exitReason?: 'normal' | 'signal' | 'error' | string): void;
  worktree(operation: 'create' | 'remove' | 'preserve' | 'check' | string, path: string, reason: string, details?: Record<string, Json>): void;
  /** Sets one key of agent state (state.set plus state.json), with an optional TTL. */
  setState(key: string, value: Json, ttlSeconds?: number): void;
  memoryFact(subject: string, fact: string, body?: Json): void;
  /** Appends `result`, updates task.json and writes result.json, which seals the task. */
  finalResult(status: string, result?: Json): void;
}

/** An open tool call: `tool.start` is on disk. */
export class ToolCall {
  readonly spanId: string;
  /** traceparent for a child process run by this tool. */
  readonly traceparent: string;
  readonly closed: boolean;
  childEnv(env?: Record<string, string | undefined>): Record<string, string | undefined>;
  complete(output?: Json): void;
  /** An Error is recorded as "Name: message". */
  fail(error: unknown): void;
}

/** An open planning cycle: `cycle.start` is on disk. */
export class Cycle {
  readonly spanId: string;
  readonly closed: boolean;
  complete(status?: 'ok' | 'failed' | 'aborted' | string, outcome?: Json): void;
}

declare const _default: {
  Writer: typeof Writer;
  Task: typeof Task;
  ToolCall: typeof ToolCall;
  Cycle: typeof Cycle;
  TasklogError: typeof TasklogError;
  RefusedError: typeof RefusedError;
  TRACEPARENT_ENV: typeof TRACEPARENT_ENV;
  EVENTS_STREAM: typeof EVENTS_STREAM;
  currentTraceparent: typeof currentTraceparent;
  childEnv: typeof childEnv;
};
export default _default;
