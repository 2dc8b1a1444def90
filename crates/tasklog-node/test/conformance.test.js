'use strict';
// The conformance vectors (crates/tasklog-writer/tests/conformance.json)
// through the Node binding: same acceptance, refusals and bytes as Rust.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Writer, RefusedError } = require('..');
const { linePattern, vectors, tempRoot } = require('./support');

const V = vectors();

function check(v, task, run, stream) {
  const file = path.join(task.dir, `${stream}.jsonl`);
  if (v.refuse !== undefined) {
    assert.throws(run, (e) => e instanceof RefusedError && e.message.includes(v.refuse));
    assert.deepEqual(fs.readdirSync(task.dir), [], 'a refused record wrote a file');
    return;
  }
  const appended = run();
  const data = fs.readFileSync(file, 'utf8');
  assert.ok(data.endsWith('\n') && data.indexOf('\n') === data.length - 1, data);
  const m = linePattern(v.line).exec(data.slice(0, -1));
  assert.ok(m, `${data} does not match ${v.line}`);
  assert.equal(appended.seq, v.seq);
  assert.equal(appended.id, v.id ?? m.groups?.id);
}

for (const v of V.records) {
  test(`record vector: ${v.name}`, () => {
    const task = new Writer(tempRoot()).task('gh-450');
    check(v, task, () => task.append(v.stream, v.record), v.stream);
  });
}

for (const v of V.raw) {
  test(`raw vector: ${v.name}`, () => {
    const task = new Writer(tempRoot()).task('gh-450');
    const data = v.hex !== undefined ? Buffer.from(v.hex, 'hex') : Buffer.from(v.text, 'utf8');
    check(v, task, () => task.appendJson('events', data), 'events');
  });
}

for (const v of V.docs) {
  test(`document vector: ${v.name}`, () => {
    const task = new Writer(tempRoot()).task('gh-450');
    const run = v.text !== undefined ? () => task.putJson(v.doc, v.text) : () => task.put(v.doc, v.value);
    if (v.refuse !== undefined) {
      assert.throws(run, (e) => e instanceof RefusedError && e.message.includes(v.refuse));
      assert.deepEqual(fs.readdirSync(task.dir), []);
      return;
    }
    run();
    assert.equal(fs.readFileSync(path.join(task.dir, `${v.doc}.json`), 'utf8'), v.bytes);
  });
}

test('the matcher can fail', () => {
  assert.ok(!linePattern('{"a":"<TS>"}').test('{"a":"2026"}'));
  assert.ok(!linePattern('{"a":1}').test('{"a":2}'));
  assert.ok(linePattern('{"id":"<ID>"}').test('{"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}'));
});
