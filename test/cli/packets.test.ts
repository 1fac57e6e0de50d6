/**
 * `sigflow packets decode | spec` as a user runs it: envelopes, hex and base64 lines → NDJSON rows, a bad line and
 * a message cut short reported with file:line and where (exit 1, the good rows written); a whole binary file with
 * --format raw; a spec of one's own from YAML; a bad spec named by key path (exit 2).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { encodeIof, expectedRows, type IofMessage } from '../codecs/bitfield/iof-encoder.js';
import { repoRoot } from '../harness/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'sigflow-packets-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sigflow(args: string[], input?: string) {
  return spawnSync(process.execPath, [join(repoRoot, 'bin', 'sigflow'), ...args], { encoding: 'utf8', input });
}

const message: IofMessage = {
  tbr: 320,
  refTimestamp: 1556555369,
  gps: { slimStatus: 1, latitude: -41.2, longitude: -73.1, pdop: 1.2, fix: 3, sats: 9 },
  packets: [
    { type: 'tag', offset: 3, protocol: 'DS256', k: 9, tagId: 12, data: [17, 18], snr: 20, millisecond: 330 },
    { type: 'tbr', offset: 4, temperatureRaw: 142, noiseAvg: 31, noisePeak: 55, frequency: 69 },
  ],
};

test('packets decode: envelope, hex, base64 lines → rows; a bad line and a cut message named with file:line', () => {
  const bytes = encodeIof(message);
  const b64 = Buffer.from(bytes).toString('base64');
  const file = join(dir, 'uplinks.txt');
  writeFileSync(
    file,
    [
      JSON.stringify({ data: b64, snr: 7.5 }),
      Buffer.from(bytes).toString('hex'),
      '',
      b64,
      '{"data": "not base64!"}',
      Buffer.from(bytes.subarray(0, bytes.length - 2)).toString('hex'),
    ].join('\n'),
  );
  const r = sigflow(['packets', 'decode', '--spec', 'iof', file]);
  assert.equal(r.status, 1, r.stderr);
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const want = expectedRows(message);
  // three whole messages, then the rows before the cut of the last
  assert.equal(rows.length, 3 * want.length + 2);
  const { kind, time, source, line, envelope, ...values } = rows[0];
  assert.deepEqual(
    { kind, values, line, envelope, source },
    { kind: 'gps', values: want[0].values, line: 1, envelope: { snr: 7.5 }, source: file },
  );
  assert.equal(time, '2019-04-29T16:29:29.000Z');
  assert.deepEqual(
    rows.map((x) => x.line),
    [1, 1, 1, 2, 2, 2, 4, 4, 4, 6, 6],
  );
  assert.match(r.stderr, new RegExp(`${file}:5: "data": not base64`));
  assert.match(r.stderr, new RegExp(`${file}:6: packet 2 at byte 23: cut short \\(needs 7 bytes, 5 left\\)`));
  assert.match(r.stderr, /packets: 5 messages → 11 rows in .* s; 2 with problems/);
});

test('packets decode --format raw reads a binary file; a spec of my own in YAML; a bad spec says where (exit 2)', () => {
  const bin = join(dir, 'message.bin');
  writeFileSync(bin, encodeIof(message));
  const raw = sigflow(['packets', 'decode', '--spec', 'iof', '--format', 'raw', bin]);
  assert.equal(raw.status, 0, raw.stderr);
  assert.equal(raw.stdout.trim().split('\n').length, 3);

  const spec = join(dir, 'thermo.yaml');
  writeFileSync(
    spec,
    `name: thermo
endian: little
blocks:
  - row: reading
    fields:
      - { name: t, bits: 32 }
      - { name: temperature, bits: 12, signed: true, scale: 0.0625 }
      - { name: battery, bits: 4, map: { 0: low, 15: full } }
rows: { reading: { time: { seconds: t } } }
`,
  );
  // t = 1700000000 LE; temperature raw -40 (0xfd8, 12 bits) then battery 15: bits LSB-first
  const t = Buffer.alloc(4);
  t.writeUInt32LE(1_700_000_000);
  const tail = (0xfd8 | (15 << 12)) & 0xffff;
  const hex = Buffer.concat([t, Buffer.from([tail & 0xff, tail >> 8])]).toString('hex');
  const mine = sigflow(['packets', 'decode', '--spec', spec], `${hex}\n`);
  assert.equal(mine.status, 0, mine.stderr);
  const row = JSON.parse(mine.stdout);
  assert.deepEqual(
    { kind: row.kind, time: row.time, temperature: row.temperature, battery: row.battery },
    { kind: 'reading', time: '2023-11-14T22:13:20.000Z', temperature: -2.5, battery: 'full' },
  );

  writeFileSync(spec, 'name: thermo\nblocks:\n  - row: r\n    fields: [{ name: t, bits: 99 }]\n');
  const bad = sigflow(['packets', 'decode', '--spec', spec], '00\n');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /thermo\.yaml: blocks\[0\]\.fields\[0\]\.bits: Too big/);
  const printed = sigflow(['packets', 'spec', 'iof']);
  assert.equal(printed.status, 0);
  assert.match(printed.stdout, /^name: iof$/m);
});
