/** Temporary folders for a test file, removed when its process exits (also after a failure). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

process.once('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A new folder `<tmp>/<prefix>XXXXXX`, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
