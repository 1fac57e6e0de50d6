/**
 * The Parquet data lake (issue 14), written from real CANedge logs and from synthetic ones built for the edge
 * cases, read back with DuckDB:
 * - every key follows CSS's layout (../shared/docs/data-lake.md), every table file has `t` TIMESTAMP(MICROS, UTC)
 *   and nullable DOUBLE signal columns, and the values are those `decode` gives for the same files;
 * - multiplexed messages get a folder per switch value with that branch's columns, J1939 messages one per
 *   source address, a log over midnight one file per UTC day;
 * - a run that dies part-way through a log (some of its files written, no ledger entry) and a re-run give every
 *   (log, message, day) exactly once; a re-run skips what the ledger has; a DBC that adds a signal shows the new
 *   column next to files written before, and a DBC change decodes the logs again and removes what is stale.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { FolderLakeStore, type LakeStore } from '../../src/formats/lake/index.js';
import { compactLake, LakeQuery, writeLake } from '../../src/pipelines/lake/index.js';
import { decoderConfigFrom, expandInputs, runDecodeJob } from '../../src/pipelines/logdecode/index.js';
import { repoRoot, sharedData, warnNoShared } from '../harness/paths.js';
import { DBC, duck, MIDNIGHT, syntheticLog } from './lake-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'sigflow-lake-'));
after(() => rmSync(work, { recursive: true, force: true }));

const SERVE_LOG = join(repoRoot, 'test', 'fixtures', 'canedge', 'serve', 'LOG');
const GPS_DBC = join(SERVE_LOG, 'canmod-gps.dbc');

/** Every file of a lake folder, as keys. */
async function keysOf(store: LakeStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('')) out.push(o.key);
  return out.sort();
}

const TABLE_KEY =
  /^([0-9A-F]{8})\/(CAN|LIN)(\d+)_([A-Za-z0-9_.-]+)\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{8})_(\d{8})\.parquet$/;

/**
 * Writes a lake from `roots` with `dbc` and checks it: every key of the layout, every table file's schema (read
 * by DuckDB), the side tables, the values against `decode` of the same files, and a re-run that skips all.
 */
