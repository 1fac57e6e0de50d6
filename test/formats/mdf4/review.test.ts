/**
 * Regression tests for review findings on damaged input: a corrupt VLSD offset in an unsorted group, a
 * header-only DT in an unfinalised file that is not the last data block, hostile data lengths, local start time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  flattenChannels,
  frameAt,
  type Mdf4File,
  openMdf4,
  RecordCursor,
  readBusFrames,
} from '../../../src/formats/mdf4/index.js';
import { recordTuning } from '../../../src/formats/mdf4/walk.js';
import { buildBusLog, type WriteFrame } from '../../../src/formats/mdf4/writer.js';
import { BufferSource } from '../../../src/io/index.js';

const START = 1_600_000_000_000_000_000n;

function canFrames(n: number): WriteFrame[] {
  const out: WriteFrame[] = [];
  for (let i = 0; i < n; i++)
    out.push({
      timeNs: START + BigInt(i) * 1000n,
      channel: 1,
      id: 0x100 + (i % 50),
      dlc: 8,
      data: new Uint8Array(8).fill(i & 255),
    });
  return out;
}

async function frameStrings(mdf: Mdf4File): Promise<string[]> {
  const out: string[] = [];
  for await (const b of readBusFrames(mdf))
    for (let i = 0; i < b.count; i++) {
      const f = frameAt(b, i);
      out.push(`${f.type}:${f.id.toString(16)}@${f.timeNs - START}:${Buffer.from(f.data).toString('hex')}`);
    }
  return out;
}

/** Stream position (file offset) of the VLSD offset field of the `k`-th fixed record of the CAN data frame group. */
async function vlsdFieldOffset(bytes: Uint8Array, k: number): Promise<number> {
  const mdf = await openMdf4(new BufferSource(bytes, 'probe'));
  const dg = mdf.groups[0];
  assert.equal(dg.recIdSize, 1);
  assert.equal(String.fromCharCode(bytes[dg.dataLink + 2], bytes[dg.dataLink + 3]), 'DT');
  const fixed = dg.channelGroups.find((g) => !g.isVlsd);
  assert.ok(fixed);
  const ch = flattenChannels(fixed.channels).find((c) => c.type === 1);
  assert.ok(ch);
  const sizes = new Map(dg.channelGroups.map((g) => [g.recordId, g.isVlsd ? -1 : g.dataBytes + g.invalBytes]));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = dg.dataLink + 24;
  let seen = 0;
  for (;;) {
    const rid = bytes[p];
    const size = sizes.get(rid);
    assert.ok(size !== undefined, `record id ${rid} at ${p}`);
    if (rid === fixed.recordId) {
      if (seen === k) return p + 1 + ch.byteOffset;
      seen++;
    }
    p += size >= 0 ? 1 + size : 5 + dv.getUint32(p + 1, true);
  }
}

test('a corrupt VLSD offset drops only its own frame (walker and record cursor, small carry bound)', async () => {
  const frames = canFrames(4000);
  const bytes = buildBusLog(frames, { layout: 'canedge-v1', startTimeNs: START, finalized: false });
  const bad = new Uint8Array(bytes);
  const field = await vlsdFieldOffset(bytes, 10);
  new DataView(bad.buffer).setUint32(field, 0xfffffff0, true);
  new DataView(bad.buffer).setUint32(field + 4, 0, true);
  const saved = recordTuning.maxCarry;
  // a carry bound far below the file size: the old code kept growing the buffer behind the bad record and
  // stopped at the bound, losing every frame after it
  recordTuning.maxCarry = 32 * 1024;
  try {
    assert.ok(bytes.length > 4 * recordTuning.maxCarry);
    const good = await frameStrings(await openMdf4(new BufferSource(bytes, 'good.mf4'), { chunkSize: 4096 }));
    assert.equal(good.length, frames.length);
    const mdf = await openMdf4(new BufferSource(bad, 'bad.mf4'), { chunkSize: 4096 });
    const got = await frameStrings(mdf);
    assert.deepEqual(got, [...good.slice(0, 10), ...good.slice(11)]);
    assert.equal(mdf.warnings.length, 1, mdf.warnings.map((w) => w.message).join('\n'));
    assert.match(mdf.warnings[0].message, /VLSD offset 4294967280 .*stream offset \d+/);

    // the per-group record cursor: same records, the bad one with an unresolved payload
    const mdf2 = await openMdf4(new BufferSource(bad, 'bad.mf4'), { chunkSize: 4096 });
    const dg = mdf2.groups[0];
    const cg = dg.channelGroups.find((g) => !g.isVlsd);
    assert.ok(cg);
    let n = 0;
    const missing: number[] = [];
    for await (const c of new RecordCursor(mdf2, dg, cg).chunks()) {
      for (let i = 0; i < c.count; i++) if (c.vlsd[0].len[i] < 0) missing.push(c.index0 + i);
      n += c.count;
    }
    assert.equal(n, frames.length);
    assert.deepEqual(missing, [10]);
    assert.equal(mdf2.warnings.length, 1, mdf2.warnings.map((w) => w.message).join('\n'));
  } finally {
    recordTuning.maxCarry = saved;
  }
});

