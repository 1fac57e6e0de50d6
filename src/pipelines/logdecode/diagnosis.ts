/**
 * Why frames did not become values, in words a person can act on: the per-message breakdown of decode errors
 * (which message, how many frames, why — "needs transport-protocol reassembly" for a message longer than the
 * frames that carry it), and the explanation of a run that produced no value at all (no frame in the window,
 * no frame with an id of the DBC files, no value passing --signals).
 *
 * Counting happens only on the error path of the pipeline's tally (a frame that no database decoded), never per
 * decoded frame or value.
 */
import { ERR_MUX, ERR_SHORT } from '../../codecs/dbc/index.js';
import type { DecoderConfig } from './dbcset.js';

/** Why a known message did not decode. */
export type DecodeErrorReason = 'transport_protocol' | 'short' | 'mux';

/** One line of the breakdown: a message of one database and why its frames did not decode. */
export interface DecodeErrorEntry {
  /** Database index in the DecoderConfig. */
  database: number;
  /** The message's output name (DecodeDb.messageName). */
  message: string;
  id: number;
  extended: boolean;
  /** The DBC file that defines it. */
  file: string;
  reason: DecodeErrorReason;
  /** Frames that failed. */
  count: number;
  /** The message length the DBC defines, in bytes. */
  dbcLength: number;
  /** Smallest and largest data length of the failed frames. */
  minLength: number;
  maxLength: number;
  /** What happened, in words. */
  detail: string;
}

interface Cell {
  database: number;
  messageIndex: number;
  reason: DecodeErrorReason;
  count: number;
  minLength: number;
  maxLength: number;
}

/** Counts failed frames per (database, message, reason). */
export class DecodeErrorTally {
  private readonly cells = new Map<string, Cell>();

  /**
   * Counts one frame a known message could not decode. `code` is the decoder's negative result (ERR_SHORT,
   * ERR_MUX), `dbcLength` the message's DBC length, `length` the frame's data length, `fd` its EDL flag.
   */
  add(database: number, messageIndex: number, code: number, dbcLength: number, length: number, fd: boolean): void {
    const reason: DecodeErrorReason =
      code === ERR_MUX
        ? 'mux'
        : code === ERR_SHORT && dbcLength > 8 && length <= 8 && !fd
          ? 'transport_protocol'
          : 'short';
    const key = `${database}:${messageIndex}:${reason}`;
    const c = this.cells.get(key);
    if (c) {
      c.count++;
      if (length < c.minLength) c.minLength = length;
      if (length > c.maxLength) c.maxLength = length;
    } else this.cells.set(key, { database, messageIndex, reason, count: 1, minLength: length, maxLength: length });
  }

  /** Adds another tally's counts (per-file totals into the run's). */
  merge(other: DecodeErrorTally): void {
    for (const [key, o] of other.cells) {
      const c = this.cells.get(key);
      if (!c) this.cells.set(key, { ...o });
      else {
        c.count += o.count;
        c.minLength = Math.min(c.minLength, o.minLength);
        c.maxLength = Math.max(c.maxLength, o.maxLength);
      }
    }
  }

  get size(): number {
    return this.cells.size;
  }

  /** The breakdown, most frequent first. */
  entries(config: DecoderConfig): DecodeErrorEntry[] {
    const out: DecodeErrorEntry[] = [];
    for (const c of this.cells.values()) {
      const d = config.databases[c.database];
      const m = d.db.messages[c.messageIndex];
      const received = c.minLength === c.maxLength ? `${c.minLength}` : `${c.minLength}…${c.maxLength}`;
      const detail =
        c.reason === 'transport_protocol'
          ? `needs transport-protocol reassembly: the DBC defines ${m.length} bytes, a classic CAN frame carries at most 8 (these frames were not part of a reassembled message: see --transport)`
          : c.reason === 'short'
            ? `frames shorter than the message: the DBC defines ${m.length} bytes, the frames carry ${received}`
            : 'a multiplexer value the DBC does not define';
      out.push({
        database: c.database,
        message: d.messageName[c.messageIndex],
        id: m.id,
        extended: m.extended,
        file: m.file,
        reason: c.reason,
        count: c.count,
        dbcLength: m.length,
        minLength: c.minLength,
        maxLength: c.maxLength,
        detail,
      });
    }
    return out.sort((a, b) => b.count - a.count || a.message.localeCompare(b.message));
  }
}

/** The breakdown as lines for a summary: at most `limit` messages, then how many more. */
export function describeDecodeErrors(entries: DecodeErrorEntry[], limit = 10): string[] {
  const lines = entries.slice(0, limit).map((e) => {
    const id = `0x${e.id.toString(16).toUpperCase()}${e.extended ? ' ext' : ''}`;
    return `${e.message} (${id}, ${e.file}): ${e.count} frame(s): ${e.detail}`;
  });
  if (entries.length > limit) {
    const rest = entries.slice(limit).reduce((a, e) => a + e.count, 0);
    lines.push(`… ${entries.length - limit} more message(s) with ${rest} frame(s)`);
  }
  return lines;
}

/** What a run counted, as far as explaining an empty result needs. */
export interface RunCounts {
  /** CAN data + LIN frames read (after --from/--to). */
  frames: number;
  /** All bus events read. */
  events: number;
  decodedFrames: number;
  values: number;
  unknownIds: number;
  decodeErrors: number;
}

/**
 * Says why a run that read its files produced no value, naming the filter that matched nothing; null when values
 * were produced (or nothing was read because every file failed: those are reported on their own).
 */
export function explainNoValues(
  s: RunCounts,
  ctx: { signals?: string; window?: boolean; files: number },
): string | null {
  if (s.values > 0 || ctx.files === 0) return null;
  const n = (x: number) => x.toLocaleString('en-US');
  if (s.frames === 0) {
    return ctx.window
      ? `no value: no frame of the ${ctx.files} file(s) lies in the --from/--to window`
      : `no value: the ${ctx.files} file(s) hold no CAN frames`;
  }
  if (s.decodedFrames === 0 && s.decodeErrors === 0) {
    return `no value: none of the ${n(s.frames)} frames has a frame id the DBC files define (${n(s.unknownIds)} unknown ids)`;
  }
  if (s.decodedFrames === 0) {
    return `no value: none of the ${n(s.frames)} frames decoded (${n(s.decodeErrors)} decode errors, ${n(s.unknownIds)} unknown ids; see the breakdown)`;
  }
  if (ctx.signals !== undefined) {
    return `no value: ${n(s.decodedFrames)} of the ${n(s.frames)} frames decoded, but none carries a signal matching --signals ${JSON.stringify(ctx.signals)}`;
  }
  return `no value: the ${n(s.decodedFrames)} decoded frames carry no signals`;
}