async function checkLake(name: string, roots: string[], dbc: string[], signals?: string): Promise<void> {
  const lake = join(work, name);
  const store = new FolderLakeStore(lake);
  const { files } = await expandInputs(roots);
  const config = decoderConfigFrom({ dbc, channel: [], ...(signals ? { signals } : {}) });
  const stats = await writeLake({ inputs: files, config, lake: store });
  assert.equal(stats.failed, 0);
  assert.equal(stats.written, files.length);
  assert.ok(stats.tables > 0 && stats.rows > 0);

  const keys = await keysOf(store);
  const tables = keys.filter((k) => TABLE_KEY.test(k));
  assert.equal(tables.length, stats.tables);
  for (const k of keys)
    assert.ok(
      TABLE_KEY.test(k) ||
        /^[0-9A-F]{8}\/messages\/2024\/01\/01\/messages\.parquet$/.test(k) ||
        k === 'aggregations/devicemeta/2024/01/01/devicemeta.parquet' ||
        k.startsWith('_sigflow/'),
      `${k} is not a key of the layout`,
    );
  // the schema of every table file: t INT64 TIMESTAMP(MICROS, UTC) required, then nullable DOUBLEs
  for (const k of tables) {
    const schema = await duck(
      `SELECT name, type, repetition_type, logical_type FROM parquet_schema('${join(lake, k)}') WHERE name <> 'root'`,
    );
    assert.equal(schema[0].name, 't');
    assert.equal(schema[0].type, 'INT64');
    assert.equal(schema[0].repetition_type, 'REQUIRED');
    assert.match(String(schema[0].logical_type), /isAdjustedToUTC=1.*MICROS=MicroSeconds/);
    assert.ok(schema.length > 1, `${k} has signal columns`);
    for (const c of schema.slice(1)) {
      assert.equal(c.type, 'DOUBLE', `${k}: ${c.name}`);
      assert.equal(c.repetition_type, 'OPTIONAL', `${k}: ${c.name}`);
    }
  }
  // the side tables
  const devices = [...new Set(tables.map((k) => k.split('/')[0]))].sort();
  for (const device of devices) {
    const messages = await duck(`SELECT MessageName FROM '${lake}/${device}/messages/2024/01/01/messages.parquet'`);
    const folders = [...new Set(tables.filter((k) => k.startsWith(`${device}/`)).map((k) => k.split('/')[1]))].sort();
    assert.deepEqual(
      messages.map((r) => r.MessageName),
      folders,
    );
  }
  const meta = await duck(`SELECT DeviceId FROM '${lake}/aggregations/devicemeta/2024/01/01/devicemeta.parquet'`);
  assert.deepEqual(
    meta.map((r) => r.DeviceId),
    devices,
  );

  // the values: what `decode` gives for the same files, keyed by device, folder, signal and t (µs, floor)
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (b: Buffer) => chunks.push(b));
  await runDecodeJob({ inputs: files, config, format: 'ndjson' }, { stream: out });
  const want = new Map<string, number>();
  for (const line of Buffer.concat(chunks).toString('utf8').trim().split('\n')) {
    const v = JSON.parse(line) as {
      t: string;
      device: string;
      chn: number;
      message: string;
      signal: string;
      value: number;
      sa?: number;
    };
    // a J1939 message's folder names its source address
    const sa = v.sa === undefined ? '' : `_S${v.sa.toString(16).toUpperCase().padStart(2, '0')}`;
    const key = `${v.device}|CAN${v.chn}_${v.message}${sa}|${v.signal}|${BigInt(v.t) / 1000n}`;
    want.set(key, (want.get(key) ?? 0) + 1);
    want.set(`${key}=${v.value}`, (want.get(`${key}=${v.value}`) ?? 0) + 1);
  }
  const q = await LakeQuery.open(store);
  const got = new Map<string, number>();
  try {
    for (const view of q.views.filter((v) => v.kind === 'fleet')) {
      const r = await q.query(`SELECT epoch_us(t) AS us, * EXCLUDE (t) FROM "${view.name}"`);
      for (const row of r.rows)
        for (const c of r.columns) {
          if (c === 'us' || c === 'device' || c === 'date_created' || row[c] === null) continue;
          const key = `${row.device}|${view.folder}|${c}|${row.us}`;
          got.set(key, (got.get(key) ?? 0) + 1);
          got.set(`${key}=${row[c]}`, (got.get(`${key}=${row[c]}`) ?? 0) + 1);
        }
    }
  } finally {
    q.close();
  }
  assert.ok(want.size > 100, `${name}: ${want.size} decoded values`);
  assert.deepEqual(got, want);

  // a second run: everything is in the ledger
  const again = await writeLake({ inputs: files, config, lake: store });
  assert.deepEqual([again.written, again.skipped], [0, files.length]);
  assert.deepEqual(await keysOf(store), keys);
}

test('real CANedge logs (in the repo): CSS paths and schema, DuckDB reads every file, values equal `decode`', async () => {
  await checkLake('real', [SERVE_LOG], [GPS_DBC]);
});

test('the shared CANedge corpus: the same checks on every log tree with its DBC files', async (t) => {
  if (!sharedData) {
    warnNoShared();
    return t.skip('../shared/data not found');
  }
  const ex = join(sharedData, 'canedge', 'api-examples', 'examples');
  // (the datastore logs hold 3.8 M values: a few signals of them keep the comparison to seconds)
  const sets: [string, string[], string[], string?][] = [
    [
      'shared-datastore',
      [join(ex, 'other', 'matlab-basics', 'LOG_datastore')],
      [join(ex, 'other', 'matlab-basics', 'dbc_files', 'canmod-gps.dbc')],
      '^gnss_(speed|pos)\\.',
    ],
    [
      'shared-j1939',
      [join(ex, 'data-processing', 'LOG')],
      [join(ex, 'data-processing', 'dbc_files', 'CSS-Electronics-SAE-J1939-DEMO.dbc')],
    ],
  ];
  for (const [name, roots, dbc, signals] of sets) await checkLake(name, roots, dbc, signals);
});

