#!/usr/bin/env node
// Runs the compiled test suite (dist/test/**/*.test.js) with node's built-in test runner.
// `npm test -- dbc mdf4` runs only the test files whose path contains one of the words.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const testRoot = join(root, 'dist', 'test');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith('-'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = walk(testRoot)
  .filter((f) => filters.length === 0 || filters.some((w) => relative(testRoot, f).includes(w)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// Every test, and each file's process as a whole, gets at most 10 minutes: a process that finished its tests but
// does not exit (a handle left open, or Node 20's exit deadlock, nodejs/node#54918) is killed and reported as
// cancelled under its file's name, instead of holding the run until CI's own limit. `--test-timeout=N` overrides.
const timeout = passThrough.some((a) => a.startsWith('--test-timeout')) ? [] : ['--test-timeout=600000'];
const r = spawnSync(process.execPath, ['--test', ...timeout, ...passThrough, ...files], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
