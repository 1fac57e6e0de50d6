/**
 * `sigflow run` with `server.dashboards`: the Grafana routes on the run's own HTTP endpoint serve what the live
 * pipeline is storing (the store sink's file, opened read-only while the sink writes), with a bearer token, next to
 * /metrics and /status; and a log tree beside it. End to end on the compiled CLI with a replay source.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Daemon } from '../harness/daemon.js';
import { fixturesDir } from '../harness/paths.js';

const MF4 = join(fixturesDir, 'canedge', '00000001-60B621D9.MF4');
const DBC = join(
  fixturesDir,
  'canedge/dbc/api-examples/examples/data-processing/dbc_files/CSS-Electronics-SAE-J1939-DEMO.dbc',
);
const LOG = join(fixturesDir, 'canedge', 'serve', 'LOG');
const dir = mkdtempSync(join(tmpdir(), 'sigflow-run-dash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the Grafana routes inside sigflow run serve the live store (and a log tree), behind a token', async () => {
  const cfg = join(dir, 'sigflow.yaml');
  writeFileSync(
    cfg,
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db, delivery: { flush_interval: 100ms } }
pipelines:
  - name: truck
    source: { type: replay, paths: [${MF4}], speed: 0, loop: true, retime: true }
    decode: { dbc: ${DBC}, mapping: message }
server:
  listen: "127.0.0.1:0"
  dashboards:
    logs: ${LOG}
    tokens: ["\${DASH_TOKEN}"]
`,
  );
  const d = Daemon.start(cfg, { DASH_TOKEN: 't0ken', SIGFLOW_CACHE_DIR: join(dir, 'cache') });
  try {
    await d.until('the HTTP endpoint', () => d.http !== null);
    const auth = { authorization: 'Bearer t0ken', 'content-type': 'application/json' };
    const post = (path: string, body: unknown, headers: Record<string, string> = auth) =>
      fetch(`${d.http}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    let measurements: string[] = [];
    await d.until('stored measurements to show in /search', async () => {
      const r = await post('/search', { target: '{"search":"measurement"}' });
      measurements = r.status === 200 ? ((await r.json()) as string[]) : [];
      return measurements.includes('EEC1');
    });
    assert.equal(
      (await post('/search', { target: '{"search":"measurement"}' }, { 'content-type': 'application/json' })).status,
      401,
    );
    const now = Date.now();
    const r = await post('/query', {
      range: { from: new Date(now - 3_600_000).toISOString(), to: new Date(now + 60_000).toISOString() },
      maxDataPoints: 300,
      targets: [{ refId: 'A', target: JSON.stringify({ measurement: 'EEC1', field: 'EngineSpeed' }) }],
    });
    const series = (await r.json()) as { target: string; datapoints: [number, number][] }[];
    assert.equal(r.status, 200, JSON.stringify(series));
    assert.match(series[0].target, /^EEC1:.*device=.*:EngineSpeed$/);
    assert.ok(series[0].datapoints.length > 0 && series[0].datapoints.length <= 300);
    // the log tree beside it, and the run's own routes unchanged
    const dev = (await (await post('/search', { target: '{"search":"device"}' })).json()) as string[];
    assert.deepEqual(dev, ['2F6913DB']);
    assert.equal((await fetch(`${d.http}/metrics`)).status, 200);
    assert.equal((await fetch(`${d.http}/status`)).status, 200);
    // simPod's POST /metrics (its metric list) is the dashboards', GET /metrics the endpoint's own
    const simpod = await post('/metrics', {});
    const metrics = (await simpod.json()) as { value?: string }[];
    assert.equal(simpod.status, 200, JSON.stringify(metrics));
    assert.ok(Array.isArray(metrics) && metrics.some((m) => m.value === 'signals'), JSON.stringify(metrics));
  } finally {
    d.proc.kill('SIGTERM');
    const { code } = await d.exit;
    assert.equal(code, 0, d.tail());
  }
});
