/**
 * Regression tests for review findings in the logdecode pipeline: progress within a file never goes backwards
 * (sorted files restart each data group's record position at 0).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type WriteFrame, writeBusLog } from '../../src/formats/mdf4/writer.js';
import { runLogPipeline } from '../../src/pipelines/logdecode/index.js';

test('progress is monotonic and ends at the input size on a sorted file with interleaved groups', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-progress-'));
  try {
    const start = 1_600_000_000_000_000_000n;
    const frames: WriteFrame[] = [];
    // CAN and LIN frames (3:1) interleaved in time: a sorted file has one data group each, both streams start at 0
    for (let i = 0; i < 6000; i++)
      frames.push(
        i % 4 !== 3
          ? {
              timeNs: start + BigInt(i) * 1000n,
              channel: 1,
              id: 0x100 + (i % 7),
              dlc: 8,
              data: new Uint8Array(8).fill(i),
            }
          : {
              timeNs: start + BigInt(i) * 1000n,
              type: 'LIN_Frame',
              channel: 1,
              id: 0x21,
              data: new Uint8Array([1, 2, 3, 4]),
            },
      );
    const path = join(dir, 'sorted.mf4');
    writeBusLog(path, frames, { layout: 'asammdf', startTimeNs: start });
    const size = statSync(path).size;
    const seen: number[] = [];
    const stats = await runLogPipeline([{ path, size, folderDevice: null, session: null, split: null }], {
      batchSize: 251,
      onProgress: (b) => seen.push(b),
    });
    assert.equal(stats.events, frames.length);
    assert.ok(seen.length > 10, `only ${seen.length} progress reports`);
    for (let i = 1; i < seen.length; i++)
      assert.ok(seen[i] >= seen[i - 1], `progress went back from ${seen[i - 1]} to ${seen[i]} (report ${i})`);
    assert.equal(seen[seen.length - 1], size);
    // it does move within the file (not just 0 … size)
    assert.ok(seen.some((b) => b > 0 && b < size));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
