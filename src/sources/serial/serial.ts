/**
 * The `serial` source: a USB-serial CAN adapter read in chunks through `serialport`, framed by records21 or slcan.
 * The device may disappear and come back (USB adapters do, and so does a replugged cable): the port is reopened
 * with backoff for as long as the unit runs, and the log says so once per outage, not once per attempt.
 */
import { existsSync } from 'node:fs';
import type { SerialPort } from 'serialport';
import { CanFrameBatch, createRecords21Framer, createSlcanFramer, type Framer } from '../../framers/index.js';
import { systemReason } from '../../io/index.js';
import { Backoff, type LiveSource, type SourceContext, sleep } from '../../pipelines/live/index.js';
import type { SerialSourceOptions } from './config.js';

export class SerialSource implements LiveSource {
  constructor(
    private readonly o: SerialSourceOptions,
    /** The pipeline stamps records with the receive time: timestamps are then not used for framing by default. */
    private readonly useNowTime = false,
  ) {}

  /** A fresh framer per connection: bytes of a line cut by an unplug are resolved when the port closes. */
  private framer(ctx: SourceContext): Framer {
    const f = this.o.framer;
    if (f.type === 'slcan')
      return createSlcanFramer({ bitrate: f.bitrate, timestamps: f.timestamps, listen_only: f.listen_only });
    return createRecords21Framer({
      layout: f.layout,
      timestamp: f.timestamp,
      checkTimestamps: f.check_timestamps ?? !this.useNowTime,
      maxRecordsPerLine: f.max_records_per_line,
      known: (id, ext) => ctx.known(id, ext),
    });
  }

  async run(ctx: SourceContext): Promise<void> {
    const { path, baud } = this.o;
    const backoff = new Backoff(this.o.reconnect_initial, this.o.reconnect_max);
    let down: string | null = null;
    let opened = 0;
    while (!ctx.signal.aborted) {
      let port: SerialPort;
      try {
        port = await open(path, baud);
      } catch (e) {
        const why = `cannot open ${path}: ${reason(e)}`;
        ctx.count('open_failures');
        if (down !== why) ctx.state(false, `${why}; retrying with backoff (said once until it changes)`);
        down = why;
        await sleep(backoff.next(), ctx.signal);
        continue;
      }
      if (opened++ > 0) ctx.count('reconnects');
      backoff.reset();
      down = null;
      ctx.state(true, `${path} open at ${baud} baud`);
      const framer = this.framer(ctx);
      ctx.track(framer.counters);
      const why = await this.pump(port, framer, ctx);
      if (!ctx.signal.aborted) {
        down = `${path} closed: ${why}`;
        ctx.state(false, `${down}; reopening with backoff`);
        await sleep(backoff.next(), ctx.signal);
      }
    }
  }

  /** Reads until the port closes or the unit stops; returns why it ended. */
  private pump(port: SerialPort, framer: Framer, ctx: SourceContext): Promise<string> {
    const batch = new CanFrameBatch();
    let lastData = Date.now();
    let flushed = true;
    let busy: Promise<void> | null = null;
    const hand = (nowUs: number): void => {
      if (batch.count === 0) return;
      const r = ctx.frames(batch, nowUs);
      if (r instanceof Promise) {
        // backpressure: stop reading until the pipeline took the frames (the device's own buffer and the
        // kernel's hold what arrives meanwhile)
        port.pause();
        busy = r.finally(() => {
          batch.clear();
          busy = null;
          if (port.isOpen) port.resume();
        });
      } else batch.clear();
    };
    for (const cmd of framer.init ?? []) port.write(Buffer.from(cmd));
    return new Promise<string>((resolve) => {
      let ended = false;
      const finish = async (why: string) => {
        if (ended) return;
        ended = true;
        clearInterval(idle);
        ctx.signal.removeEventListener('abort', onAbort);
        port.removeAllListeners('data');
        if (busy) await busy;
        framer.flush(Date.now() * 1000, batch);
        hand(Date.now() * 1000);
        if (busy) await busy;
        if (port.isOpen) port.close(() => resolve(why));
        else resolve(why);
      };
      const onAbort = () => void finish('stopped');
      port.on('data', (chunk: Buffer) => {
        lastData = Date.now();
        flushed = false;
        const nowUs = lastData * 1000;
        framer.push(chunk, nowUs, batch);
        hand(nowUs);
      });
      port.on('error', (e) => void finish(reason(e)));
      port.on('close', (e: unknown) => void finish(e ? reason(e) : 'closed'));
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      // nothing read for idle_flush: resolve what the framer holds (e.g. a line cut short); and a device whose node
      // is gone was unplugged, whether or not the port's poller saw the hang-up (it can miss it while paused)
      const idle = setInterval(
        () => {
          if (!existsSync(this.o.path)) {
            void finish('the device was disconnected (its device node is gone)');
            return;
          }
          if (!flushed && busy === null && Date.now() - lastData >= this.o.idle_flush) {
            flushed = true;
            framer.flush(Date.now() * 1000, batch, true);
            hand(Date.now() * 1000);
          }
        },
        Math.max(50, Math.min(1000, this.o.idle_flush / 2)),
      );
    });
  }
}

/** Opens the port; serialport (a native addon) is loaded on the first open, not by every process that could. */
async function open(path: string, baudRate: number): Promise<SerialPort> {
  const { SerialPort } = await import('serialport');
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    port.open((err) => (err ? reject(err) : resolve(port)));
  });
}

function reason(e: unknown): string {
  return (e as { disconnected?: boolean } | null)?.disconnected ? 'the device was disconnected' : systemReason(e);
}
