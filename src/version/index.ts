/**
 * sigflow's version, read once from its package.json — found by walking up from this module, so it works from the
 * sources (src/version, under tsx) and from the build (dist/src/version) alike. The bottom layer: the command line
 * prints it, the updater compares it, and files sigflow writes name it (Parquet's created_by).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sigflow' && typeof pkg.version === 'string') return pkg.version;
    }
    const up = dirname(dir);
    // not installed as a package (a bundle without its package.json): say so rather than guess
    if (up === dir) return 'unknown';
    dir = up;
  }
}

export const VERSION: string = readVersion();

/**
 * What wrote a file, as Parquet's `created_by` wants it: "<application> version <version>" — readers parse it
 * (parquet-mr and Spark ignore the statistics of string columns written by a writer whose name they cannot parse).
 */
export const CREATED_BY = `sigflow version ${VERSION}`;
