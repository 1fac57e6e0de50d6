#!/usr/bin/env node
// `npm run bench -- <name> [--json] [...]`: builds, then runs bench/<name>.ts compiled to dist/bench/<name>.js.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const [name, ...rest] = process.argv.slice(2);
const benchDir = join(root, 'dist', 'bench');
const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit', cwd: root });
if (build.status !== 0) process.exit(build.status ?? 1);
const available = existsSync(benchDir)
  ? readdirSync(benchDir)
      .filter((f) => f.endsWith('.js') && !f.startsWith('_'))
      .map((f) => f.slice(0, -3))
  : [];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [--json]`);
  process.exit(name ? 1 : 0);
}
const r = spawnSync(process.execPath, ['--expose-gc', join(benchDir, `${name}.js`), ...rest], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
