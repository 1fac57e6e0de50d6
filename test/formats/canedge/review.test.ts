/**
 * Regression tests for review findings: sources are closed on every error path of openLog / probeLogFile.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openLog } from '../../../src/formats/canedge/container.js';
import { CanedgeError } from '../../../src/formats/canedge/errors.js';
import { probeLogFile } from '../../../src/formats/canedge/log-index.js';
import type { ByteSource, LogStore } from '../../../src/formats/canedge/source.js';
import { parseLogPath } from '../../../src/formats/canedge/tree.js';

/** A source whose reads fail (an I/O error), counting how often it is closed. */
function failingSource(name: string): ByteSource & { closed: number } {
  const s = {
    name,
    size: 4096,
    closed: 0,
    read(): Promise<Uint8Array> {
      return Promise.reject(new CanedgeError('io', name, 'read failed (simulated)'));
    },
    close(): void {
      s.closed++;
    },
  };
  return s;
}

test('openLog closes the source when reading its header fails', async () => {
  const src = failingSource('LOG/ABCDEF01/00000001/00000001.MF4');
  await assert.rejects(openLog(src), (e: unknown) => e instanceof CanedgeError && e.code === 'io');
  assert.equal(src.closed, 1);
});

test('probeLogFile: a file whose read fails is a per-file error and its source is closed', async () => {
  const path = 'LOG/ABCDEF01/00000001/00000001.MF4';
  const loc = parseLogPath(path);
  assert.ok(loc);
  const opened: ReturnType<typeof failingSource>[] = [];
  const store: LogStore = {
    id: 'mem://failing',
    async *list() {},
    async open(p: string) {
      const s = failingSource(p);
      opened.push(s);
      return s;
    },
  };
  const entry = await probeLogFile(store, loc, { size: 4096, mtimeMs: 0 }, {}, 'none');
  assert.equal(entry.error?.code, 'io');
  assert.ok(opened.length >= 1);
  for (const s of opened) assert.ok(s.closed >= 1, `${s.name} opened but never closed`);
});
