/**
 * SLCAN (Lawicel ASCII) framer: the serial-line protocol of CANable, USBtin, CANUSB and their clones. The adapter
 * sends one message per line, ended by CR: received frames (`t`, `T`, `r`, `R`, FD `d`, `D`, `b`, `B`) and the
 * replies to the commands the host sent (`\r` OK, BEL error, `z`/`Z` transmit acks, `F`, `V`, `v`, `N`). See
 * README.md for the subset understood and what is done with each reply.
 *
 * Bytes are fed one at a time through a small state machine holding at most SLCAN_MAX_LINE bytes, so a line split
 * across reads at any byte gives exactly what the whole line gives, and a stream of noise costs bounded memory.
 */
import { SigflowError } from '../../errors/index.js';
import { type CanFrameBatch, FRAME_BRS, FRAME_FD, FRAME_RTR, type Framer } from '../frames/index.js';

export interface SlcanOptions {
  /** Bus bit rate in bit/s, sent as `S0`..`S8`. Default 500000. */
  bitrate?: number;
  /** Ask the adapter for its millisecond timestamp (`Z1`) and rebuild frame times from it. Default false. */
  timestamps?: boolean;
  /** Open listen-only (`L`: no acks, no error frames on the bus) instead of normal (`O`). Default false. */
  listen_only?: boolean;
  /** Channel number given to every frame. Default 0. */
  channel?: number;
}

/** A framer for SLCAN adapters; `pending` is how many bytes of an unfinished line it holds (≤ SLCAN_MAX_LINE). */
export interface SlcanFramer extends Framer {
  readonly init: readonly Uint8Array[];
  readonly pending: number;
}

/**
 * The longest line kept while waiting for its CR. The longest valid line is 142 bytes (`B`, 8 id digits, DLC,
 * 64 data bytes, timestamp), so anything longer is noise or a lost CR.
 */
export const SLCAN_MAX_LINE = 256;

/** `S<n>`: index n of the bit rate in this list (the Lawicel standard set). */
const BITRATES = [10000, 20000, 50000, 100000, 125000, 250000, 500000, 800000, 1000000];
/** CAN FD DLC → data length. */
const FD_LEN = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];
/** The adapter's timestamp counts milliseconds 0 .. 59999 and wraps. */
const TS_WRAP_MS = 60000;
/** How far the rebuilt time may stray from the receive time before it is re-anchored. */
const MAX_DRIFT_US = 1_000_000;

const CR = 0x0d;
const LF = 0x0a;
const BEL = 0x07;

