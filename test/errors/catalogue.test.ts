/**
 * The error catalogue and the code stay in step: docs/errors.md is the rendering of the catalogue, every code the
 * sources use is in the catalogue, and every catalogue code is used somewhere.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { ERRORS, renderErrorsDoc, WARNINGS } from '../../src/errors/index.js';
import { repoRoot } from '../harness/paths.js';

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const srcFiles = sources(join(repoRoot, 'src'));
const catalogueFile = join(repoRoot, 'src', 'errors', 'catalogue.ts');

test('docs/errors.md is the rendering of the catalogue (npm run docs:errors)', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'errors.md'), 'utf8');
  assert.equal(doc, renderErrorsDoc(), 'docs/errors.md is stale: run `npm run docs:errors`');
});

test('every code used in src/ is in the catalogue, and every catalogue code is used', () => {
  const known = new Set([...Object.keys(ERRORS), ...Object.keys(WARNINGS)]);
  const used = new Map<string, string>();
  for (const f of srcFiles) {
    if (f === catalogueFile) continue;
    for (const m of readFileSync(f, 'utf8').matchAll(/\b(SF_(?:ERR|WARN)_[A-Z0-9_]+)\b/g)) {
      used.set(m[1], relative(repoRoot, f));
    }
  }
  const unknown = [...used].filter(([c]) => !known.has(c)).map(([c, f]) => `${c} (${f})`);
  assert.deepEqual(unknown, [], 'codes used in src/ but missing from src/errors/catalogue.ts');
  const unused = [...known].filter((c) => !used.has(c));
  assert.deepEqual(unused, [], 'catalogue codes no source uses');
});

test('codes are SF_ERR_<AREA>_<WHAT> / SF_WARN_<AREA>_<WHAT> and every entry says what to do', () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.match(code, /^SF_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
    assert.ok(spec.means.length > 10 && spec.action.length > 10, code);
    assert.ok(spec.exit === 1 || spec.exit === 2, code);
  }
  for (const [code, spec] of Object.entries(WARNINGS) as [string, { means: string; action: string }][]) {
    assert.match(code, /^SF_WARN_[A-Z0-9]+_[A-Z0-9_]+$/);
    assert.ok(spec.means.length > 10 && spec.action.length > 10, code);
  }
});
