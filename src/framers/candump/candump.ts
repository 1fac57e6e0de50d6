/**
 * candump log framer: the lines SocketCAN's `candump -L` (and `-l` files) writes, such as
 * `(1436509052.249713) vcan0 044#2A366C2BBA`, read as a stream (a pipe, a file being replayed). See README.md.
 *
 * A line found whole in a chunk is parsed where it lies; only a line split across chunks is copied, into a buffer
 * of at most CANDUMP_MAX_LINE bytes, so any split gives what the whole line gives and noise costs bounded memory.
 */
import { SigflowError } from '../../errors/index.js';
import { type CanFrameBatch, FRAME_BRS, FRAME_ERROR, FRAME_FD, FRAME_RTR, type Framer } from '../frames/index.js';

export interface CandumpOptions {
  /** Interface name → channel number. Lines of other interfaces are skipped (counted as malformed). */
  channels?: Record<string, number>;
  /** Time frames with the receive time instead of the time written on the line. Default false. */
  use_now_time?: boolean;
}

/** A framer for candump logs; `interfaces` maps the interface names seen (or configured) to their channel. */
export interface CandumpFramer extends Framer {
  readonly interfaces: ReadonlyMap<string, number>;
  /** Bytes of an unfinished line held (≤ CANDUMP_MAX_LINE). */
  readonly pending: number;
  /**
   * The stream ended mid-line (a command exited, a file was replaced): the unfinished line is dropped, counted as
   * malformed with its bytes as garbage — never a frame guessed from part of a line (`can0 123` cut before `#…`
   * would read as an empty frame).
   */
  cut(): void;
}

/** The longest line kept (CR included, LF not); a valid line is under 200 bytes. */
export const CANDUMP_MAX_LINE = 1024;

/** CAN_ERR_FLAG of a SocketCAN id: an error frame, its class in the low 29 bits. */
const ERR_FLAG = 0x20000000;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;
const HASH = 0x23;
const DOT = 0x2e;
const UNDERSCORE = 0x5f;

