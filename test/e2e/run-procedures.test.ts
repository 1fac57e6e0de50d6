/**
 * Procedures as units of `sigflow run`, end to end on the CLI: a `system-checks` unit reporting every second, an
 * `exec` procedure on a schedule (its data lines stored with their own timestamps), and a long-running `exec`
 * procedure that exits 1 at once — a crash loop. The crashing unit is restarted with growing delays (the
 * supervisor's backoff), its log lines reach the store through the outbox and its exits are counted, while the
 * system-checks unit keeps reporting on every wall-clock second in the store, none missed. SIGTERM stops all in
 * order, exit 0. The procedures run inline (in the supervisor's process, their default) except `co2`, which asks
 * for a process of its own (`isolation: process`): both ways of running a unit, side by side. The resident memory
 * of sigflow and its units is measured (`ps -o rss`) and reported.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TimeSeriesStore } from '../../src/store/index.js';
import { Daemon } from '../harness/daemon.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** RSS (KiB) of a process and of its children (`ps -o rss`). */
function rssTree(pid: number): { pid: number; rssKiB: number; cmd: string }[] {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,rss=,args='], { encoding: 'utf8' });
  const rows = out
    .trim()
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), rssKiB: Number(m[3]), cmd: m[4] }));
  return rows.filter((r) => r.pid === pid || r.ppid === pid).map(({ pid, rssKiB, cmd }) => ({ pid, rssKiB, cmd }));
}

