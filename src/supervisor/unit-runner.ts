/**
 * The body of a unit: runs one pipeline — its source, framer and DBC decoder — and hands the records to the
 * supervisor, which owns the outbox. It speaks only the messages of protocol.ts through a `UnitPort`, so the same
 * code runs in a child process of its own (unit-process.ts, over IPC) or inside the supervisor (inline.ts).
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

/** How a unit's body talks to its supervisor. */
export interface UnitPort {
  /** Sends a message to the supervisor (dropped when the supervisor is gone). */
  post(m: UnitMessage): void;
  /** The unit is done: 0 after `stopped` (or a fatal config), 1 after a failure. */
  exit(code: number): void;
  /** The supervisor's process id (this process when inline, the parent for a unit process). */
  readonly supervisorPid: number;
}

/**
 * One run of a unit. `receive` takes the supervisor's messages (the first is `start`); `abort()` stops reading
 * without a `stop` message (the supervisor is gone).
 */
export class UnitRunner {
  private pipeline!: PipelineEntry;
  private logger!: Logger;
  private readonly counters: Record<string, number> = {};
  /** The framer counters being tracked (the source's current framer), and those of the framers before it. */
  private tracked: Readonly<Record<string, number>> | null = null;
  private readonly retired: Record<string, number> = {};
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  /** Every batch handed over and not yet answered (settled or not), awaited before the unit says it stopped. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Called when fewer than MAX_IN_FLIGHT batches wait for their ack. */
  private roomWaiters: (() => void)[] = [];
  private readonly ac = new AbortController();

  constructor(private readonly port: UnitPort) {}

  /** Stops reading at once (the supervisor is gone: nobody would store what follows). */
  abort(): void {
    this.ac.abort();
  }

  receive(m: SupervisorMessage): void {
    if (m.type === 'start') {
      this.pipeline = m.pipeline;
      this.logger = pino(
        { level: m.logLevel, base: { unit: m.pipeline.name } },
        { write: (line: string) => this.port.post({ type: 'log', line }) },
      );
      this.main().then(
        () => this.port.exit(0),
        (e: Error) => {
          // an uncaught failure of the unit: the supervisor logs it and restarts the unit
          this.logger.error(
            { err: { message: e.message, code: (e as SigflowError).code, stack: e.stack } },
            'unit failed',
          );
          setImmediate(() => this.port.exit(1));
        },
      );
    } else if (m.type === 'stop') this.ac.abort();
    else if (m.type === 'ack') {
      const w = this.waiting.get(m.seq);
      this.waiting.delete(m.seq);
      if (w) {
        if (m.error === null) w.resolve();
        else
          w.reject(
            new SigflowError(m.code === 'SF_ERR_OUTBOX_FULL' ? 'SF_ERR_OUTBOX_FULL' : 'SF_ERR_RUN_ENQUEUE', m.error, {
              where: this.pipeline.name,
            }),
          );
      }
      if (this.waiting.size < MAX_IN_FLIGHT) {
        const r = this.roomWaiters;
        this.roomWaiters = [];
        for (const f of r) f();
      }
    }
  }

  private snapshot(decoder: LiveDecoder | null): Record<string, number> {
    const out: Record<string, number> = { ...this.counters, ...(decoder?.counters ?? {}) };
    for (const [k, v] of Object.entries(this.retired)) out[`framer_${k}`] = v;
    if (this.tracked)
      for (const [k, v] of Object.entries(this.tracked)) out[`framer_${k}`] = (out[`framer_${k}`] ?? 0) + v;
    return out;
  }

  /** Posts a message answered by an `ack` (records, rejects); resolves or rejects with the answer. */
  private request(postIt: (seq: number) => void): Promise<void> {
    const s = ++this.seq;
    const p = new Promise<void>((resolve, reject) => this.waiting.set(s, { resolve, reject }));
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
    postIt(s);
    return p;
  }

  private async main(): Promise<void> {
    const { pipeline, port, ac } = this;
    // a source of frames decodes them with its DBC files; a source of records (MQTT) has no decode section
    let decoder: LiveDecoder | null = null;
    const decode = pipeline.decode;
    if (decode) {
      let db: Database;
      try {
        db = Database.load(decode.dbc);
      } catch (e) {
        const err = e as SigflowError;
        port.post({ type: 'fatal', message: err.message, code: err.code ?? 'SF_ERR_INTERNAL' });
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
      supervisorPid: port.supervisorPid,
    });
    const timer = setInterval(() => port.post({ type: 'counters', counters: this.snapshot(decoder) }), 1000);
    const failures: Error[] = [];
    const track = (p: Promise<void>) => {
      p.catch((e: Error) => {
        // the supervisor could not store them: the unit ends with that error and is restarted (nothing acked)
        failures.push(e);
        ac.abort();
      });
      return p;
    };
    const send = (records: TelemetryRecord[]) =>
      track(this.request((seq) => port.post({ type: 'records', seq, records })));
    const ctx: SourceContext = {
      frames: (batch: CanFrameBatch, receivedUs: number) => {
        const records: TelemetryRecord[] = [];
        // internal invariant: the schema requires a decode section for sources of frames
        if (!decoder) throw new Error(`${pipeline.name}: frames without a decode section`);
        decoder.decode(batch, receivedUs, records);
        if (records.length === 0) return;
        void send(records);
        if (this.waiting.size >= MAX_IN_FLIGHT) return new Promise<void>((r) => this.roomWaiters.push(r));
      },
      records: (records: TelemetryRecord[]) => (records.length === 0 ? Promise.resolve() : send(records)),
      reject: (topic, payload, reason) =>
        track(this.request((seq) => port.post({ type: 'reject', seq, topic, reason, payload }))),
      state: (connected, detail) => port.post({ type: 'state', connected, detail }),
      count: (name, by = 1) => {
        this.counters[name] = (this.counters[name] ?? 0) + by;
      },
      track: (c) => {
        // a new framer (a reconnect) retires the previous one: its counts are kept, the object is let go
        if (this.tracked)
          for (const [k, v] of Object.entries(this.tracked)) this.retired[k] = (this.retired[k] ?? 0) + v;
        this.tracked = c;
      },
      known: (id, ext) => decoder?.known(id, ext) ?? false,
      logger: this.logger,
      signal: ac.signal,
    };
    try {
      await source.run(ctx);
      // every batch handed over is answered before the unit says it stopped
      while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    } finally {
      clearInterval(timer);
    }
    if (failures.length) throw failures[0];
    port.post({ type: 'stopped', counters: this.snapshot(decoder) });
  }
}
