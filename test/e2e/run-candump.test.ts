/**
 * `sigflow run` with a candump `file` source, end to end: candump -L lines of cantools reference frames
 * (toyota_tss2_adas) are in the file at start, then appended in random pieces (lines cut across writes), then the
 * file is rotated (moved away, a new one in its place); every record arrives once in the embedded store with
 * cantools' values and the time written on its line, the rotation is counted, and SIGTERM drains and exits 0.
 * And a candump `command` source: a generator run by the unit, whose lines are stored, which exits once and is
 * restarted, and which gets SIGTERM when sigflow stops.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TimeSeriesStore } from '../../src/store/index.js';
import { Daemon } from '../harness/daemon.js';
import { fixturesDir } from '../harness/paths.js';
import { randomSplits, referenceFrames } from '../harness/records21.js';

const DBC = join(fixturesDir, 'dbc', 'dbc', 'opendbc', 'toyota_tss2_adas.dbc');
const REF = join(fixturesDir, 'dbc', 'dbc', 'reference', 'dbc__opendbc__toyota_tss2_adas.ndjson');

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('candump file → store: lines appended in pieces, a rotation, every record once with cantools values', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-run-candump-'));
  dirs.push(dir);
  const frames = referenceFrames(readFileSync(REF, 'utf8'));
  const N = 6000;
  const start = Date.UTC(2024, 4, 1) * 1000;
  const rows: { us: number; i: number }[] = [];
  const text: string[] = [];
  for (let i = 0; i < N; i++) {
    const f = frames[i % frames.length];
    const us = start + i * 2000 + (i % 7);
    rows.push({ us, i });
    const id = f.id
      .toString(16)
      .toUpperCase()
      .padStart(f.ext ? 8 : 3, '0');
    const frac = String(us % 1e6).padStart(6, '0');
    text.push(`(${Math.floor(us / 1e6)}.${frac}) can0 ${id}#${Buffer.from(f.data).toString('hex').toUpperCase()}\n`);
  }
  const third = Math.floor(N / 3);
  const log = join(dir, 'can0.log');
  writeFileSync(log, text.slice(0, third).join(''));
  writeFileSync(
    join(dir, 'sigflow.yaml'),
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db }
pipelines:
  - name: can0
    source:
      type: candump
      file: ${log}
      poll_interval: 50ms
    decode: { dbc: ${DBC}, mapping: message, device: adapter1 }
server: { listen: "127.0.0.1:0" }
logging: { stats_interval: 0 }
`,
  );
  const d = Daemon.start(join(dir, 'sigflow.yaml'), {});
  try {
    await d.until('the endpoint', () => d.http !== null);
    const seen = () => d.metric('sigflow_frames_seen_total', { unit: 'can0' });
    await d.until('the lines already in the file', async () => (await seen()) === third);
    // appended in random pieces: lines are cut across writes
    const middle = Buffer.from(text.slice(third, 2 * third).join(''));
    for (const c of randomSplits(middle, 3, 500)) appendFileSync(log, c);
    await d.until('the appended lines', async () => (await seen()) === 2 * third);
    // rotated: moved away, a new file in its place
    renameSync(log, `${log}.1`);
    writeFileSync(log, text.slice(2 * third).join(''));
    await d.until('every line to be read', async () => (await seen()) === N, 60_000);
    await d.until(
      'every record to be stored',
      async () => (await d.metric('sigflow_sink_delivered_records_total', { sink: 'store' })) === N,
      60_000,
    );
    await d.until(
      'the rotation to be counted',
      async () => (await d.metric('sigflow_unit_events_total', { unit: 'can0', event: 'rotations' })) === 1,
    );
    assert.equal(await d.metric('sigflow_unit_events_total', { unit: 'can0', event: 'framer_malformed_lines' }), 0);
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0, d.tail());
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
  }
  const logs = d.json().map((l) => String(l.msg));
  assert.equal(logs.filter((m) => /was replaced \(rotated\)/.test(m)).length, 1, logs.join('\n'));
  const final = logs.filter((m) => m.startsWith('final: '));
  assert.ok(
    final.some((m) => new RegExp(`^final: can0: frames_seen=${N} decoded=${N} unknown_ids=0 decode_errors=0`).test(m)),
    final.join('\n'),
  );

  // every record once, at the time written on its line, with the values cantools gives
  const store = TimeSeriesStore.open(join(dir, 'data', 'store.db'));
  try {
    const byMsg = new Map<string, { us: number; i: number }[]>();
    for (const r of rows) {
      const f = frames[r.i % frames.length];
      const list = byMsg.get(f.message) ?? [];
      list.push(r);
      byMsg.set(f.message, list);
    }
    let checked = 0;
    for (const [message, recs] of byMsg) {
      const got = store.samples({ measurement: message, from: 0n, to: 2n ** 62n });
      assert.ok(got.length > 0, `${message} stored`);
      for (const s of got) {
        assert.equal(s.series.tags.device, 'adapter1');
        assert.equal(s.series.tags.chn, '0');
        assert.equal(s.samples.length, recs.length, `${message}.${s.series.field}`);
        s.samples.forEach((v, k) => {
          const r = recs[k];
          assert.equal(v.time, BigInt(r.us) * 1000n);
          assert.equal(
            v.value,
            frames[r.i % frames.length].phys[s.series.field],
            `${message}.${s.series.field} at ${k}`,
          );
          checked++;
        });
      }
    }
    assert.ok(checked > N, `checked ${checked} values`);
  } finally {
    store.close();
  }
});

test('candump command → store: the unit runs the command, restarts it when it exits, SIGTERMs it on stop', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-run-candump-cmd-'));
  dirs.push(dir);
  const frames = referenceFrames(readFileSync(REF, 'utf8'));
  // run 1 writes lines 0..499 and exits 0; run 2 writes 500..999 and stays until SIGTERM, noting it got it
  const gen = join(dir, 'gen.mjs');
  writeFileSync(
    gen,
    `import { existsSync, writeFileSync } from 'node:fs';
const frames = ${JSON.stringify(frames.map((f) => ({ id: f.id, ext: f.ext, data: Buffer.from(f.data).toString('hex') })))};
const second = existsSync(${JSON.stringify(join(dir, 'ran'))});
writeFileSync(${JSON.stringify(join(dir, 'ran'))}, String(process.pid));
const from = second ? 500 : 0;
let out = '';
for (let i = from; i < from + 500; i++) {
  const f = frames[i % frames.length];
  const us = ${Date.UTC(2024, 4, 1) * 1000} + i * 1000;
  out += '(' + Math.floor(us / 1e6) + '.' + String(us % 1e6).padStart(6, '0') + ') can0 ' +
    f.id.toString(16).padStart(f.ext ? 8 : 3, '0') + '#' + f.data + '\\n';
}
process.stdout.write(out);
process.stderr.write('gen: run ' + (second ? 2 : 1) + '\\n');
if (second) {
  process.on('SIGTERM', () => { writeFileSync(${JSON.stringify(join(dir, 'sigterm'))}, 'yes'); process.exit(0); });
  setInterval(() => {}, 1000);
}
`,
  );
  writeFileSync(
    join(dir, 'sigflow.yaml'),
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db }
pipelines:
  - name: bus
    source:
      type: candump
      command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(gen)}]
      restart_initial: 100ms
    decode: { dbc: ${DBC}, mapping: message, device: gen }
server: { listen: "127.0.0.1:0" }
logging: { stats_interval: 0 }
`,
  );
  const d = Daemon.start(join(dir, 'sigflow.yaml'), {});
  let pid = 0;
  try {
    await d.until('the endpoint', () => d.http !== null);
    await d.until(
      'both runs to be stored',
      async () => (await d.metric('sigflow_sink_delivered_records_total', { sink: 'store' })) === 1000,
    );
    // (the unit reports its counters once a second)
    await d.until(
      'the restart to be counted',
      async () => (await d.metric('sigflow_unit_events_total', { unit: 'bus', event: 'restarts' })) === 1,
    );
    pid = Number(readFileSync(join(dir, 'ran'), 'utf8'));
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0, d.tail());
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
  }
  assert.ok(existsSync(join(dir, 'sigterm')), 'the command got SIGTERM');
  assert.throws(() => process.kill(pid, 0), 'the command has ended');
  const logs = d.json().map((l) => String(l.msg));
  assert.ok(
    logs.some((m) => /exited with code 0; restarting with backoff/.test(m)),
    logs.join('\n'),
  );
  assert.ok(
    logs.some((m) => m.endsWith(': gen: run 1')),
    logs.join('\n'),
  );
  const final = logs.filter((m) => m.startsWith('final: '));
  assert.ok(
    final.some((m) => /^final: bus: frames_seen=1000 decoded=1000 unknown_ids=0 decode_errors=0/.test(m)),
    final.join('\n'),
  );
});

test('input that is mostly not frames, and malformed lines, are warned about (once per window), naming the counters', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-run-candump-'));
  dirs.push(dir);
  const log = join(dir, 'can0.log');
  const good = '(1714521600.000000) can0 123#0011\n';
  // a baud mismatch or the wrong file: 8 KiB of noise lines, then a couple of good lines
  const noise = Array.from({ length: 200 }, (_, i) => `garbage ${'x'.repeat(30)} ${i}\n`).join('');
  writeFileSync(log, noise + good + good);
  writeFileSync(
    join(dir, 'sigflow.yaml'),
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: archive, dir: ${dir}/archive }
pipelines:
  - name: can0
    source: { type: candump, file: ${log}, poll_interval: 50ms }
    decode: { dbc: ${DBC}, mapping: message, device: adapter1 }
server: { listen: "127.0.0.1:0" }
logging: { stats_interval: 0 }
`,
  );
  const d = Daemon.start(join(dir, 'sigflow.yaml'), {});
  try {
    await d.until(
      'the warnings',
      () =>
        d.lines.some((l) => /bytes of input in \d+ s were not frames/.test(l)) &&
        d.lines.some((l) => /200 malformed line\(s\) skipped/.test(l)),
      30_000,
    );
    const warns = d.lines.filter((l) => /were not frames|malformed line/.test(l));
    assert.equal(warns.length, 2, warns.join('\n'));
    assert.ok(
      warns.every((l) => /"level":40|warn/i.test(l)),
      warns.join('\n'),
    );
  } finally {
    await d.stop('SIGTERM');
  }
});
