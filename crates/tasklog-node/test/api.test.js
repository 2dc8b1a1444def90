'use strict';
// The Node API: typed events, tool calls and cycles, AsyncLocalStorage
// correlation, child processes, errors, ESM.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Writer, TasklogError, RefusedError, childEnv } = require('..');
const { tempRoot, events } = require('./support');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('append returns seq, id and offset', () => {
  const task = new Writer(tempRoot()).task('gh-450');
  const a = task.append('events', { event: 'message', role: 'user', content: 'hi' });
  const b = task.append('events', { event: 'message', role: 'assistant', content: 'yo' });
  assert.deepEqual([a.seq, b.seq, a.offset], [1, 2, 0]);
  assert.deepEqual(events(task).map((r) => r.id), [a.id, b.id]);
  assert.ok(a.id < b.id);
});

test('await task.tool writes start before, complete after, with the result', async () => {
  const task = new Writer(tempRoot()).task('gh-450');
  let seen;
  const out = await task.tool('Bash', { command: 'npm test' }, async (call) => {
    seen = events(task).map((r) => r.event);
    await sleep(5);
    task.message('assistant', 'running');
    return { exitCode: 0, span: call.spanId };
  });
  assert.deepEqual(seen, ['tool.start']);
  const [start, msg, end] = events(task);
  assert.equal(msg.parent_span_id, start.span_id);
  assert.equal(end.event, 'tool.complete');
  assert.equal(end.span_id, start.span_id);
  assert.deepEqual(end.output, out);
  assert.ok(end.duration_ms >= 4, `${end.duration_ms}`);
  task.message('assistant', 'after');
  assert.equal(events(task).at(-1).parent_span_id, undefined);
});

test('a throwing tool writes tool.fail and rethrows', async () => {
  const task = new Writer(tempRoot()).task('gh-450');
  await assert.rejects(
    task.tool('Read', { path: 'x' }, async () => {
      throw new TypeError('boom');
    }),
    TypeError,
  );
  const end = events(task).at(-1);
  assert.equal(end.event, 'tool.fail');
  assert.equal(end.error, 'TypeError: boom');
});

test('toolStart with complete / fail, second close throws', () => {
  const task = new Writer(tempRoot()).task('gh-450');
  const call = task.toolStart('Grep', { q: 'x' });
  call.complete(['a.rs']);
  assert.throws(() => call.fail('late'), (e) => e instanceof TasklogError && /already closed/.test(e.message));
  task.toolStart('Grep').fail({ message: 'boom' });
  assert.deepEqual(
    events(task).map((r) => [r.event, r.output ?? null, r.error ?? null]),
    [
      ['tool.start', null, null],
      ['tool.complete', ['a.rs'], null],
      ['tool.start', null, null],
      ['tool.fail', null, { message: 'boom' }],
    ],
  );
});

test('AsyncLocalStorage keeps concurrent tools apart', async () => {
  const task = new Writer(tempRoot()).task('gh-450');
  const run = (name, ms) =>
    task.tool(name, null, async (call) => {
      await sleep(ms);
      task.message('assistant', name);
      return call.spanId;
    });
  const [a, b] = await Promise.all([run('a', 15), run('b', 5)]);
  const parents = Object.fromEntries(
    events(task).filter((r) => r.event === 'message').map((r) => [r.content, r.parent_span_id]),
  );
  assert.deepEqual(parents, { a, b });
});

test('cycles record outcome and failure', async () => {
  const task = new Writer(tempRoot()).task('gh-450');
  await task.cycle('plan-1', ['fix bug'], async () => {
    task.decision({ decisionPoint: 'select_next_task', reason: 'highest priority', input: [1, 2], output: 1 });
    return { done: 1 };
  });
  await assert.rejects(task.cycle('plan-2', null, () => { throw new Error('stuck'); }), /stuck/);
  const recs = events(task);
  assert.deepEqual(recs.map((r) => r.event), ['cycle.start', 'decision', 'cycle.complete', 'cycle.start', 'cycle.complete']);
  assert.equal(recs[1].parent_span_id, recs[0].span_id);
  assert.equal(recs[1].reason, 'highest priority');
  assert.deepEqual([recs[2].status, recs[2].outcome], ['ok', { done: 1 }]);
  assert.deepEqual([recs[4].status, recs[4].outcome], ['failed', { error: 'Error: stuck' }]);
});

