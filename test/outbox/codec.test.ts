/** The batch encoding: exact round trip (property-based), dictionary compactness, and hostile input. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { decodeBatch, encodeBatch } from '../../src/outbox/codec.js';
import { crc32, crc32Portable } from '../../src/outbox/crc32.js';
import { BatchDecodeError, OutboxInputError } from '../../src/outbox/errors.js';
import type { TelemetryRecord } from '../../src/records/record.js';

const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('__proto__', 'constructor', '0', ''),
);
const key = anyString.filter((s) => s.length > 0);
const fieldValue = fc.oneof(
  fc.double(), // includes -0, NaN, ±Infinity
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.bigInt(), // beyond 64 bits too
  fc.boolean(),
  anyString,
);
const dict = <T>(v: fc.Arbitrary<T>, min: number) =>
  fc.uniqueArray(fc.tuple(key, v), { minLength: min, maxLength: 6, selector: (e) => e[0] }).map((entries) => {
    const o: Record<string, T> = {};
    for (const [k, x] of entries)
      Object.defineProperty(o, k, { value: x, enumerable: true, writable: true, configurable: true });
    return o;
  });
const record: fc.Arbitrary<TelemetryRecord> = fc.record({
  time: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  measurement: key,
  tags: dict(anyString, 0),
  fields: dict(fieldValue, 1),
});

test('round trip is exact for any valid records (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(record, { maxLength: 30 }), (recs) => {
      const back = decodeBatch(encodeBatch(recs));
      assert.deepStrictEqual(
        back.map((r) => ({ ...r, tags: { ...r.tags } })),
        recs.map((r) => ({ ...r, tags: { ...r.tags } })),
      );
      // -0 vs 0 and NaN identity, which deepStrictEqual treats via Object.is; double-check floats bit-exactly.
      recs.forEach((r, i) => {
        for (const [k, v] of Object.entries(r.fields)) assert.ok(Object.is(back[i].fields[k], v), `field ${k}`);
      });
    }),
    { numRuns: 300 },
  );
});

test('records sharing series and field sets reuse dictionary entries (compact)', () => {
  const recs: TelemetryRecord[] = [];
  for (let i = 0; i < 1000; i++) {
    recs.push({
      time: 1_700_000_000_000_000_000n + BigInt(i),
      measurement: 'engine',
      tags: { device: `truck-${i % 10}`, bus: 'can0', site: 'depot', model: 'FH16', firmware: '4.2.1' },
      fields: { rpm: i + 0.5, temp: 80.5, odo: BigInt(i), brake: i % 2 === 0 },
    });
  }
  const buf = encodeBatch(recs);
  // Per record: series + fieldset varints (2) + time (8) + 2 floats (18) + int (9) + bool (1) = 38 bytes.
  assert.ok(buf.length < 1000 * 38 + 400, `${buf.length} bytes for 1000 records`);
  assert.deepStrictEqual(
    decodeBatch(buf).map((r) => ({ ...r, tags: { ...r.tags } })),
    recs,
  );
});

test('decoded records of one series share a frozen tags object', () => {
  const recs = [1n, 2n].map((time) => ({ time, measurement: 'm', tags: { a: 'b' }, fields: { v: 1 } }));
  const back = decodeBatch(encodeBatch(recs));
  assert.equal(back[0].tags, back[1].tags);
  assert.ok(Object.isFrozen(back[0].tags));
});

test('invalid records are refused naming the record and the problem', () => {
  const ok = { time: 1n, measurement: 'm', tags: {}, fields: { a: 1 } };
  const cases: [unknown, RegExp][] = [
    [{ ...ok, time: 1 }, /record 1: time must be a bigint/],
    [{ ...ok, time: 2n ** 63n }, /record 1: time .* outside the signed 64-bit range/],
    [{ ...ok, measurement: '' }, /record 1: measurement must be a non-empty string/],
    [{ ...ok, tags: { a: 1 } }, /record 1: tag a must be a string, got number/],
    [{ ...ok, tags: { '': 'x' } }, /record 1: tag keys must be non-empty/],
    [{ ...ok, fields: {} }, /record 1: a record needs at least one field/],
    [{ ...ok, fields: { a: null } }, /record 1: field a has type null/],
    [{ ...ok, fields: { '': 1 } }, /record 1: field keys must be non-empty/],
    [null, /record 1: expected an object/],
  ];
  for (const [bad, re] of cases) {
    assert.throws(
      () => encodeBatch([ok, bad as TelemetryRecord]),
      (e: Error) => e instanceof OutboxInputError && re.test(e.message),
    );
  }
});

test('garbage, truncated or bit-flipped blobs throw BatchDecodeError with an offset, never crash or hang', () => {
  const good = encodeBatch([
    { time: 5n, measurement: 'm', tags: { a: 'b' }, fields: { f: 1.5, i: 3n, s: 'hello', t: true, big: 2n ** 80n } },
    { time: 6n, measurement: 'n', tags: {}, fields: { f: -0 } },
  ]);
  for (let cut = 0; cut < good.length; cut++) {
    assert.throws(() => decodeBatch(good.subarray(0, cut)), BatchDecodeError, `truncated at ${cut}`);
  }
  fc.assert(
    fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
      const bad = Buffer.from(good);
      bad[pos] ^= x;
      try {
        decodeBatch(bad); // a flip inside a float or string can still decode: that is what the CRC is for
      } catch (e) {
        assert.ok(e instanceof BatchDecodeError, String(e));
        assert.equal(e.code, 'SF_ERR_OUTBOX_BATCH_DECODE');
        assert.equal(e.where, `byte ${e.offset}`);
        assert.match((e as Error).message, /at byte \d+/);
      }
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        decodeBatch(Buffer.concat([Buffer.from('SFB\x01'), Buffer.from(bytes)]));
      } catch (e) {
        assert.ok(e instanceof BatchDecodeError, String(e));
      }
    }),
    { numRuns: 500 },
  );
  // A huge count in a tiny blob is refused before allocating.
  assert.throws(
    () => decodeBatch(Buffer.from([0x53, 0x46, 0x42, 1, 0xff, 0xff, 0xff, 0xff, 0x0f])),
    /exceeds the remaining/,
  );
  assert.throws(() => decodeBatch(Buffer.from('nope')), /bad magic/);
  assert.throws(() => decodeBatch(Buffer.from([0x53, 0x46, 0x42, 9])), /unsupported batch version 9/);
});

test('crc32: native and portable agree, and match the standard check value', () => {
  assert.equal(crc32Portable(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => crc32(b) === crc32Portable(b)));
});

test('decoding works where code generation from strings is disallowed (a hardening flag): plain objects instead', () => {
  const ext = fileURLToPath(import.meta.url).endsWith('.ts') ? 'ts' : 'js';
  const codec = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), `../../src/outbox/codec.${ext}`)).href;
  const code = `
    const { decodeBatch, encodeBatch } = await import(${JSON.stringify(codec)});
    const recs = [{ time: 1n, measurement: 'm', tags: { a: 'b' }, fields: { v: 1.5, ['__proto__']: 2, ok: true } }];
    const [r] = decodeBatch(encodeBatch(recs));
    process.stdout.write(JSON.stringify({ keys: Object.keys(r.fields), v: r.fields.v, p: Object.getPrototypeOf(r.fields) === Object.prototype }));`;
  const out = execFileSync(
    process.execPath,
    [...process.execArgv, '--disallow-code-generation-from-strings', '--input-type=module', '-e', code],
    { encoding: 'utf8' },
  );
  assert.deepEqual(JSON.parse(out), { keys: ['v', '__proto__', 'ok'], v: 1.5, p: true });
});
