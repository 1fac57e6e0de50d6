/**
 * SAE J1939-21 transport protocol reassembly, listening only: broadcast (BAM) and connection mode (RTS/CTS).
 *
 * TP.CM (PGN 0xEC00) announces a message: control byte 32 = BAM, 16 = RTS (connection mode), 255 = abort; its
 * size (bytes 1–2, little endian, 9–1785), packet count (byte 3) and the PGN it carries (bytes 5–7). TP.DT
 * (PGN 0xEB00) frames carry 7 bytes each after a sequence number (1…count). Messages are kept apart per stream,
 * source and destination address. Packets must come in order; in connection mode the receiver's CTS may ask for
 * packets again from an earlier number, and then those are taken again (a listener follows the CTS).
 *
 * The message handed on is the data alone (trimmed to the announced size) under the 29-bit id
 * `priority 6 | PGN | source address` (for a PDU1 PGN the destination address in PS), as CANedge's tools build
 * it, so J1939 DBC messages match it by PGN. The time is the TP.CM frame's.
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

/** J1939-21 T1: the longest gap between two TP.DT packets of a transfer. */
export const J1939_TIMEOUT_MS = 750;
export const J1939_MAX_LENGTH = 1785;

const PF_TP_CM = 0xec;
const PF_TP_DT = 0xeb;
const CM_RTS = 16;
const CM_CTS = 17;
const CM_BAM = 32;
const CM_ABORT = 255;

interface J1939Partial extends Partial {
  /** True for a connection-mode transfer (a CTS may ask for packets again). */
  connection: boolean;
  /** Packets announced. */
  packets: number;
}

export class J1939Reassembler implements Reassembler {
  readonly protocol = 'j1939';
  private readonly table: PartialTable;

  constructor(options: ReassemblerOptions = {}) {
    this.table = new PartialTable('j1939', options.timeoutMs ?? J1939_TIMEOUT_MS);
  }

  get stats() {
    return this.table.stats;
  }

  wants(id: number, extended: boolean): boolean {
    const pf = (id >>> 16) & 0xff;
    return extended && (pf === PF_TP_CM || pf === PF_TP_DT);
  }

  push(stream: number, timeNs: bigint, id: number, extended: boolean, data: Uint8Array): PushResult {
    if (!extended) return NOT_TRANSPORT;
    const pf = (id >>> 16) & 0xff;
    if (pf !== PF_TP_CM && pf !== PF_TP_DT) return NOT_TRANSPORT;
    const sa = id & 0xff;
    const da = (id >>> 8) & 0xff;
    if (pf === PF_TP_CM) this.control(stream, timeNs, sa, da, data);
    else return this.transfer(stream, timeNs, sa, da, data);
    return TAKEN;
  }

  private control(stream: number, timeNs: bigint, sa: number, da: number, data: Uint8Array): void {
    if (data.length < 8) {
      this.table.stray();
      return;
    }
    const code = data[0];
    if (code === CM_ABORT) {
      // Either side may abort: drop the transfer in both directions.
      this.table.drop(stream * 0x10000 + (sa << 8) + da, 'aborted');
      this.table.drop(stream * 0x10000 + (da << 8) + sa, 'aborted');
      return;
    }
    if (code === CM_CTS) {
      // The receiver asks for packets from data[2] on: the sender may repeat packets it already sent.
      const p = this.table.get(stream * 0x10000 + (da << 8) + sa, timeNs) as J1939Partial | undefined;
      if (p?.connection && data[1] > 0 && data[2] >= 1 && data[2] <= p.next) p.next = data[2];
      return;
    }
    if (code !== CM_BAM && code !== CM_RTS) return; // end-of-message ack: nothing to take
    const key = stream * 0x10000 + (sa << 8) + da;
    const size = data[1] | (data[2] << 8);
    const packets = data[3];
    if (size < 9 || size > J1939_MAX_LENGTH || packets !== Math.ceil(size / 7)) {
      this.table.interrupt(key, timeNs);
      this.table.refuse('length');
      return;
    }
    const pgn = data[5] | (data[6] << 8) | ((data[7] & 0x03) << 16);
    const pdu1 = ((pgn >>> 8) & 0xff) < 240;
    const id = ((6 << 26) | ((pdu1 ? (pgn & 0x3ff00) | da : pgn) << 8) | sa) >>> 0;
    const p: J1939Partial = {
      timeNs,
      lastNs: timeNs,
      id,
      extended: true,
      buf: new Uint8Array(size),
      filled: 0,
      next: 1,
      frames: 1,
      connection: code === CM_RTS,
      packets,
    };
    this.table.start(key, p);
  }

  private transfer(stream: number, timeNs: bigint, sa: number, da: number, data: Uint8Array): PushResult {
    const key = stream * 0x10000 + (sa << 8) + da;
    const p = this.table.get(key, timeNs) as J1939Partial | undefined;
    if (p === undefined || data.length < 2) {
      this.table.stray();
      return TAKEN;
    }
    const seq = data[0];
    if (seq !== p.next) {
      this.table.drop(key, 'sequence');
      return TAKEN;
    }
    const at = (seq - 1) * 7;
    const take = Math.min(7, p.buf.length - at);
    if (data.length - 1 < take) {
      this.table.drop(key, 'length'); // a packet shorter than the bytes it must carry
      return TAKEN;
    }
    p.buf.set(data.subarray(1, 1 + take), at);
    p.next = seq + 1;
    p.lastNs = timeNs;
    p.frames++;
    return seq === p.packets ? this.table.complete(key, p, stream, p.buf.length) : TAKEN;
  }

  expire(nowNs: bigint): void {
    this.table.expire(nowNs);
  }

  finish(): void {
    this.table.finish();
  }
}
