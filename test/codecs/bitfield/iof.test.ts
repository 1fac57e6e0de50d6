import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadPacketSpec, PacketDecoder, parsePayload } from '../../../src/codecs/bitfield/index.js';
import { SigflowError } from '../../../src/errors/index.js';
import {
  dataBits,
  encodeIof,
  expectedRows,
  frequencyOf,
  type IofMessage,
  idBits,
  PROTOCOLS,
  prng,
  randomMessage,
  type TagPacket,
} from './iof-encoder.js';

const iof = loadPacketSpec('iof');

function decodeAll(bytes: Uint8Array) {
  const r = iof.rows(bytes);
  return { rows: r.rows.map((x) => ({ kind: x.kind, timeMs: x.timeMs, values: x.values })), error: r.error };
}

test('every protocol at every comm code k decodes to the rows its encoder says (both DS256 values)', () => {
  const packets: TagPacket[] = [];
  PROTOCOLS.forEach((protocol, p) => {
    for (let k = 0; k <= 14; k++) {
      packets.push({
        type: 'tag',
        offset: (k * 8 + p) % 250,
        protocol,
        k,
        tagId: 2 ** idBits(protocol) - 1 - k,
        data: dataBits(protocol).map((b, i) => 2 ** b - 2 - i - k),
        snr: (k + p) % 64,
        millisecond: 999 - k,
      });
    }
  });
  const m: IofMessage = { tbr: 320, refTimestamp: 1556555369, packets };
  const got = decodeAll(encodeIof(m));
  assert.equal(got.error, undefined);
  assert.deepEqual(got.rows, expectedRows(m));
  // The table of the protocol description, spot-checked by hand: 3 → S256 69 kHz, 19 → S256 70, 147 → S256 63.
  for (const [code, freq] of [
    [3, 69],
    [19, 70],
    [147, 63],
  ]) {
    const row = got.rows.find((r) => r.values.comm_protocol === 'S256' && r.values.frequency === freq);
    assert.ok(row, `comm_code ${code}`);
    assert.equal(frequencyOf(code >> 4), freq);
  }
  const ds = got.rows.filter((r) => r.values.comm_protocol === 'DS256');
  assert.equal(ds.length, 15);
  for (const r of ds) assert.equal(typeof r.values.tag_data_2, 'number');
  const s64k = got.rows.filter((r) => r.values.comm_protocol === 'S64K');
  assert.equal(s64k.length, 15, 'S64K packets decode (the original spelt it S64k and raised)');
});

test('GPS block: negative latitude and longitude (south and west), pdop, fix text; TBR sensor packet', () => {
  const m: IofMessage = {
    tbr: 16383,
    refTimestamp: 0xfffffff0,
    gps: { slimStatus: 12345, latitude: -41.75123, longitude: -73.01234, pdop: 1.2, fix: 3, sats: 22 },
    packets: [{ type: 'tbr', offset: 4, temperatureRaw: 142, noiseAvg: 31, noisePeak: 55, frequency: 69 }],
  };
  const got = decodeAll(encodeIof(m));
  assert.deepEqual(got.rows, expectedRows(m));
  assert.equal(got.rows[0].values.latitude, -41.75123);
  assert.equal(got.rows[0].values.longitude, -73.01234);
  assert.equal(got.rows[0].values.fix, '3D-fix');
  assert.equal(got.rows[1].values.temperature, 9.2);
  // Extremes of the fields' widths.
  for (const [lat, lon] of [
    [-90, -180],
    [90, 180],
    [0, 0],
    [-0.00001, 0.00001],
  ]) {
    const g = decodeAll(
      encodeIof({ ...m, gps: { ...(m.gps as NonNullable<IofMessage['gps']>), latitude: lat, longitude: lon } }),
    );
    assert.equal(g.rows[0].values.latitude, lat);
    assert.equal(g.rows[0].values.longitude, lon);
  }
  // A fix code outside the u-blox table: no text, the code kept.
  const odd = decodeAll(encodeIof({ ...m, gps: { ...(m.gps as NonNullable<IofMessage['gps']>), fix: 7 } }));
  assert.equal(odd.rows[0].values.fix, undefined);
  assert.equal(odd.rows[0].values.fix_code, 7);
});

test('seconds offset wraps: above 250 the packet belongs before the reference', () => {
  const ref = 1_600_000_000;
  for (const [offset, t] of [
    [0, ref],
    [250, ref + 250],
    [251, ref - 4],
    [254, ref - 1],
    [255, ref],
  ]) {
    const got = decodeAll(
      encodeIof({
        tbr: 1,
        refTimestamp: ref,
        packets: [{ type: 'tbr', offset, temperatureRaw: 0, noiseAvg: 0, noisePeak: 0, frequency: 0 }],
      }),
    );
    assert.equal(got.rows[0].values.timestamp, t, `offset ${offset}`);
  }
});

test('an unknown comm code mid-message: the rows before it are kept, the error names packet, byte and code', () => {
  const m: IofMessage = {
    tbr: 7,
    refTimestamp: 1_600_000_000,
    packets: [
      { type: 'tag', offset: 1, protocol: 'R256', k: 0, tagId: 5, data: [], snr: 3, millisecond: 10 },
      { type: 'tag', offset: 2, protocol: 'S256', k: 2, tagId: 6, data: [7], snr: 4, millisecond: 20 },
    ],
  };
  const good = encodeIof(m);
  for (const code of [0xf0, 0xfe, 0x08, 0x57 | 0x08]) {
    const bytes = new Uint8Array([...good, 9, code, 1, 2, 3, 4, 5, 6]);
    const got = decodeAll(bytes);
    assert.deepEqual(got.rows, expectedRows(m));
    assert.deepEqual(got.error, {
      packet: 3,
      byte: good.length,
      message: `packet 3 at byte ${good.length}: unknown comm_code 0x${code.toString(16).padStart(2, '0')}`,
    });
  }
});

