/**
 * What every framer gives: CAN frames of a live byte stream, in columns (the DBC engine's FrameColumns plus time,
 * channel and flags), appended batch by batch without an object per frame.
 *
 * A framer is pure and streaming: `push(chunk, nowUs, out)` takes the bytes as they were read (split anywhere),
 * appends the frames they complete to `out`, and keeps the rest for the next chunk; `flush(nowUs, out)` resolves
 * what waits for more bytes (end of stream, or the line going quiet). Bytes it cannot use are counted, never
 * thrown: a framer does not fail on input.
 */

/** Frame flags (CanFrameBatch.flags). */
export const FRAME_RTR = 1;
/** An error frame or an adapter's error report (its data, if any, as the adapter gave it). */
export const FRAME_ERROR = 2;
/** CAN FD frame. */
export const FRAME_FD = 4;
/** CAN FD bit-rate switch. */
export const FRAME_BRS = 8;

/** Frames in columns. Frame i: id[i], ext[i], its bytes data[offset[i] .. offset[i] + length[i]). */
export class CanFrameBatch {
  count = 0;
  /** Bytes used in `data`. */
  bytes = 0;
  /** Time of each frame, µs since the Unix epoch (a double: exact to the µs for ±285 years). */
  timeUs = new Float64Array(256);
  id = new Uint32Array(256);
  /** 1 = extended (29-bit) id. */
  ext = new Uint8Array(256);
  /** FRAME_* bits. */
  flags = new Uint8Array(256);
  /** Bus channel (the source's numbering: 0 when it has one bus; candump: its interface's index). */
  channel = new Uint8Array(256);
  offset = new Uint32Array(256);
  length = new Uint8Array(256);
  data = new Uint8Array(4096);

  /** Empties the batch (the arrays are kept). */
  clear(): void {
    this.count = 0;
    this.bytes = 0;
  }

  /**
   * Appends one frame: `len` bytes of `src` from `from`. Returns its index. The arrays grow as needed (a batch is
   * bounded by its caller: sources push one read's frames, then hand the batch on and clear it).
   */
  push(
    timeUs: number,
    id: number,
    ext: boolean,
    flags: number,
    channel: number,
    src: Uint8Array,
    from: number,
    len: number,
  ): number {
    const i = this.count;
    if (i === this.id.length) this.grow();
    if (this.bytes + len > this.data.length) {
      const d = new Uint8Array(Math.max(this.data.length * 2, this.bytes + len));
      d.set(this.data.subarray(0, this.bytes));
      this.data = d;
    }
    this.timeUs[i] = timeUs;
    this.id[i] = id;
    this.ext[i] = ext ? 1 : 0;
    this.flags[i] = flags;
    this.channel[i] = channel;
    this.offset[i] = this.bytes;
    this.length[i] = len;
    const d = this.data;
    let p = this.bytes;
    for (let k = from, e = from + len; k < e; k++) d[p++] = src[k];
    this.bytes = p;
    this.count = i + 1;
    return i;
  }

  private grow(): void {
    const n = this.id.length * 2;
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    const u32 = (a: Uint32Array) => {
      const b = new Uint32Array(n);
      b.set(a);
      return b;
    };
    const u8 = (a: Uint8Array) => {
      const b = new Uint8Array(n);
      b.set(a);
      return b;
    };
    this.timeUs = f64(this.timeUs);
    this.id = u32(this.id);
    this.ext = u8(this.ext);
    this.flags = u8(this.flags);
    this.channel = u8(this.channel);
    this.offset = u32(this.offset);
    this.length = u8(this.length);
  }
}

/** A streaming framer: bytes as read in, frames out. */
export interface Framer {
  /** Appends the frames `chunk` completes to `out`; `nowUs` is the receive time (µs since the epoch). */
  push(chunk: Uint8Array, nowUs: number, out: CanFrameBatch): void;
  /**
   * Resolves what waits for more bytes: at the end of the stream (`idle` false), or when nothing arrived for a
   * while (`idle` true: what a later byte could still confirm — records21's held line — is kept).
   */
  flush(nowUs: number, out: CanFrameBatch, idle?: boolean): void;
  /**
   * Counters since the framer was made: at least `frames` (appended) and `garbage_bytes` (bytes that were not
   * part of a frame); each framer documents its others (resyncs, layouts, error replies …).
   */
  readonly counters: Readonly<Record<string, number>>;
  /** Bytes a source writes to the device after opening it, in order (slcan: close, bit rate, open). */
  readonly init?: readonly Uint8Array[];
}
