import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PacketDecoder, parseSpec } from '../../../src/codecs/bitfield/index.js';
import { SigflowError } from '../../../src/errors/index.js';

/**
 * An independent bit writer for both orders: big = MSB-first from byte 0 (network order), little = LSB-first
 * (bit i is bit i%8 of byte i/8, as DBC's Intel layout).
 */
function writeBits(order: 'big' | 'little', fields: { bits: number; value: bigint }[]): Uint8Array {
  const total = fields.reduce((s, f) => s + f.bits, 0);
  const out = new Uint8Array(Math.ceil(total / 8));
  let pos = 0;
  for (const f of fields) {
    const v = BigInt.asUintN(f.bits, f.value);
    for (let i = 0; i < f.bits; i++) {
      const bit = order === 'big' ? Number((v >> BigInt(f.bits - 1 - i)) & 1n) : Number((v >> BigInt(i)) & 1n);
      const g = pos + i;
      if (order === 'big') out[g >> 3] |= bit << (7 - (g & 7));
      else out[g >> 3] |= bit << (g & 7);
    }
    pos += f.bits;
  }
  return out;
}

test('property: any layout of big- or little-endian, signed or unsigned fields of 1–53 bits decodes exactly', () => {
  const field = fc.record({
    bits: fc.integer({ min: 1, max: 53 }),
    signed: fc.boolean(),
    seed: fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }),
  });
  fc.assert(
    fc.property(
      fc.constantFrom('big' as const, 'little' as const),
      fc.array(field, { minLength: 1, maxLength: 12 }),
      (order, fs) => {
        const total = fs.reduce((s, f) => s + f.bits, 0);
        const pad = (8 - (total % 8)) % 8;
        const fields = fs.map((f, i) => ({ name: `f${i}`, bits: f.bits, signed: f.signed }));
        if (pad) fields.push({ name: 'pad', bits: pad, signed: false });
        const values = fs.map((f) => {
          const u = f.seed & ((1n << BigInt(f.bits)) - 1n);
          return f.signed ? BigInt.asIntN(f.bits, u) : u;
        });
        const bytes = writeBits(order, [
          ...fs.map((f, i) => ({ bits: f.bits, value: values[i] })),
          ...(pad ? [{ bits: pad, value: 0n }] : []),
        ]);
        const got: Record<string, number>[] = [];
        const d2 = new PacketDecoder({ name: 't', endian: order, blocks: [{ row: 'r', fields }] }, 't');
        const r = d2.rows(bytes);
        assert.equal(r.error, undefined);
        assert.equal(r.rows.length, 1);
        for (let i = 0; i < fs.length; i++) got.push({ [`f${i}`]: r.rows[0].values[`f${i}`] as number });
        assert.deepEqual(
          got,
          values.map((v, i) => ({ [`f${i}`]: Number(v) })),
        );
      },
    ),
    { numRuns: 1500 },
  );
});

