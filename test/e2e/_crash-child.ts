/**
 * Child process for the SIGKILL fault test (not a test file itself). Modes:
 *   produce <dataDir> <storePath> <total> <batch>  enqueue records seq 0..total-1 in batches through the outbox
 *                                                   (delivering to the store sink) and print "ACK <n>" after each
 *                                                   accepted enqueue (n = records acknowledged so far)
 *   drain <dataDir> <storePath>                     reopen the outbox, deliver everything pending, exit
 */
import pino from 'pino';
import { Outbox } from '../../src/outbox/index.js';
import type { TelemetryRecord } from '../../src/records/record.js';
import { createStoreSink } from '../../src/sinks/store/sink.js';

export const T0 = 1_700_000_000_000_000_000n;

export function seqRecord(i: number): TelemetryRecord {
  return {
    time: T0 + BigInt(i) * 1_000_000n,
    measurement: 'crash',
    tags: { dev: `d${i % 4}` },
    fields: { seq: BigInt(i), v: i * 0.5 },
  };
}

async function main(): Promise<void> {
  const [mode, dataDir, storePath, totalS, batchS] = process.argv.slice(2);
  const sink = createStoreSink({ type: 'store', path: storePath });
  const outbox = Outbox.open({
    dataDir,
    sinks: [{ sink, batchSize: 5000, flushIntervalMs: 20, backoffInitialMs: 100, backoffMaxMs: 500 }],
    logger: pino({ level: 'silent' }),
  });
  outbox.start();
  if (mode === 'drain') {
    await outbox.drain(60_000);
    await outbox.close();
    await sink.close();
    process.stdout.write('DRAINED\n');
    return;
  }
  const total = Number(totalS);
  const batch = Number(batchS);
  for (let i = 0; i < total; i += batch) {
    const recs: TelemetryRecord[] = [];
    for (let j = i; j < Math.min(total, i + batch); j++) recs.push(seqRecord(j));
    const r = await outbox.enqueue(recs);
    if (!r.accepted) throw new Error(`batch at ${i} not accepted`);
    process.stdout.write(`ACK ${i + recs.length}\n`);
  }
  await outbox.drain(60_000);
  await outbox.close();
  await sink.close();
  process.stdout.write('DONE\n');
}

if (process.argv[2] === 'produce' || process.argv[2] === 'drain') {
  main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
