/**
 * `sigflow run` with a serial source, end to end on a real pseudo-terminal (socat): a simulated adapter streams
 * 21-byte records (cantools reference frames of toyota_tss2_adas, 1 % damage, random read splits), is unplugged
 * and plugged back mid-stream; every record arrives once in the embedded store with cantools' values, the counters
 * add up, the outage is said once, and SIGTERM drains and exits 0 with final stats.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TimeSeriesStore } from '../../src/store/index.js';
import { Daemon } from '../harness/daemon.js';
import { fixturesDir } from '../harness/paths.js';
import { PtyPair } from '../harness/pty.js';
import { randomSplits, referenceFrames, simulateStream } from '../harness/records21.js';

const DBC = join(fixturesDir, 'dbc', 'dbc', 'opendbc', 'toyota_tss2_adas.dbc');
const REF = join(fixturesDir, 'dbc', 'dbc', 'reference', 'dbc__opendbc__toyota_tss2_adas.ndjson');

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('serial records21 → store: damage, an unplug and a replug, every record once with cantools values', async (t) => {
  const pty = await PtyPair.create();
  if (!pty) return t.skip('socat is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-run-serial-'));
  dirs.push(dir);
  const frames = referenceFrames(readFileSync(REF, 'utf8'));
  const N = 20_000;
  const sim = simulateStream({ records: N, frames, garbage: 0.01, stepUs: 2000, seed: 7 });
  writeFileSync(
    join(dir, 'sigflow.yaml'),
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db }
pipelines:
  - name: can0
    source:
      type: serial
      path: ${pty.device}
      framer: { type: records21, layout: with_filler, timestamp: auto }
      reconnect_max: 300ms
    decode: { dbc: ${DBC}, mapping: message, device: adapter1 }
server: { listen: "127.0.0.1:0" }
logging: { stats_interval: 0 }
`,
  );
  const d = Daemon.start(join(dir, 'sigflow.yaml'), {});
  try {
    await d.until('the endpoint', () => d.http !== null);
    const connected = async () => (await d.metric('sigflow_source_connected', { unit: 'can0' })) === 1;
    await d.until('the port to open', connected);
    // first half (cut at a line end), then the unplug
    const cut = sim.bytes.indexOf(10, Math.floor(sim.bytes.length / 2)) + 1;
    for (const c of randomSplits(sim.bytes.subarray(0, cut), 1, 200)) pty.write(c);
    const seen = () => d.metric('sigflow_frames_seen_total', { unit: 'can0' });
    let half = 0;
    await d.until('the first half to be read', async () => {
      const s = await seen();
      const stable = s > 0 && s === half;
      half = s;
      return stable;
    });
    await pty.unplug();
    await d.until('the outage to be noticed', async () => !(await connected()));
    await new Promise((r) => setTimeout(r, 1500)); // several reopen attempts fail meanwhile
    await pty.plug();
    await d.until('the port to reopen', connected);
    for (const c of randomSplits(sim.bytes.subarray(cut), 2, 200)) pty.write(c);
    await d.until('every record to be read', async () => (await seen()) === N, 60_000);
    await d.until(
      'every record to be stored',
      async () => (await d.metric('sigflow_sink_delivered_records_total', { sink: 'store' })) === N,
      60_000,
    );
    const reconnects = await d.metric('sigflow_unit_events_total', { unit: 'can0', event: 'reconnects' });
    assert.equal(reconnects, 1);
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0, d.tail());
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
    await pty.dispose();
  }
  const logs = d.json();
  // the outage is said once (closed), however many reopen attempts failed (the failures are counted instead)
  const down = logs.filter((l) => typeof l.msg === 'string' && /closed|cannot open/.test(l.msg as string));
  assert.ok(down.length >= 1 && down.length <= 2, `outage lines: ${down.map((l) => l.msg).join(' | ')}`);
  const final = logs.map((l) => String(l.msg)).filter((m) => m.startsWith('final: '));
  assert.ok(
    final.some((m) =>
      /^final: can0: frames_seen=20000 decoded=20000 unknown_ids=0 decode_errors=0 records=20000/.test(m),
    ),
    final.join('\n'),
  );
  assert.ok(
    final.some((m) => /store delivered=20000 pending=0/.test(m)),
    final.join('\n'),
  );

  // every record once, with the values cantools gives
  const store = TimeSeriesStore.open(join(dir, 'data', 'store.db'));
  try {
    const byMsg = new Map<string, { us: number; i: number }[]>();
    sim.records.forEach((r, i) => {
      const f = frames[i % frames.length];
      const list = byMsg.get(f.message) ?? [];
      list.push({ us: r.us, i });
      byMsg.set(f.message, list);
    });
    let checked = 0;
    for (const [message, recs] of byMsg) {
      const got = store.samples({ measurement: message, from: 0n, to: 2n ** 62n });
      for (const s of got) {
        assert.equal(s.series.tags.device, 'adapter1');
        assert.equal(
          s.samples.length,
          recs.length,
          `${message}.${s.series.field}: ${s.samples.length} of ${recs.length}`,
        );
        s.samples.forEach((v, k) => {
          const r = recs[k];
          assert.equal(v.time, BigInt(r.us) * 1000n);
          const f = frames[r.i % frames.length];
          assert.equal(v.value, f.phys[s.series.field], `${message}.${s.series.field} at ${k}`);
          checked++;
        });
      }
    }
    assert.ok(checked > N, `checked ${checked} values`);
  } finally {
    store.close();
  }
});
