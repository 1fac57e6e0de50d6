/**
 * The console's routes without a browser: its pages and assets (one HTML page for every view, a strict
 * Content-Security-Policy, ETags), the catalog of a store, downloads of plotted rows as CSV and Parquet equal to
 * the JSON rows, and what a hostile or mistaken request gets — a clear refusal naming what is wrong, never a file
 * outside the console or an action without its guard. The run's dead letters are tested in test/e2e/console.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parquetReadObjects } from 'hyparquet';
import { CONSOLE_VIEWS, type RunningServer, startServe } from '../../src/server/index.js';
import { TimeSeriesStore } from '../../src/store/index.js';

let dir: string;
let server: RunningServer;
const T0 = 1_700_000_000_000;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sigflow-console-routes-'));
  const path = join(dir, 'store.db');
  const st = TimeSeriesStore.open(path);
  st.write(
    Array.from({ length: 50 }, (_, i) => ({
      time: BigInt(T0 + i * 1000) * 1_000_000n,
      measurement: 'EEC1',
      tags: { device: 'truck' },
      fields: { EngineSpeed: 800 + i * 0.5 },
    })),
  );
  st.close();
  server = await startServe({ store: path, port: 0, pollMs: 0, console: { version: '9.9.9' } });
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${server.url}${path}`, { headers });

test('every view is the one page, under a strict CSP; assets by name only, with ETags', async () => {
  const page = await get('/console/');
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<script type="module" src="\/console\/assets\/console.js">/);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  for (const v of CONSOLE_VIEWS) assert.equal(await (await get(`/console/${v}?x=1`)).text(), html);
  const js = await get('/console/assets/console.js');
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  const etag = js.headers.get('etag') as string;
  assert.equal((await get('/console/assets/console.js', { 'if-none-match': etag })).status, 304);
  assert.match(await (await get('/console/assets/uPlot.iife.min.js')).text(), /uPlot/);
  for (const bad of ['/console/assets/..%2F..%2Fpackage.json', '/console/assets/nope.js', '/console/nope']) {
    const r = await get(bad);
    assert.equal(r.status, 404, bad);
  }
  // the plugins' connection test still answers OK; a browser is sent to the console
  assert.equal(await (await get('/', { accept: 'application/json' })).text(), 'OK');
  const browser = await fetch(`${server.url}/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
  assert.equal(browser.status, 302);
  assert.equal(browser.headers.get('location'), '/console/');
});

test('status and catalog: what a page needs to start', async () => {
  const s = (await (await get('/api/console/status')).json()) as { kind: string; version: string; run: unknown };
  assert.equal(s.kind, 'serve');
  assert.equal(s.version, '9.9.9');
  assert.equal(s.run, null);
  const c = (await (await get('/api/console/catalog')).json()) as {
    measurements: { name: string; fields: string[]; tags: Record<string, string[]> }[];
  };
  assert.deepEqual(c.measurements, [
    { name: 'EEC1', fields: ['EngineSpeed'], tags: { device: ['truck'] }, cut: false },
  ]);
  // the event stream starts with a status event
  const ctl = new AbortController();
  const ev = await fetch(`${server.url}/api/console/events`, { signal: ctl.signal });
  assert.equal(ev.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = (ev.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!text.includes('event: status')) text += new TextDecoder().decode((await reader.read()).value);
  ctl.abort();
});

test('downloads: the plotted rows as CSV and Parquet, equal to the JSON rows', async () => {
  const q = `measurement=EEC1&fields=EngineSpeed&tag.device=truck&from=${T0}&to=${T0 + 60_000}&max_points=1000`;
  const rows = (await (await get(`/api/rows?${q}`)).json()) as { time: number; EngineSpeed: number }[];
  assert.equal(rows.length, 50);
  const csv = await get(`/api/rows?${q}&format=csv`);
  assert.equal(csv.headers.get('content-disposition'), 'attachment; filename="EEC1.csv"');
  const lines = (await csv.text()).trim().split('\n');
  assert.equal(lines[0], 'time,EngineSpeed');
  assert.deepEqual(
    lines.slice(1).map((l) => l.split(',')),
    rows.map((r) => [new Date(r.time).toISOString(), String(r.EngineSpeed)]),
  );
  const pq = await (await get(`/api/rows?${q}&format=parquet`)).arrayBuffer();
  const back = (await parquetReadObjects({ file: pq })) as { time: Date | bigint; EngineSpeed: number }[];
  assert.deepEqual(
    back.map((r) => r.EngineSpeed),
    rows.map((r) => r.EngineSpeed),
  );
  assert.equal((await get(`/api/rows?${q}&format=xlsx`)).status, 400);
});

test('refusals: no outbox on serve, no IoF, bad input named, actions need their header and confirmation', async () => {
  const dl = await get('/api/console/dead-letters');
  assert.equal(dl.status, 404);
  assert.equal(((await dl.json()) as { code: string }).code, 'SF_ERR_SERVE_NOT_FOUND');
  assert.equal((await get('/api/console/iof')).status, 404);
  const post = (path: string, body: string, headers: Record<string, string>) =>
    fetch(`${server.url}${path}`, { method: 'POST', body, headers });
  const json = { 'content-type': 'application/json', 'x-sigflow-console': '1' };
  // without the header (what a form of another site could send), with a bad body, without confirmation
  let r = await post('/api/console/dead-letters/replay', '{"sink":"x"}', { 'content-type': 'application/json' });
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { message: string }).message, /x-sigflow-console/);
  r = await post('/api/console/dead-letters/replay', '{"sink":"x","ids":["1; DROP"]}', json);
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { message: string }).message, /ids\.0/);
  r = await post('/api/console/dead-letters/purge', '{"sink":"x"}', json);
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { message: string }).message, /confirm/);
  r = await post('/api/console/dead-letters/replay', 'sink=x', {
    'content-type': 'application/x-www-form-urlencoded',
    'x-sigflow-console': '1',
  });
  assert.equal(r.status, 415);
  r = await get('/api/console/logs?device=../../etc');
  assert.equal(r.status, 400);
});
