/**
 * The lake's row accounting under the cases a review found wrong: every row once, whatever the tree, the crash or
 * the time zone —
 * - a log copied under another device's folder (its header names the other device) keeps its own rows, and
 *   compaction then a forced re-decode keep the count;
 * - a run killed while it takes a compacted file apart (its ledger entries gone, the file not yet) is finished by
 *   the next run: no row twice;
 * - a local log rewritten with other data of the same size is decoded again;
 * - a message folder left without files does not break queries of the rest;
 * - `t` and time literals are UTC whatever the host's time zone (`sigflow lake query` under TZ=Asia/Tokyo);
 * - a sink batch written again beside the compacted file that holds it is dropped by the next compaction.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { dayOf, FolderLakeStore, LakeTable, tableKey } from '../../src/formats/lake/index.js';
import { compactLake, LakeQuery, writeLake } from '../../src/pipelines/lake/index.js';
import { decoderConfigFrom, expandInputs } from '../../src/pipelines/logdecode/index.js';
import { runCli } from '../harness/cli.js';
import { DBC, duck, MIDNIGHT, syntheticLog } from './lake-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'sigflow-lake-integrity-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Rows of every table file of a folder lake (side tables excluded), and the distinct (device, folder, t). */
async function rowCount(lake: string): Promise<{ n: number; distinct: number }> {
  const [r] = await duck(
    `SELECT count(*)::INT AS n, count(DISTINCT (device, folder, t))::INT AS d FROM (SELECT t, split_part(filename, '/', -6) AS device, split_part(filename, '/', -5) AS folder FROM read_parquet('${lake}/[0-9A-F]*/CAN*/*/*/*/*.parquet', filename = true))`,
  );
  return { n: Number(r.n), distinct: Number(r.d) };
}

function setup(name: string) {
  const base = join(work, name);
  const root = join(base, 'LOG');
  const dbc = join(base, 'v1.dbc');
  return { base, root, dbc, lake: join(base, 'lake') };
}

test('a log under another device folder keeps its rows (tables named by folder, as the ledger), through compaction and a forced re-decode', async () => {
  const { base, root, dbc, lake } = setup('devices');
  syntheticLog(root, 1, 1, MIDNIGHT + 1_000_000_000n, 50);
  syntheticLog(root, 1, 1, MIDNIGHT + 1_000_000_000n, 30, { folder: '11223344' }); // header says AABBCCDD
  syntheticLog(root, 1, 2, MIDNIGHT + 5_000_000_000n, 20, { folder: '11223344' });
  writeFileSync(dbc, DBC());
  const config = decoderConfigFrom({ dbc: [dbc], channel: [] });
  const inputs = async () => (await expandInputs([root])).files;
  const store = new FolderLakeStore(lake);
  await writeLake({ inputs: await inputs(), config, lake: store });
  const want = (50 + 30 + 20) * 2; // a Mode row and an EEC1 row per step
  assert.deepEqual(await rowCount(lake), { n: want, distinct: want });
  assert.ok(readdirSync(lake).includes('11223344'), readdirSync(lake).join(' '));
  await compactLake({ lake: store });
  await writeLake({ inputs: await inputs(), config, lake: store, force: true });
  assert.deepEqual(await rowCount(lake), { n: want, distinct: want });
  void base;
});

/** A store whose deletion of a compacted file fails once: the process dies there. */
class DiesDeletingCompacted extends FolderLakeStore {
  armed = true;
  override async delete(key: string): Promise<void> {
    if (this.armed && /\/c_[0-9a-f]{16}\.parquet$/.test(key)) {
      this.armed = false;
      throw new Error('killed');
    }
    await super.delete(key);
  }
}

test('killed while taking a compacted file apart: the next run finishes it, every row once', async () => {
  const { root, dbc, lake } = setup('takeapart');
  syntheticLog(root, 1, 1, MIDNIGHT + 1_000_000_000n, 40);
  syntheticLog(root, 1, 2, MIDNIGHT + 5_000_000_000n, 40);
  writeFileSync(dbc, DBC());
  const config = decoderConfigFrom({ dbc: [dbc], channel: [] });
  const inputs = async () => (await expandInputs([root])).files;
  await writeLake({ inputs: await inputs(), config, lake: new FolderLakeStore(lake) });
  const s = await compactLake({ lake: new FolderLakeStore(lake) });
  assert.ok(s.groups > 0);
  await assert.rejects(
    writeLake({ inputs: await inputs(), config, lake: new DiesDeletingCompacted(lake), force: true }),
    /killed/,
  );
  const again = await writeLake({ inputs: await inputs(), config, lake: new FolderLakeStore(lake) });
  assert.equal(again.written, 2, 'both logs decoded again (their compacted file is gone)');
  assert.deepEqual(await rowCount(lake), { n: 160, distinct: 160 });
  // and compaction afterwards keeps them once
  await compactLake({ lake: new FolderLakeStore(lake) });
  assert.deepEqual(await rowCount(lake), { n: 160, distinct: 160 });
});

