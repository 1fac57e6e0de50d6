/**
 * The serial CAN logger's wire format (../shared/docs/serial-can-logger.md): lines ended by CR LF, each holding one
 * or more 21-byte records back to back — an 8-byte big-endian timestamp, a 4-byte big-endian CAN id and 8 data
 * bytes, with (`with_filler`) or without (`no_filler`, byte 20 unused) a filler byte between timestamp and id.
 *
 * The seed splits the stream at every CR LF, so a record whose id or payload holds `0d 0a` is cut in two and lost,
 * as are the records of a line that starts with a few bytes of noise. Here a line is accepted only as a whole
 * number of records whose timestamps are plausible; a CR LF that does not end such a line is taken as data when a
 * later CR LF does, else as the end of a damaged line, whose records are then found one by one (resynchronising on
 * plausible timestamps close to the last good one). See README.md for the rules and their limits.
 */
import type { CanFrameBatch, Framer } from '../frames/index.js';

export const RECORD_BYTES = 21;

export type Records21Layout = 'auto' | 'with_filler' | 'no_filler';
export type Records21Timestamp = 'auto' | 'f64_s' | 'u64_s' | 'u64_ms' | 'u64_us';

export interface Records21Options {
  /** Where the id and data sit (default auto: with_filler when its id is known, else no_filler when that is). */
  layout?: Records21Layout;
  /** How the 8 timestamp bytes are read (default auto: the first plausible of f64_s, u64_s, u64_ms, u64_us). */
  timestamp?: Records21Timestamp;
  /**
   * Check timestamps for framing (default true): a record is taken only when its timestamp is plausible. Turn
   * off for a device whose clock is not wall time (lines are then framed by CR LF and length alone).
   */
  checkTimestamps?: boolean;
  /** Longest line accepted, in records (default 16). */
  maxRecordsPerLine?: number;
  /** Plausible timestamps start here (µs since the epoch; default 2000-01-01). */
  plausibleFromUs?: number;
  /** … and end this far after the receive time (µs; default one day). */
  plausibleAheadUs?: number;
  /**
   * A record found by resynchronising inside a damaged line must lie within this many µs of the last good record
   * (default one hour): random bytes are plausible f64 timestamps about once in 4000, but not that close.
   */
  maxJumpUs?: number;
  /** Is this id in the database? (layout auto). Without it, auto means with_filler. */
  known?: (id: number, ext: boolean) => boolean;
  /** The channel number given to every frame (default 0). */
  channel?: number;
}

export interface Records21Framer extends Framer {
  readonly counters: {
    frames: number;
    lines: number;
    garbage_bytes: number;
    /** Damaged lines (not a whole number of plausible records) and runs of bytes with no line end. */
    resyncs: number;
    /** Records found inside damaged lines. */
    salvaged: number;
    /** CR LF bytes inside records taken as data (the seed lost those records). */
    crlf_in_records: number;
    layout_with_filler: number;
    layout_no_filler: number;
    /** auto: neither layout's id is known (the frame is given with the with_filler id, to be counted unknown). */
    layout_unresolved: number;
    ts_f64_s: number;
    ts_u64_s: number;
    ts_u64_ms: number;
    ts_u64_us: number;
  };
}

const TS_NAMES = ['ts_f64_s', 'ts_u64_s', 'ts_u64_ms', 'ts_u64_us'] as const;
const TS_FORMATS: Record<Exclude<Records21Timestamp, 'auto'>, number> = { f64_s: 0, u64_s: 1, u64_ms: 2, u64_us: 3 };
const TWO32 = 4_294_967_296;

export function createRecords21Framer(options: Records21Options = {}): Records21Framer {
  return new Records21(options);
}

class Records21 implements Records21Framer {
  readonly counters = {
    frames: 0,
    lines: 0,
    garbage_bytes: 0,
    resyncs: 0,
    salvaged: 0,
    crlf_in_records: 0,
    layout_with_filler: 0,
    layout_no_filler: 0,
    layout_unresolved: 0,
    ts_f64_s: 0,
    ts_u64_s: 0,
    ts_u64_ms: 0,
    ts_u64_us: 0,
  };
  private buf: Uint8Array = new Uint8Array(4096);
  private view: DataView = new DataView(this.buf.buffer);
  private start = 0;
  private end = 0;
  private readonly maxLine: number;
  /** Fixed timestamp format (0–3) or -1 for auto. */
  private readonly tsFormat: number;
  private readonly layout: Records21Layout;
  private readonly check: boolean;
  private readonly fromUs: number;
  private readonly aheadUs: number;
  private readonly maxJumpUs: number;
  /** The timestamps (µs) and formats of the records of the line allValid last read. */
  private readonly lineUs: Float64Array;
  private readonly lineFmt: Uint8Array;
  /** A clean line far in time from the last good record, waiting for the next line to confirm it. */
  private held: Uint8Array | null = null;
  /** Time of the last accepted record (its own timestamp), for resynchronising; NaN before the first. */
  private lastGoodUs = Number.NaN;
  /** Timestamp of the record `valid()` last read, and its format. */
  private tsUs = 0;
  private tsFmt = 0;

