/**
 * The `lake` sink: records from the outbox into the Parquet lake — CAN records (tags device, bus, chn, sa) under
 * their CSS folders, other records under their measurement, one file per device, folder and day; a record without
 * a numeric field rejected with the reason; the same batch written again replaces its files; `lake compact` merges
 * the batch files of a day, every row kept. Read back with DuckDB.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { FolderLakeStore } from '../../src/formats/lake/index.js';
import { compactLake, LakeQuery, LakeSource } from '../../src/pipelines/lake/index.js';
import type { TelemetryRecord } from '../../src/records/index.js';
import { createSink } from '../../src/sinks/index.js';
import { duck } from '../pipelines/lake-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'sigflow-lake-sink-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function files(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(root, join(d, e.name)));
  };
  walk(root);
  return out.sort();
}

const T = 1_781_481_598_000_000_000n; // 2026-06-14T23:59:58Z, ns
const batch = (from: number, n: number): TelemetryRecord[] => {
  const out: TelemetryRecord[] = [];
  for (let k = from; k < from + n; k++) {
    const time = T + BigInt(k) * 500_000_000n; // every 0.5 s: crosses midnight at k = 4
    out.push({
      time,
      measurement: 'EEC1',
      tags: { device: 'AABBCCDD', bus: 'CAN', chn: '1', sa: '0' },
      fields: { EngineSpeed: 800 + k, Running: k % 2 === 0, Code: BigInt(k) },
    });
    out.push({
      time,
      measurement: 'system',
      tags: { device: 'AABBCCDD', host: 'edge' },
      fields: { load_1: k / 10, note: 'x' },
    });
  }
  return out;
};

test('records into CSS folders, per day; string-only records rejected; a batch again replaces its files', async () => {
  const lake = join(dir, 'lake');
  const sink = createSink({ type: 'lake', lake });
  const b = batch(0, 8);
  const text: TelemetryRecord = {
    time: T,
    measurement: 'log',
    tags: { device: 'AABBCCDD' },
    fields: { subject: 'hi' },
  };
  const r = await sink.write([...b, text]);
  assert.deepEqual(r, {
    kind: 'partial',
    rejected: [{ index: 16, reason: 'no numeric field: the lake holds numbers only (strings are left out)' }],
    reason: 'no numeric field: the lake holds numbers only (strings are left out)',
  });
  const first = files(lake).filter((f) => f.endsWith('.parquet'));
  assert.deepEqual(
    first.map((f) => f.replace(/b_[0-9a-f]{16}/, 'b_*')),
    [
      'AABBCCDD/CAN1_EEC1_S00/2026/06/14/b_*.parquet',
      'AABBCCDD/CAN1_EEC1_S00/2026/06/15/b_*.parquet',
      'AABBCCDD/messages/2024/01/01/messages.parquet',
      'AABBCCDD/system/2026/06/14/b_*.parquet',
      'AABBCCDD/system/2026/06/15/b_*.parquet',
      'aggregations/devicemeta/2024/01/01/devicemeta.parquet',
    ],
  );
  assert.deepEqual(await sink.write(b), { kind: 'ok' });
  assert.deepEqual(
    files(lake).filter((f) => f.endsWith('.parquet')),
    first,
    'the same batch: the same files',
  );
  await sink.write(batch(8, 4));
  await sink.close();

  const store = new FolderLakeStore(lake);
  const read = async () => {
    const q = await LakeQuery.open(store);
    try {
      return (await q.query('SELECT epoch_ms(t) AS ms, EngineSpeed, Running, Code FROM CAN1_EEC1_S00 ORDER BY t')).rows;
    } finally {
      q.close();
    }
  };
  const rows = await read();
  assert.deepEqual(
    rows,
    Array.from({ length: 12 }, (_, k) => ({
      ms: BigInt(T / 1_000_000n) + BigInt(k * 500),
      EngineSpeed: 800 + k,
      Running: k % 2 === 0 ? 1 : 0,
      Code: k,
    })),
  );
  // the day files of two batches merged into one each, every row kept
  const c = await compactLake({ lake: store });
  assert.equal(c.groups, 2, 'the 15th of each folder had two batch files');
  assert.deepEqual(await read(), rows);
});

test('folder names: a device or measurement too long for a folder is cut with its hash; names the replacement merges stay apart; case-folded columns too', async () => {
  const lake = join(dir, 'lake-long');
  const sink = createSink({ type: 'lake', lake });
  const rec = (measurement: string, device: string, fields: Record<string, number> = { v: 1 }): TelemetryRecord => ({
    time: T,
    measurement,
    tags: { device },
    fields,
  });
  const r = await sink.write([
    rec('x'.repeat(300), 'AABBCCDD'),
    rec('ok', 'AABBCCDD'),
    rec('ok', 'd'.repeat(300)),
    rec('Température moteur', 'AABBCCDD', { v: 2 }),
    rec('Temp_rature_moteur', 'AABBCCDD', { v: 3 }),
    rec('speeds', 'AABBCCDD', { Speed: 1, SPEED: 2, t: 3 }),
  ]);
  assert.deepEqual(r, { kind: 'ok' });
  const fs = files(lake);
  const folders = [...new Set(fs.map((f) => f.split('/').slice(0, 2).join('/')))].filter(
    (f) => !/messages|_sigflow|aggregations/.test(f),
  );
  for (const f of folders) for (const seg of f.split('/')) assert.ok(seg.length <= 200, seg);
  assert.equal(folders.filter((f) => f.startsWith('AABBCCDD/Temp_rature_moteur')).length, 2, folders.join('\n'));
  assert.ok(
    folders.some((f) => /^AABBCCDD\/x{191}_[0-9a-f]{8}$/.test(f)),
    folders.join('\n'),
  );
  assert.ok(
    folders.some((f) => /^d{191}_[0-9a-f]{8}\/ok$/.test(f)),
    folders.join('\n'),
  );
  const [cols] = await duck(
    `SELECT list(column_name ORDER BY column_name) AS c FROM (DESCRIBE SELECT * FROM read_parquet('${lake}/AABBCCDD/speeds/*/*/*/*.parquet'))`,
  );
  assert.deepEqual(cols.c, ['SPEED_2', 'Speed', 't', 't_2']);
});

test('message folders differing only by case get views of their own (engine, ENGINE → ENGINE, engine_2)', async () => {
  const lake = join(dir, 'lake-case');
  const sink = createSink({ type: 'lake', lake });
  const r = await sink.write([
    { time: T, measurement: 'engine', tags: { device: 'AABBCCDD' }, fields: { v: 1 } },
    { time: T, measurement: 'ENGINE', tags: { device: 'AABBCCDD' }, fields: { v: 2 } },
  ]);
  assert.deepEqual(r, { kind: 'ok' });
  const q = await LakeQuery.open(new FolderLakeStore(lake));
  try {
    const fleet = q.views.filter((v) => v.kind === 'fleet').map((v) => [v.name, v.folder]);
    assert.deepEqual(fleet, [
      ['ENGINE', 'ENGINE'],
      ['engine_2', 'engine'],
    ]);
    const got = await q.query('SELECT (SELECT max(v) FROM "ENGINE") AS a, (SELECT max(v) FROM engine_2) AS b');
    assert.deepEqual([Number(got.rows[0].a), Number(got.rows[0].b)], [2, 1]);
  } finally {
    q.close();
  }
});

test('serve --lake: a folder offers the union of its devices’ columns, and a device added later with more is seen', async () => {
  const lake = join(dir, 'lake-columns');
  const sink = createSink({ type: 'lake', lake });
  assert.deepEqual(
    await sink.write([
      { time: T, measurement: 'm', tags: { device: 'AAAAAAAA' }, fields: { a: 1 } },
      { time: T, measurement: 'm', tags: { device: 'BBBBBBBB' }, fields: { a: 1, b: 2 } },
    ]),
    { kind: 'ok' },
  );
  const src = await LakeSource.open(new FolderLakeStore(lake), { refreshMs: 0 });
  try {
    assert.deepEqual(src.fields('m'), ['a', 'b']);
    await sink.write([{ time: T, measurement: 'm', tags: { device: 'CCCCCCCC' }, fields: { c: 3 } }]);
    await src.refresh(); // a new device in the folder: its columns are read
    assert.deepEqual(src.fields('m'), ['a', 'b', 'c']);
  } finally {
    src.close();
  }
});
