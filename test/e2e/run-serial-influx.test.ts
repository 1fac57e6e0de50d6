/**
 * A serial-logger user's migration, as a test: examples/serial-influx.yaml unchanged, with only the script's own
 * environment variables in a `.env` beside it (plus sigflow's data directory and HTTP port), a simulated adapter on
 * a socat pseudo-terminal streaming 21-byte records (cantools reference frames, 1 % damage, records holding
 * 0d 0a, random read splits, one unplug and replug) into
 *   - VictoriaMetrics through the InfluxDB 2.x write API the script uses, and
 *   - InfluxDB 1.6, which has no 2.x API: sigflow asks /ping, writes with the 1.x API and says so.
 * Every valid record arrives once, in the script's point shape (measurement = sender, tag class = message, float
 * fields, can_timestamp), with the values cantools gives; the counters add up.
 * SIGFLOW_SERIAL_RECORDS=1000000 runs the full million (default 20,000 in the suite).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Daemon } from '../harness/daemon.js';
import { fixturesDir, repoRoot } from '../harness/paths.js';
import { PtyPair } from '../harness/pty.js';
import { randomSplits, referenceFrames, simulateStream } from '../harness/records21.js';
import { influxQuery, type ServiceHandle, startInfluxDB, startVictoriaMetrics, vmExport } from '../harness/services.js';

const DBC = join(fixturesDir, 'dbc', 'dbc', 'opendbc', 'toyota_tss2_adas.dbc');
const REF = join(fixturesDir, 'dbc', 'dbc', 'reference', 'dbc__opendbc__toyota_tss2_adas.ndjson');
const N = Number(process.env.SIGFLOW_SERIAL_RECORDS ?? 20_000);
const frames = referenceFrames(readFileSync(REF, 'utf8'));
const sim = simulateStream({ records: N, frames, garbage: 0.01, crlf: 0, stepUs: 2000, seed: 11 });
/** Per message: the indexes of its records. */
const byMessage = new Map<string, number[]>();
sim.records.forEach((_, i) => {
  const m = frames[i % frames.length].message;
  const list = byMessage.get(m) ?? [];
  list.push(i);
  byMessage.set(m, list);
});

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Streams the simulated adapter through sigflow with the example config; returns the daemon's log lines. */
async function migrate(server: ServiceHandle, bucket: string): Promise<Record<string, unknown>[]> {
  const pty = await PtyPair.create();
  assert.ok(pty, 'socat');
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-migrate-'));
  dirs.push(dir);
  copyFileSync(join(repoRoot, 'examples', 'serial-influx.yaml'), join(dir, 'serial-influx.yaml'));
  // the script's .env, as its users have it
  writeFileSync(
    join(dir, '.env'),
    [
      `SERIAL_PORT=${pty.device}`,
      'BAUDRATE=230400',
      `DBC_FILE=${DBC}`,
      `INFLUX_URL=${server.url}`,
      'INFLUX_ORG=sigflow-test',
      `INFLUX_BUCKET=${bucket}`,
      'INFLUX_TOKEN=not-checked-here',
      'USE_NOW_TIME=False',
      'INF_BATCH_SIZE=5000',
      'INF_FLUSH_INTERVAL_S=1',
      '',
    ].join('\n'),
  );
  const d = Daemon.start(join(dir, 'serial-influx.yaml'), {
    SIGFLOW_DATA_DIR: join(dir, 'data'),
    SIGFLOW_LISTEN: '127.0.0.1:0',
  });
  try {
    await d.until('the endpoint', () => d.http !== null);
    const connected = async () => (await d.metric('sigflow_source_connected', { unit: 'serial' })) === 1;
    await d.until('the port', connected);
    const seen = () => d.metric('sigflow_frames_seen_total', { unit: 'serial' });
    const cut = sim.bytes.indexOf(10, Math.floor(sim.bytes.length / 3)) + 1;
    for (const c of randomSplits(sim.bytes.subarray(0, cut), 3, 512)) pty.write(c);
    let last = -1;
    await d.until('the first part to be read', async () => {
      const s = await seen();
      const steady = s > 0 && s === last;
      last = s;
      return steady;
    });
    await pty.unplug();
    await d.until('the outage to be noticed', async () => !(await connected()));
    await pty.plug();
    await d.until('the port to reopen', connected, 30_000);
    for (const c of randomSplits(sim.bytes.subarray(cut), 4, 512)) pty.write(c);
    await d.until('every record read', async () => (await seen()) === N, 120_000 + N / 10);
    await d.until(
      'every record delivered',
      async () => (await d.metric('sigflow_sink_delivered_records_total', { sink: 'influx' })) === N,
      120_000 + N / 10,
    );
    const m = await d.metrics();
    const get = (name: string) => m.get(`${name}{unit="serial"}`) ?? 0;
    // the counters add up: every frame read is decoded (all ids are in the DBC), every record is delivered
    assert.equal(get('sigflow_frames_seen_total'), N);
    assert.equal(get('sigflow_decoded_total'), N);
    assert.equal(get('sigflow_unknown_ids_total') + get('sigflow_decode_errors_total'), 0);
    assert.equal(get('sigflow_records_total'), N);
    assert.equal(m.get('sigflow_unit_events_total{unit="serial",event="reconnects"}'), 1);
    assert.ok((m.get('sigflow_unit_events_total{unit="serial",event="framer_resyncs"}') ?? 0) > 0);
    assert.equal(m.get('sigflow_unit_events_total{unit="serial",event="framer_layout_with_filler"}'), N);
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0, d.tail());
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
    await pty.dispose();
  }
  return d.json();
}

