/**
 * `npm run bench -- outbox [--json] [--records N] [--runs R]`
 *
 * The cost of durability, measured in one run on this machine:
 *   - durable enqueue: records/s committed to the outbox (bench/_outbox_enqueue.ts)
 *   - end to end, batch 5,000, to the embedded store, InfluxDB 1.x and VictoriaMetrics (servers started here from
 *     their binaries on 127.0.0.1), each **direct** (sink.write batch after batch) and **through the outbox**
 *     (enqueue every batch, then drain: the time until the last record is acknowledged by the sink).
 *     The ratio outbox/direct is the cost of durability.
 * Records: bench/_outbox_enqueue.ts makeRecords (50 devices × 5 tags, 4 fields: float, float, integer, boolean).
 * Medians of R runs (after one warm-up; direct and outbox runs alternate so that load drift hits both), plus this
 * process's CPU time per record (less noisy on a shared machine than wall-clock rates; the servers are separate
 * processes) and its peak RSS.
 * `--concurrency C` keeps C writes in flight to the HTTP sinks (both modes), overlapping sigflow's encoding with
 * the server's work on a 2-core machine; default 1 (strictly sequential, acceptance order).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { exitWhenWritten } from '../src/io/index.js';
import { Outbox, type Sink } from '../src/outbox/index.js';
import type { TelemetryRecord } from '../src/records/record.js';
import { InfluxSink } from '../src/sinks/influx/sink.js';
import { createStoreSink } from '../src/sinks/store/sink.js';
import { influxQuery, startInfluxDB, startVictoriaMetrics } from '../test/harness/services.js';
import { arg, fmtRate, median, note, peakRssMb, report, resetPeakRss, timeRuns } from './_harness.js';
import { benchOutboxEnqueue, makeRecords } from './_outbox_enqueue.js';

const BATCH = 5000;
const N = Number(arg('records', '200000'));
const RUNS = Number(arg('runs', '5'));
/** Writes in flight for the HTTP sinks (InfluxDB, VictoriaMetrics), direct and through the outbox alike. */
const CONC = Number(arg('concurrency', '1'));
const root = mkdtempSync(join(tmpdir(), 'sigflow-bench-e2e-'));
let runN = 0;

function batches(offsetNs: bigint): TelemetryRecord[][] {
  const recs = makeRecords(N, 1_700_000_000_000_000_000n + offsetNs);
  const out: TelemetryRecord[][] = [];
  for (let i = 0; i < recs.length; i += BATCH) out.push(recs.slice(i, i + BATCH));
  return out;
}