test('a crash-looping exec procedure backs off while system-checks keeps reporting every second', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-run-procedures-'));
  dirs.push(dir);
  const crash = join(dir, 'crash.sh');
  writeFileSync(
    crash,
    `#!/bin/sh
echo '{"variant":"log","level":"ERROR","subject":"no sensor on /dev/ttyUSB9"}'
echo 'cannot open /dev/ttyUSB9' >&2
exit 1
`,
  );
  const co2 = join(dir, 'co2.mjs');
  writeFileSync(
    co2,
    `#!${process.execPath}
const tick = Number(process.env.SIGFLOW_TICK);
console.log(JSON.stringify({ variant: 'data', data: { co2_ppm: 400 + (tick % 10) }, timestamp: tick + 0.25 }));
`,
  );
  chmodSync(crash, 0o755);
  chmodSync(co2, 0o755);
  writeFileSync(
    join(dir, 'sigflow.yaml'),
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db }
pipelines:
  - name: system
    source: { type: system-checks, every: 1s, tags: { host: edge-1 } }
  - name: co2
    source: { type: exec, command: [${co2}], every: 1s, timeout: 900ms, grace: 1s }
    isolation: process
  - name: crashy
    source: { type: exec, command: [${crash}], mode: long_running, grace: 1s }
runtime: { restart_initial: 200ms, restart_max: 10s, crash_loop_count: 20 }
server: { listen: "127.0.0.1:0" }
logging: { stats_interval: 0 }
`,
  );
  const d = Daemon.start(join(dir, 'sigflow.yaml'), {});
  const crashLines = () =>
    d.json().filter((l) => l.unit === 'crashy' && l.level === 50 && /^unit crashed/.test(String(l.msg)));
  let rss: ReturnType<typeof rssTree> = [];
  try {
    await d.until('the endpoint', () => d.http !== null, 20_000);
    await d.until('4 crashes of the crash-looping unit', () => crashLines().length >= 4, 25_000);
    rss = rssTree(d.proc.pid as number);
    const status = (await (await fetch(`${d.http}/status`)).json()) as {
      units: { name: string; isolation: string; pid: number | null }[];
    };
    const where = Object.fromEntries(status.units.map((u) => [u.name, [u.isolation, u.pid !== null]]));
    assert.deepEqual(where, { system: ['inline', false], co2: ['process', true], crashy: ['inline', false] });
    const co2Pid = status.units.find((u) => u.name === 'co2')?.pid;
    assert.ok(
      rss.some((r) => r.pid === co2Pid && /unit-process/.test(r.cmd)),
      'co2 runs in a unit process of its own',
    );
    assert.equal(rss.filter((r) => /unit-process/.test(r.cmd)).length, 1, 'the inline units have no process');
    assert.ok((await d.metric('sigflow_unit_restarts_total', { unit: 'crashy' })) >= 3);
    await d.until(
      'its exits counted',
      async () => (await d.metric('sigflow_unit_events_total', { unit: 'crashy', event: 'exits' })) >= 3,
      5_000,
    );
    // two more ticks of system-checks, so that every crash so far falls between two of its ticks
    const ticks = () => d.metric('sigflow_unit_events_total', { unit: 'system', event: 'ticks' });
    const seen = await ticks();
    await d.until('two more ticks', async () => (await ticks()) >= seen + 2, 10_000);
    assert.equal(await d.metric('sigflow_unit_restarts_total', { unit: 'system' }), 0);
    assert.equal(await d.metric('sigflow_unit_restarts_total', { unit: 'co2' }), 0);
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0, d.tail());
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
  }

  // the supervisor's backoff: restart_initial, doubled at each crash
  const crashes = crashLines();
  const delays = crashes.map((l) => {
    const m = /^unit crashed \((.*)\); restarting in (\d+) ms$/.exec(String(l.msg));
    assert.ok(m, String(l.msg));
    assert.equal(m[1], `${crash} exited with code 1`);
    return Number(m[2]);
  });
  assert.deepEqual(delays.slice(0, 4), [200, 400, 800, 1600]);
  const logs = d.json();
  assert.ok(logs.some((l) => l.unit === 'crashy' && l.level === 40 && l.msg === `${crash}: cannot open /dev/ttyUSB9`));
  assert.ok(logs.some((l) => l.unit === 'crashy' && l.level === 50 && l.msg === `${crash}: no sensor on /dev/ttyUSB9`));

  const store = TimeSeriesStore.open(join(dir, 'data', 'store.db'), { readonly: true });
  try {
    const all = { from: 0n, to: 2n ** 62n };
    // system-checks: every wall-clock second from its first tick to its last, none missed while the other unit
    // crashed and restarted
    const load = store.samples({ measurement: 'system', fields: ['load_1'], tags: { host: 'edge-1' }, ...all });
    assert.equal(load.length, 1);
    const times = load[0].samples.map((s) => s.time);
    assert.ok(times.length >= 6, `${times.length} ticks`);
    for (let i = 0; i < times.length; i++) {
      assert.equal(times[i] % 1_000_000_000n, 0n, 'on the second');
      if (i > 0) assert.equal(times[i] - times[i - 1], 1_000_000_000n, `tick ${i}: none missed`);
    }
    const during = crashes.filter((l) => {
      const ns = BigInt(l.time as number) * 1_000_000n;
      return ns > times[0] && ns < (times.at(-1) as bigint);
    });
    assert.ok(during.length >= 4, `reporting through the crash loop: ${during.length} crashes between its ticks`);
    const disk = store.samples({ measurement: 'system', fields: ['disk_used_percent'], tags: { path: '/' }, ...all });
    assert.equal(disk[0]?.samples.length, times.length);
    const agent = store.samples({ measurement: 'system', fields: ['agent_rss_bytes'], ...all });
    assert.ok(agent[0]?.samples.length > 0, 'agent_rss_bytes under sigflow run');
    const agentMiB = Number(agent[0].samples.at(-1)?.value) / 2 ** 20;

    // the scheduled procedure: its lines with their own timestamps
    const co2s = store.samples({ measurement: 'co2', ...all });
    assert.equal(co2s.length, 1);
    assert.ok(co2s[0].samples.length >= 4);
    for (const s of co2s[0].samples) assert.equal(s.time % 1_000_000_000n, 250_000_000n);

    // the crashing procedure's log lines, as records through the outbox
    const logRecords = store.samples({
      measurement: 'log',
      fields: ['subject'],
      tags: { procedure: 'crashy' },
      ...all,
    });
    assert.ok(logRecords[0]?.samples.length >= 4);
    assert.equal(logRecords[0].samples[0].value, 'no sensor on /dev/ttyUSB9');

    const total = rss.reduce((a, r) => a + r.rssKiB, 0);
    t.diagnostic(
      `RSS: ${rss.map((r) => `${(r.rssKiB / 1024).toFixed(1)} MiB ${r.cmd.slice(0, 60)}`).join('; ')} — total ${(total / 1024).toFixed(1)} MiB; agent_rss_bytes ${agentMiB.toFixed(1)} MiB`,
    );
  } finally {
    store.close();
  }
});
