/**
 * The `replay` source: recorded CANedge logs played as a live stream — at real time, N× or as fast as the pipeline
 * takes them — for demos and for testing dashboards and pipelines without hardware. Frames keep their channel;
 * with `retime` they are stamped as if they happened now.
 */
import { PasswordBook } from '../../formats/canedge/index.js';
import { BUS_CAN, EV_CAN_DATA, EV_CAN_REMOTE, FLAG_BRS, FLAG_EDL, FLAG_EXT } from '../../formats/mdf4/index.js';
import { CanFrameBatch, FRAME_BRS, FRAME_FD, FRAME_RTR } from '../../framers/index.js';
import { type LiveSource, type SourceContext, sleep } from '../../pipelines/live/index.js';
import { type BatchView, expandInputs, runLogPipeline } from '../../pipelines/logdecode/index.js';
import type { ReplaySourceOptions } from './config.js';

/** Thrown through the log pipeline to stop it when the unit stops (caught here). */
class Stopped extends Error {}

export class ReplaySource implements LiveSource {
  /** The last retimed frame time (µs). */
  private lastUs = 0;

  constructor(private readonly o: ReplaySourceOptions) {}

  async run(ctx: SourceContext): Promise<void> {
    const { files, problems } = await expandInputs(this.o.paths);
    for (const p of problems) ctx.logger.warn({ path: p.path }, `replay: ${p.path}: ${p.message}`);
    if (files.length === 0) {
      ctx.state(false, `replay: no log files in ${this.o.paths.join(', ')}`);
      await sleep(2 ** 31 - 1, ctx.signal); // nothing to play: idle until stopped (not a crash loop)
      return;
    }
    const passwords = new PasswordBook(this.o.passwords ?? {}, 'replay.passwords');
    const batch = new CanFrameBatch();
    ctx.state(true, `replaying ${files.length} file(s) at ${this.o.speed === 0 ? 'full speed' : `${this.o.speed}×`}`);
    do {
      /** Wall time (ms) and log time (µs) of the first frame of this pass, for pacing and retiming. */
      let wall0 = -1;
      let log0 = 0;
      const onBatch = async (view: BatchView) => {
        if (ctx.signal.aborted) throw new Stopped();
        const b = view.frames;
        for (let i = 0; i < b.count; i++) {
          if (b.bus[i] !== BUS_CAN || (b.type[i] !== EV_CAN_DATA && b.type[i] !== EV_CAN_REMOTE)) continue;
          const us = Number(b.startNs / 1000n) + b.offsetNs[i] / 1000;
          if (wall0 < 0) {
            wall0 = Date.now();
            log0 = us;
          }
          const speed = this.o.speed;
          const at = speed === 0 ? Date.now() : wall0 + (us - log0) / 1000 / speed;
          const wait = at - Date.now();
          if (wait > 5 || batch.count >= 4096) {
            // hand over what is due before waiting (frames are not held back for the next one's time)
            await this.hand(batch, ctx);
            if (wait > 5) await sleep(wait, ctx.signal);
            if (ctx.signal.aborted) throw new Stopped();
          }
          const f = b.flags[i];
          const flags =
            (b.type[i] === EV_CAN_REMOTE ? FRAME_RTR : 0) |
            (f & FLAG_EDL ? FRAME_FD : 0) |
            (f & FLAG_BRS ? FRAME_BRS : 0);
          // retimed: as if it happened now; at full speed (0) the time it is handed over, kept strictly increasing
          // (frames of a pass must not land on each other's timestamps)
          let t = us;
          if (this.o.retime) {
            t = speed === 0 ? Math.max(Date.now() * 1000, this.lastUs + 1) : wall0 * 1000 + (us - log0) / speed;
            this.lastUs = t;
          }
          batch.push(t, b.id[i], (f & FLAG_EXT) !== 0, flags, b.channel[i], b.data, b.dataStart[i], b.length[i]);
        }
        await this.hand(batch, ctx);
      };
      try {
        await runLogPipeline(files, {
          passwords,
          onBatch,
          onFileError: (input, e) => {
            if (e instanceof Stopped) throw e;
            ctx.count('file_errors');
            ctx.logger.warn({ path: input.path }, `replay: ${input.path}: ${e.message}`);
          },
          onWarning: (input, w) => {
            ctx.count('file_warnings');
            ctx.logger.warn({ path: input.path, code: w.code }, `replay: ${input.path}: ${w.message}`);
          },
        });
      } catch (e) {
        if (!(e instanceof Stopped)) throw e;
      }
      if (!ctx.signal.aborted) ctx.count('passes'); // a pass cut short by a stop is not one
    } while (this.o.loop && !ctx.signal.aborted);
    await this.hand(batch, ctx);
    if (!ctx.signal.aborted) {
      ctx.state(false, 'replay finished');
      await sleep(2 ** 31 - 1, ctx.signal); // done: stay up (idle) until the unit is stopped
    }
  }

  private async hand(batch: CanFrameBatch, ctx: SourceContext): Promise<void> {
    if (batch.count === 0) return;
    await ctx.frames(batch, Date.now() * 1000);
    batch.clear();
  }
}
