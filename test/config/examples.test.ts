/**
 * Every configuration in examples/ validates as `sigflow check` reads it (with the environment variables it
 * names set to stand-ins), so the examples the README points at work as written.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkConfigFile } from '../../src/supervisor/index.js';
import { fixturesDir, repoRoot } from '../harness/paths.js';

const dir = join(repoRoot, 'examples');
const dbcFile = join(fixturesDir, 'dbc', 'dbc', 'cantools', 'signed.dbc');

test('every examples/*.yaml validates', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.includes('edge-agent.yaml'), files.join(', '));
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
    // the variables without a default (`${X}`, not `${X:-…}`): secrets and the like
    for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g))
      env[m[1]] ??= m[1].endsWith('URL') ? 'http://127.0.0.1:8086' : m[1].startsWith('DBC') ? dbcFile : 'stand-in';
    // paths in the examples are relative to the repository's root
    const cwd = process.cwd();
    process.chdir(repoRoot);
    try {
      const { config } = checkConfigFile(join(dir, f), env);
      assert.ok(config.sinks.length > 0, f);
    } finally {
      process.chdir(cwd);
    }
  }
});
