/**
 * The `system-checks` source run in-process: readings on wall-clock multiples (record times are the ticks, not the
 * read times), the fields expected of a Linux box, a record per filesystem (a missing path said once, no crash), a
 * CPU temperature from a thermal zone — and none, without an error, where there is no zone; `tags` replacing the
 * host tag; the aligned schedule skipping late ticks instead of bursting; the config schema.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AlignedSchedule, nextMultiple } from '../../src/pipelines/live/index.js';
import { SystemChecksSource, systemChecksSourceConfigSchema } from '../../src/sources/system-checks/index.js';
import { until } from './fake-context.js';
import { RecordsContext } from './records-context.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sigflow-syschecks-'));
  dirs.push(d);
  return d;
}

function source(config: Record<string, unknown>) {
  return new SystemChecksSource(systemChecksSourceConfigSchema.parse({ type: 'system-checks', ...config }));
}

/** Runs the source until `n` ticks were handed over, then stops it. */
async function ticks(config: Record<string, unknown>, n: number): Promise<RecordsContext> {
  const f = new RecordsContext();
  const run = source(config).run(f.ctx);
  await until(`${n} ticks`, () => (f.counts.ticks ?? 0) >= n, 15_000);
  f.ac.abort();
  await run;
  return f;
}

test('schema: defaults, durations, the shortest interval', () => {
  assert.deepEqual(systemChecksSourceConfigSchema.parse({ type: 'system-checks' }), {
    type: 'system-checks',
    every: 60_000,
    measurement: 'system',
    paths: ['/'],
    thermal_dir: '/sys/class/thermal',
  });
  assert.equal(systemChecksSourceConfigSchema.parse({ type: 'system-checks', every: '1.5s' }).every, 1500);
  assert.equal(systemChecksSourceConfigSchema.safeParse({ type: 'system-checks', every: '50ms' }).success, false);
  assert.equal(systemChecksSourceConfigSchema.safeParse({ type: 'system-checks', paths: [] }).success, false);
  assert.equal(systemChecksSourceConfigSchema.safeParse({ type: 'system-checks', every: 'soon' }).success, false);
  assert.equal(systemChecksSourceConfigSchema.safeParse({ type: 'system-checks', pathz: ['/'] }).success, false);
});

test('nextMultiple: the first multiple of the interval after now', () => {
  assert.equal(nextMultiple(0, 10_000), 10_000);
  assert.equal(nextMultiple(9_999, 10_000), 10_000);
  assert.equal(nextMultiple(10_000, 10_000), 20_000);
  assert.equal(nextMultiple(1_717_171_717_123, 60_000), 1_717_171_740_000);
});

test('readings on wall-clock multiples, timed at the tick; the fields of a Linux box; a record per filesystem', async () => {
  const thermal = tmp();
  mkdirSync(join(thermal, 'thermal_zone0'));
  writeFileSync(join(thermal, 'thermal_zone0', 'type'), 'acpitz\n');
  writeFileSync(join(thermal, 'thermal_zone0', 'temp'), '27800\n');
  mkdirSync(join(thermal, 'thermal_zone1'));
  writeFileSync(join(thermal, 'thermal_zone1', 'type'), 'x86_pkg_temp\n');
  writeFileSync(join(thermal, 'thermal_zone1', 'temp'), '45678\n');
  const every = 1000;
  const f = await ticks({ every: '1s', paths: ['/', tmpdir(), '/nonexistent/sigflow'], thermal_dir: thermal }, 3);

  const main = f.records.filter((h) => h.record.tags.path === undefined);
  assert.ok(main.length >= 3, `${main.length} ticks`);
  const times = main.map((h) => h.record.time);
  for (const [i, h] of main.entries()) {
    assert.equal(h.record.measurement, 'system');
    assert.deepEqual(h.record.tags, { host: hostname() });
    // the tick's time, a multiple of the interval — not when the reads finished
    assert.equal(h.record.time % BigInt(every * 1e6), 0n, `tick ${i} at ${h.record.time}`);
    const tickMs = Number(h.record.time / 1_000_000n);
    assert.ok(h.atMs >= tickMs && h.atMs - tickMs < every / 2, `tick ${i} handed over ${h.atMs - tickMs} ms after it`);
    if (i > 0) assert.equal(times[i] - times[i - 1], BigInt(every * 1e6), 'one interval apart, none skipped');
  }
  const r = main[0].record.fields;
  for (const k of [
    'load_1',
    'load_5',
    'load_15',
    'mem_total_bytes',
    'mem_available_bytes',
    'mem_used_percent',
    'uptime_seconds',
    'boot_time_seconds',
    'rss_bytes',
  ])
    assert.equal(typeof r[k], 'number', `${k}: ${r[k]}`);
  assert.ok((r.mem_total_bytes as number) > (r.mem_available_bytes as number));
  assert.ok((r.mem_used_percent as number) > 0 && (r.mem_used_percent as number) < 100);
  assert.ok((r.rss_bytes as number) > 10 * 2 ** 20, 'the RSS of a Node process');
  // booted before now, and uptime agrees with it (within a few seconds)
  const nowS = Date.now() / 1000;
  assert.ok(Math.abs(nowS - (r.boot_time_seconds as number) - (r.uptime_seconds as number)) < 5);
  // the CPU's zone is preferred over the first one
  assert.equal(r.cpu_temp_celsius, 45.678);
  assert.match(f.states[0].detail, /CPU temperature \(thermal_zone1: x86_pkg_temp\)/);
  // not in a unit of sigflow run: no agent total
  assert.equal(r.agent_rss_bytes, undefined);

  // each readable path: a record tagged path, at the same tick
  for (const path of ['/', tmpdir()]) {
    const disks = f.records.filter((h) => h.record.tags.path === path);
    assert.equal(disks.length, main.length, path);
    const d = disks[0].record;
    assert.deepEqual(d.tags, { host: hostname(), path });
    assert.equal(d.time, main[0].record.time);
    assert.ok((d.fields.disk_total_bytes as number) > 0);
    assert.ok((d.fields.disk_used_percent as number) >= 0 && (d.fields.disk_used_percent as number) <= 100);
    assert.equal((d.fields.disk_used_bytes as number) <= (d.fields.disk_total_bytes as number), true, 'used ≤ total');
  }
  // the missing path: counted every tick, said once, no record, no crash
  assert.equal(f.records.filter((h) => h.record.tags.path === '/nonexistent/sigflow').length, 0);
  assert.equal(f.counts.disk_errors, main.length);
  assert.equal(f.said(/cannot read the filesystem of \/nonexistent\/sigflow: ENOENT/).length, 1);
});

