/**
 * The shape of src/, enforced: imports run down the pipeline only, and a module reaches another area only
 * through that area's index.ts. The layers are written once here and drawn in docs/ARCHITECTURE.md.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../harness/paths.js';

const src = join(repoRoot, 'src');

/** Bottom to top. An area may import areas of a lower layer (or its own), never a higher or same-layer one. */
export const LAYERS: readonly (readonly string[])[] = [
  ['errors', 'version'],
  ['units', 'io', 'geo'],
  ['records', 'schema'],
  ['codecs', 'formats'],
  ['framers', 'transport'],
  ['outbox', 'store', 'mqtt'],
  ['sinks'],
  ['pipelines', 'query'],
  ['sources'],
  ['config'],
  ['update'],
  ['supervisor'],
  ['server'],
  ['apps'],
  ['cli'],
];

/** Folders whose sub-folders are areas of their own (src/codecs/dbc, src/sinks/influx …). */
const GROUPED = new Set(['codecs', 'formats', 'framers', 'sinks', 'sources', 'pipelines', 'apps']);

function layerOf(top: string): number {
  const i = LAYERS.findIndex((l) => l.includes(top));
  assert.ok(i >= 0, `src/${top} is not in the layer table of test/architecture/layers.test.ts (and ARCHITECTURE.md)`);
  return i;
}

/** The area a src-relative path belongs to: 'outbox', 'codecs/dbc', 'sinks/influx', or 'sinks' for its index. */
function areaOf(rel: string): string {
  const parts = rel.split('/');
  if (GROUPED.has(parts[0]) && parts.length > 2) return `${parts[0]}/${parts[1]}`;
  return parts[0];
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out.filter((s) => s.startsWith('.'));
}

test('every top-level folder of src/ is a known layer, and grouped areas have an index.ts', () => {
  for (const top of readdirSync(src)) {
    if (!statSync(join(src, top)).isDirectory()) continue;
    layerOf(top);
    if (GROUPED.has(top)) {
      for (const sub of readdirSync(join(src, top))) {
        if (statSync(join(src, top, sub)).isDirectory()) {
          assert.ok(existsSync(join(src, top, sub, 'index.ts')), `src/${top}/${sub} has no index.ts`);
        }
      }
    }
  }
});

test('imports run down the layers and reach other areas only through their index.ts', () => {
  const problems: string[] = [];
  for (const file of files(src)) {
    const rel = relative(src, file).split(sep).join('/');
    const from = areaOf(rel);
    for (const spec of imports(file)) {
      const target = relative(src, resolve(dirname(file), spec))
        .split(sep)
        .join('/')
        .replace(/\.js$/, '.ts');
      if (target.startsWith('..')) {
        problems.push(`${rel}: imports ${spec}, outside src/`);
        continue;
      }
      const to = areaOf(target);
      if (to === from) continue;
      const [fromTop, toTop] = [from.split('/')[0], to.split('/')[0]];
      if (fromTop !== toTop && layerOf(toTop) >= layerOf(fromTop)) {
        problems.push(`${rel}: imports ${target} — ${toTop} is not below ${fromTop}`);
      }
      // a sibling inside a group (sinks/influx → sinks/store) is another area: through its index.ts like any other
      if (!target.endsWith('/index.ts')) {
        problems.push(`${rel}: imports ${target} — reach ${to} through ${to}/index.ts`);
      }
    }
  }
  assert.deepEqual(problems, [], `${problems.length} import(s) break the architecture:\n${problems.join('\n')}`);
});

test('no bare `new Error(` in src/ except internal invariants, each commented', () => {
  const problems: string[] = [];
  for (const file of files(src)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!/\bnew Error\(/.test(line)) return;
      const context = `${lines[i - 1] ?? ''}\n${line}`;
      if (!/internal invariant/.test(context)) problems.push(`${relative(repoRoot, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(problems, [], 'use SigflowError with a catalogue code, or mark the line `// internal invariant: …`');
});