test('mux branches, J1939 source addresses and midnight: one folder each, one file per UTC day', async () => {
  const root = join(work, 'synth1', 'LOG');
  syntheticLog(root, 1, 1, MIDNIGHT - 2_000_000_000n, 400); // 2 s before midnight to 2 s after
  const dbc = join(work, 'synth1', 'v1.dbc');
  writeFileSync(dbc, DBC());
  const store = new FolderLakeStore(join(work, 'synth1', 'lake'));
  const { files } = await expandInputs([root]);
  await writeLake({ inputs: files, config: decoderConfigFrom({ dbc: [dbc], channel: [] }), lake: store });
  const tables = (await keysOf(store)).filter((k) => TABLE_KEY.test(k));
  assert.deepEqual(tables, [
    'AABBCCDD/CAN1_EEC1_S00/2026/06/14/00000001_00000001.parquet',
    'AABBCCDD/CAN1_EEC1_S00/2026/06/15/00000001_00000001.parquet',
    'AABBCCDD/CAN1_EEC1_SAB/2026/06/14/00000001_00000001.parquet',
    'AABBCCDD/CAN1_EEC1_SAB/2026/06/15/00000001_00000001.parquet',
    'AABBCCDD/CAN1_Mode_Mux_M1/2026/06/14/00000001_00000001.parquet',
    'AABBCCDD/CAN1_Mode_Mux_M1/2026/06/15/00000001_00000001.parquet',
    'AABBCCDD/CAN1_Mode_Mux_M2/2026/06/14/00000001_00000001.parquet',
    'AABBCCDD/CAN1_Mode_Mux_M2/2026/06/15/00000001_00000001.parquet',
  ]);
  const q = await LakeQuery.open(store);
  try {
    const m1 = await q.query('SELECT * FROM CAN1_Mode_Mux_M1 ORDER BY t');
    assert.deepEqual(m1.columns, ['t', 'Mux', 'Common', 'Temp', 'device', 'date_created']);
    assert.equal(m1.rows.length, 200);
    assert.deepEqual(m1.rows[0], {
      t: '2026-06-14T23:59:58.000000Z',
      Mux: 1,
      Common: 0,
      Temp: 0,
      device: 'AABBCCDD',
      date_created: '2026/06/14',
    });
    const m2 = await q.query('SELECT * FROM CAN1_Mode_Mux_M2 ORDER BY t LIMIT 1');
    assert.deepEqual(m2.columns, ['t', 'Mux', 'Common', 'Volt', 'device', 'date_created']);
    assert.equal(m2.rows[0].Volt, 0.01);
    // the split at midnight: rows before it in the 14th's file, from it on in the 15th's
    const days = await q.query(
      `SELECT date_created, count(*) AS n, min(t) AS first, max(t) AS last FROM CAN1_EEC1_SAB GROUP BY 1 ORDER BY 1`,
    );
    assert.deepEqual(
      days.rows.map((r) => r.date_created),
      ['2026/06/14', '2026/06/15'],
    );
    assert.ok(String(days.rows[0].last) < '2026-06-15T00:00:00' && String(days.rows[1].first) >= '2026-06-15T00:00:00');
    const sa = await q.query(
      'SELECT (SELECT count(*) FROM CAN1_EEC1_S00) AS a, (SELECT count(*) FROM CAN1_EEC1_SAB) AS b',
    );
    assert.deepEqual(sa.rows[0], { a: 134n, b: 266n });
    // t as Athena sees it (a plain UTC timestamp); a filter on the date path opens only that day's file
    const types = await q.query('SELECT column_name, column_type FROM (DESCRIBE CAN1_EEC1_SAB)');
    assert.deepEqual(types.rows[0], { column_name: 't', column_type: 'TIMESTAMP' });
    const plan = await q.query(
      `EXPLAIN ANALYZE SELECT max(t) FROM CAN1_EEC1_SAB WHERE date_created = '2026/06/15' AND device = 'AABBCCDD'`,
    );
    assert.match(String(plan.rows[0].explain_value), /Total Files Read: 1\b/);
  } finally {
    q.close();
  }
});

/** A store that fails after `n` table files, as a run killed part-way through a log leaves the lake. */
class DyingStore extends FolderLakeStore {
  constructor(
    folder: string,
    private n: number,
  ) {
    super(folder);
  }
  override async putBytes(key: string, bytes: Uint8Array): Promise<void> {
    if (this.n-- <= 0) throw new Error('killed');
    await super.putBytes(key, bytes);
  }
}

