/**
 * The `iof` sink over real SQLite with the MQTT source's own record maker (payload format packets): synthetic
 * fish at a Norwegian and a Chilean cage give positions within 1 cm of the independent reference; redelivered
 * batches change nothing; unreadable and broken messages are kept raw; batch positioning gives the live rows.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { positionAll } from '../../src/apps/iof/index.js';
import type { TelemetryRecord } from '../../src/records/index.js';
import { createSink } from '../../src/sinks/index.js';
import { type IofSink, loadProject, saveProject } from '../../src/sinks/iof/index.js';
import { PacketPayloads } from '../../src/sources/mqtt/packets.js';
import { checkPositions, envelope, fishProject, messages, spread, transmissions } from '../apps/iof/fish.js';
import { encodeIof } from '../codecs/bitfield/iof-encoder.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-iof-sink-'));
  dirs.push(dir);
  await saveProject(join(dir, 'iof.yaml'), fishProject());
  const sink = createSink({ type: 'iof', project: join(dir, 'iof.yaml'), path: join(dir, 'iof.db') }) as IofSink;
  const reader = new PacketPayloads({
    format: 'packets',
    spec: 'iof',
    envelope: true,
    measurement_prefix: 'iof_',
    tags: ['tbr_serial_id', 'tag_id', 'frequency'],
  });
  const records = (payloads: (string | Uint8Array)[]) => {
    const out: TelemetryRecord[] = [];
    payloads.forEach((p, i) => {
      const bytes = typeof p === 'string' ? Buffer.from(p) : p;
      reader.toRecords('lora/dev/ui/800', bytes, BigInt(1_800_000_000_000 + i) * 1_000_000n, out);
    });
    return out;
  };
  return { dir, sink, records };
}

const count = (sink: IofSink, table: string) =>
  (sink.db.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

test('synthetic fish at two sites: positions within 1 cm of the reference; nothing twice; batch = live', async (t) => {
  const { dir, sink, records } = await setup();
  const txs = transmissions(40);
  const recs = records(messages(txs).map((m) => envelope(m)));
  for (let i = 0; i < recs.length; i += 37) assert.deepEqual(await sink.write(recs.slice(i, i + 37)), { kind: 'ok' });
  const tables = ['backup', 'gps', 'tag', 'tbr', 'positions'].map((x) => count(sink, x));
  // the whole stream delivered again (the outbox after a crash, the broker's redeliveries): nothing changes
  assert.deepEqual(await sink.write(recs), { kind: 'ok' });
  assert.deepEqual(
    ['backup', 'gps', 'tag', 'tbr', 'positions'].map((x) => count(sink, x)),
    tables,
  );
  assert.equal(sink.counts.duplicates, recs.filter((r) => r.measurement === 'iof_message').length);

  const heard = txs.reduce((s, x) => s + x.heard.filter(Boolean).length, 0);
  assert.equal(count(sink, 'tag'), heard);
  assert.equal(count(sink, 'gps'), 6);
  const rows = sink.db.db.prepare('SELECT * FROM positions ORDER BY timestamp, millisecond').all() as Record<
    string,
    number
  >[];
  assert.ok(txs.filter((x) => !('none' in x.expect)).length >= 70);
  const { errors, bounds } = checkPositions(rows, txs);
  assert.ok(
    errors.every((e, i) => e <= 1.05 * bounds[i] + 0.001),
    'each within what 1 ms of timing allows',
  );
  t.diagnostic(`distance to truth: ${spread(errors)} (1 ms = 1.5 m of range)`);

  // batch over the whole database gives exactly the live rows
  const live = JSON.stringify(rows);
  const r = positionAll(sink.db, await loadProject(join(dir, 'iof.yaml')));
  assert.equal(r.positions, rows.length);
  assert.equal(
    JSON.stringify(sink.db.db.prepare('SELECT * FROM positions ORDER BY timestamp, millisecond').all()),
    live,
  );
  await sink.close();
});

test('every message is kept raw: unreadable envelopes, cut-short messages (rows before the stop kept), conversions', async () => {
  const { sink, records } = await setup();
  const good = encodeIof({
    tbr: 501,
    refTimestamp: 1_561_939_200, // 2019-07-01T00:00:00Z = 02:00 in Oslo (summer time)
    packets: [
      { type: 'tag', offset: 1, protocol: 'S256', k: 0, tagId: 10, data: [100], snr: 3, millisecond: 5 },
      { type: 'tag', offset: 2, protocol: 'DS256', k: 0, tagId: 99, data: [7, 8], snr: 3, millisecond: 6 },
      { type: 'tbr', offset: 3, temperatureRaw: 142, noiseAvg: 1, noisePeak: 2, frequency: 69 },
    ],
  });
  const cut = good.subarray(0, good.length - 3);
  const recs = records(['not json', '{"data":"@@@@"}', envelope(good), envelope(cut), envelope(new Uint8Array([1]))]);
  assert.deepEqual(await sink.write(recs), { kind: 'ok' });
  const backup = sink.db.db.prepare('SELECT rows, error FROM backup ORDER BY message_id').all();
  assert.deepEqual(backup, [
    { rows: 0, error: 'not JSON: Unexpected token \'o\', "not json" is not valid JSON' },
    { rows: 0, error: '"data": not base64: a character outside A-Z a-z 0-9 + / or misplaced =' },
    { rows: 3, error: null },
    { rows: 2, error: 'packet 3 at byte 19: cut short (needs 7 bytes, 4 left)' },
    { rows: 0, error: 'header at byte 0: cut short (needs 6 bytes, 1 left)' },
  ]);
  const tags = sink.db.db
    .prepare('SELECT tag_id, tag_data, tag_data_raw, tag_data_2, date, hour FROM tag ORDER BY message_id, row')
    .all();
  assert.deepEqual(tags.slice(0, 2), [
    { tag_id: 10, tag_data: 20, tag_data_raw: 100, tag_data_2: null, date: '2019-07-01', hour: 2 },
    { tag_id: 99, tag_data: 7, tag_data_raw: 7, tag_data_2: 8, date: '2019-07-01', hour: 2 },
  ]);
  assert.deepEqual(sink.db.db.prepare('SELECT temperature, temperature_data_raw FROM tbr').all(), [
    { temperature: 9.2, temperature_data_raw: 142 },
  ]);
  await sink.close();
});
