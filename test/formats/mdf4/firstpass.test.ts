/**
 * Edge cases of the loops restructured for first-pass speed (issue 16): the generated extractors keep the
 * builder's counters (count, data bytes, last time) in the loop instead of after it, the walker dispatches
 * records in small per-layout methods, and the first merges of a process move one event per call. Results must
 * not depend on where chunks or batches end: the last time of a group is carried from one chunk to the next (a
 * step back in time across a chunk boundary is still an out-of-order warning), and events filtered out by time
 * still count for the order check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frameAt, openMdf4, readBusFrames } from '../../../src/formats/mdf4/index.js';
import { buildBusLog, type WriteFrame, type WriterOptions } from '../../../src/formats/mdf4/writer.js';
import { BufferSource } from '../../../src/io/index.js';

const START = 1_700_000_000_000_000_000n;

function frames(n: number, backAt: number | null, fd: boolean): WriteFrame[] {
  const out: WriteFrame[] = [];
  for (let i = 0; i < n; i++) {
    // one step back in time at `backAt` (the device clock jumped), in order otherwise
    const k = backAt !== null && i >= backAt ? i - 50 : i;
    const data = new Uint8Array(fd ? 64 : 8).map((_, j) => (i * 7 + j) & 255);
    out.push({
      timeNs: START + BigInt(k) * 1_000_000n,
      channel: 1 + (i % 2),
      id: 0x100 + (i % 5),
      edl: fd,
      dlc: fd ? 15 : 8,
      data,
    });
  }
  return out;
}

async function read(buf: Uint8Array, chunkSize: number, opts: { from?: bigint; batchSize?: number } = {}) {
  const mdf = await openMdf4(new BufferSource(buf, 'x.mf4'), { chunkSize });
  const rows: string[] = [];
  for await (const b of readBusFrames(mdf, opts))
    for (let i = 0; i < b.count; i++) {
      const f = frameAt(b, i);
      rows.push(`${f.timeNs},${f.channel},${f.id},${Buffer.from(f.data).toString('hex')}`);
    }
  return { rows, codes: mdf.warnings.map((w) => w.code) };
}

const layouts: [string, Omit<WriterOptions, 'startTimeNs'>, boolean][] = [
  ['canedge-v2 unfinalised (1-byte ids)', { layout: 'canedge-v2', finalized: false }, false],
  ['canedge-v2 FD (VLSD)', { layout: 'canedge-v2', finalized: false }, true],
  ['canedge-v2 2-byte ids', { layout: 'canedge-v2', recordIdSize: 2 }, false],
  ['asammdf (sorted)', { layout: 'asammdf', finalized: true }, false],
];

for (const [name, opts, fd] of layouts) {
  test(`first-pass loops: a step back in time is found wherever chunks end (${name})`, async () => {
    const inOrder = buildBusLog(frames(3000, null, fd), { ...opts, startTimeNs: START });
    const back = buildBusLog(frames(3000, 1700, fd), { ...opts, startTimeNs: START });
    const ref = await read(inOrder, 1 << 20);
    assert.equal(ref.rows.length, 3000);
    assert.deepEqual(ref.codes, []);
    for (const chunkSize of [4096, 4096 + 13, 1 << 20]) {
      const r = await read(inOrder, chunkSize, { batchSize: 777 });
      assert.deepEqual(r.rows, ref.rows, `chunk ${chunkSize}: frames differ`);
      assert.deepEqual(r.codes, [], `chunk ${chunkSize}: in-order log warned`);
      const b = await read(back, chunkSize);
      assert.equal(b.rows.length, 3000);
      assert.ok(b.codes.includes('SF_WARN_MDF4_OUT_OF_ORDER'), `chunk ${chunkSize}: step back not reported`);
      // events before `from` are dropped but still count for the order check
      const late = await read(back, chunkSize, { from: START + 1_690_000_000n });
      assert.ok(late.rows.length > 0 && late.rows.length < 3000);
      assert.ok(
        late.codes.includes('SF_WARN_MDF4_OUT_OF_ORDER'),
        `chunk ${chunkSize}: filtered step back not reported`,
      );
    }
  });
}
