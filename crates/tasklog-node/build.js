#!/usr/bin/env node
// The npm install script: builds the native module with cargo (release,
// --locked against this folder's Cargo.lock) and copies it to
// tasklog.node beside index.js. Needs Rust; nothing is downloaded but
// crates. CARGO_TARGET_DIR is honoured (CI shares one target folder).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const here = __dirname;
const args = ['build', '--release', '--locked', '--manifest-path', path.join(here, 'Cargo.toml')];
const run = spawnSync(process.env.CARGO || 'cargo', args, { stdio: 'inherit' });
if (run.error) {
  console.error(`tasklog: cannot run cargo (${run.error.message}); building the native module needs Rust`);
  process.exit(1);
}
if (run.status !== 0) {
  console.error(`tasklog: cargo ${args.join(' ')} failed (exit ${run.status})`);
  process.exit(run.status || 1);
}
const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(process.env.CARGO_TARGET_DIR)
  : path.join(here, 'target');
const names = {
  linux: 'libtasklog_node.so',
  darwin: 'libtasklog_node.dylib',
  win32: 'tasklog_node.dll',
};
const name = names[process.platform];
if (!name) {
  console.error(`tasklog: unsupported platform ${process.platform}`);
  process.exit(1);
}
// Copy to a temporary name and rename, so a running process that loaded
// the old module keeps a whole file.
const out = path.join(here, 'tasklog.node');
const tmp = `${out}.${process.pid}.tmp`;
fs.copyFileSync(path.join(targetDir, 'release', name), tmp);
fs.renameSync(tmp, out);