test('typed events', () => {
  const task = new Writer(tempRoot()).task('gh-450');
  task.sessionStart('s-1', { argv: ['agent'] });
  task.trigger('issue_detected', 'github', { issue: 450 });
  task.llmCall({
    model: 'claude-sonnet-4-5', provider: 'anthropic', inputTokens: 1200, outputTokens: 300,
    cacheReadTokens: 1000, costUsd: 0.0123, durationMs: 812.5, extra: { request_id: 'r1' },
  });
  task.workerSpawn('w-1', 4242, { worktree: '/tmp/w' });
  task.workerExit('w-1', 'completed', 0);
  task.worktree('create', '/tmp/w', 'new task', { branch: 'fix' });
  task.system('warning', 'scheduler', 'slow', { ms: 900 });
  task.memoryFact('repo', 'uses cargo', { source: 'Cargo.toml' });
  task.setStatus('running', { title: 'Fix it' });
  task.setState('lease', { owner: 'w-1' }, 60);
  task.event('custom.kind', { x: 1 });
  task.sessionEnd('s-1');
  task.finalResult('completed', { pr: 496 });
  const recs = events(task);
  assert.deepEqual(recs.map((r) => r.event), [
    'session.start', 'trigger', 'llm.call', 'worker.spawn', 'worker.exit', 'worktree', 'system',
    'memory.fact', 'task.status', 'state.set', 'custom.kind', 'session.end', 'result',
  ]);
  const usage = recs[2].gen_ai.usage;
  assert.equal(usage.input_tokens, 1200);
  assert.deepEqual(usage.cache_read, { input_tokens: 1000 });
  assert.deepEqual(usage.cost, { amount: 0.0123, currency: 'USD' });
  assert.equal(recs[2].request_id, 'r1');
  assert.equal(recs[0].pid, process.pid);
  const state = task.readDoc('state');
  assert.deepEqual(state.lease.value, { owner: 'w-1' });
  assert.ok(state.lease.expires_at > state.lease.updated_at);
  assert.equal(task.readDoc('task').status, 'completed');
  assert.deepEqual(task.readDoc('result').result, { pr: 496 });
  assert.equal(task.readDoc('missing'), null);
});

test('refused input writes nothing', () => {
  const task = new Writer(tempRoot()).task('gh-450');
  const cyclic = {};
  cyclic.self = cyclic;
  let deep = 1;
  for (let i = 0; i < 127; i++) deep = { a: deep };
  for (const [record, needle] of [
    [{ x: 1n }, /BigInt/],
    [cyclic, /circular/i],
    [[1, 2], /must be an object/],
    [{ x: '\ud800' }, /lone surrogate/],
    [{ a: deep }, /deeper than 128/],
  ]) {
    assert.throws(() => task.append('events', record), (e) => e instanceof RefusedError && needle.test(e.message), String(needle));
  }
  assert.throws(() => task.llmCall({ model: 'x', inputTokenz: 1 }), (e) => e instanceof RefusedError && /inputTokenz/.test(e.message));
  assert.throws(() => task.append('bad/name', {}), RefusedError);
  assert.deepEqual(fs.readdirSync(task.dir), []);
  assert.throws(() => new Writer(tempRoot(), { appendFsync: 'sometimes' }), RefusedError);
  assert.throws(() => new Writer(tempRoot()).task('../escape'), RefusedError);
});

test('system errors are TasklogError naming the file', () => {
  const dir = tempRoot();
  const blocker = path.join(dir, 'file');
  fs.writeFileSync(blocker, 'x');
  assert.throws(
    () => new Writer(path.join(blocker, 'root')),
    (e) => e instanceof TasklogError && !(e instanceof RefusedError) && e.message.includes(blocker),
  );
});

test('redaction', () => {
  const task = new Writer(tempRoot(), { redact: ['hunter[0-9]'] }).task('gh-450');
  task.message('user', 'pw hunter2');
  assert.equal(events(task)[0].content, 'pw [REDACTED]');
});

test('a child process joins the trace through TASKLOG_TRACEPARENT', async () => {
  const root = tempRoot();
  const task = new Writer(root).task('gh-450');
  const code = "const {Writer}=require(process.argv[1]); new Writer(process.argv[2]).task('gh-450').message('assistant','from child')";
  let span;
  await task.tool('spawn', null, (call) => {
    span = call.spanId;
    execFileSync(process.execPath, ['-e', code, path.join(__dirname, '..'), root], { env: childEnv() });
  });
  const child = events(task).find((r) => r.content === 'from child');
  assert.equal(child.trace_id, task.traceId);
  assert.equal(child.parent_span_id, span);
  // A task opened inside a span joins it too.
  await task.tool('sub', null, (call) => {
    const inner = new Writer(root).task('gh-451');
    assert.equal(inner.traceId, task.traceId);
    inner.message('user', 'x');
    assert.equal(events(inner)[0].parent_span_id, call.spanId);
  });
});

test('ESM import gives the same classes', async () => {
  const esm = await import('../index.mjs');
  assert.equal(esm.Writer, Writer);
  assert.equal(esm.default.Writer, Writer);
});
