/**
 * Durable enqueue throughput of the outbox: batches of 5,000 realistic records (5 tags, 4 fields: float, float,
 * integer, boolean; 50 series) encoded and committed to the SQLite WAL, one `await enqueue()` per batch — the call
 * returns only once the batch is accepted. Exported for bench/outbox.ts; runnable alone:
 *   npx tsx bench/_outbox_enqueue.ts [--json] [--records N] [--synchronous normal|full]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Outbox, type Sink } from '../src/outbox/index.js';
import type { TelemetryRecord } from '../src/records/record.js';
import { arg, fmtRate, median, note, peakRssMb, report, timeRuns } from './_harness.js';

export interface OutboxEnqueueResult {
  records_per_s: number;
  peak_rss_mb: number;
  batch: number;
  records: number;
  runs: number;
  synchronous: 'normal' | 'full';
  bytes_per_record: number;
}

/** Realistic records: 50 devices × 5 tags, 4 fields, 10 ms apart; each record has its own tags object. */
export function makeRecords(n: number, start = 1_700_000_000_000_000_000n): TelemetryRecord[] {
  const out: TelemetryRecord[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const d = i % 50;
    out[i] = {
      time: start + BigInt(i) * 10_000_000n,
      measurement: 'engine',
      tags: { device: `truck-${d}`, bus: `can${d % 2}`, site: 'depot-north', model: 'FH16', firmware: '4.2.1' },
      fields: {
        rpm: 800 + ((i * 37) % 2000) + 0.25,
        coolant_c: 80 + (i % 17) * 0.5,
        odometer_m: BigInt(1_000_000 + i),
        brake: i % 7 === 0,
      },
    };
  }
  return out;
}

const nullSink: Sink = { name: 'bench', write: async () => ({ kind: 'ok' }), close: async () => {} };

export async function benchOutboxEnqueue(
  opts: { records?: number; batch?: number; runs?: number; synchronous?: 'normal' | 'full' } = {},
): Promise<OutboxEnqueueResult> {
  const batch = opts.batch ?? 5000;
  const total = opts.records ?? 500_000;
  const runs = opts.runs ?? 5;
  const synchronous = opts.synchronous ?? 'normal';
  const records = makeRecords(total);
  const batches: TelemetryRecord[][] = [];
  for (let i = 0; i < total; i += batch) batches.push(records.slice(i, i + batch));
  let bytes = 0;
  const root = mkdtempSync(join(tmpdir(), 'sigflow-bench-outbox-'));
  let run = 0;
  try {
    const times = await timeRuns(
      async () => {
        const ob = Outbox.open({
          dataDir: join(root, `run${run++}`),
          sinks: [{ sink: nullSink }],
          logger: pino({ level: 'silent' }),
          synchronous,
          maxBytes: 8 * 1024 ** 3,
        });
        for (const b of batches) {
          const r = await ob.enqueue(b);
          if (!r.accepted) throw new Error('batch not accepted');
        }
        bytes = ob.status().pendingBytes;
        await ob.close();
      },
      runs,
      1,
    );
    const med = median(times);
    return {
      records_per_s: total / med,
      peak_rss_mb: peakRssMb(),
      batch,
      records: total,
      runs,
      synchronous,
      bytes_per_record: bytes / total,
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const sync = (arg('synchronous', 'normal') === 'full' ? 'full' : 'normal') as 'normal' | 'full';
  const r = await benchOutboxEnqueue({ records: Number(arg('records', '500000')), synchronous: sync });
  note(
    `outbox durable enqueue (batch ${r.batch}, ${r.records} records, synchronous=${r.synchronous}, median of ${r.runs})`,
  );
  report(
    { bench: 'outbox_enqueue', ...r },
    `  ${fmtRate(r.records_per_s)} records/s, ${r.bytes_per_record.toFixed(1)} B/record, peak RSS ${r.peak_rss_mb.toFixed(0)} MB`,
  );
}
