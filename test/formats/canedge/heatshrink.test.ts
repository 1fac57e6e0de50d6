import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  createHeatshrinkDecodeStream,
  HeatshrinkDecoder,
  HeatshrinkError,
  heatshrinkDecode,
  heatshrinkEncode,
} from '../../../src/formats/canedge/index.js';
import { fixturesDir, sharedData, warnNoShared } from '../../harness/paths.js';
import { mfcSamples } from './mfc-corpus.js';

warnNoShared();

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Writes bits MSB-first: an independent bit writer, so these tests do not trust the encoder's bit layout. */
function bits(...items: [value: number, width: number][]): Buffer {
  let s = '';
  for (const [v, w] of items) s += v.toString(2).padStart(w, '0');
  while (s.length % 8) s += '0';
  const out = Buffer.alloc(s.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 8, i * 8 + 8), 2);
  return out;
}

const arbParams = fc
  .integer({ min: 4, max: 15 })
  .chain((w) => fc.integer({ min: 3, max: w - 1 }).map((l) => ({ windowBits: w, lookaheadBits: l })));

/** Data with repeats at all distances, so back-references of every length and offset are exercised. */
const arbData = fc.oneof(
  fc.uint8Array({ maxLength: 3000, size: 'max' }),
  fc
    .array(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc
          .record({ byte: fc.integer({ min: 0, max: 255 }), n: fc.integer({ min: 1, max: 700 }) })
          .map(({ byte, n }) => new Uint8Array(n).fill(byte)),
      ),
      { maxLength: 60, size: 'max' },
    )
    .chain((parts) =>
      // repeat some earlier parts to create long-distance matches
      fc.array(fc.nat({ max: Math.max(0, parts.length - 1) }), { maxLength: 20 }).map((reps) => {
        const all = [...parts, ...(parts.length ? reps.map((i) => parts[i]) : [])];
        return Buffer.concat(all.map((p) => Buffer.from(p)));
      }),
    ),
);

describe('heatshrink bit layout (hand-built streams)', () => {
  test('literal is tag 1 + 8 bits; back-reference is tag 0 + (distance-1) + (count-1), MSB first', () => {
    // "aaaa" with window 8 / lookahead 4: literal 'a', then distance 1, count 3 (overlapping copy)
    const stream = bits([1, 1], [0x61, 8], [0, 1], [0, 8], [2, 4]);
    assert.deepEqual(stream, Buffer.from([0xb0, 0x80, 0x08]));
    assert.equal(heatshrinkDecode(stream, { windowBits: 8, lookaheadBits: 4 }).toString('latin1'), 'aaaa');
    // and the encoder produces exactly that stream
    assert.deepEqual(heatshrinkEncode(Buffer.from('aaaa'), { windowBits: 8, lookaheadBits: 4 }), stream);
  });

  test('a back-reference before the start reads the zero-filled initial window', () => {
    const stream = bits([0, 1], [99, 10], [5, 4], [1, 1], [0x41, 8]);
    const out = heatshrinkDecode(stream, { windowBits: 10, lookaheadBits: 4 });
    assert.deepEqual(out, Buffer.concat([Buffer.alloc(6), Buffer.from('A')]));
  });

  test('longest window and lookahead (15/14): 30-bit items span the bit accumulator', () => {
    const stream = bits([1, 1], [7, 8], [1, 1], [9, 8], [0, 1], [1, 15], [16383, 14], [1, 1], [3, 8]);
    const out = heatshrinkDecode(stream, { windowBits: 15, lookaheadBits: 14 });
    assert.equal(out.length, 2 + 16384 + 1);
    for (let i = 0; i < 16386; i++) assert.equal(out[i], i % 2 === 0 ? 7 : 9);
    assert.equal(out[16386], 3);
  });

  test('a stream that ends inside an item is a truncation error, padding is not', () => {
    const p = { windowBits: 10, lookaheadBits: 4 };
    // literal + back-reference (15 bits) = 24 bits; drop the last byte → 16 bits, 7 of them a partial item
    const full = bits([1, 1], [0x42, 8], [0, 1], [0, 10], [3, 4]);
    assert.equal(heatshrinkDecode(full, p).toString('latin1'), 'BBBBB');
    // 9 bits of literal + 7 bits of padding: fine
    assert.equal(heatshrinkDecode(bits([1, 1], [0x42, 8]), p).toString('latin1'), 'B');
    // three bytes of a 4-literal stream: 24 bits = 2 literals + 6 bits → padding
    // two literals then a back-reference cut after 10 of its 15 bits: 28 bits → 4 bytes, 10 bits left over
    const cut = bits([1, 1], [0x42, 8], [1, 1], [0x43, 8], [0, 1], [5, 9]);
    assert.throws(
      () => heatshrinkDecode(cut, { ...p }),
      (e: unknown) =>
        e instanceof HeatshrinkError && e.code === 'SF_ERR_CANEDGE_TRUNCATED' && /back-reference/.test(e.message),
    );
  });

  test('rejects parameters outside the reference implementation bounds', () => {
    for (const p of [
      { windowBits: 3, lookaheadBits: 2 },
      { windowBits: 16, lookaheadBits: 4 },
      { windowBits: 8, lookaheadBits: 8 },
      { windowBits: 8, lookaheadBits: 2 },
    ]) {
      assert.throws(
        () => heatshrinkDecode(Buffer.from([0xff]), p),
        (e: unknown) => e instanceof HeatshrinkError && e.code === 'SF_ERR_CANEDGE_CORRUPT',
      );
    }
  });
});