/** Hex digit value of a byte, -1 when not a hex digit. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x41 + i] = HEX[0x61 + i] = 10 + i;

const ascii = (s: string) => new TextEncoder().encode(s);

export function createSlcanFramer(options: SlcanOptions = {}): SlcanFramer {
  const bitrate = options.bitrate ?? 500000;
  const s = BITRATES.indexOf(bitrate);
  if (s < 0) {
    throw new SigflowError('SF_ERR_CONFIG_INVALID', `slcan bit rate ${bitrate} is not one of ${BITRATES.join(', ')}`, {
      where: 'slcan.bitrate',
    });
  }
  const channel = options.channel ?? 0;
  if (!Number.isInteger(channel) || channel < 0 || channel > 255) {
    throw new SigflowError('SF_ERR_CONFIG_INVALID', `slcan channel ${channel} is not an integer 0..255`, {
      where: 'slcan.channel',
    });
  }
  return new Slcan(s, options.timestamps === true, options.listen_only === true, channel);
}

class Slcan implements SlcanFramer {
  readonly init: readonly Uint8Array[];
  readonly counters = { frames: 0, garbage_bytes: 0, malformed_lines: 0, error_replies: 0, replies: 0, reanchors: 0 };

  private readonly line = new Uint8Array(SLCAN_MAX_LINE);
  private len = 0;
  /** Dropping an over-long line until the next terminator. */
  private discarding = false;
  /** The previous byte was a BEL: a CR right after it ends that reply and is not an OK of its own. */
  private afterBel = false;
  private readonly data = new Uint8Array(64);

  /** Adapter time: the last counter value (ms) and the µs time it was given; anchored = there was one. */
  private anchored = false;
  private lastMs = 0;
  private lastUs = 0;

  constructor(
    bitrateIndex: number,
    private readonly timestamps: boolean,
    listenOnly: boolean,
    private readonly channel: number,
  ) {
    // Close first: the adapter may still be open from an earlier session, and S is refused while open.
    const cmds = ['C\r', `S${bitrateIndex}\r`];
    if (timestamps) cmds.push('Z1\r');
    cmds.push(listenOnly ? 'L\r' : 'O\r');
    this.init = cmds.map(ascii);
  }

  get pending(): number {
    return this.len;
  }

  push(chunk: Uint8Array, nowUs: number, out: CanFrameBatch): void {
    const c = this.counters;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      const afterBel = this.afterBel;
      this.afterBel = false;
      if (b === BEL) {
        // The error reply replaces the CR; it never belongs to a line, so a line being read goes on.
        c.error_replies++;
        this.afterBel = true;
      } else if (b === CR || b === LF) {
        if (this.discarding) this.discarding = false;
        else if (this.len > 0) this.endLine(nowUs, out);
        // An empty line: CR alone is the OK reply; LF alone, or the LF of CR LF, is nothing.
        else if (b === CR && !afterBel) c.replies++;
        this.len = 0;
      } else if (this.discarding) {
        c.garbage_bytes++;
      } else if (this.len === SLCAN_MAX_LINE) {
        // No CR for too long: drop what we hold and everything up to the next terminator.
        c.malformed_lines++;
        c.garbage_bytes += this.len + 1;
        this.len = 0;
        this.discarding = true;
      } else {
        this.line[this.len++] = b;
      }
    }
  }

  /** Every SLCAN message ends with CR, so bytes still waiting for it are a torn message: dropped and counted. */
  flush(_nowUs: number, _out: CanFrameBatch): void {
    if (this.len > 0) this.skip();
    this.len = 0;
    this.discarding = false;
    this.afterBel = false;
  }

  private skip(): void {
    this.counters.malformed_lines++;
    this.counters.garbage_bytes += this.len;
  }

  private endLine(nowUs: number, out: CanFrameBatch): void {
    const l = this.line;
    const n = this.len;
    switch (l[0]) {
      case 0x7a: // z
      case 0x5a: // Z
        if (n === 1) this.counters.replies++;
        else this.skip();
        return;
      case 0x46: // F: status flags, two hex digits
        if (n === 3 && HEX[l[1]] >= 0 && HEX[l[2]] >= 0) this.counters.replies++;
        else this.skip();
        return;
      case 0x56: // V: hardware/firmware version
      case 0x76: // v: firmware version (some adapters, any length)
      case 0x4e: // N: serial number
        this.counters.replies++;
        return;
      default:
        if (!this.frame(nowUs, out)) this.skip();
    }
  }

  /** Parses the line as a frame and appends it; false (nothing appended) when it is not a valid one. */
  private frame(nowUs: number, out: CanFrameBatch): boolean {
    const l = this.line;
    const n = this.len;
    let ext = false;
    let flags = 0;
    switch (l[0]) {
      case 0x74: // t
        break;
      case 0x54: // T
        ext = true;
        break;
      case 0x72: // r
        flags = FRAME_RTR;
        break;
      case 0x52: // R
        ext = true;
        flags = FRAME_RTR;
        break;
      case 0x64: // d
        flags = FRAME_FD;
        break;
      case 0x44: // D
        ext = true;
        flags = FRAME_FD;
        break;
      case 0x62: // b
        flags = FRAME_FD | FRAME_BRS;
        break;
      case 0x42: // B
        ext = true;
        flags = FRAME_FD | FRAME_BRS;
        break;
      default:
        return false;
    }
    const idEnd = ext ? 9 : 4;
    if (n < idEnd + 1) return false;
    let id = 0;
    for (let i = 1; i < idEnd; i++) {
      const h = HEX[l[i]];
      if (h < 0) return false;
      id = id * 16 + h;
    }
    if (id > (ext ? 0x1fffffff : 0x7ff)) return false;
    const dlc = HEX[l[idEnd]];
    if (dlc < 0) return false;
    let len: number;
    if (flags & FRAME_FD) len = FD_LEN[dlc];
    else if (dlc > 8) return false;
    // A remote frame's DLC asks for that many bytes but carries none; the batch keeps only the length carried.
    else len = flags & FRAME_RTR ? 0 : dlc;
    const dataAt = idEnd + 1;
    const end = dataAt + 2 * len;
    if (n !== end && n !== end + 4) return false;
    const d = this.data;
    for (let k = 0, p = dataAt; k < len; k++, p += 2) {
      const hi = HEX[l[p]];
      const lo = HEX[l[p + 1]];
      if (hi < 0 || lo < 0) return false;
      d[k] = (hi << 4) | lo;
    }
    let time = nowUs;
    if (n === end + 4) {
      let ms = 0;
      for (let p = end; p < n; p++) {
        const h = HEX[l[p]];
        if (h < 0) return false;
        ms = ms * 16 + h;
      }
      if (ms >= TS_WRAP_MS) return false;
      // Without `timestamps` the adapter was not asked for them (it may remember Z1 from before): receive time.
      if (this.timestamps) time = this.adapterTime(ms, nowUs);
    }
    out.push(time, id, ext, flags, this.channel, d, 0, len);
    this.counters.frames++;
    return true;
  }

  /**
   * The adapter's counter only says where in the minute a frame came, so its time is rebuilt: the first frame
   * takes its receive time, each next one the previous time plus the counter's advance (mod 60 s). The advance
   * cannot tell one minute of silence from none, so when the result strays more than 1 s from the receive time
   * (quiet bus for over a minute, adapter reset, a wrong guess) it starts again from the receive time.
   */
  private adapterTime(ms: number, nowUs: number): number {
    let t = nowUs;
    if (this.anchored) {
      let step = ms - this.lastMs;
      if (step < 0) step += TS_WRAP_MS;
      t = this.lastUs + step * 1000;
      if (Math.abs(t - nowUs) > MAX_DRIFT_US) {
        t = nowUs;
        this.counters.reanchors++;
      }
    }
    this.anchored = true;
    this.lastMs = ms;
    this.lastUs = t;
    return t;
  }
}
