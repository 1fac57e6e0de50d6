/**
 * Child process for the kill -9 test (crash.test.ts). Not a test file itself.
 *   produce <dataDir> <sinkFile> <ackFile> <seqBase>: enqueue numbered records forever, delivering to a file sink;
 *       after each enqueue resolves, append "<from> <count>" to ackFile (what the producer observed as accepted).
 *   drain <dataDir> <sinkFile>: deliver everything pending, then exit 0.
 * The file sink appends one line per record ("<seq>\n") with a synchronous write before acknowledging, so its
 * data survives the process being killed; it fails with retry/too_large now and then to exercise those paths.
 */
import { appendFileSync } from 'node:fs';
import pino from 'pino';
import { Outbox, type Sink, type WriteResult } from '../../src/outbox/index.js';
import type { TelemetryRecord } from '../../src/records/record.js';

const [mode, dataDir, sinkFile, ackFile, seqBaseArg] = process.argv.slice(2);

let rng = 12345 ^ process.pid;
function rand(): number {
  rng = (rng * 1103515245 + 12345) & 0x7fffffff;
  return rng / 0x7fffffff;
}

const sink: Sink = {
  name: 'file',
  async write(batch: readonly TelemetryRecord[]): Promise<WriteResult> {
    await new Promise((r) => setTimeout(r, rand() * 3));
    const x = rand();
    if (x < 0.15) return { kind: 'retry', reason: 'simulated 503', retryAfterMs: 1 };
    if (x < 0.2 && batch.length > 50) return { kind: 'too_large', reason: 'simulated 413' };
    appendFileSync(sinkFile, batch.map((r) => `${r.time}\n`).join(''));
    return { kind: 'ok' };
  },
  async close() {},
};

const ob = Outbox.open({
  dataDir,
  sinks: [{ sink, batchSize: 700, flushIntervalMs: 5, flushJitterMs: 2 }],
  logger: pino({ level: 'silent' }),
  maxBytes: 512 * 1024 * 1024,
});
ob.start();

if (mode === 'drain') {
  await ob.drain(60000);
  await ob.close();
  process.stdout.write('drained\n');
} else {
  let seq = BigInt(seqBaseArg);
  const tags = { device: 'dev', bus: 'can0' };
  for (;;) {
    const n = 1 + Math.floor(rand() * 1500);
    const recs: TelemetryRecord[] = [];
    for (let i = 0; i < n; i++) recs.push({ time: seq + BigInt(i), measurement: 'm', tags, fields: { v: Number(i) } });
    const r = await ob.enqueue(recs);
    if (r.accepted) appendFileSync(ackFile, `${seq} ${n}\n`);
    seq += BigInt(n);
  }
}