describe('heatshrink round trips', () => {
  test('encode → decode is the identity for every valid window/lookahead (fast-check)', () => {
    fc.assert(
      fc.property(arbParams, arbData, (p, data) => {
        const enc = heatshrinkEncode(data, p);
        const dec = heatshrinkDecode(enc, p);
        assert.equal(sha256(dec), sha256(data));
        assert.equal(dec.length, data.length);
      }),
      { numRuns: 150 },
    );
  });

  test('incremental decoding in arbitrary chunks equals whole-buffer decoding (fast-check)', () => {
    fc.assert(
      fc.property(
        arbParams,
        arbData,
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 16, max: 4096 }),
        (p, data, cuts, chunkSize) => {
          const enc = heatshrinkEncode(data, p);
          const dec = new HeatshrinkDecoder(p, { chunkSize });
          const parts: Buffer[] = [];
          let at = 0;
          let k = 0;
          while (at < enc.length) {
            const n = cuts[k++ % cuts.length];
            dec.push(enc.subarray(at, at + n), (b) => parts.push(b));
            at += n;
          }
          dec.finish((b) => parts.push(b));
          assert.ok(Buffer.concat(parts).equals(Buffer.from(data)));
          for (const part of parts) assert.ok(part.length <= chunkSize + (1 << p.lookaheadBits));
        },
      ),
      { numRuns: 100 },
    );
  });

  test('compresses repetitive data (the encoder actually finds matches)', () => {
    const data = Buffer.from('CAN frame 0x123 [8] 01 02 03 04 05 06 07 08\n'.repeat(500));
    const enc = heatshrinkEncode(data, { windowBits: 10, lookaheadBits: 4 });
    assert.ok(enc.length < data.length / 4, `ratio ${enc.length}/${data.length}`);
  });
});