test('killed part-way, re-run: every (log, message, day) once; a new DBC signal shows; a DBC change redoes logs', async () => {
  const base = join(work, 'synth2');
  const root = join(base, 'LOG');
  syntheticLog(root, 1, 1, MIDNIGHT - 2_000_000_000n, 400);
  syntheticLog(root, 1, 2, MIDNIGHT + 10_000_000_000n, 300);
  syntheticLog(root, 2, 1, MIDNIGHT + 3_600_000_000_000n, 200);
  const v1 = join(base, 'v1.dbc');
  writeFileSync(v1, DBC());
  const { files } = await expandInputs([root]);
  const config = decoderConfigFrom({ dbc: [v1], channel: [] });

  // the reference: a clean lake in one run
  const clean = new FolderLakeStore(join(base, 'clean'));
  await writeLake({ inputs: files, config, lake: clean });

  // killed after 11 table files: the first log complete (8 files), the second part-way (no ledger entry)
  const lake = join(base, 'lake');
  await assert.rejects(writeLake({ inputs: files, config, lake: new DyingStore(lake, 11) }), /killed/);
  const store = new FolderLakeStore(lake);
  const ledger = (await keysOf(store)).filter((k) => k.startsWith('_sigflow/ledger/'));
  assert.deepEqual(ledger, ['_sigflow/ledger/AABBCCDD/00000001_00000001.json']);
  const rerun = await writeLake({ inputs: files, config, lake: store });
  assert.deepEqual([rerun.written, rerun.skipped, rerun.failed], [2, 1, 0]);
  // the same files as the clean lake, with the same rows: nothing twice, nothing missing
  const tableKeys = async (s: LakeStore) => (await keysOf(s)).filter((k) => TABLE_KEY.test(k));
  assert.deepEqual(await tableKeys(store), await tableKeys(clean));
  const count = async (dir: string) =>
    (
      await duck(
        `SELECT count(*) AS n, count(DISTINCT (filename, t)) AS u FROM read_parquet('${dir}/AABBCCDD/CAN*/*/*/*/*.parquet', filename = true)`,
      )
    )[0];
  const [a, b] = [await count(lake), await count(join(base, 'clean'))];
  assert.deepEqual(a, b);
  assert.equal(a.n, a.u, 'no row twice');

  // a newer DBC adds a signal: a new log decoded with it shows the column; the older files give null
  const v2 = join(base, 'v2.dbc');
  writeFileSync(
    v2,
    DBC().replace(' SG_ EngineSpeed', ' SG_ Torque : 32|8@1+ (1,-125) [-125|130] "%" Vector__XXX\n SG_ EngineSpeed'),
  );
  const newer = syntheticLog(root, 3, 1, MIDNIGHT + 7_200_000_000_000n, 50);
  const { files: only } = await expandInputs([newer]);
  // (the same tree: the log keeps its device folder and session/split name)
  only[0].folderDevice = 'AABBCCDD';
  only[0].session = 3;
  only[0].split = 1;
  await writeLake({ inputs: only, config: decoderConfigFrom({ dbc: [v2], channel: [] }), lake: store });
  const q = await LakeQuery.open(store);
  try {
    // the new log (from 02:00 on the 15th) has Torque in every row; the logs before it are read with null
    const r = await q.query(
      `SELECT t >= TIMESTAMPTZ '2026-06-15 02:00:00+00' AS newer, count(Torque) AS with_torque, count(*) AS n
       FROM CAN1_EEC1_S00 GROUP BY 1 ORDER BY 1`,
    );
    assert.deepEqual(
      r.rows.map((x) => [x.newer, x.with_torque, x.n]),
      [
        [false, 0n, 134n + 100n + 67n], // k % 3 === 0 of 400, 300 and 200 frames
        [true, 17n, 17n],
      ],
    );
  } finally {
    q.close();
  }

  // the DBC of the first logs changes (EEC1 gone): those logs are decoded again and their EEC1 files removed
  const v3 = join(base, 'v3.dbc');
  writeFileSync(
    v3,
    DBC()
      .replace(/BO_ 2364540158 EEC1[^\n]*\n SG_ EngineSpeed[^\n]*\n/, '')
      .replace(/BA_ "VFrameFormat" BO_ 2364540158 3;\n/, ''),
  );
  const redo = await writeLake({ inputs: files, config: decoderConfigFrom({ dbc: [v3], channel: [] }), lake: store });
  assert.deepEqual([redo.written, redo.again], [3, 3]);
  assert.ok(redo.removed > 0);
  const left = (await tableKeys(store)).filter((k) => k.includes('EEC1'));
  assert.ok(left.length > 0 && left.every((k) => k.includes('/00000003_00000001.parquet')), left.join('\n'));
});

/** Every row of the lake's message tables as text (device, folder, t and the cells), sorted: what must survive. */
async function allRows(store: LakeStore): Promise<string[]> {
  const q = await LakeQuery.open(store);
  try {
    const out: string[] = [];
    for (const v of q.views.filter((x) => x.kind === 'fleet')) {
      const r = await q.query(`SELECT * EXCLUDE (date_created) FROM "${v.name}"`);
      for (const row of r.rows)
        out.push(`${v.name} ${JSON.stringify(row, (_k, x) => (typeof x === 'bigint' ? String(x) : x))}`);
    }
    return out.sort();
  } finally {
    q.close();
  }
}

