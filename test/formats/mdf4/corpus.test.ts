/**
 * Every CANedge .MF4 sample (and the in-repo fixtures) against the asammdf reference: counts per
 * bus/channel/kind/fd/ext, first/last 25 frames of the time-sorted stream, the sha256 digest, header metadata.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openMdf4 } from '../../../src/formats/mdf4/index.js';
import { BufferSource } from '../../../src/io/index.js';
import { fixturesDir, sharedData, warnNoShared } from '../../harness/paths.js';
import { sortCounts, summarize } from './reference.js';

interface Ref {
  file: string;
  container: string;
  finalized: boolean;
  header: {
    start_time_ns: number;
    tz_offset_min: number;
    dst_offset_min: number;
    time_flags: number;
    metadata: Record<string, unknown>;
  };
  counts: { bus: string; chn: number; kind: string; fd: boolean; ext: boolean; n: number }[];
  n_frames: number;
  frames_first: unknown[];
  frames_last: unknown[];
  digest: { sha256: string; n_frames: number };
}

async function check(path: string, ref: Ref, raw: string, viaBuffer = false) {
  const mdf = await openMdf4(viaBuffer ? new BufferSource(readFileSync(path), path) : path);
  try {
    // JSON numbers lose precision above 2^53: take start_time_ns from the raw text
    const m = /"start_time_ns":\s*(\d+)/.exec(raw);
    assert.ok(m);
    assert.equal(mdf.header.startTimeNs, BigInt(m[1]), 'start time');
    assert.equal(mdf.header.tzOffsetMin, ref.header.tz_offset_min);
    assert.equal(mdf.header.dstOffsetMin, ref.header.dst_offset_min);
    assert.equal(mdf.header.timeFlags, ref.header.time_flags);
    assert.equal(mdf.finalized, ref.finalized);
    assert.deepEqual(mdf.header.metadata, ref.header.metadata, 'header metadata');
    const s = await summarize(mdf, 4099); // odd batch size: exercises batch boundaries in the merge
    assert.equal(s.n_frames, ref.n_frames, 'n_frames');
    assert.deepEqual(sortCounts(s.counts), sortCounts(ref.counts), 'counts');
    assert.deepEqual(s.frames_first, ref.frames_first, 'frames_first');
    assert.deepEqual(s.frames_last, ref.frames_last, 'frames_last');
    assert.equal(s.lines, ref.digest.n_frames);
    assert.equal(s.digest, ref.digest.sha256, 'digest');
    assert.deepEqual(mdf.warnings, []);
  } finally {
    await mdf.close();
  }
}

const fx = join(fixturesDir, 'mdf4');
for (const f of readdirSync(fx).filter((x) => x.endsWith('.MF4'))) {
  test(`fixture ${f} matches its reference`, async () => {
    const raw = readFileSync(join(fx, `${f}.json`), 'utf8');
    await check(join(fx, f), JSON.parse(raw), raw);
    await check(join(fx, f), JSON.parse(raw), raw, true);
  });
}

test('every CANedge .MF4 sample matches the asammdf reference', async (t) => {
  if (!sharedData) {
    warnNoShared();
    t.skip('shared corpus not found');
    return;
  }
  const root = join(sharedData, 'canedge');
  const refDir = join(root, 'reference');
  let n = 0;
  for (const f of readdirSync(refDir).filter((x) => x.endsWith('.json') && x !== 'index.json')) {
    const raw = readFileSync(join(refDir, f), 'utf8');
    const ref = JSON.parse(raw) as Ref;
    if (ref.container !== 'mdf') continue; // .MFC: heatshrink container, handled by src/formats/canedge
    await t.test(ref.file, () => check(join(root, ref.file), ref, raw));
    n++;
  }
  assert.equal(n, 21);
});
