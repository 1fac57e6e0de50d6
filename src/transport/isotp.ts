/**
 * ISO 15765-2 (ISO-TP, the transport under UDS and OBD-II) reassembly, listening only.
 *
 * Frames of the configured ids are ISO-TP frames: single (SF), first (FF), consecutive (CF) and flow control (FC,
 * taken and ignored: a listener does not answer). Classic CAN (8 bytes) and CAN FD (up to 64 bytes: SF with the
 * escape length byte, FF with the 32-bit length) are both read. With extended or mixed addressing the first data
 * byte is an address byte and the PCI starts at byte 1.
 *
 * The message handed on keeps ONE byte before the ISO-TP payload, as CANedge's tools and DBCs expect (tp_uds.dbc
 * reads the UDS service id at byte 1): a single frame's PCI byte, or a first frame's lowest length byte. Its
 * length is that byte plus the announced payload length (padding dropped). The id is the frame's id; the time is
 * the first frame's.
 */
import {
  NOT_TRANSPORT,
  type Partial,
  PartialTable,
  type PushResult,
  type Reassembler,
  type ReassemblerOptions,
  TAKEN,
} from './types.js';

/** ISO 15765-2 N_Cr: the longest wait for the next consecutive frame. */
export const ISOTP_TIMEOUT_MS = 1000;
/** Longest message taken (ISO-TP FD allows 2^32-1 bytes; a damaged first frame must not allocate that). */
export const ISOTP_MAX_LENGTH = 1 << 20;

export interface IsoTpOptions extends ReassemblerOptions {
  /** The CAN ids carrying ISO-TP (responses), with their addressing. */
  ids: Iterable<{
    id: number;
    extended: boolean;
    addressing?: 'normal' | 'extended';
    /**
     * The length of the (DBC) message carried: a frame at least this long already holds it whole (a CAN FD frame
     * of a DBC that does not say FD) and passes through undecided. Default: no such frame.
     */
    wholeLength?: number;
  }>;
  /** Longest message accepted, bytes (default 1 MiB). */
  maxLength?: number;
}

function idKey(id: number, extended: boolean): number {
  return extended ? id + 0x100000000 : id;
}

export class IsoTpReassembler implements Reassembler {
  readonly protocol = 'isotp';
  private readonly table: PartialTable;
  /** id key → offset of the PCI byte (0 normal addressing, 1 extended/mixed). */
  private readonly pciOffset = new Map<number, number>();
  /** id key → frame length from which a frame is the whole message (not ISO-TP). */
  private readonly whole = new Map<number, number>();
  private readonly maxLength: number;

  constructor(options: IsoTpOptions) {
    this.table = new PartialTable('isotp', options.timeoutMs ?? ISOTP_TIMEOUT_MS);
    this.maxLength = options.maxLength ?? ISOTP_MAX_LENGTH;
    for (const e of options.ids) {
      this.pciOffset.set(idKey(e.id, e.extended), e.addressing === 'extended' ? 1 : 0);
      if (e.wholeLength !== undefined) this.whole.set(idKey(e.id, e.extended), e.wholeLength);
    }
  }

  get stats() {
    return this.table.stats;
  }

  wants(id: number, extended: boolean): boolean {
    return this.pciOffset.has(idKey(id, extended));
  }

  push(stream: number, timeNs: bigint, id: number, extended: boolean, data: Uint8Array): PushResult {
    const o = this.pciOffset.get(idKey(id, extended));
    if (o === undefined) return NOT_TRANSPORT;
    const n = data.length;
    if (n > 8 && n >= (this.whole.get(idKey(id, extended)) ?? Number.POSITIVE_INFINITY)) return NOT_TRANSPORT;
    if (n <= o) {
      this.table.stray();
      return TAKEN;
    }
    const key = stream * 0x200000000 + idKey(id, extended); // stream · 2^33 + id key: exact below 2^53
    const pci = data[o];
    switch (pci >> 4) {
      case 0:
        return this.single(key, stream, timeNs, id, extended, data, o);
      case 1:
        return this.first(key, stream, timeNs, id, extended, data, o);
      case 2:
        return this.consecutive(key, stream, timeNs, data, o);
      case 3:
        return TAKEN; // flow control: the listener has nothing to do
      default:
        this.table.stray();
        return TAKEN;
    }
  }

  private single(
    key: number,
    stream: number,
    timeNs: bigint,
    id: number,
    extended: boolean,
    data: Uint8Array,
    o: number,
  ): PushResult {
    this.table.interrupt(key, timeNs); // a single frame ends whatever was in progress on this address
    let len = data[o] & 0x0f;
    let start = o; // the byte kept before the payload: the PCI byte
    if (len === 0 && data.length > 8) {
      // CAN FD escape: the length is in the next byte, which is then the byte kept before the payload.
      if (data.length <= o + 1) return this.bad();
      len = data[o + 1];
      start = o + 1;
    }
    if (len === 0 || start + 1 + len > data.length) return this.bad();
    const p: Partial = {
      timeNs,
      lastNs: timeNs,
      id,
      extended,
      buf: data.slice(start, start + 1 + len),
      filled: 0,
      next: 0,
      frames: 1,
    };
    return this.table.complete(key, p, stream, p.buf.length);
  }

  private first(
    key: number,
    stream: number,
    timeNs: bigint,
    id: number,
    extended: boolean,
    data: Uint8Array,
    o: number,
  ): PushResult {
    if (data.length < o + 2) return this.bad();
    let len = ((data[o] & 0x0f) << 8) | data[o + 1];
    let head = o + 2; // first payload byte
    if (len === 0) {
      // FD / long first frame: 32-bit length in the next four bytes.
      if (data.length < o + 6) return this.bad();
      len = data[o + 2] * 0x1000000 + ((data[o + 3] << 16) | (data[o + 4] << 8) | data[o + 5]);
      head = o + 6;
    }
    if (len === 0 || len > this.maxLength) {
      this.table.interrupt(key, timeNs);
      return this.bad();
    }
    const buf = new Uint8Array(1 + len);
    buf[0] = data[head - 1]; // the lowest length byte, as CANedge's tools keep it
    const take = Math.min(len, data.length - head);
    buf.set(data.subarray(head, head + take), 1);
    const p: Partial = { timeNs, lastNs: timeNs, id, extended, buf, filled: 1 + take, next: 1, frames: 1 };
    if (p.filled === buf.length) {
      this.table.interrupt(key, timeNs);
      return this.table.complete(key, p, stream, buf.length);
    }
    this.table.start(key, p);
    return TAKEN;
  }

  private consecutive(key: number, stream: number, timeNs: bigint, data: Uint8Array, o: number): PushResult {
    const p = this.table.get(key, timeNs);
    if (p === undefined) {
      this.table.stray();
      return TAKEN;
    }
    if ((data[o] & 0x0f) !== p.next) {
      this.table.drop(key, 'sequence');
      return TAKEN;
    }
    const take = Math.min(p.buf.length - p.filled, data.length - o - 1);
    p.buf.set(data.subarray(o + 1, o + 1 + take), p.filled);
    p.filled += take;
    p.next = (p.next + 1) & 0x0f;
    p.lastNs = timeNs;
    p.frames++;
    if (p.filled === p.buf.length) return this.table.complete(key, p, stream, p.buf.length);
    return TAKEN;
  }

  private bad(): PushResult {
    this.table.refuse('length');
    return TAKEN;
  }

  expire(nowNs: bigint): void {
    this.table.expire(nowNs);
  }

  finish(): void {
    this.table.finish();
  }
}
