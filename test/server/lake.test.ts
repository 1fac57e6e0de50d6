/**
 * `sigflow serve --lake`: the Parquet lake served through the record targets of the Grafana protocols —
 * measurement = message folder, tag device, fields = signals. The answers are checked against the lake's own
 * rows read with DuckDB: every sample when they fit, min/max buckets of real points when not, only the rows of the
 * range (a window after midnight reads the second day's files only).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FolderLakeStore } from '../../src/formats/lake/index.js';
import { LakeQuery, writeLake } from '../../src/pipelines/lake/index.js';
import { decoderConfigFrom, expandInputs } from '../../src/pipelines/logdecode/index.js';
import { type RunningServer, startServe } from '../../src/server/index.js';
import { DBC, MIDNIGHT, syntheticLog } from '../pipelines/lake-helpers.js';

let dir: string;
let server: RunningServer;
let truth: [number, number][] = [];
const T0 = Number(MIDNIGHT / 1_000_000n) - 2000; // ms: the first frame

async function post<T>(path: string, body: unknown): Promise<T> {
  const r = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text) as T;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sigflow-serve-lake-'));
  const root = join(dir, 'LOG');
  syntheticLog(root, 1, 1, MIDNIGHT - 2_000_000_000n, 400); // over midnight: two day folders
  writeFileSync(join(dir, 'v1.dbc'), DBC());
  const store = new FolderLakeStore(join(dir, 'lake'));
  await writeLake({
    inputs: (await expandInputs([root])).files,
    config: decoderConfigFrom({ dbc: [join(dir, 'v1.dbc')], channel: [] }),
    lake: store,
  });
  const q = await LakeQuery.open(store);
  try {
    const r = await q.query('SELECT epoch_ms(t) AS ms, EngineSpeed FROM CAN1_EEC1_SAB ORDER BY t');
    truth = r.rows.map((x) => [Number(x.EngineSpeed), Number(x.ms)]);
  } finally {
    q.close();
  }
  server = await startServe({ lake: join(dir, 'lake'), port: 0, pollMs: 0 });
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

// the data: 400 frames every 10 ms from T0 (EEC1 1 ms after each)
const range = { from: new Date(T0).toISOString(), to: new Date(T0 + 4000).toISOString() };

test('search and tags list what the lake holds', async () => {
  assert.deepEqual(await post('/search', { target: '{"search":"measurement"}' }), [
    'CAN1_EEC1_S00',
    'CAN1_EEC1_SAB',
    'CAN1_Mode_Mux_M1',
    'CAN1_Mode_Mux_M2',
  ]);
  assert.deepEqual(await post('/search', { target: '{"search":"field","measurement":"CAN1_Mode_Mux_M1"}' }), [
    'Common',
    'Mux',
    'Temp',
  ]);
  assert.deepEqual(await post('/tag-values', { key: 'device' }), [{ text: 'AABBCCDD' }]);
});

test('record targets: every sample when they fit, real min/max points when not, only the range', async () => {
  assert.equal(truth.length, 266);
  const target = JSON.stringify({ measurement: 'CAN1_EEC1_SAB', field: 'EngineSpeed', tags: { device: 'AABBCCDD' } });
  const all = await post<{ target: string; datapoints: [number, number][] }[]>('/query', {
    range,
    maxDataPoints: 100_000,
    targets: [{ refId: 'A', target }],
  });
  assert.equal(all.length, 1);
  assert.equal(all[0].target, 'CAN1_EEC1_SAB:device=AABBCCDD:EngineSpeed');
  assert.deepEqual(all[0].datapoints, truth, 'both days, every sample, in time order');

  const few = await post<{ datapoints: [number, number][] }[]>('/query', {
    range,
    maxDataPoints: 40,
    targets: [{ refId: 'A', target }],
  });
  const pts = few[0].datapoints;
  assert.ok(pts.length <= 40 && pts.length >= 30, `${pts.length}`);
  const real = new Set(truth.map(([v, t]) => `${v}@${t}`));
  for (const [v, t] of pts) assert.ok(real.has(`${v}@${t}`), `not a stored sample: ${v}@${t}`);
  const values = truth.map(([v]) => v);
  assert.ok(pts.some(([v]) => v === Math.max(...values)) && pts.some(([v]) => v === Math.min(...values)));

  // a window after midnight only: the 15th's rows, nothing of the 14th
  const late = await post<{ datapoints: [number, number][] }[]>('/query', {
    range: { from: new Date(T0 + 2000).toISOString(), to: new Date(T0 + 4000).toISOString() },
    maxDataPoints: 100_000,
    targets: [{ refId: 'A', target }],
  });
  assert.deepEqual(
    late[0].datapoints,
    truth.filter(([, t]) => t >= T0 + 2000),
  );
  const unknown = await post<{ target: string }[]>('/query', {
    range,
    targets: [{ refId: 'U', target: '{"measurement":"CAN9_nothing","field":"x"}' }],
  });
  assert.match(unknown.at(-1)?.target ?? '', /no measurement "CAN9_nothing" in the lake/);
});