/** Offsets of the blocks with id `id`, found by following the file's own block headers from the HD block on. */
function blockOffsets(bytes: Uint8Array, id: string): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let o = 64; o + 24 <= bytes.length; ) {
    assert.equal(bytes[o], 0x23, `block at ${o}`);
    if (String.fromCharCode(bytes[o + 2], bytes[o + 3]) === id) out.push(o);
    const len = Number(dv.getBigUint64(o + 8, true));
    if (len === 24 && String.fromCharCode(bytes[o + 2], bytes[o + 3]) === 'DT') break; // data runs to EOF
    o += len + ((8 - (len % 8)) % 8);
  }
  return out;
}

test('unfinalised file: a header-only DT that is not the last data block stays empty (no frames from later blocks)', async () => {
  const frames = canFrames(5);
  frames.push({
    timeNs: START + 2_300_000n,
    type: 'LIN_Frame',
    channel: 1,
    id: 0x21,
    data: new Uint8Array([1, 2, 3, 4]),
  });
  frames.sort((a, b) => (a.timeNs < b.timeNs ? -1 : a.timeNs > b.timeNs ? 1 : 0));
  const bytes = buildBusLog(frames, { layout: 'asammdf', startTimeNs: START, finalized: false });
  const dts = blockOffsets(bytes, 'DT');
  assert.ok(dts.length >= 2, 'one DT per data group');
  const good = await frameStrings(await openMdf4(new BufferSource(bytes, 'good.mf4')));
  assert.equal(good.length, frames.length);
  const patched = new Uint8Array(bytes);
  new DataView(patched.buffer).setBigUint64(dts[0] + 8, 24n, true);
  const mdf = await openMdf4(new BufferSource(patched, 'first-dt-24.mf4'));
  assert.equal(mdf.id.unfinalizedFlags & 4, 4);
  const got = await frameStrings(mdf);
  const all = new Set(good);
  for (const f of got) assert.ok(all.has(f), `fabricated frame ${f}`);
  // the patched DT's group (LIN here) is empty, the other group is intact
  assert.deepEqual(
    got,
    good.filter((f) => got.includes(f)),
  );
  assert.ok(got.length >= 1 && got.length < good.length);
  assert.ok(mdf.warnings.some((w) => /not the last data block/.test(w.message) && w.offset === dts[0]));
});

test('unfinalised file: the "header-only last DT runs to EOF" rule needs ID flag bit 2', async () => {
  const frames = canFrames(300);
  const bytes = buildBusLog(frames, { layout: 'canedge-v1', startTimeNs: START, finalized: false });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dts = blockOffsets(bytes, 'DT');
  assert.equal(dts.length, 1);
  assert.equal(Number(dv.getBigUint64(dts[0] + 8, true)), 24, 'the writer leaves the unfinalised DT header-only');
  assert.equal(dv.getUint16(60, true), 0x25);
  const all = await frameStrings(await openMdf4(new BufferSource(bytes, 'open.mf4')));
  assert.equal(all.length, frames.length);
  // flags say the DT length was updated: 24 means empty
  const noFlag = new Uint8Array(bytes);
  new DataView(noFlag.buffer).setUint16(60, 0x25 & ~4, true);
  const mdf = await openMdf4(new BufferSource(noFlag, 'flag-cleared.mf4'));
  assert.deepEqual(await frameStrings(mdf), []);
});

/** The CN block of the channel named `name` (first match). */
async function channelOffset(bytes: Uint8Array, name: string): Promise<number> {
  const mdf = await openMdf4(new BufferSource(bytes, 'probe'));
  for (const cg of mdf.channelGroups)
    for (const ch of flattenChannels(cg.channels)) if (ch.name === name) return ch.offset;
  throw new Error(`no channel ${name}`);
}