test('a local log rewritten with other data of the same size is decoded again', async () => {
  const { root, dbc, lake } = setup('mtime');
  const path = syntheticLog(root, 1, 1, MIDNIGHT + 1_000_000_000n, 40);
  writeFileSync(dbc, DBC());
  const config = decoderConfigFrom({ dbc: [dbc], channel: [] });
  const store = new FolderLakeStore(lake);
  await writeLake({ inputs: (await expandInputs([root])).files, config, lake: store });
  const size = statSync(path).size;
  syntheticLog(root, 1, 1, MIDNIGHT + 1_000_000_000n, 40, { first: 100 });
  assert.equal(statSync(path).size, size, 'same size');
  const later = new Date(Date.now() + 60_000);
  utimesSync(path, later, later);
  const r = await writeLake({ inputs: (await expandInputs([root])).files, config, lake: store });
  assert.deepEqual([r.written, r.skipped], [1, 0]);
  const [row] = await duck(
    `SELECT max("Common")::INT AS m FROM read_parquet('${lake}/AABBCCDD/CAN1_Mode_Mux_M1/*/*/*/*.parquet')`,
  );
  assert.ok(Number(row.m) >= 100, `new data: ${row.m}`);
});

test('a message folder without files does not break the queries of the others; t is UTC under any TZ', async () => {
  const { root, dbc, lake } = setup('emptyfolder');
  syntheticLog(root, 1, 1, MIDNIGHT + 1_000_000_000n, 40);
  writeFileSync(dbc, DBC());
  const config = decoderConfigFrom({ dbc: [dbc], channel: [] });
  await writeLake({ inputs: (await expandInputs([root])).files, config, lake: new FolderLakeStore(lake) });
  // every file of the EEC1 folders removed, their date folders left
  const dev = join(lake, 'AABBCCDD');
  for (const f of readdirSync(dev).filter((n) => n.startsWith('CAN1_EEC1')))
    for (const p of readdirSync(join(dev, f), { recursive: true, withFileTypes: true }))
      if (p.isFile()) unlinkSync(join(p.parentPath, p.name));
  const q = await LakeQuery.open(new FolderLakeStore(lake));
  try {
    assert.ok(!q.views.some((v) => v.name.includes('EEC1')));
    const r = await q.query('SELECT count(*)::INT AS n FROM "CAN1_Mode_Mux_M1"');
    assert.equal(Number(r.rows[0].n), 20);
  } finally {
    q.close();
  }
  const sql = `SELECT min(t) AS t0, count(*) AS n FROM "CAN1_Mode_Mux_M1" WHERE t < TIMESTAMP '2026-06-15 00:00:02'`;
  const outs: string[] = [];
  for (const tz of ['UTC', 'Asia/Tokyo', 'America/New_York']) {
    const r = await runCli(['lake', 'query', '--lake', lake, sql, '--format', 'csv'], {
      env: { ...process.env, TZ: tz },
    });
    assert.equal(r.code, 0, r.stderr);
    outs.push(r.stdout);
  }
  assert.match(outs[0], /2026-06-15T00:00:01/);
  assert.deepEqual(outs.slice(1), [outs[0], outs[0]]);
});

test('a sink batch written again beside the compacted file that holds it is dropped by the next compaction', async () => {
  const lake = join(work, 'batches');
  const store = new FolderLakeStore(lake);
  const tUs = Number(MIDNIGHT / 1000n) + 1_000_000;
  const batch = (k: number) => {
    const table = new LakeTable(['v']);
    for (let i = 0; i < 3; i++) table.set(table.addRow(tUs + k * 1000 + i), 0, k * 10 + i);
    return table.encode();
  };
  const key = (k: number) => tableKey('AABBCCDD', 'engine', dayOf(tUs), `b_${String(k).repeat(16)}`);
  await store.putBytes(key(1), batch(1));
  await store.putBytes(key(2), batch(2));
  await compactLake({ lake: store });
  await store.putBytes(key(1), batch(1)); // re-sent after the compaction
  const s = await compactLake({ lake: store });
  assert.equal(s.duplicates, 1);
  const [r] = await duck(`SELECT count(*)::INT AS n FROM read_parquet('${lake}/AABBCCDD/engine/*/*/*/*.parquet')`);
  assert.equal(Number(r.n), 6);
});

test('the same logs given by another path to the same files (relative, from another folder) are the same logs', async () => {
  const { base, root, dbc, lake } = setup('paths');
  syntheticLog(root, 1, 1, MIDNIGHT + 1_000_000_000n, 20);
  writeFileSync(dbc, DBC());
  const config = decoderConfigFrom({ dbc: [dbc], channel: [] });
  const store = new FolderLakeStore(lake);
  await writeLake({ inputs: (await expandInputs([root])).files, config, lake: store });
  const cwd = process.cwd();
  process.chdir(base);
  try {
    const again = await writeLake({ inputs: (await expandInputs(['LOG'])).files, config, lake: store });
    assert.deepEqual([again.written, again.skipped], [0, 1]);
  } finally {
    process.chdir(cwd);
  }
});
