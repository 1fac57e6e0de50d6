/**
 * `npm run bench -- uplink [--json] [--records N]`
 *
 * Records per second from the durable outbox to a ThingsBoard-style MQTT broker (mosquitto on loopback, QoS 1: a
 * batch leaves the outbox only on its PUBACKs; rate limits off) beside a do-nothing publisher on the same broker in
 * the same run (mqtt.js publishing the records as QoS 1 JSON messages, 500 in flight — what a gateway without a
 * queue does), and the resident memory of an idle agent: `sigflow run` with three procedures (system-checks and
 * two scheduled exec programs, every 10 s, inline: their default), the store and a ThingsBoard uplink to the same
 * broker — the supervisor and any unit processes summed, sampled at 20, 25 and 30 s after the start, median and
 * max (issue 13's target: < 80 MB); and the same agent with its procedures in processes of their own
 * (`isolation: process`), for comparison.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { exitWhenWritten } from '../src/io/index.js';
import { Outbox } from '../src/outbox/index.js';
import type { TelemetryRecord } from '../src/records/index.js';
import { createSink } from '../src/sinks/index.js';
import { repoRoot } from '../test/harness/paths.js';
import { startOwnMosquitto, TimedSubscriber } from '../test/sinks/uplink-helpers.js';
import { arg, fmtRate, median, note, report } from './_harness.js';

const N = Number(arg('records', '20000'));
const RUNS = Number(arg('runs', '3'));

function records(n: number, t0: number): TelemetryRecord[] {
  return Array.from({ length: n }, (_, k) => ({
    time: BigInt(t0 + k) * 1_000_000n,
    measurement: 'system',
    tags: {},
    fields: { load_1: k / 100, mem_used_percent: 40 + (k % 10), seq: k },
  }));
}

/** Values carried by the telemetry that reached the broker, counted by their `seq`. */
function seqCount(sub: TimedSubscriber): number {
  let n = 0;
  for (const a of sub.arrivals) {
    const p = JSON.parse(a.payload) as unknown;
    n += Array.isArray(p) ? p.length : 1;
  }
  return n;
}

async function sigflowRun(url: string, dir: string, sub: TimedSubscriber, run: number): Promise<number> {
  const sink = createSink({ type: 'thingsboard', url, access_token: 'bench', rate_limits: [] });
  const ob = Outbox.open({
    dataDir: join(dir, `ob${run}`),
    sinks: [{ sink, batchSize: 5000, flushIntervalMs: 20, flushJitterMs: 0 }],
    logger: pino({ level: 'silent' }),
  });
  const recs = records(N, Date.UTC(2025, 0, 1) + run * N);
  for (let i = 0; i < recs.length; i += 1000) await ob.enqueue(recs.slice(i, i + 1000));
  sub.arrivals.length = 0;
  const t0 = performance.now();
  ob.start();
  await sub.until(() => seqCount(sub) >= N, 120_000);
  const s = (performance.now() - t0) / 1000;
  await ob.close();
  await sink.close();
  return N / s;
}

async function referenceRun(url: string, sub: TimedSubscriber): Promise<number> {
  const c = mqtt.connect(url, { clientId: `ref-${process.pid}` });
  await new Promise<void>((r) => c.once('connect', () => r()));
  sub.arrivals.length = 0;
  const recs = records(N, 0);
  const t0 = performance.now();
  for (let i = 0; i < N; i += 500)
    await Promise.all(
      recs
        .slice(i, i + 500)
        .map((r) =>
          c.publishAsync(
            'v1/devices/me/telemetry',
            JSON.stringify({ ts: Number(r.time / 1_000_000n), values: r.fields }),
            { qos: 1 },
          ),
        ),
    );
  await sub.until(() => sub.arrivals.length >= N, 120_000);
  const s = (performance.now() - t0) / 1000;
  await c.endAsync();
  return N / s;
}

/** RSS (MB) of a process and its descendants, from /proc. */
function treeRssMb(pid: number): number {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      rss.set(Number(p), m ? Number(m[1]) : 0);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(p)]);
    } catch {
      // gone
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop() as number;
    total += rss.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total / 1024;
}