  constructor(private readonly o: Records21Options) {
    this.maxLine = RECORD_BYTES * Math.max(1, Math.floor(o.maxRecordsPerLine ?? 16));
    this.lineUs = new Float64Array(this.maxLine / RECORD_BYTES);
    this.lineFmt = new Uint8Array(this.maxLine / RECORD_BYTES);
    this.tsFormat = o.timestamp === undefined || o.timestamp === 'auto' ? -1 : TS_FORMATS[o.timestamp];
    this.layout = o.layout ?? 'auto';
    this.check = o.checkTimestamps ?? true;
    this.fromUs = o.plausibleFromUs ?? Date.UTC(2000, 0, 1) * 1000;
    this.aheadUs = o.plausibleAheadUs ?? 86_400e6;
    this.maxJumpUs = o.maxJumpUs ?? 3_600e6;
  }

  push(chunk: Uint8Array, nowUs: number, out: CanFrameBatch): void {
    this.append(chunk);
    this.scan(nowUs, out, false);
  }

  flush(nowUs: number, out: CanFrameBatch, idle = false): void {
    this.scan(nowUs, out, true);
    // a far-off line nothing confirmed: noise at the end of the stream; after a quiet spell it waits for the next
    // line (a device whose clock jumped while the bus was quiet: dropping it at every idle flush lost every line)
    if (!idle) this.dropHeld();
    // what is left has no line end: the records in it, then nothing
    if (this.end > this.start) this.salvage(this.start, this.end, nowUs, out);
    this.start = this.end = 0;
  }

  private append(chunk: Uint8Array): void {
    const live = this.end - this.start;
    if (live + chunk.length > this.buf.length) {
      const b = new Uint8Array(Math.max(this.buf.length * 2, live + chunk.length));
      b.set(this.buf.subarray(this.start, this.end));
      this.buf = b;
      this.view = new DataView(b.buffer);
    } else if (this.start > 0) this.buf.copyWithin(0, this.start, this.end);
    this.buf.set(chunk, live);
    this.start = 0;
    this.end = live + chunk.length;
  }

  /** The next CR LF at or after `from` (index of the CR), or -1. */
  private crlf(from: number): number {
    const b = this.buf;
    for (let i = from, e = this.end - 1; i < e; i++) if (b[i] === 13 && b[i + 1] === 10) return i;
    return -1;
  }

  private scan(nowUs: number, out: CanFrameBatch, final: boolean): void {
    for (;;) {
      const s = this.start;
      const e = this.crlf(s);
      if (e < 0) {
        // no line end: keep at most one line (bytes beyond it cannot be part of a good line any more) — the records
        // before the cut are found; one that crosses it stays for the next read (cutting it there lost it: a line
        // longer than max_records_per_line lost records, more the smaller the reads)
        if (this.end - s > this.maxLine + 1)
          this.start = this.salvage(s, this.end - this.maxLine - 1, nowUs, out, false);
        return;
      }
      const len = e - s;
      if (len > 0 && len % RECORD_BYTES === 0 && len <= this.maxLine && this.allValid(s, e, nowUs, false)) {
        this.cleanLine(s, e, nowUs, out);
        this.start = e + 2;
        continue;
      }
      // the CR LF at e is data inside a record, or the end of a damaged line. The CR LFs from e on are weighed in
      // turn: one that ends a whole line of plausible records (close in time) makes those before it data; one with
      // a plausible record right after it (close in time to the last good one) is a line end — inside a record,
      // what follows a CR LF is the rest of that record, whose bytes are not a timestamp — so no later CR LF can
      // make the bytes before it data, and e ends a damaged line. (The search stops there: otherwise a record cut
      // inside a timestamp holding 0d 0a, its line end, then a record whose id holds 0d 0a, read as one record.)
      // (A CR LF that would be the last two bytes of a record is no line end by that test: the next record follows
      // it either way. And the test waits for the first good record: "close" needs a time.)
      let later = -1;
      let more = false;
      for (let f = e; ; f = this.crlf(f + 1)) {
        if (f < 0) {
          more = this.end - s < this.maxLine + 2;
          break;
        }
        const l = f - s;
        if (l > this.maxLine) break;
        if (f > e && l % RECORD_BYTES === 0 && this.allValid(s, f, nowUs, true)) {
          later = f;
          break;
        }
        if ((l + 2) % RECORD_BYTES !== 0 && !Number.isNaN(this.lastGoodUs)) {
          // wait for the record's bytes (a line and one record at most: bounded)
          if (this.end - f - 2 < RECORD_BYTES && !final && this.end - s < this.maxLine + 2 + RECORD_BYTES) return;
          if (this.end - f - 2 >= RECORD_BYTES && this.valid(f + 2, nowUs, true)) break;
        }
      }
      if (later >= 0) {
        for (let i = s; i < later - 1; i++)
          if (this.buf[i] === 13 && this.buf[i + 1] === 10) this.counters.crlf_in_records++;
        this.emitLine(s, later, out);
        this.start = later + 2;
        continue;
      }
      if (more && !final) return; // wait for the rest of the line
      this.damaged(s, e, nowUs, out);
    }
  }