/** A store whose deletes fail: a compaction that dies after writing its merged file. */
class NoDeleteStore extends FolderLakeStore {
  override async delete(key: string): Promise<void> {
    if (/\/\d{8}_\d{8}\.parquet$/.test(key)) throw new Error('killed');
    await super.delete(key);
  }
}

test('compaction: fewer files, every row kept, the ledger follows; late uploads, a crash, a DBC change', async () => {
  const base = join(work, 'synth3');
  const root = join(base, 'LOG');
  syntheticLog(root, 1, 1, MIDNIGHT - 2_000_000_000n, 400);
  syntheticLog(root, 1, 2, MIDNIGHT + 10_000_000_000n, 300);
  syntheticLog(root, 2, 1, MIDNIGHT + 3_600_000_000_000n, 200);
  const v1 = join(base, 'v1.dbc');
  writeFileSync(v1, DBC());
  const config = decoderConfigFrom({ dbc: [v1], channel: [] });
  const lake = join(base, 'lake');
  const store = new FolderLakeStore(lake);
  const inputs = async () => (await expandInputs([root])).files;
  await writeLake({ inputs: await inputs(), config, lake: store });
  const before = await allRows(store);
  const tableFiles = async () =>
    (await keysOf(store)).filter(
      (k) =>
        /\/\d{4}\/\d{2}\/\d{2}\/[^/]+\.parquet$/.test(k) && !k.includes('/messages/') && !k.startsWith('aggregations/'),
    );
  assert.equal((await tableFiles()).length, 4 * (1 + 3)); // 4 folders × (the 14th: 1 log, the 15th: 3 logs)
  // a crash after the merged file is written, before the parts are gone: pending, rows twice on disk for now
  await assert.rejects(compactLake({ lake: new NoDeleteStore(lake) }), /killed/);
  const s = await compactLake({ lake: store });
  assert.equal(s.recovered, 1);
  assert.equal(s.groups, 3, 'the other three folders of the 15th');
  const after = await tableFiles();
  assert.equal(after.length, 4 + 4, 'the 14th: one file per folder; the 15th: one compacted file per folder');
  assert.deepEqual(await allRows(store), before, 'every row once');
  // the ledger points at the compacted files; a write re-run skips everything
  const again = await writeLake({ inputs: await inputs(), config, lake: store });
  assert.deepEqual([again.written, again.skipped], [0, 3]);

  // a late upload on the 15th: its own file, then merged with the compacted one into a new one
  syntheticLog(root, 2, 2, MIDNIGHT + 7_200_000_000_000n, 100);
  await writeLake({ inputs: await inputs(), config, lake: store });
  const withLate = await allRows(store);
  assert.equal(withLate.length, before.length + 100 * 2);
  const s2 = await compactLake({ lake: store });
  assert.equal(s2.groups, 4);
  assert.equal((await tableFiles()).length, 8);
  assert.deepEqual(await allRows(store), withLate);

  // a DBC change: the compacted files are taken apart and every log decoded again — the same rows as a clean lake
  const v2 = join(base, 'v2.dbc');
  writeFileSync(
    v2,
    DBC().replace(' SG_ EngineSpeed', ' SG_ Torque : 32|8@1+ (1,-125) [-125|130] "%" Vector__XXX\n SG_ EngineSpeed'),
  );
  const config2 = decoderConfigFrom({ dbc: [v2], channel: [] });
  // (not with a log missing from the inputs: its rows share the compacted files)
  await assert.rejects(
    writeLake({ inputs: (await inputs()).slice(1), config: config2, lake: store }),
    (e: Error & { code?: string }) => e.code === 'SF_ERR_LAKE_COMPACTED' && /not among the inputs/.test(e.message),
  );
  const redo = await writeLake({ inputs: await inputs(), config: config2, lake: store });
  assert.deepEqual([redo.written, redo.again], [4, 4]);
  const clean = new FolderLakeStore(join(base, 'clean'));
  await writeLake({ inputs: await inputs(), config: config2, lake: clean });
  assert.deepEqual(await allRows(store), await allRows(clean));
  assert.ok(
    (await tableFiles()).every((k) => !/\/c_[0-9a-f]{16}\.parquet$/.test(k)),
    'no compacted file left',
  );
});
