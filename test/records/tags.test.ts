import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { canonicalTags, TagKeyOrder } from '../../src/records/index.js';
import { repoRoot } from '../harness/paths.js';

test('canonicalTags: one text per tag set, whatever the key order; JSON-escaped where needed', () => {
  assert.equal(canonicalTags({}), '{}');
  assert.equal(canonicalTags({ b: '1', a: '2' }), canonicalTags({ a: '2', b: '1' }));
  assert.equal(canonicalTags({ b: '1', a: '2' }), '{"a":"2","b":"1"}');
  const odd = { a: '"\\', c: 'é\u0001', '\ud800': 'x' };
  assert.equal(canonicalTags(odd), JSON.stringify(Object.fromEntries(Object.entries(odd).sort())));
  assert.deepEqual(JSON.parse(canonicalTags(odd)), odd);
});

test('TagKeyOrder reuses the remembered order only for the very same keys in the very same order', () => {
  const o = new TagKeyOrder();
  assert.equal(canonicalTags({ b: '1', a: '2' }, o), '{"a":"2","b":"1"}');
  assert.equal(canonicalTags({ b: '3', a: '4' }, o), '{"a":"4","b":"3"}');
  assert.equal(canonicalTags({ b: '1', c: '2' }, o), '{"b":"1","c":"2"}');
  assert.equal(canonicalTags({ c: '1', b: '2' }, o), '{"b":"2","c":"1"}');
  assert.equal(canonicalTags({ a: '"\\', c: 'é\u0001' }, o), JSON.stringify({ a: '"\\', c: 'é\u0001' }));
  assert.deepEqual(o.sorted({ z: '', y: '' }), ['y', 'z']);
  assert.deepEqual(o.sorted({ k: '' }), ['k']);
  assert.deepEqual(o.sorted({}), []);
});

test('tag canonicalisation does not load the store: the influx line protocol and the postgres sink run without better-sqlite3', () => {
  // Each module is loaded in a fresh process (from source, under tsx); better-sqlite3 is CommonJS, so loading it
  // anywhere in the import graph would put it in the CommonJS module cache.
  for (const mod of ['src/records/index.ts', 'src/records/line-protocol.ts', 'src/sinks/postgres/sink.ts']) {
    const script = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(join(repoRoot, mod))});
      const cache = Object.keys(createRequire(import.meta.url).cache);
      process.stdout.write(String(cache.some((k) => k.includes('better-sqlite3'))));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, `${mod}: ${r.stderr}`);
    assert.equal(r.stdout, 'false', `${mod} loads better-sqlite3`);
  }
});