  /** [s, e) is a damaged line ended by the CR LF at e: its records found one by one, the rest counted. */
  private damaged(s: number, e: number, nowUs: number, out: CanFrameBatch): void {
    this.counters.resyncs++;
    this.salvage(s, e, nowUs, out);
    this.counters.garbage_bytes += 2; // its CR LF
    this.start = e + 2;
  }

  /**
   * A line of plausible records. One far in time from the last good record (more than maxJumpUs) is held back:
   * noise of 21·n bytes can look like records (random bytes are plausible doubles about once in 4000). The next
   * clean line decides: close to the held one → the device's clock jumped, both are emitted (and the clock
   * re-anchored); close to the last good record → the held line was noise (garbage).
   */
  private cleanLine(s: number, e: number, nowUs: number, out: CanFrameBatch): void {
    const far = this.check && !Number.isNaN(this.lastGoodUs) && !this.lineNear((e - s) / RECORD_BYTES);
    const held = this.held;
    if (!far) {
      if (held) this.dropHeld();
      this.emitLine(s, e, out);
      return;
    }
    const line = this.buf.slice(s, e);
    if (held) {
      // its last record close to this line's first: the clock jumped (re-anchored at the held line)
      const heldLast = this.tsAt(held, held.length - RECORD_BYTES, nowUs);
      const first = this.tsAt(line, 0, nowUs);
      this.held = null;
      if (Math.abs(first - heldLast) <= this.maxJumpUs) {
        this.emitFrom(held, nowUs, out);
        this.emitFrom(line, nowUs, out);
        return;
      }
      this.counters.garbage_bytes += held.length + 2;
      this.counters.resyncs++;
    }
    this.held = line;
  }

  /** A line held back (far in time) that the next line did not confirm: noise. */
  private dropHeld(): void {
    if (!this.held) return;
    this.counters.garbage_bytes += this.held.length + 2;
    this.counters.resyncs++;
    this.held = null;
  }

  /** Runs `fn` with `bytes` as the buffer (a held line), then restores the stream's buffer. */
  private withBuffer<T>(bytes: Uint8Array, fn: () => T): T {
    const [buf, view] = [this.buf, this.view];
    this.buf = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    try {
      return fn();
    } finally {
      this.buf = buf;
      this.view = view;
    }
  }

  private tsAt(bytes: Uint8Array, p: number, nowUs: number): number {
    return this.withBuffer(bytes, () => (this.valid(p, nowUs, false) ? this.tsUs : Number.NaN));
  }

  private emitFrom(bytes: Uint8Array, nowUs: number, out: CanFrameBatch): void {
    this.withBuffer(bytes, () => {
      this.allValid(0, bytes.length, nowUs, false);
      this.emitLine(0, bytes.length, out);
    });
  }

  /** Every record of [s, e) is plausible (and, when `near`, close in time to the last good record). */
  private allValid(s: number, e: number, nowUs: number, near: boolean): boolean {
    for (let p = s, k = 0; p < e; p += RECORD_BYTES, k++) {
      if (!this.valid(p, nowUs, near)) return false;
      // kept for emitLine (a line's records are read once): the plausible formats' ranges do not overlap, so the
      // format a record is read in is the same with or without `near`
      this.lineUs[k] = this.tsUs;
      this.lineFmt[k] = this.tsFmt;
    }
    return true;
  }

  /** Every record of the line allValid last read lies within maxJumpUs of the last good record. */
  private lineNear(records: number): boolean {
    for (let k = 0; k < records; k++) if (Math.abs(this.lineUs[k] - this.lastGoodUs) > this.maxJumpUs) return false;
    return true;
  }

