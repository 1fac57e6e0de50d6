/**
 * FileOutput (src/io/output.ts): the synchronous output file of `-o <file>` — chunks written in order, the
 * descriptor closed at the end, and a failing write (ENOSPC on /dev/full) an SF_ERR_IO_WRITE naming the file.
 */
import assert from 'node:assert/strict';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileOutput, writeChunk } from '../../src/io/index.js';
import { tempDir } from '../harness/temp.js';

test('chunks in order, then end: the file holds them and the descriptor is closed', async () => {
  const path = join(tempDir('file-output'), 'out.txt');
  const out = new FileOutput(openSync(path, 'w'), path);
  const parts: Buffer[] = [];
  for (let i = 0; i < 50; i++) parts.push(Buffer.alloc(100_000 + i, 97 + (i % 26)));
  for (const p of parts) await writeChunk(out, p);
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(resolve);
  });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(readFileSync(path), Buffer.concat(parts));
  assert.equal(out.closed, true, 'the stream (and its descriptor) closed');
});

test('a failing write (ENOSPC) rejects with SF_ERR_IO_WRITE naming the file', {
  skip: !existsSync('/dev/full'),
}, async () => {
  const out = new FileOutput(openSync('/dev/full', 'w'), '/dev/full');
  out.on('error', () => {});
  await assert.rejects(writeChunk(out, Buffer.alloc(1000)), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'SF_ERR_IO_WRITE');
    assert.match(e.message, /cannot write \/dev\/full: ENOSPC/);
    return true;
  });
});
