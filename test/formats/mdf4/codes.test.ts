/**
 * MDF4 errors and warnings carry their catalogue codes (src/errors/catalogue.ts): callers branch on `code`, and
 * warnings reach logs and metrics with one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERRORS, SigflowError, WARNINGS } from '../../../src/errors/index.js';
import {
  buildBusLog,
  Mdf4Error,
  type Mdf4ErrorCode,
  type Mdf4Warning,
  openMdf4,
  readBusFrames,
  type WriteFrame,
} from '../../../src/formats/mdf4/index.js';
import { BufferSource } from '../../../src/io/index.js';

const START = 1_600_000_000_000_000_000n;

function frames(n: number): WriteFrame[] {
  return Array.from({ length: n }, (_, i) => ({
    timeNs: START + BigInt(i) * 1_000_000n,
    channel: 1,
    id: 0x100,
    dlc: 8,
    data: new Uint8Array(8).fill(i & 255),
  }));
}

function isMdf4(code: Mdf4ErrorCode, file: string, offset?: number) {
  return (e: unknown) => {
    assert.ok(e instanceof Mdf4Error, `expected Mdf4Error, got ${e}`);
    assert.ok(e instanceof SigflowError);
    assert.equal(e.code, code, e.message);
    assert.ok(Object.hasOwn(ERRORS, e.code));
    assert.equal(e.file, file);
    if (offset !== undefined) assert.equal(e.offset, offset);
    assert.equal(e.where, `${file} at byte ${e.offset}`);
    assert.ok(e.message.startsWith(`${file}: at byte ${e.offset}: `), e.message);
    return true;
  };
}

test('not MDF → SF_ERR_MDF4_NOT_MDF4; another MDF version → SF_ERR_MDF4_UNSUPPORTED; damaged blocks → CORRUPT', async () => {
  await assert.rejects(
    openMdf4(new BufferSource(Buffer.from('PK\x03\x04 not an MDF file'), 'a.zip')),
    isMdf4('SF_ERR_MDF4_NOT_MDF4', 'a.zip', 0),
  );
  await assert.rejects(
    openMdf4(new BufferSource(Buffer.alloc(64).fill(0x20), 'blank.mf4')),
    isMdf4('SF_ERR_MDF4_NOT_MDF4', 'blank.mf4', 0),
  );
  const good = new Uint8Array(buildBusLog(frames(5), { layout: 'canedge-v1', startTimeNs: START }));
  const v3 = new Uint8Array(good);
  new DataView(v3.buffer).setUint16(28, 330, true);
  await assert.rejects(openMdf4(new BufferSource(v3, 'v3.mf4')), isMdf4('SF_ERR_MDF4_UNSUPPORTED', 'v3.mf4', 28));
  const noHd = new Uint8Array(good);
  noHd[64] = 0; // the HD block's "##"
  await assert.rejects(openMdf4(new BufferSource(noHd, 'hd.mf4')), isMdf4('SF_ERR_MDF4_CORRUPT', 'hd.mf4', 64));
});

test('warnings are objects with a catalogue code: damaged data, local time', async () => {
  const good = new Uint8Array(buildBusLog(frames(50), { layout: 'canedge-v1', startTimeNs: START }));
  const seen: Mdf4Warning[] = [];
  const mdf = await openMdf4(new BufferSource(good.subarray(0, good.length - 100), 'cut.mf4'), {
    onWarning: (w) => seen.push(w),
  });
  let n = 0;
  for await (const b of readBusFrames(mdf)) n += b.count;
  assert.ok(n > 0 && n < 50, `${n} frames before the cut`);
  assert.ok(seen.length > 0);
  assert.deepEqual(seen, [...mdf.warnings]);
  for (const w of seen) {
    assert.ok(Object.hasOwn(WARNINGS, w.code), w.code);
    assert.equal(w.file, 'cut.mf4');
  }
  assert.ok(
    seen.some((w) => w.code === 'SF_WARN_MDF4_DATA_DAMAGED'),
    JSON.stringify(seen),
  );

  const local = new Uint8Array(good);
  const dv = new DataView(local.buffer);
  local[64 + 24 + Number(dv.getBigUint64(64 + 16, true)) * 8 + 12] |= 1; // HD time flags bit 0
  const lt = await openMdf4(new BufferSource(local, 'local.mf4'));
  assert.deepEqual(
    lt.warnings.map((w) => w.code),
    ['SF_WARN_MDF4_LOCAL_TIME'],
  );
});

test('the writer refuses frames it cannot store with SF_ERR_MDF4_WRITE_INPUT', () => {
  const early = [{ ...frames(1)[0], timeNs: START - 1n }];
  assert.throws(
    () => buildBusLog(early, { layout: 'canedge-v1', startTimeNs: START }),
    (e: unknown) =>
      e instanceof SigflowError && e.code === 'SF_ERR_MDF4_WRITE_INPUT' && /before start time/.test(e.message),
  );
  const ns = [{ ...frames(1)[0], timeNs: START + 1n }];
  assert.throws(
    () => buildBusLog(ns, { layout: 'canedge-v2', startTimeNs: START }),
    (e: unknown) => e instanceof SigflowError && e.code === 'SF_ERR_MDF4_WRITE_INPUT' && /whole µs/.test(e.message),
  );
});