/** socat is there (a pair is made and removed again). */
async function socatInstalled(): Promise<boolean> {
  const p = await PtyPair.create();
  await p?.dispose();
  return p !== null;
}

/** The expected float of a signal (or can_timestamp) of record i. */
function expected(i: number, field: string): number {
  if (field === 'can_timestamp') return sim.records[i].us / 1e6;
  return frames[i % frames.length].phys[field];
}

test('serial logger migration → VictoriaMetrics (InfluxDB 2.x write API): every record once, cantools values', async (t) => {
  const vm = await startVictoriaMetrics();
  if (!vm) return t.skip('victoria-metrics is not installed');
  if (!(await socatInstalled())) return t.skip('socat is not installed');
  try {
    const logs = await migrate(vm, 'can');
    assert.ok(
      logs.some((l) => /no version header: e\.g\. VictoriaMetrics.*2\.x API/.test(String(l.msg))),
      'the API choice is said',
    );
    const series = await vmExport(vm, '.+');
    let checked = 0;
    for (const s of series) {
      const cls = s.metric.class;
      const idx = byMessage.get(cls);
      assert.ok(idx, `unexpected series ${JSON.stringify(s.metric)}`);
      const field = s.metric.__name__.slice('XXX_'.length);
      assert.ok(s.metric.__name__.startsWith('XXX_'), `measurement = the first sender: ${s.metric.__name__}`);
      assert.equal(
        s.values.length,
        idx.length,
        `${s.metric.__name__}{class=${cls}}: ${s.values.length} of ${idx.length}`,
      );
      const order = s.timestamps.map((ts, k) => [ts, s.values[k]] as const).sort((a, b) => a[0] - b[0]);
      order.forEach(([ts, v], k) => {
        const i = idx[k];
        assert.equal(ts, Math.floor(sim.records[i].us / 1000), `${cls}.${field} time ${k}`);
        const want = expected(i, field);
        assert.ok(Math.abs(v - want) <= Math.abs(want) * 1e-12, `${cls}.${field}[${k}]: ${v} vs cantools ${want}`);
        checked++;
      });
    }
    assert.ok(checked > N * 2, `${checked} values checked`);
  } finally {
    await vm.dispose();
  }
});

test('serial logger migration → InfluxDB 1.6 (no 2.x API: detected, written with 1.x): every record once', async (t) => {
  const influx = await startInfluxDB();
  if (!influx) return t.skip('influxd is not installed');
  if (!(await socatInstalled())) return t.skip('socat is not installed');
  try {
    await influxQuery(influx, 'CREATE DATABASE can');
    const logs = await migrate(influx, 'can');
    assert.ok(
      logs.some((l) =>
        /InfluxDB 1\.6.*no 2\.x write API: writing with the 1\.x API to database can/.test(String(l.msg)),
      ),
      'the API choice is said',
    );
    const r = await influxQuery(influx, 'SELECT * FROM "XXX" GROUP BY "class"', 'can');
    const series = r.results[0].series ?? [];
    assert.equal(series.length, byMessage.size);
    let rows = 0;
    for (const s of series) {
      const cls = s.tags?.class as string;
      const idx = byMessage.get(cls) as number[];
      assert.equal(s.values.length, idx.length, `${cls}: ${s.values.length} of ${idx.length}`);
      s.values.forEach((row, k) => {
        const i = idx[k];
        assert.equal(String(row[0]), String(BigInt(sim.records[i].us) * 1000n), `${cls} time ${k}`);
        s.columns.forEach((col, c) => {
          if (c === 0 || row[c] === null) return;
          assert.equal(row[c], expected(i, col), `${cls}.${col}[${k}]`);
        });
        rows++;
      });
    }
    assert.equal(rows, N);
  } finally {
    await influx.dispose();
  }
});