test('truncated messages: header, GPS block and packets cut short say where', () => {
  const m: IofMessage = {
    tbr: 320,
    refTimestamp: 1_556_555_369,
    gps: { slimStatus: 1, latitude: 63.4, longitude: 10.4, pdop: 1, fix: 3, sats: 9 },
    packets: [
      { type: 'tag', offset: 1, protocol: 'HS256', k: 3, tagId: 5, data: [65535], snr: 3, millisecond: 10 },
      { type: 'tbr', offset: 2, temperatureRaw: 100, noiseAvg: 1, noisePeak: 2, frequency: 69 },
    ],
  };
  const full = encodeIof(m);
  const all = expectedRows(m);
  assert.equal(decodeAll(new Uint8Array(0)).error?.message, 'header at byte 0: cut short (needs 6 bytes, 0 left)');
  assert.equal(decodeAll(full.subarray(0, 5)).error?.message, 'header at byte 0: cut short (needs 6 bytes, 5 left)');
  const g = decodeAll(full.subarray(0, 12));
  assert.deepEqual(g.rows, []);
  assert.equal(g.error?.message, 'block gps at byte 6: cut short (needs 10 bytes, 6 left)');
  // HS256 (7 bytes: offset, code, id, 2 data bytes, snr + millisecond) at 16, the TBR packet (7 bytes) at 23.
  assert.equal(full.length, 30);
  const p1 = decodeAll(full.subarray(0, 16 + 5));
  assert.deepEqual(p1.rows, all.slice(0, 1));
  assert.equal(p1.error?.message, 'packet 1 at byte 16: cut short (needs 7 bytes, 5 left)');
  const p2 = decodeAll(full.subarray(0, full.length - 1));
  assert.deepEqual(p2.rows, all.slice(0, 2));
  assert.equal(p2.error?.message, 'packet 2 at byte 23: cut short (needs 7 bytes, 6 left)');
  const p2b = decodeAll(full.subarray(0, 24));
  assert.equal(p2b.error?.message, 'packet 2 at byte 23: cut short (needs 2 bytes, 1 left)');
  // The header announces a GPS block that is not there.
  assert.equal(
    decodeAll(full.subarray(0, 6)).error?.message,
    'block gps at byte 6: cut short (needs 10 bytes, 0 left)',
  );
  // A header without GPS and no packets: no rows, no error (a message with nothing to report).
  assert.deepEqual(decodeAll(encodeIof({ tbr: 1, refTimestamp: 2, packets: [] })), { rows: [], error: undefined });
});

test('payloads: hex, base64 and the gateway envelope; invalid base64 or JSON is an error that says why', () => {
  const bytes = encodeIof({ tbr: 1, refTimestamp: 2, packets: [] });
  const b64 = Buffer.from(bytes).toString('base64');
  assert.deepEqual(parsePayload(Buffer.from(bytes).toString('hex')).bytes, bytes);
  assert.deepEqual(parsePayload(b64).bytes, bytes);
  const env = parsePayload(JSON.stringify({ data: b64, snr: 7.5 }));
  assert.deepEqual(env.bytes, bytes);
  assert.deepEqual(env.meta, { snr: 7.5 });
  const bad: [string, RegExp][] = [
    ['{"data": "AAE=", ', /not JSON/],
    ['{"snr": 1}', /no "data" string/],
    ['[1,2]', /not a JSON object/],
    ['{"data": "A*E="}', /"data": not base64/],
    ['{"data": "AAE"}', /length 3 is not a multiple of 4/],
    ['AB=C', /not base64/],
    ['', /empty line/],
  ];
  for (const [line, re] of bad) {
    assert.throws(
      () => parsePayload(line),
      (e: unknown) => e instanceof SigflowError && e.code === 'SF_ERR_PACKETS_DECODE' && re.test(e.message),
      line,
    );
  }
  assert.throws(() => parsePayload('abc', 'hex'), /odd number of digits/);
});

test('property: random valid messages encode → decode to exactly their rows', () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 0, max: 12 }), (seed, n) => {
      const m = randomMessage(prng(seed), n);
      const got = decodeAll(encodeIof(m));
      assert.equal(got.error, undefined);
      assert.deepEqual(got.rows, expectedRows(m));
    }),
    { numRuns: 2000 },
  );
});

test('property: arbitrary bytes never throw; every stop is a positioned error', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const r = iof.rows(bytes);
      if (r.error) assert.match(r.error.message, /^(header|block gps|packet \d+) at byte \d+: /);
    }),
    { numRuns: 3000 },
  );
});

test('the same spec written as YAML decodes the same as the built-in object', async () => {
  const { stringify } = await import('yaml');
  const { IOF_SPEC } = await import('../../../src/codecs/bitfield/index.js');
  const fromYaml = new PacketDecoder(stringify(IOF_SPEC), 'iof.yaml');
  const m = randomMessage(prng(42), 20);
  assert.deepEqual(fromYaml.rows(encodeIof(m)), iof.rows(encodeIof(m)));
});