async function batchColumns(mdf: Mdf4File) {
  const out: { length: number; span: number; data: string }[] = [];
  for await (const b of readBusFrames(mdf))
    for (let i = 0; i < b.count; i++) {
      const span = b.dataStart[i + 1] - b.dataStart[i];
      out.push({
        length: b.length[i],
        span,
        data: Buffer.from(b.data.subarray(b.dataStart[i], b.dataStart[i + 1])).toString('hex'),
      });
    }
  return out;
}

test('data lengths beyond the bus maximum are clamped with a warning (length column = bytes kept)', async () => {
  // a VLSD payload of 100 bytes declared as DataLength 100 (CAN allows at most 64)
  const long = Uint8Array.from({ length: 100 }, (_, i) => i);
  const frames = canFrames(20);
  frames[5] = { ...frames[5], dlc: 15, edl: true, length: 100, data: long };
  const bytes = buildBusLog(frames, { layout: 'canedge-v1', startTimeNs: START, finalized: true });
  let mdf = await openMdf4(new BufferSource(bytes, 'long.mf4'));
  let got = await batchColumns(mdf);
  assert.equal(got.length, 20);
  for (const f of got) assert.equal(f.length, f.span);
  assert.equal(got[5].length, 64);
  assert.equal(got[5].data, Buffer.from(long.subarray(0, 64)).toString('hex'));
  assert.equal(got[4].length, 8);
  assert.equal(mdf.warnings.length, 1);
  assert.match(mdf.warnings[0].message, /data length 100 .*out of range \(max 64\)/);

  // a DataLength channel widened to 15 bits reads DLC/EDL bits too: values > 255 (used to wrap in the u8 column)
  const wide = new Uint8Array(buildBusLog(canFrames(20), { layout: 'canedge-v1', startTimeNs: START }));
  const cn = await channelOffset(wide, 'CAN_DataFrame.DataLength');
  const dv = new DataView(wide.buffer);
  const links = Number(dv.getBigUint64(cn + 16, true));
  assert.equal(dv.getUint32(cn + 24 + links * 8 + 8, true), 7);
  dv.setUint32(cn + 24 + links * 8 + 8, 15, true);
  mdf = await openMdf4(new BufferSource(wide, 'wide.mf4'));
  got = await batchColumns(mdf);
  assert.equal(got.length, 20);
  for (const f of got) {
    assert.equal(f.length, f.span);
    assert.equal(f.length, 8);
  }
  assert.equal(mdf.warnings.length, 1);
  assert.match(mdf.warnings[0].message, /data length \d{3,} .*clamped/);

  // LIN: DataLength 200 with 8 data bytes
  const lin: WriteFrame[] = [
    { timeNs: START, type: 'LIN_Frame', channel: 1, id: 0x21, length: 200, data: new Uint8Array(8).fill(7) },
    { timeNs: START + 1000n, type: 'LIN_Frame', channel: 1, id: 0x22, data: new Uint8Array([1, 2]) },
  ];
  mdf = await openMdf4(new BufferSource(buildBusLog(lin, { layout: 'asammdf', startTimeNs: START }), 'lin.mf4'));
  got = await batchColumns(mdf);
  assert.deepEqual(
    got.map((f) => [f.length, f.span]),
    [
      [8, 8],
      [2, 2],
    ],
  );
  assert.equal(mdf.warnings.length, 1);
  assert.match(mdf.warnings[0].message, /data length 200 .*max 8/);
});

test('a local-time HD start time (time flags bit 0) is reported through onWarning', async () => {
  const bytes = new Uint8Array(buildBusLog(canFrames(3), { layout: 'canedge-v1', startTimeNs: START }));
  const dv = new DataView(bytes.buffer);
  assert.equal(String.fromCharCode(bytes[66], bytes[67]), 'HD');
  const flagsAt = 64 + 24 + Number(dv.getBigUint64(64 + 16, true)) * 8 + 12;
  const utc: string[] = [];
  let mdf = await openMdf4(new BufferSource(bytes, 'utc.mf4'), { onWarning: (w) => utc.push(w.message) });
  assert.equal(mdf.header.timeIsLocal, false);
  assert.deepEqual(utc, []);
  bytes[flagsAt] |= 1;
  const local: string[] = [];
  mdf = await openMdf4(new BufferSource(bytes, 'local.mf4'), { onWarning: (w) => local.push(w.message) });
  assert.equal(mdf.header.timeIsLocal, true);
  assert.equal(local.length, 1);
  assert.match(local[0], /local time/);
  assert.equal((await frameStrings(mdf)).length, 3);
});