test('a whole-byte field in the other byte order, peeked discriminators, scale/offset, maps, copies and constants', () => {
  const d = new PacketDecoder(
    {
      name: 'mixed',
      endian: 'big',
      header: { fields: [{ name: 'len', bits: 8, emit: false }] },
      packets: {
        fields: [
          { name: 'kind', bits: 8, peek: true, emit: false },
          { name: 'hi', bits: 4, emit: false },
          { name: 'lo', bits: 4 },
        ],
        variants: [
          {
            when: { kind: [0x10, 0x11] },
            row: 'a',
            fields: [
              { name: 'le16', bits: 16, endian: 'little' },
              { name: 'volts', bits: 8, scale: 0.5, offset: -10, raw_as: 'volts_raw' },
              { name: 'state', bits: 8, map: { 0: 'off', 1: 'on' } },
              { name: 'source', value: 'adc' },
              { name: 'lo_again', copy: 'lo' },
            ],
          },
          { when: { hi: { min: 2, max: 3 } }, row: 'b', fields: [{ name: 'x', bits: 8, signed: true }] },
        ],
      },
    },
    'mixed',
  );
  const bytes = Uint8Array.from([9, 0x11, 0x34, 0x12, 30, 1, 0x2f, 0xff, 0x10, 0, 0, 0, 7]);
  const r = d.rows(bytes);
  assert.equal(r.error, undefined);
  assert.deepEqual(
    r.rows.map((x) => x.values),
    [
      { lo: 1, le16: 0x1234, volts_raw: 30, volts: 5, state: 'on', source: 'adc', lo_again: 1 },
      { lo: 15, x: -1 },
      { lo: 0, le16: 0, volts_raw: 0, volts: -10, source: 'adc', lo_again: 0 },
    ],
  );
  assert.equal(r.rows[2].values.state, undefined, 'state 7 is not in the map: no text (the row keeps the rest)');
  // A row's columns are the union of its variants'; absent ones are left out, never stale from the previous row.
  assert.deepEqual(
    d.kind('a')?.columns.map((c) => c.name),
    ['lo', 'le16', 'volts_raw', 'volts', 'state', 'source', 'lo_again'],
  );
});

test('the generated decoder holds no name from the spec (numbers only)', () => {
  const d = new PacketDecoder(
    {
      name: 'evil',
      blocks: [
        { row: 'r', fields: [{ name: 'constructor__proto__', bits: 8, map: { 1: "'); process.exit(1); ('" } }] },
      ],
    },
    'evil',
  );
  assert.doesNotMatch(d.source, /constructor__proto__|process/);
  assert.deepEqual(d.rows(Uint8Array.from([1])).rows[0].values, { constructor__proto__: "'); process.exit(1); ('" });
});

test('spec errors name the key path', () => {
  const cases: [unknown, RegExp][] = [
    [{ name: 'x', header: { fields: [{ name: 'a', bits: 54 }] } }, /header\.fields\[0\]\.bits/],
    [{ name: 'x', header: { fields: [{ name: 'a' }] } }, /header\.fields\[0\]: say how the value is made/],
    [{ name: 'x', header: { fields: [{ name: 'a', bits: 8, copy: 'b' }] } }, /only one of bits, copy/],
    [{ name: 'x', header: { fields: [{ name: 'a', bits: 8, bogus: 1 }] } }, /header\.fields\[0\]: Unrecognized key/],
    [{ name: 'x', header: { fields: [{ name: 'a', bits: 7 }] } }, /header: 7 bits: a header is whole bytes/],
    [
      {
        name: 'x',
        header: {
          fields: [
            { name: 'a', bits: 8 },
            { name: 'a', bits: 8 },
          ],
        },
      },
      /"a" is already a field/,
    ],
    [
      { name: 'x', blocks: [{ row: 'r', when: { nope: 1 }, fields: [{ name: 'a', bits: 8 }] }] },
      /blocks\[0\]\.when\.nope: "nope" is not a field read before/,
    ],
    [
      {
        name: 'x',
        header: { fields: [{ name: 'a', bits: 8, scale: 2 }] },
        blocks: [{ row: 'r', when: { a: 1 }, fields: [{ name: 'b', bits: 8 }] }],
      },
      /must be a plain integer/,
    ],
    [
      {
        name: 'x',
        header: {
          fields: [
            { name: 'a', bits: 12, endian: 'little' },
            { name: 'b', bits: 4 },
          ],
        },
      },
      /needs whole bytes on a byte boundary/,
    ],
    [
      { name: 'x', blocks: [{ row: 'r', fields: [{ name: 'a', bits: 8 }] }], rows: { r: { time: { seconds: 'zz' } } } },
      /rows\.r\.time\.seconds: "zz" is not a column/,
    ],
    [{ name: 'x', blocks: [{ row: 'r', fields: [{ name: 'a', bits: 8, map: { one: 'x' } }] }] }, /map/],
    [{ name: 'x', packets: { row: 'r', fields: [{ name: 'a', value: 1 }] } }, /packets: a packet is at least one byte/],
    [
      {
        name: 'x',
        packets: { fields: [{ name: 'k', bits: 8, peek: true }], variants: [{ when: { k: 1 }, row: 'r', fields: [] }] },
      },
      /packets\.variants\[0\]: a packet is at least one byte/,
    ],
  ];
  for (const [spec, re] of cases) {
    assert.throws(
      () => new PacketDecoder(spec as never, 'my.yaml'),
      (e: unknown) =>
        e instanceof SigflowError &&
        e.code === 'SF_ERR_PACKETS_SPEC' &&
        re.test(e.message) &&
        e.message.startsWith('my.yaml'),
      `${JSON.stringify(spec)} → ${re}`,
    );
  }
  assert.throws(() => parseSpec('a: [', 'bad.yaml'), /bad\.yaml: not YAML\/JSON/);
});

