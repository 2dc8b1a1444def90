'use strict';
// Helpers of the node --test suites.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const VECTORS = path.join(__dirname, '..', '..', 'tasklog-writer', 'tests', 'conformance.json');

const HOLES = {
  '<TS>': '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z',
  '<ID>': '(?<id>[0-9A-HJKMNP-TV-Z]{26})',
  '<TRACE>': '[0-9a-f]{32}',
  '<SPAN>': '[0-9a-f]{16}',
};

/** The regex of an expected line: literal text, placeholders as their forms. */
function linePattern(expected) {
  const parts = expected.split(/(<TS>|<ID>|<TRACE>|<SPAN>)/);
  const body = parts
    .map((p) => HOLES[p] ?? p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('');
  return new RegExp(`^${body}$`, 's');
}

function vectors() {
  return JSON.parse(fs.readFileSync(VECTORS, 'utf8'));
}

function tempRoot() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tasklog-node-'));
}

function events(task, stream = 'events') {
  return fs
    .readFileSync(path.join(task.dir, `${stream}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

delete process.env.TASKLOG_TRACEPARENT;

module.exports = { linePattern, vectors, tempRoot, events };