async function idleAgentRss(
  dir: string,
  brokerUrl: string,
  isolation: 'inline' | 'process',
): Promise<{ median: number; max: number; units: number }> {
  const file = join(dir, `agent-${isolation}.yaml`);
  const iso = isolation === 'process' ? { isolation } : {};
  writeFileSync(
    file,
    JSON.stringify({
      outbox: { data_dir: join(dir, `agent-data-${isolation}`) },
      pipelines: [
        { name: 'system', source: { type: 'system-checks', every: '10s' }, ...iso },
        { name: 'probe-a', source: { type: 'exec', command: ['/bin/true'], every: '10s' }, ...iso },
        { name: 'probe-b', source: { type: 'exec', command: ['/bin/true'], every: '10s' }, ...iso },
      ],
      sinks: [
        { type: 'store', path: join(dir, `agent-store-${isolation}.db`) },
        { type: 'thingsboard', url: brokerUrl, access_token: 'idle-agent' },
      ],
      server: { listen: '127.0.0.1:0' },
      logging: { stats_interval: 0 },
    }),
  );
  const p = spawn(process.execPath, [join(repoRoot, 'bin', 'sigflow'), 'run', '-c', file, '--log-format', 'json'], {
    stdio: 'ignore',
  });
  const samples: number[] = [];
  let units = 0;
  for (const at of [20_000, 5_000, 5_000]) {
    await new Promise((r) => setTimeout(r, at));
    samples.push(treeRssMb(p.pid as number));
  }
  units = unitProcesses(p.pid as number);
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  return { median: median(samples), max: Math.max(...samples), units };
}

/** How many unit processes (unit-process.js) a process has as children. */
function unitProcesses(pid: number): number {
  let n = 0;
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && readFileSync(`/proc/${p}/cmdline`, 'latin1').includes('unit-process')) n++;
    } catch {
      // gone
    }
  }
  return n;
}

async function main(): Promise<void> {
  const broker = await startOwnMosquitto();
  if (!broker) {
    note('mosquitto is not installed: nothing to measure');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-bench-uplink-'));
  const sub = await TimedSubscriber.start(broker.url, ['v1/devices/me/telemetry']);
  try {
    const ours: number[] = [];
    const ref: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      ours.push(await sigflowRun(broker.url, dir, sub, i));
      ref.push(await referenceRun(broker.url, sub));
    }
    const rss = await idleAgentRss(dir, broker.url, 'inline');
    const rssProcesses = await idleAgentRss(dir, broker.url, 'process');
    const r = {
      bench: 'uplink',
      records: N,
      sigflow_records_per_s: Math.round(median(ours)),
      do_nothing_publisher_records_per_s: Math.round(median(ref)),
      ratio: Number((median(ours) / median(ref)).toFixed(2)),
      idle_agent_rss_mb: Math.round(rss.median),
      idle_agent_rss_max_mb: Math.round(rss.max),
      idle_agent_rss_target_mb: 80,
      idle_agent_unit_processes: rss.units,
      idle_agent_isolation_process_rss_mb: Math.round(rssProcesses.median),
      idle_agent_isolation_process_unit_processes: rssProcesses.units,
    };
    report(
      r,
      [
        `uplink: ${N} records, medians of ${RUNS} runs, mosquitto on loopback, QoS 1`,
        `  sigflow outbox → thingsboard sink   ${fmtRate(r.sigflow_records_per_s)} records/s (${r.ratio}× the do-nothing publisher)`,
        `  do-nothing publisher (mqtt.js)      ${fmtRate(r.do_nothing_publisher_records_per_s)} records/s (one QoS 1 message each, 500 in flight)`,
        `  idle agent, 3 procedures (inline)   ${r.idle_agent_rss_mb} MB RSS median, ${r.idle_agent_rss_max_mb} MB max (store + thingsboard uplink, ${rss.units} unit processes; target < 80 MB: ${rss.max < 80 ? 'met' : 'NOT met'})`,
        `  same, isolation: process            ${r.idle_agent_isolation_process_rss_mb} MB RSS median (supervisor + ${rssProcesses.units} unit processes)`,
      ].join('\n'),
    );
  } finally {
    await sub.close();
    await broker.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
// not by letting the event loop run dry (Node 20 can hang there: see exitWhenWritten)
await exitWhenWritten();