  /** Reads the timestamp of the record at p into tsUs/tsFmt; false when none of the allowed formats is plausible. */
  private valid(p: number, nowUs: number, near: boolean): boolean {
    const v = this.view;
    const hi = v.getUint32(p);
    const lo = v.getUint32(p + 4);
    const limit = nowUs + this.aheadUs;
    const f0 = Math.max(this.tsFormat, 0);
    const f1 = this.tsFormat < 0 ? 3 : this.tsFormat;
    for (let f = f0; f <= f1; f++) {
      let us: number;
      if (f === 0) us = Math.round(v.getFloat64(p) * 1e6);
      else {
        const u = hi * TWO32 + lo; // exact below 2^53; above it no format is plausible anyway
        us = f === 1 ? u * 1e6 : f === 2 ? u * 1e3 : u;
      }
      // NaN and ±Infinity are never a time, checks or not (a damaged float64 timestamp)
      if (!this.check ? Number.isFinite(us) : us >= this.fromUs && us <= limit) {
        if (near && this.check && Math.abs(us - this.lastGoodUs) > this.maxJumpUs) continue;
        this.tsUs = us;
        this.tsFmt = f;
        return true;
      }
    }
    return false;
  }

  /** Emits the line [s, e) that allValid just read (its timestamps kept in lineUs/lineFmt). */
  private emitLine(s: number, e: number, out: CanFrameBatch): void {
    this.counters.lines++;
    for (let p = s, k = 0; p < e; p += RECORD_BYTES, k++) {
      this.tsUs = this.lineUs[k];
      this.tsFmt = this.lineFmt[k];
      this.emit(p, out);
    }
  }

  /**
   * The records inside damaged bytes [s, e): found one by one, resynchronising byte by byte; the rest counted.
   * `whole` false ([s, e) is the part of a stream to decide now, more bytes follow): a record that starts before e
   * but ends after it is left for later — returns where the undecided bytes start (e when `whole`).
   */
  private salvage(s: number, e: number, nowUs: number, out: CanFrameBatch, whole = true): number {
    let p = s;
    let garbage = 0;
    const limit = whole ? e : this.end;
    // (before the first good record, plausibility alone; with checks off, every position is a record)
    while (p < e && p + RECORD_BYTES <= limit) {
      if (this.valid(p, nowUs, true) && !this.overlapped(p, limit, nowUs)) {
        this.valid(p, nowUs, true); // (overlapped read others)
        this.emit(p, out);
        this.counters.salvaged++;
        p += RECORD_BYTES;
      } else {
        p++;
        garbage++;
      }
    }
    if (!whole) {
      this.counters.garbage_bytes += garbage;
      return p;
    }
    this.counters.garbage_bytes += garbage + (e - p);
    return e;
  }

  /**
   * Whether another plausible record (close in time) starts inside the 21 bytes at p and fits before `limit`: then
   * the record at p lost bytes (a serial overrun) and its 21 bytes would take the next record's timestamp as its
   * data — a frame made up, and the next record skipped. (With checks off every position is plausible: no test.)
   */
  private overlapped(p: number, limit: number, nowUs: number): boolean {
    if (!this.check) return false;
    // (in the same timestamp format as the record at p: a device writes one; without that, a u64 reading of id
    // and data bytes is a plausible time now and then, before the first good record gives "close in time")
    const fmt = this.tsFmt;
    for (let q = p + 1; q < p + RECORD_BYTES && q + RECORD_BYTES <= limit; q++)
      if (this.valid(q, nowUs, true) && this.tsFmt === fmt) return true;
    return false;
  }

  /** Appends the record at p (its timestamp already read by valid()). */
  private emit(p: number, out: CanFrameBatch): void {
    const c = this.counters;
    const v = this.view;
    c[TS_NAMES[this.tsFmt]]++;
    this.lastGoodUs = this.tsUs;
    let filler: boolean;
    const rawF = v.getUint32(p + 9);
    const rawN = v.getUint32(p + 8);
    if (this.layout === 'with_filler') filler = true;
    else if (this.layout === 'no_filler') filler = false;
    else {
      const known = this.o.known;
      if (known === undefined || known(idOf(rawF), extOf(rawF))) filler = true;
      else if (known(idOf(rawN), extOf(rawN))) filler = false;
      else {
        filler = true;
        c.layout_unresolved++;
      }
    }
    if (filler) c.layout_with_filler++;
    else c.layout_no_filler++;
    const raw = filler ? rawF : rawN;
    out.push(this.tsUs, idOf(raw), extOf(raw), 0, this.o.channel ?? 0, this.buf, p + (filler ? 13 : 12), 8);
    c.frames++;
  }
}

/** The 29 id bits of the big-endian id word (bit 31, SocketCAN's extended flag, and bits 29–30 dropped). */
function idOf(raw: number): number {
  return raw & 0x1fffffff;
}

/** Extended: the flag bit set, or an id beyond 11 bits. */
function extOf(raw: number): boolean {
  return (raw & 0x80000000) !== 0 || (raw & 0x1fffffff) > 0x7ff;
}