/** Hex digit value of a byte, -1 when not a hex digit. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x41 + i] = HEX[0x61 + i] = 10 + i;

const isSpace = (b: number) => b === SP || b === TAB;
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const utf8 = new TextDecoder();

export function createCandumpFramer(options: CandumpOptions = {}): CandumpFramer {
  let fixed: Map<string, number> | undefined;
  if (options.channels !== undefined) {
    fixed = new Map();
    for (const [name, ch] of Object.entries(options.channels)) {
      if (!Number.isInteger(ch) || ch < 0 || ch > 255) {
        throw new SigflowError('SF_ERR_CONFIG_INVALID', `candump channel ${ch} of ${name} is not an integer 0..255`, {
          where: `candump.channels.${name}`,
        });
      }
      fixed.set(name, ch);
    }
  }
  return new Candump(fixed, options.use_now_time === true);
}

class Candump implements CandumpFramer {
  readonly counters = { frames: 0, garbage_bytes: 0, malformed_lines: 0 };
  private readonly names: Map<string, number>;

  private readonly line = new Uint8Array(CANDUMP_MAX_LINE);
  private len = 0;
  /** The current line grew past CANDUMP_MAX_LINE: it is already counted, the rest is dropped up to the LF. */
  private overflow = false;
  private readonly data = new Uint8Array(64);
  /** The last interface name's bytes and channel: logs repeat one or two names, so most lines decode none. */
  private lastName = new Uint8Array(0);
  private lastChannel = 0;

  constructor(
    private readonly fixed: Map<string, number> | undefined,
    private readonly useNowTime: boolean,
  ) {
    this.names = new Map(fixed);
  }

  get interfaces(): ReadonlyMap<string, number> {
    return this.names;
  }

  get pending(): number {
    return this.len;
  }

  push(chunk: Uint8Array, nowUs: number, out: CanFrameBatch): void {
    let i = 0;
    while (i < chunk.length) {
      const lf = chunk.indexOf(LF, i);
      const end = lf < 0 ? chunk.length : lf;
      if (lf >= 0 && this.len === 0 && !this.overflow) {
        this.endLine(chunk, i, end, nowUs, out);
      } else {
        this.append(chunk, i, end);
        if (lf < 0) return;
        if (!this.overflow) this.endLine(this.line, 0, this.len, nowUs, out);
        this.len = 0;
        this.overflow = false;
      }
      i = end + 1;
    }
  }

  /** Log files often lack the last LF: what is held is taken as a whole line. */
  flush(nowUs: number, out: CanFrameBatch): void {
    if (!this.overflow && this.len > 0) this.endLine(this.line, 0, this.len, nowUs, out);
    this.len = 0;
    this.overflow = false;
  }

  cut(): void {
    if (this.len > 0 && !this.overflow) {
      this.counters.malformed_lines++;
      this.counters.garbage_bytes += this.len;
    }
    this.len = 0;
    this.overflow = false;
  }

  /** Keeps bytes of a line not yet ended, or drops them (counted once) when the line gets too long. */
  private append(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (this.overflow) {
      this.counters.garbage_bytes += n;
    } else if (this.len + n > CANDUMP_MAX_LINE) {
      this.counters.malformed_lines++;
      this.counters.garbage_bytes += this.len + n;
      this.len = 0;
      this.overflow = true;
    } else {
      this.line.set(src.subarray(from, to), this.len);
      this.len += n;
    }
  }

  /** One line without its LF: a frame, blank, a comment, or skipped and counted. */
  private endLine(buf: Uint8Array, from: number, to: number, nowUs: number, out: CanFrameBatch): void {
    const raw = to - from;
    // The same bound as for a line split across chunks, so the result does not depend on where it was split.
    let ok = raw <= CANDUMP_MAX_LINE;
    if (ok) {
      if (to > from && buf[to - 1] === CR) to--;
      let p = from;
      while (p < to && isSpace(buf[p])) p++;
      if (p === to || buf[p] === HASH) return;
      ok = this.frame(buf, p, to, nowUs, out);
    }
    if (!ok) {
      this.counters.malformed_lines++;
      this.counters.garbage_bytes += raw;
    }
  }

  /** Parses `(secs.frac) iface ID#DATA [anything]` in buf[p, e) and appends the frame; false when invalid. */
  private frame(buf: Uint8Array, p: number, e: number, nowUs: number, out: CanFrameBatch): boolean {
    // Time: whole seconds and the fraction as integers, so the µs are exact (a double holds every µs up to
    // 2^53 µs, the year 2255; 10-digit seconds beyond that round to a few µs).
    if (buf[p++] !== 0x28) return false; // (
    let secs = 0;
    let digits = 0;
    for (; p < e && isDigit(buf[p]); p++, digits++) secs = secs * 10 + buf[p] - 0x30;
    if (digits === 0 || digits > 10 || p === e || buf[p++] !== DOT) return false;
    let frac = 0;
    digits = 0;
    for (; p < e && isDigit(buf[p]); p++, digits++) if (digits < 6) frac = frac * 10 + buf[p] - 0x30;
    if (digits === 0 || digits > 9 || p === e || buf[p++] !== 0x29) return false; // )
    for (let k = digits; k < 6; k++) frac *= 10;
    const time = this.useNowTime ? nowUs : secs * 1e6 + frac;

    let q = p;
    while (p < e && isSpace(buf[p])) p++;
    if (p === q) return false;
    const nameAt = p;
    while (p < e && !isSpace(buf[p])) p++;
    const nameEnd = p;
    q = p;
    while (p < e && isSpace(buf[p])) p++;
    if (p === q || p === e) return false;

    // Id: 3 hex digits standard, 8 extended (with CAN_ERR_FLAG: an error frame, its class as the id).
    q = p;
    let id = 0;
    for (; p < e && HEX[buf[p]] >= 0; p++) id = id * 16 + HEX[buf[p]];
    const ext = p - q === 8;
    if (!ext && p - q !== 3) return false;
    if (p === e || buf[p++] !== HASH) return false;
    let flags = 0;
    if (ext) {
      if (id >= ERR_FLAG * 2) return false; // RTR/EFF flag bits: candump never writes them in the id
      if (id >= ERR_FLAG) {
        flags = FRAME_ERROR;
        id -= ERR_FLAG;
      }
    } else if (id > 0x7ff) return false;

    let len = 0;
    let max = 8;
    const b = p < e ? buf[p] : -1;
    if (b === HASH) {
      // CAN FD: one hex digit of flags (0x1 BRS, 0x2 ESI), then up to 64 bytes. A third # is CAN XL: not read.
      const f = p + 1 < e ? HEX[buf[p + 1]] : -1;
      if (f < 0) return false;
      flags |= FRAME_FD | (f & 1 ? FRAME_BRS : 0);
      max = 64;
      p += 2;
    } else if (b === 0x52 || b === 0x72) {
      // R, r: remote frame; an optional DLC 0..8 (and a raw DLC 9..F after 8, `R8_9`). It carries no bytes.
      flags |= FRAME_RTR;
      p++;
      if (p < e && buf[p] >= 0x30 && buf[p] <= 0x38) {
        p++;
        if (buf[p - 1] === 0x38) p = rawDlc(buf, p, e);
      }
      max = 0;
    }
    // Data: pairs of hex digits; can-utils allows dots between bytes (`11.22.33`).
    const d = this.data;
    while (p < e) {
      if (buf[p] === DOT) {
        p++;
        continue;
      }
      const hi = HEX[buf[p]];
      if (hi < 0) break;
      const lo = p + 1 < e ? HEX[buf[p + 1]] : -1;
      if (lo < 0 || len === max) return false;
      d[len++] = (hi << 4) | lo;
      p += 2;
    }
    // Classic 8 bytes may be followed by the raw DLC 9..F: `_F`.
    if (max === 8 && len === 8) p = rawDlc(buf, p, e);
    // Whatever follows a space (direction ` T`/` R` of newer candump, comments) is not ours.
    if (p < e && !isSpace(buf[p])) return false;

    const channel = this.channel(buf, nameAt, nameEnd);
    if (channel < 0) return false;
    out.push(time, id, ext, flags, channel, d, 0, len);
    this.counters.frames++;
    return true;
  }

  /** The channel of an interface name, numbering new ones in order of appearance; -1 when there is none. */
  private channel(buf: Uint8Array, from: number, to: number): number {
    const last = this.lastName;
    if (last.length === to - from) {
      let same = true;
      for (let k = 0; k < last.length && same; k++) same = last[k] === buf[from + k];
      if (same) return this.lastChannel;
    }
    const name = utf8.decode(buf.subarray(from, to));
    let ch = this.names.get(name);
    if (ch === undefined) {
      if (this.fixed !== undefined || this.names.size > 255) return -1;
      ch = this.names.size;
      this.names.set(name, ch);
    }
    // a copy: a Node Buffer's slice is a view, and the caller may reuse its read buffer
    this.lastName = Uint8Array.prototype.slice.call(buf, from, to);
    this.lastChannel = ch;
    return ch;
  }
}

/** Skips an optional raw DLC `_9`..`_F` at p (a Classic CAN DLC above 8 on an 8-byte frame). */
function rawDlc(buf: Uint8Array, p: number, e: number): number {
  return p + 1 < e && buf[p] === UNDERSCORE && HEX[buf[p + 1]] > 8 ? p + 2 : p;
}
