/**
 * The single-pass extraction engine (src/formats/mdf4/walk.ts + the merge in bus.ts): results must not depend on
 * chunk boundaries, the byte source's read method, or whether a quiet channel group was detached to its own
 * walker when the merge held too many events for it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { busTuning } from '../../../src/formats/mdf4/bus.js';
import { busGroups, frameAt, type Mdf4File, openMdf4, readBusFrames } from '../../../src/formats/mdf4/index.js';
import { buildBusLog, type WriteFrame, type WriterOptions } from '../../../src/formats/mdf4/writer.js';
import { BufferSource, type ByteSource } from '../../../src/io/index.js';
import { fixturesDir } from '../../harness/paths.js';

const START = 1_700_000_000_000_000_000n;

interface Row {
  t: string;
  type: string;
  channel: number;
  id: number;
  data: string;
  group: number;
  pos: number;
}

async function rows(mdf: Mdf4File, batchSize?: number): Promise<Row[]> {
  const out: Row[] = [];
  const eventOf = new Map(busGroups(mdf).map((l) => [mdf.channelGroups.indexOf(l.cg), l.event]));
  for await (const b of readBusFrames(mdf, { batchSize })) {
    assert.ok(b.count <= (batchSize ?? 65536), 'batch larger than batchSize');
    for (let i = 0; i < b.count; i++) {
      const f = frameAt(b, i);
      // the group index names a group of the event's type
      assert.equal(eventOf.get(b.group[i]), b.type[i], `event ${out.length}: group ${b.group[i]} has another type`);
      out.push({
        t: f.timeNs.toString(),
        type: f.type,
        channel: f.channel,
        id: f.id,
        data: Buffer.from(f.data).toString('hex'),
        group: b.group[i],
        pos: b.recordPos[i],
      });
    }
  }
  return out;
}

/** A source with `read` only (no `readInto`), returning fresh copies: the data layer's fallback path. */
function readOnlySource(buf: Uint8Array, name: string): ByteSource {
  return { size: buf.length, name, read: (o, l) => buf.slice(o, Math.min(buf.length, o + l)) };
}

/**
 * Group A (LIN frames) runs through the whole file; group B (CAN data frames, classic or FD) has one frame at the start, then nothing
 * on disk until the very end, where all its later frames follow (times spread over the whole recording). The
 * merge cannot emit A's frames past B's first frame until it sees B's next one.
 */
function quietGroupLog(n: number, fd: boolean): { disk: WriteFrame[]; sorted: WriteFrame[] } {
  const a: WriteFrame[] = [];
  const b: WriteFrame[] = [];
  for (let i = 0; i < n; i++)
    a.push({ timeNs: START + BigInt(i) * 1_000_000n, type: 'LIN_Frame', channel: 1, id: i % 60, data: bytes(i, 8) });
  for (let i = 0; i < n / 10; i++)
    b.push({
      timeNs: START + BigInt(i) * 10_000_000n + 500_000n,
      channel: 2,
      id: 0x200,
      dlc: fd ? 15 : 4,
      edl: fd,
      data: bytes(i * 3, fd ? 64 : 4),
    });
  const disk = [b[0], ...a, ...b.slice(1)];
  const sorted = [...a, ...b].sort((x, y) => (x.timeNs < y.timeNs ? -1 : x.timeNs > y.timeNs ? 1 : 0));
  return { disk, sorted };
}

function bytes(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed * 31 + i * 7) & 255;
  return out;
}

const layouts: [string, Omit<WriterOptions, 'startTimeNs'>, boolean][] = [
  ['canedge-v2 unfinalised', { layout: 'canedge-v2', finalized: false }, false],
  ['canedge-v2 2-byte ids', { layout: 'canedge-v2', recordIdSize: 2 }, false],
  ['canedge-v2 FD (VLSD)', { layout: 'canedge-v2', finalized: false }, true],
  ['canedge-v1 (VLSD) unfinalised', { layout: 'canedge-v1', finalized: false }, false],
  ['canedge-v1 deflate + DL', { layout: 'canedge-v1', compression: 'deflate', blockSize: 30000 }, true],
];

for (const [name, opts, fd] of layouts) {
  test(`quiet group: detached or not, the merge gives the time-sorted frames (${name})`, async () => {
    const { disk, sorted } = quietGroupLog(6000, fd);
    const buf = buildBusLog(disk, { ...opts, startTimeNs: START });
    const want = sorted.map((f) => `${f.timeNs},${f.channel},${f.id},${Buffer.from(f.data ?? []).toString('hex')}`);
    const saved = { ...busTuning };
    try {
      const results: Row[][] = [];
      for (const limit of [1 << 30, 500]) {
        busTuning.maxPendingEvents = limit;
        busTuning.detached = 0;
        const mdf = await openMdf4(new BufferSource(buf, name), { chunkSize: 4096 });
        const r = await rows(mdf, 1000);
        assert.deepEqual(mdf.warnings, []);
        assert.deepEqual(
          r.map((x) => `${x.t},${x.channel},${x.id},${x.data}`),
          want,
          `limit ${limit}: frames differ from the time-sorted input`,
        );
        if (limit === 500) assert.ok(busTuning.detached > 0, 'the quiet group was never detached');
        else assert.equal(busTuning.detached, 0);
        results.push(r);
      }
      assert.deepEqual(results[1], results[0], 'detaching changed group indices or record positions');
    } finally {
      Object.assign(busTuning, saved);
    }
  });
}

const fx = join(fixturesDir, 'mdf4');
for (const f of readdirSync(fx).filter((x) => x.endsWith('.MF4'))) {
  test(`fixture ${f}: same frames for every chunk size and byte source`, async () => {
    const buf = new Uint8Array(readFileSync(join(fx, f)));
    const base = await rows(await openMdf4(join(fx, f)));
    assert.ok(base.length > 0);
    for (const chunkSize of [4096, 4096 + 13, 65537]) {
      for (const src of [new BufferSource(buf, f), readOnlySource(buf, f)]) {
        const mdf = await openMdf4(src, { chunkSize });
        assert.deepEqual(await rows(mdf, 777), base, `chunk ${chunkSize}, ${src.constructor.name}`);
        assert.deepEqual(mdf.warnings, []);
      }
    }
  });
}

test('two files of one layout share a generated extractor but keep their own group indices', async () => {
  // same layout, different group sets: group indices differ between the files
  const one: WriteFrame[] = [{ timeNs: START, channel: 2, id: 5, dlc: 1, data: Uint8Array.of(9) }];
  const two: WriteFrame[] = [
    { timeNs: START, channel: 1, id: 1, dlc: 1, data: Uint8Array.of(1), dir: 'Tx' },
    { timeNs: START + 1000n, channel: 2, id: 5, dlc: 1, data: Uint8Array.of(9) },
  ];
  for (const frames of [one, two, one]) {
    const mdf = await openMdf4(new BufferSource(buildBusLog(frames, { layout: 'canedge-v2', startTimeNs: START })));
    const r = await rows(mdf); // asserts each event's group has the event's type
    assert.equal(r.length, frames.length);
    for (const x of r) assert.equal(mdf.channelGroups[x.group].acqName?.includes('Tx') ?? false, x.id === 1);
  }
});
