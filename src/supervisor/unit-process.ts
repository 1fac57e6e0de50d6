/**
 * A unit's process: runs one pipeline — its source, framer and DBC decoder — and hands the records to the
 * supervisor (the parent process), which owns the outbox. A failure here (an exception, a native crash in a driver
 * addon, running out of memory) ends this process only; the supervisor restarts it with backoff. Started by
 * unit.ts with fork(); its pipeline arrives in the first message.
 */
import pino, { type Logger } from 'pino';
import { Database } from '../codecs/dbc/index.js';
import type { PipelineEntry } from '../config/index.js';
import { SigflowError } from '../errors/index.js';
import type { CanFrameBatch } from '../framers/index.js';
import { LiveDecoder, type SourceContext } from '../pipelines/live/index.js';
import type { TelemetryRecord } from '../records/index.js';
import { createSource } from '../sources/index.js';
import type { SupervisorMessage, UnitMessage } from './protocol.js';

/** Record batches handed over and not yet acknowledged, before the source is asked to wait. */
const MAX_IN_FLIGHT = 8;

// internal invariant: this module only runs as a child started by unit.ts (with an IPC channel)
if (!process.send) throw new Error('unit-process.ts runs as a child process of sigflow run');
const post = (m: UnitMessage) => {
  // the parent is gone (it died or stopped us): nothing to hand over to
  if (process.connected) process.send?.(m);
};
let pipeline: PipelineEntry;
let logger: Logger;

const counters: Record<string, number> = {};
/** The framer counters being tracked (the source's current framer), and those of the framers before it. */
let tracked: Readonly<Record<string, number>> | null = null;
const retired: Record<string, number> = {};
function snapshot(decoder: LiveDecoder | null): Record<string, number> {
  const out: Record<string, number> = { ...counters, ...(decoder?.counters ?? {}) };
  for (const [k, v] of Object.entries(retired)) out[`framer_${k}`] = v;
  if (tracked) for (const [k, v] of Object.entries(tracked)) out[`framer_${k}`] = (out[`framer_${k}`] ?? 0) + v;
  return out;
}

let seq = 0;
const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
/** Every batch handed over and not yet answered (settled or not), awaited before the unit says it stopped. */
const inFlight = new Set<Promise<void>>();
/** Called when fewer than MAX_IN_FLIGHT batches wait for their ack. */
let roomWaiters: (() => void)[] = [];

function send(records: TelemetryRecord[]): Promise<void> {
  return request((s) => post({ type: 'records', seq: s, records }));
}

/** Posts a message answered by an `ack` (records, rejects); resolves or rejects with the answer. */
function request(postIt: (seq: number) => void): Promise<void> {
  const s = ++seq;
  const p = new Promise<void>((resolve, reject) => waiting.set(s, { resolve, reject }));
  const settled = p.then(
    () => undefined,
    () => undefined,
  );
  inFlight.add(settled);
  void settled.then(() => inFlight.delete(settled));
  postIt(s);
  return p;
}

const ac = new AbortController();
// Ctrl-C reaches the whole process group and systemd signals the whole cgroup: a unit stops when the supervisor
// tells it (after the others), never on its own signal, so its last records are still handed over
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('SIGHUP', () => {});
// the supervisor died (SIGKILL, crash): stop reading, nobody would store what follows
process.on('disconnect', () => {
  ac.abort();
  setTimeout(() => process.exit(1), 2000).unref();
});
process.on('message', (m: SupervisorMessage) => {
  if (m.type === 'start') {
    pipeline = m.pipeline;
    logger = pino(
      { level: m.logLevel, base: { unit: pipeline.name } },
      { write: (line: string) => post({ type: 'log', line }) },
    );
    main().then(
      () => process.exit(0),
      (e: Error) => {
        // an uncaught failure of the unit: the supervisor logs it and restarts the process
        logger.error({ err: { message: e.message, code: (e as SigflowError).code, stack: e.stack } }, 'unit failed');
        setImmediate(() => process.exit(1));
      },
    );
  } else if (m.type === 'stop') ac.abort();
  else if (m.type === 'ack') {
    const w = waiting.get(m.seq);
    waiting.delete(m.seq);
    if (w) {
      if (m.error === null) w.resolve();
      else w.reject(new SigflowError('SF_ERR_RUN_ENQUEUE', m.error, { where: pipeline.name }));
    }
    if (waiting.size < MAX_IN_FLIGHT) {
      const r = roomWaiters;
      roomWaiters = [];
      for (const f of r) f();
    }
  }
});

async function main(): Promise<void> {
  // a source of frames decodes them with its DBC files; a source of records (MQTT) has no decode section
  let decoder: LiveDecoder | null = null;
  const decode = pipeline.decode;
  if (decode) {
    let db: Database;
    try {
      db = Database.load(decode.dbc);
    } catch (e) {
      const err = e as SigflowError;
      post({ type: 'fatal', message: err.message, code: err.code ?? 'SF_ERR_INTERNAL' });
      return;
    }
    decoder = new LiveDecoder({
      db,
      mapping: decode.mapping,
      device: decode.device ?? pipeline.name,
      useNowTime: decode.use_now_time,
      j1939: decode.j1939,
    });
  }
  const source = createSource(pipeline.source, {
    useNowTime: decode?.use_now_time ?? false,
    pipeline: pipeline.name,
  });
  const timer = setInterval(() => post({ type: 'counters', counters: snapshot(decoder) }), 1000);
  const failures: Error[] = [];
  const track = (p: Promise<void>) => {
    p.catch((e: Error) => {
      // the supervisor could not store them: the unit ends with that error and is restarted (nothing acked)
      failures.push(e);
      ac.abort();
    });
    return p;
  };
  const ctx: SourceContext = {
    frames(batch: CanFrameBatch, receivedUs: number) {
      const records: TelemetryRecord[] = [];
      // internal invariant: the schema requires a decode section for sources of frames
      if (!decoder) throw new Error(`${pipeline.name}: frames without a decode section`);
      decoder.decode(batch, receivedUs, records);
      if (records.length === 0) return;
      track(send(records));
      if (waiting.size >= MAX_IN_FLIGHT) return new Promise<void>((r) => roomWaiters.push(r));
    },
    records(records: TelemetryRecord[]) {
      return records.length === 0 ? Promise.resolve() : track(send(records));
    },
    reject(topic, payload, reason) {
      return track(request((s) => post({ type: 'reject', seq: s, topic, reason, payload })));
    },
    state(connected, detail) {
      post({ type: 'state', connected, detail });
    },
    count(name, by = 1) {
      counters[name] = (counters[name] ?? 0) + by;
    },
    track(c) {
      // a new framer (a reconnect) retires the previous one: its counts are kept, the object is let go
      if (tracked) for (const [k, v] of Object.entries(tracked)) retired[k] = (retired[k] ?? 0) + v;
      tracked = c;
    },
    known: (id, ext) => decoder?.known(id, ext) ?? false,
    logger,
    signal: ac.signal,
  };
  await source.run(ctx);
  // every batch handed over is answered before the unit says it stopped
  while (inFlight.size > 0) await Promise.all([...inFlight]);
  clearInterval(timer);
  if (failures.length) throw failures[0];
  post({ type: 'stopped', counters: snapshot(decoder) });
}
