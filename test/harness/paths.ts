/**
 * Where things are, for tests and benchmarks, whether they run compiled (dist/test/...) or from source under tsx.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');

/** The repository root (the folder holding package.json). */
export const repoRoot: string = (() => {
  let dir = here;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${here}`);
    dir = up;
  }
  return dir;
})();

/** In-repo test fixtures (small representative subsets of ../shared/data, with their licences). */
export const fixturesDir = join(repoRoot, 'test', 'fixtures');

/**
 * The read-only shared corpus (../shared next to the repository, or $SIGFLOW_SHARED), or null when absent.
 * Corpus tests skip, loudly, when it is null.
 */
export const sharedDir: string | null = (() => {
  const candidates = [process.env.SIGFLOW_SHARED, resolve(repoRoot, '..', 'shared')].filter(Boolean) as string[];
  for (const c of candidates) if (existsSync(join(c, 'data'))) return c;
  return null;
})();

export const sharedData: string | null = sharedDir ? join(sharedDir, 'data') : null;

/**
 * The argv prefix that runs sigflow's CLI from this build: the compiled dist/src/cli/entry.js, or
 * src/cli/entry.ts through tsx when the tests themselves run from source.
 */
export function cliArgv(): string[] {
  if (fromSource) return [process.execPath, '--import', 'tsx', join(repoRoot, 'src', 'cli', 'entry.ts')];
  // here = <out>/test/harness → <out>/src/cli/entry.js
  return [process.execPath, join(here, '..', '..', 'src', 'cli', 'entry.js')];
}

let warned = false;
/** Prints, once per process, a loud note that corpus tests are skipped. */
export function warnNoShared(): void {
  if (warned || sharedData) return;
  warned = true;
  process.stderr.write(
    '\n*** ../shared/data not found (set SIGFLOW_SHARED): corpus tests are SKIPPED; only in-repo fixtures run ***\n\n',
  );
}
