/**
 * NMEA 2000 fast-packet reassembly.
 *
 * A fast-packet message of a configured PGN is sent as up to 32 frames: byte 0 holds a 3-bit sequence counter
 * (bits 7–5, the same in every frame of one message) and a 5-bit frame counter (bits 4–0). Frame 0 carries the
 * length (byte 1, at most 223) and 6 data bytes; every later frame 7 data bytes. Messages are kept apart per
 * stream, PGN and source address; a frame with another sequence counter or out of order drops the message.
 *
 * The message handed on is the data alone (trimmed to the announced length) under the frame's own id, as
 * CANedge's tools build it (tp_nmea.dbc). The time is frame 0's.
 */
import { j1939Pgn } from '../codecs/dbc/index.js';
import {
  NOT_TRANSPORT,
  type Partial,
  PartialTable,
  type PushResult,
  type Reassembler,
  type ReassemblerOptions,
  TAKEN,
} from './types.js';

/** No timeout is standardised; fast packets are sent back to back, so 750 ms (J1939's T1) is generous. */
export const NMEA2000_TIMEOUT_MS = 750;
export const NMEA2000_MAX_LENGTH = 223;

export interface FastPacketOptions extends ReassemblerOptions {
  /** The PGNs sent as fast packets. */
  pgns: Iterable<number>;
}

export class FastPacketReassembler implements Reassembler {
  readonly protocol = 'nmea2000';
  private readonly table: PartialTable;
  private readonly pgns: Set<number>;

  constructor(options: FastPacketOptions) {
    this.table = new PartialTable('nmea2000', options.timeoutMs ?? NMEA2000_TIMEOUT_MS);
    this.pgns = new Set(options.pgns);
  }

  get stats() {
    return this.table.stats;
  }

  wants(id: number, extended: boolean): boolean {
    return extended && this.pgns.has(j1939Pgn(id));
  }

  push(stream: number, timeNs: bigint, id: number, extended: boolean, data: Uint8Array): PushResult {
    if (!extended) return NOT_TRANSPORT;
    const pgn = j1939Pgn(id);
    if (!this.pgns.has(pgn)) return NOT_TRANSPORT;
    const key = stream * 0x4000000 + pgn * 0x100 + (id & 0xff); // stream · 2^26 + PGN · 2^8 + source
    if (data.length < 2) {
      this.table.stray();
      return TAKEN;
    }
    const seq = data[0] >> 5;
    const index = data[0] & 0x1f;
    if (index === 0) {
      const len = data[1];
      if (len === 0 || len > NMEA2000_MAX_LENGTH) {
        this.table.interrupt(key, timeNs);
        this.table.refuse('length');
        return TAKEN;
      }
      const take = Math.min(len, 6);
      if (data.length - 2 < take) {
        this.table.interrupt(key, timeNs);
        this.table.refuse('length');
        return TAKEN;
      }
      const buf = new Uint8Array(len);
      buf.set(data.subarray(2, 2 + take));
      const p: Partial = { timeNs, lastNs: timeNs, id, extended, buf, filled: take, next: (seq << 5) | 1, frames: 1 };
      if (take === len) {
        this.table.interrupt(key, timeNs);
        return this.table.complete(key, p, stream, len);
      }
      this.table.start(key, p);
      return TAKEN;
    }
    const p = this.table.get(key, timeNs);
    if (p === undefined) {
      this.table.stray();
      return TAKEN;
    }
    if (data[0] !== p.next) {
      this.table.drop(key, 'sequence');
      return TAKEN;
    }
    const take = Math.min(7, p.buf.length - p.filled);
    if (data.length - 1 < take) {
      this.table.drop(key, 'length');
      return TAKEN;
    }
    p.buf.set(data.subarray(1, 1 + take), p.filled);
    p.filled += take;
    p.next++;
    p.lastNs = timeNs;
    p.frames++;
    return p.filled === p.buf.length ? this.table.complete(key, p, stream, p.buf.length) : TAKEN;
  }

  expire(nowNs: bigint): void {
    this.table.expire(nowNs);
  }

  finish(): void {
    this.table.finish();
  }
}