/** Batch after batch, `conc` writes in flight (1 = strictly sequential). */
async function direct(sink: Sink, bs: TelemetryRecord[][], conc: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < bs.length) {
      const r = await sink.write(bs[next++]);
      if (r.kind !== 'ok') throw new Error(`${sink.name}: ${JSON.stringify(r).slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
}

async function viaOutbox(sink: Sink, bs: TelemetryRecord[][], concurrency: number): Promise<void> {
  const ob = Outbox.open({
    dataDir: join(root, `ob${runN++}`),
    sinks: [{ sink, batchSize: BATCH, flushIntervalMs: 50, flushJitterMs: 0, concurrency }],
    logger: pino({ level: 'silent' }),
    maxBytes: 8 * 1024 ** 3,
  });
  ob.start();
  for (const b of bs) {
    const r = await ob.enqueue(b);
    if (!r.accepted) throw new Error('not accepted');
  }
  await ob.drain(600_000);
  const st = ob.status().sinks[0];
  await ob.close();
  if (st.deliveredRecords !== N || st.deadLetteredRecords !== 0)
    throw new Error(`${sink.name}: delivered ${st.deliveredRecords}/${N}, dead-lettered ${st.deadLetteredRecords}`);
}

interface Target {
  name: string;
  concurrency: number;
  /** A fresh sink per run (fresh file / database / time range, so no run overwrites another's points). */
  make: (run: number) => Promise<{ sink: Sink; offset: bigint; cleanup?: () => Promise<void> }>;
}

interface Measured {
  /** records/s of the first (unmeasured warm-up) run: the first pass. */
  firstRate: number;
  /** records/s (wall clock, median). */
  rate: number;
  /** CPU time of this (sigflow) process per record, µs (median): the servers run in their own processes. */
  cpuUs: number;
}

/**
 * Direct and outbox runs alternate (D O D O …, after one warm-up pair) so that load from other processes on this
 * shared machine drifts into both modes alike; each run writes to a fresh file / database / time range.
 */
async function measurePair(t: Target): Promise<{ direct: Measured; outbox: Measured }> {
  let run = 0;
  resetPeakRss(); // peak RSS per target: since its first run (bench/_harness.ts)
  const res = {
    direct: { times: [] as number[], cpu: [] as number[], first: 0 },
    outbox: { times: [] as number[], cpu: [] as number[], first: 0 },
  };
  for (let i = 0; i < RUNS + 1; i++) {
    for (const mode of ['direct', 'outbox'] as const) {
      const m = await t.make(run++);
      const bs = batches(m.offset);
      const c0 = process.cpuUsage();
      const [secs] = await timeRuns(
        () => (mode === 'direct' ? direct(m.sink, bs, t.concurrency) : viaOutbox(m.sink, bs, t.concurrency)),
        1,
        0,
        false,
      );
      const c = process.cpuUsage(c0);
      await m.sink.close();
      await m.cleanup?.();
      if (i > 0) {
        res[mode].times.push(secs);
        res[mode].cpu.push((c.user + c.system) / N);
      } else res[mode].first = N / secs;
    }
  }
  const out = (r: { times: number[]; cpu: number[]; first: number }): Measured => ({
    firstRate: r.first,
    rate: N / median(r.times),
    cpuUs: median(r.cpu),
  });
  return { direct: out(res.direct), outbox: out(res.outbox) };
}

async function main(): Promise<void> {
  note(
    `outbox: durable enqueue and end-to-end records/s (batch ${BATCH}, ${N} records, median of ${RUNS}, HTTP writes in flight ${CONC})`,
  );
  const enq = await benchOutboxEnqueue({ records: Math.max(N, 500_000), runs: RUNS });
  report(
    { case: 'durable_enqueue', records_per_s: Math.round(enq.records_per_s), peak_rss_mb: Math.round(peakRssMb()) },
    `  durable enqueue                 ${fmtRate(enq.records_per_s).padStart(8)} records/s   (${enq.bytes_per_record.toFixed(1)} B/record on disk)`,
  );

  const influx = await startInfluxDB();
  const vm = await startVictoriaMetrics();
  const targets: Target[] = [
    {
      name: 'store',
      concurrency: 1,
      make: async (run) => ({
        sink: createStoreSink({ type: 'store', path: join(root, `store${run}-${runN++}.db`) }),
        offset: 0n,
      }),
    },
  ];
  if (influx)
    targets.push({
      name: 'influxdb',
      concurrency: CONC,
      make: async (run) => {
        const db = `bench${run}_${runN++}`;
        await influxQuery(influx, `CREATE DATABASE ${db}`);
        return {
          sink: new InfluxSink({ type: 'influx', name: 'influxdb', url: influx.url, database: db }),
          offset: 0n,
          cleanup: async () => {
            await influxQuery(influx, `DROP DATABASE ${db}`);
          },
        };
      },
    });
  else note('  (InfluxDB not installed: skipped)');
  if (vm)
    targets.push({
      name: 'victoriametrics',
      concurrency: CONC,
      make: async () => ({
        sink: new InfluxSink({ type: 'influx', name: 'victoriametrics', url: vm.url, api: 'v2', bucket: 'bench' }),
        offset: BigInt(runN++) * 86_400_000_000_000n, // a fresh day per run: no sample overwrites another
      }),
    });
  else note('  (VictoriaMetrics not installed: skipped)');

  try {
    for (const t of targets) {
      const { direct: d, outbox: o } = await measurePair(t);
      report(
        {
          case: `${t.name}_direct`,
          records_per_s: Math.round(d.rate),
          first_pass_records_per_s: Math.round(d.firstRate),
          peak_rss_mb: Math.round(peakRssMb()),
          cpu_us_per_record: Number(d.cpuUs.toFixed(2)),
          concurrency: t.concurrency,
        },
        `  ${`${t.name} direct`.padEnd(31)} ${fmtRate(d.rate).padStart(8)} records/s (first run ${fmtRate(d.firstRate)})   ${d.cpuUs.toFixed(2)} µs CPU/record in sigflow`,
      );
      report(
        {
          case: `${t.name}_outbox`,
          records_per_s: Math.round(o.rate),
          first_pass_records_per_s: Math.round(o.firstRate),
          peak_rss_mb: Math.round(peakRssMb()),
          ratio_vs_direct: Number((o.rate / d.rate).toFixed(3)),
          cpu_us_per_record: Number(o.cpuUs.toFixed(2)),
          concurrency: t.concurrency,
        },
        `  ${`${t.name} through outbox`.padEnd(31)} ${fmtRate(o.rate).padStart(8)} records/s (first run ${fmtRate(o.firstRate)})   ${o.cpuUs.toFixed(2)} µs CPU/record   ${((o.rate / d.rate) * 100).toFixed(0)}% of direct`,
      );
    }
    note(`  peak RSS ${peakRssMb().toFixed(0)} MB (since the last target started)`);
  } finally {
    await influx?.dispose();
    await vm?.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
// not by letting the event loop run dry (Node 20 can hang there: see exitWhenWritten)
await exitWhenWritten();