describe('heatshrink on garbage', () => {
  test('random input ends in output or a HeatshrinkError, bounded by maxOutput, never a hang', () => {
    fc.assert(
      fc.property(arbParams, fc.uint8Array({ maxLength: 2000, size: 'max' }), (p, junk) => {
        try {
          const out = heatshrinkDecode(junk, p, { maxOutput: 1 << 20 });
          assert.ok(out.length <= 1 << 20);
        } catch (e) {
          assert.ok(e instanceof HeatshrinkError, String(e));
        }
      }),
      { numRuns: 300 },
    );
  });

  test('maximal expansion is stopped by the output limit (whole-buffer and streaming)', () => {
    // each 30-bit item = copy 16384 bytes: 4 KiB of input would expand to ~17 MB
    const item = bits([0, 1], [0, 15], [16383, 14]);
    const p = { windowBits: 15, lookaheadBits: 14 };
    const input = Buffer.concat(Array.from({ length: 1000 }, () => item)); // item is 4 bytes (30 bits + 2 pad) – re-aligned each time
    const limit = 1 << 20;
    assert.throws(
      () => heatshrinkDecode(input, p, { maxOutput: limit }),
      (e: unknown) => e instanceof HeatshrinkError && e.code === 'SF_ERR_CANEDGE_TOO_LARGE',
    );
    const dec = new HeatshrinkDecoder(p, { maxOutput: limit, chunkSize: 65536 });
    let total = 0;
    assert.throws(
      () => dec.push(input, (b) => (total += b.length)),
      (e: unknown) => e instanceof HeatshrinkError && e.code === 'SF_ERR_CANEDGE_TOO_LARGE',
    );
    assert.ok(total <= limit + 65536 + 16384);
  });

  test('output limit at CANedge parameters (10/4), exact at the boundary', () => {
    const p = { windowBits: 10, lookaheadBits: 4 };
    // literal 'x', then 99 back-references of 16 bytes at distance 1 → 1 + 99*16 = 1585 bytes
    const items: [number, number][] = [
      [1, 1],
      [0x78, 8],
    ];
    for (let i = 0; i < 99; i++) items.push([0, 1], [0, 10], [15, 4]);
    const stream = bits(...items);
    assert.equal(heatshrinkDecode(stream, p, { maxOutput: 1585 }).length, 1585);
    assert.ok(heatshrinkDecode(stream, p, { maxOutput: 1585 }).every((b) => b === 0x78));
    for (const max of [1584, 1000, 16]) {
      assert.throws(
        () => heatshrinkDecode(stream, p, { maxOutput: max }),
        (e: unknown) => e instanceof HeatshrinkError && e.code === 'SF_ERR_CANEDGE_TOO_LARGE',
        String(max),
      );
    }
  });

  test('Transform stream reports errors through the pipeline', async () => {
    const p = { windowBits: 10, lookaheadBits: 4 };
    const cut = bits([1, 1], [0x42, 8], [1, 1], [0x43, 8], [0, 1], [5, 9]);
    await assert.rejects(
      pipeline(Readable.from([cut]), createHeatshrinkDecodeStream(p, { name: 'x.MFC' }), async (src) => {
        for await (const _ of src);
      }),
      /x\.MFC: truncated/,
    );
  });
});

describe('heatshrink on real CANedge MFC files', () => {
  const expected = JSON.parse(readFileSync(join(fixturesDir, 'canedge', 'expected.json'), 'utf8')).files[
    '00000007-643E54EA.MFC'
  ];

  test('fixture MFC decodes to the reference MDF (sha256 + size), whole and streamed', async () => {
    const file = readFileSync(join(fixturesDir, 'canedge', '00000007-643E54EA.MFC'));
    const p = { windowBits: 10, lookaheadBits: 4 };
    const out = heatshrinkDecode(file.subarray(28), p);
    assert.equal(out.length, expected.mdf_size_of_decompressed);
    assert.equal(sha256(out), expected.mdf_sha256_of_decompressed);
    const parts: Buffer[] = [];
    await pipeline(
      Readable.from([file.subarray(28)]),
      createHeatshrinkDecodeStream(p, { chunkSize: 8192 }),
      async (src: AsyncIterable<Buffer>) => {
        for await (const c of src) parts.push(c as Buffer);
      },
    );
    assert.equal(sha256(Buffer.concat(parts)), expected.mdf_sha256_of_decompressed);
  });

  test('re-encoding the decoded MDF round-trips', () => {
    const file = readFileSync(join(fixturesDir, 'canedge', '00000007-643E54EA.MFC'));
    const p = { windowBits: 10, lookaheadBits: 4 };
    const mdf = heatshrinkDecode(file.subarray(28), p);
    const enc = heatshrinkEncode(mdf, p);
    assert.ok(enc.length < mdf.length / 3);
    assert.equal(sha256(heatshrinkDecode(enc, p)), expected.mdf_sha256_of_decompressed);
  });

  test('corpus: all three MFC samples', { skip: !sharedData && 'no ../shared/data' }, () => {
    const samples = mfcSamples();
    assert.equal(samples.length, 3);
    for (const { name, path, ref } of samples) {
      const out = heatshrinkDecode(readFileSync(path).subarray(28), { windowBits: 10, lookaheadBits: 4 });
      assert.equal(out.length, ref.mdf_size_of_decompressed, name);
      assert.equal(sha256(out), ref.mdf_sha256_of_decompressed, name);
    }
  });
});