test('no thermal zone (an empty or a missing folder): no temperature field, and no error', async () => {
  for (const thermal of [tmp(), '/nonexistent/thermal']) {
    const f = await ticks({ every: '200ms', thermal_dir: thermal, tags: { site: 'fjord' } }, 2);
    const main = f.of('system').filter((r) => r.tags.path === undefined);
    assert.ok(main.length >= 2);
    for (const r of main) {
      assert.equal('cpu_temp_celsius' in r.fields, false);
      assert.deepEqual(r.tags, { site: 'fjord' }, 'tags replace the host tag');
    }
    assert.deepEqual(f.problems(), []);
    assert.match(f.states[0].detail, /no CPU temperature \(no thermal zone\)/);
  }
});

test('a tick reached late is skipped, not caught up with: the next one is the next multiple ahead', async () => {
  const every = 200;
  const ac = new AbortController();
  const s = new AlignedSchedule(every);
  const first = await s.wait(ac.signal);
  assert.ok(first);
  assert.equal(first.time % every, 0);
  assert.equal(first.missed, 0);
  // the process is blocked for 3 intervals and a half
  const t0 = Date.now();
  while (Date.now() - t0 < 700) {
    /* busy */
  }
  const next = await s.wait(ac.signal);
  assert.ok(next);
  assert.equal(next.time % every, 0);
  assert.ok(next.missed >= 3, `missed ${next.missed}`);
  assert.equal(next.time, first.time + (next.missed + 1) * every, 'skipped whole intervals');
  assert.ok(next.time >= Date.now() - s.tolerance, 'not a tick of the past');
  const third = await s.wait(ac.signal);
  assert.equal(third?.time, next.time + every);
  assert.equal(third?.missed, 0);
  ac.abort();
  assert.equal(await s.wait(ac.signal), null);
});

test('an outbox slower than the interval: ticks are skipped (missed_ticks), never handed over in a burst', async () => {
  const f = new RecordsContext();
  f.holdMs = 450; // each tick's records take 450 ms to be durable; ticks every 200 ms
  const run = source({ every: '200ms', thermal_dir: '/nonexistent' }).run(f.ctx);
  await until('4 ticks', () => (f.counts.ticks ?? 0) >= 4, 15_000);
  f.ac.abort();
  await run;
  const main = f.records.filter((h) => h.record.tags.path === undefined);
  assert.ok((f.counts.missed_ticks ?? 0) >= 4, `missed ${f.counts.missed_ticks}`);
  for (let i = 1; i < main.length; i++) {
    const gap = Number(main[i].record.time - main[i - 1].record.time) / 1e6;
    assert.ok(gap >= 400 && gap % 200 === 0, `ticks ${gap} ms apart`);
  }
  assert.equal(f.maxOutstanding, 1);
});
