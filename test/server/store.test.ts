/**
 * `sigflow serve --store`: the embedded store (what `sigflow run` and `import` write) served through the same
 * protocols as the logs — SimpleJson targets with a measurement, the simPod "store" metric, Infinity rows — with
 * real points only and at most maxDataPoints of them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type RunningServer, startServe } from '../../src/server/index.js';
import { TimeSeriesStore } from '../../src/store/index.js';

let dir: string;
let server: RunningServer;
const T0 = 1_700_000_000_000; // ms
const N = 5000;

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
  dir = mkdtempSync(join(tmpdir(), 'sigflow-serve-store-'));
  const path = join(dir, 'store.db');
  const st = TimeSeriesStore.open(path);
  const recs = [];
  for (let i = 0; i < N; i++) {
    const time = BigInt(T0 + i * 100) * 1_000_000n;
    recs.push({
      time,
      measurement: 'EEC1',
      tags: { device: 'truck', bus: 'CAN' },
      fields: { EngineSpeed: 800 + ((i * 37) % 1000), Running: i % 2 === 0, Label: 'x' },
    });
    recs.push({ time, measurement: 'EEC1', tags: { device: 'van', bus: 'CAN' }, fields: { EngineSpeed: -i } });
  }
  st.write(recs);
  st.close();
  server = await startServe({ store: path, port: 0, pollMs: 0 });
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const range = { from: new Date(T0).toISOString(), to: new Date(T0 + N * 100).toISOString() };

test('search and tags list what the store holds', async () => {
  assert.deepEqual(await post('/search', { target: '{"search":"measurement"}' }), ['EEC1']);
  assert.deepEqual(await post('/search', { target: '{"search":"field","measurement":"EEC1"}' }), [
    'EngineSpeed',
    'Label',
    'Running',
  ]);
  assert.deepEqual(await post('/tag-keys', {}), [
    { type: 'string', text: 'device' },
    { type: 'string', text: 'bus' },
  ]);
  assert.deepEqual(await post('/tag-values', { key: 'device' }), [{ text: 'truck' }, { text: 'van' }]);
  assert.deepEqual(await post('/search', { target: '{"search":"device"}' }), [], 'no log tree');
});

test('SimpleJson store targets: every sample when they fit, min/max buckets with real points when not', async () => {
  const target = JSON.stringify({ measurement: 'EEC1', field: 'EngineSpeed', tags: { device: 'truck' } });
  const all = await post<{ target: string; refId: string; datapoints: [number, number][] }[]>('/query', {
    range,
    maxDataPoints: 100_000,
    targets: [{ refId: 'S', target }],
  });
  assert.equal(all.length, 1);
  assert.equal(all[0].target, 'EEC1:bus=CAN,device=truck:EngineSpeed');
  assert.equal(all[0].refId, 'S');
  assert.equal(all[0].datapoints.length, N);
  all[0].datapoints.forEach(([v, t], i) => {
    assert.equal(t, T0 + i * 100);
    assert.equal(v, 800 + ((i * 37) % 1000));
  });
  const few = await post<{ datapoints: [number, number][] }[]>('/query', {
    range,
    maxDataPoints: 200,
    targets: [{ refId: 'S', target }],
  });
  const pts = few[0].datapoints;
  assert.ok(pts.length <= 200 && pts.length > 100, `${pts.length}`);
  const real = new Set(all[0].datapoints.map(([v, t]) => `${v}@${t}`));
  for (const [v, t] of pts) assert.ok(real.has(`${v}@${t}`), `not a stored sample: ${v}@${t}`);
  assert.ok(pts.some(([v]) => v === 800) && pts.some(([v]) => v === 1799), 'the extremes are kept');
  // booleans chart as 1/0; strings are left out with a notice; both devices without a tag filter
  const mixed = await post<{ target: string; datapoints: unknown[] }[]>('/query', {
    range,
    maxDataPoints: 50,
    targets: [{ refId: 'M', target: JSON.stringify({ measurement: 'EEC1', fields: '(Running|Label|EngineSpeed)' }) }],
  });
  const names = mixed.map((s) => s.target);
  assert.ok(names.includes('EEC1:bus=CAN,device=truck:Running'));
  assert.ok(names.includes('EEC1:bus=CAN,device=van:EngineSpeed'));
  assert.match(names.at(-1) ?? '', /^⚠ .*Label: a string field cannot be charted/);
  const unknown = await post<{ target: string }[]>('/query', {
    range,
    targets: [{ refId: 'U', target: '{"measurement":"EEC2","field":"x"}' }],
  });
  assert.match(unknown.at(-1)?.target ?? '', /no measurement "EEC2" in the store/);
});

test('simPod "store" metric and Infinity rows', async () => {
  const metrics = await post<{ value: string }[]>('/metrics', {});
  assert.ok(metrics.some((m) => m.value === 'store'));
  const opts = await post<{ value: string }[]>('/metric-payload-options', {
    metric: 'store',
    name: 'fields',
    payload: { measurement: 'EEC1' },
  });
  assert.deepEqual(
    opts.map((o) => o.value),
    ['EngineSpeed', 'Label', 'Running'],
  );
  const res = await post<{ target: string; datapoints: unknown[] }[]>('/query', {
    range,
    maxDataPoints: 100_000,
    targets: [
      {
        refId: 'A',
        target: 'store',
        payload: { measurement: 'EEC1', fields: ['EngineSpeed'], tags: { device: 'van' } },
      },
    ],
  });
  assert.equal(res.length, 1);
  assert.equal(res[0].datapoints.length, N);
  const q = new URLSearchParams({
    measurement: 'EEC1',
    fields: 'EngineSpeed',
    'tag.device': 'van',
    from: String(T0),
    to: String(T0 + 999),
    max_points: '100',
  });
  const rows = (await (await fetch(`${server.url}/api/rows?${q}`)).json()) as Record<string, number>[];
  assert.deepEqual(rows.slice(0, 2), [
    { time: T0, EngineSpeed: 0 },
    { time: T0 + 100, EngineSpeed: -1 },
  ]);
  assert.equal(rows.length, 10);
  // both devices: a column each, named with its tags (one column per field overwrote one device with the other)
  q.delete('tag.device');
  const both = (await (await fetch(`${server.url}/api/rows?${q}`)).json()) as Record<string, number>[];
  assert.deepEqual(Object.keys(both[0]).sort(), [
    'EngineSpeed {bus=CAN, device=truck}',
    'EngineSpeed {bus=CAN, device=van}',
    'time',
  ]);
  assert.equal(both[1]['EngineSpeed {bus=CAN, device=van}'], -1);
  assert.notEqual(both[1]['EngineSpeed {bus=CAN, device=truck}'], -1);
  q.set('format', 'csv');
  const csv = await (await fetch(`${server.url}/api/rows?${q}`)).text();
  assert.equal(csv.split('\n')[0], 'time,"EngineSpeed {bus=CAN, device=truck}","EngineSpeed {bus=CAN, device=van}"');
  const twice = await fetch(`${server.url}/api/rows?${q}&tag.device=van&tag.device=truck`);
  assert.equal(twice.status, 400);
  assert.match(((await twice.json()) as { message: string }).message, /tag\.device is given more than once/);
});

test('store answers follow the store as it grows (never served from the answer cache)', async () => {
  const q = {
    range: { from: new Date(T0).toISOString(), to: new Date(T0 + 2 * N * 100).toISOString() },
    maxDataPoints: 100_000,
  };
  const target = JSON.stringify({ measurement: 'EEC1', field: 'EngineSpeed', tags: { device: 'van' } });
  const before = await post<{ datapoints: unknown[] }[]>('/query', { ...q, targets: [{ refId: 'A', target }] });
  assert.equal(before[0].datapoints.length, N);
  const st = TimeSeriesStore.open(join(dir, 'store.db'));
  st.write([
    {
      time: BigInt(T0 + N * 100) * 1_000_000n,
      measurement: 'EEC1',
      tags: { device: 'van', bus: 'CAN' },
      fields: { EngineSpeed: 7 },
    },
  ]);
  st.close();
  const after = await post<{ datapoints: [number, number][] }[]>('/query', { ...q, targets: [{ refId: 'A', target }] });
  assert.equal(after[0].datapoints.length, N + 1);
  assert.deepEqual(after[0].datapoints.at(-1), [7, T0 + N * 100]);
});

test('fields whose names hold the selection separators are served by their exact names', async () => {
  const path = join(dir, 'odd.db');
  const st = TimeSeriesStore.open(path);
  const names = ['a:b', 'x,y', '(p)', 'q|r', '{s}'];
  st.write(
    [0, 1, 2].map((i) => ({
      time: BigInt(T0 + i * 100) * 1_000_000n,
      measurement: 'odd',
      tags: {},
      fields: Object.fromEntries(names.map((n, k) => [n, k * 10 + i])),
    })),
  );
  st.close();
  const odd = await startServe({ store: path, port: 0, pollMs: 0 });
  try {
    for (const [k, name] of names.entries()) {
      const q = new URLSearchParams({ measurement: 'odd', fields: name, from: String(T0), to: String(T0 + 999) });
      const rows = (await (await fetch(`${odd.url}/api/rows?${q}`)).json()) as Record<string, number>[];
      assert.deepEqual(
        rows,
        [0, 1, 2].map((i) => ({ time: T0 + i * 100, [name]: k * 10 + i })),
        name,
      );
    }
  } finally {
    await odd.close();
  }
});