test('a row time that no record can hold (±Infinity, beyond int64 ns) is left out, as a missing one is', () => {
  const d = new PacketDecoder(
    {
      name: 'absurd',
      endian: 'big',
      packets: { row: 'p', fields: [{ name: 'sec', bits: 32, scale: 1e300 }] },
      rows: { p: { time: { seconds: 'sec' } } },
    },
    'absurd',
  );
  const time = (bytes: number[]) => d.rows(Uint8Array.from(bytes)).rows.map((r) => r.timeMs);
  assert.deepEqual(time([0, 0, 0, 0]), [0]);
  assert.deepEqual(time([0xff, 0xff, 0xff, 0xff]), [undefined]); // 4294967295e300 s = Infinity
  assert.deepEqual(time([0, 0, 0, 1]), [undefined]); // 1e300 s: finite, beyond 2262
  const ok = new PacketDecoder(
    {
      name: 'ok',
      endian: 'big',
      packets: { row: 'p', fields: [{ name: 'sec', bits: 32 }] },
      rows: { p: { time: { seconds: 'sec' } } },
    },
    'ok',
  );
  assert.deepEqual(ok.rows(Uint8Array.from([0x65, 0x92, 0x00, 0x80])).rows[0].timeMs, 0x65920080 * 1000);
});

test('a spec without packets: bytes after its header and blocks are reported, not dropped unseen', () => {
  const d = new PacketDecoder(
    {
      name: 'fixed',
      endian: 'big',
      header: { fields: [{ name: 'ver', bits: 8 }] },
      blocks: [{ row: 'b', fields: [{ name: 'x', bits: 8 }] }],
    },
    'fixed',
  );
  const exact = d.rows(Uint8Array.from([1, 2]));
  assert.equal(exact.error, undefined);
  assert.deepEqual(
    exact.rows.map((r) => r.values),
    [{ ver: 1, x: 2 }],
  );
  const longer = d.rows(Uint8Array.from([1, 2, 3, 4, 5, 6, 7]));
  assert.deepEqual(
    longer.rows.map((r) => r.values),
    [{ ver: 1, x: 2 }],
    'the rows before are kept',
  );
  assert.equal(longer.error?.byte, 2);
  assert.match(longer.error?.message ?? '', /^5 byte\(s\) after the last block b at byte 2 /);
});

test('a map key beyond a safe integer is a spec error naming the key path (it was an internal error)', () => {
  const key = '9'.repeat(400);
  assert.throws(
    () =>
      new PacketDecoder(
        { name: 'k', endian: 'big', packets: { row: 'p', fields: [{ name: 'x', bits: 8, map: { [key]: 'big' } }] } },
        'k.yaml',
      ),
    (e: unknown) =>
      e instanceof Error &&
      (e as { code?: string }).code === 'SF_ERR_PACKETS_SPEC' &&
      /packets\.fields\[0\]\.map\..*an integer key/.test(e.message),
  );
});
