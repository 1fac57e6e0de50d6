/**
 * MDF4 bus-log writer, written from the ASAM MDF 4.1 block layout (it shares no code with the reader, so a
 * misreading of the standard cannot cancel out between the two; the real device files are the reader's
 * independent check).
 *
 * Layouts:
 * - `canedge-v1`: like CANedge FW ≤ 01.04 — one unsorted DG, `CAN_DataFrame` (f64 ns timestamp, bit-packed
 *   fields, u64 offset into a VLSD channel group), `CAN_RemoteFrame`, `CAN_ErrorFrame`, LIN groups.
 * - `canedge-v2`: like CANedge FW ≥ 01.07 — one unsorted DG, one CG per (bus, channel, direction, id type, frame
 *   class) actually used; uint48 µs timestamps; BusChannel/IDE/Dir/EDL as virtual constant channels; DataLength
 *   through a value→value table; FD payloads over 8 bytes through a VLSD CG with u32 offsets.
 * - `asammdf`: finalised and sorted — one DG per CG, f64 seconds master, byte-aligned fields, FD/CAN payloads
 *   through SD signal data.
 * Options: record id size (1/2/4/8) for the unsorted layouts, finalised or not (`UnFinMF`, counts 0, last DT
 * length 24), DZ compression (deflate or transposed), DL chains of fixed-size blocks, HL header lists.
 *
 * The whole file is built in memory: meant for tests and modest recordings.
 */
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { SigflowError } from '../../errors/index.js';
import { formatTime } from '../../units/index.js';

export type WriteEvent =
  | 'CAN_DataFrame'
  | 'CAN_RemoteFrame'
  | 'CAN_ErrorFrame'
  | 'LIN_Frame'
  | 'LIN_ChecksumError'
  | 'LIN_ReceiveError'
  | 'LIN_SyncError'
  | 'LIN_TransmissionError';

export interface WriteFrame {
  timeNs: bigint;
  type?: WriteEvent;
  channel: number;
  id?: number;
  extended?: boolean;
  dir?: 'Rx' | 'Tx';
  dlc?: number;
  /** DataLength; default from dlc (CAN FD table when edl) or data length (LIN). */
  length?: number;
  edl?: boolean;
  brs?: boolean;
  esi?: boolean;
  errorType?: number;
  data?: Uint8Array;
}

export interface WriterOptions {
  layout: 'canedge-v1' | 'canedge-v2' | 'asammdf';
  startTimeNs: bigint;
  finalized?: boolean;
  recordIdSize?: 1 | 2 | 4 | 8;
  compression?: 'none' | 'deflate' | 'transposed';
  /** Split data into blocks of at most this many bytes, chained by a DL list. */
  blockSize?: number;
  /** Wrap the DL chain in an HL block. */
  headerList?: boolean;
  /** HD comment XML (default: a CANedge-style comment built from `device`). */
  hdComment?: string;
  device?: {
    serial?: string;
    firmware?: string;
    hardware?: string;
    session?: number;
    split?: number;
    comment?: string;
  };
}

const FD = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];
const te = new TextEncoder();

interface Blk {
  id: string;
  links: (Blk | null)[];
  data: Uint8Array;
  offset: number;
  /** Declared length override (unfinalised DT: 24). */
  declaredLength?: number;
}

function blk(id: string, links: (Blk | null)[], data: Uint8Array): Blk {
  return { id, links, data, offset: -1 };
}

function tx(s: string, id = 'TX'): Blk {
  const b = te.encode(s);
  const d = new Uint8Array(b.length + 1);
  d.set(b);
  return blk(id, [], d);
}

class Bytes {
  buf: Uint8Array;
  v: DataView;
  constructor(n: number) {
    this.buf = new Uint8Array(n);
    this.v = new DataView(this.buf.buffer);
  }
  u8(o: number, x: number) {
    this.v.setUint8(o, x);
    return this;
  }
  u16(o: number, x: number) {
    this.v.setUint16(o, x, true);
    return this;
  }
  u32(o: number, x: number) {
    this.v.setUint32(o, x >>> 0, true);
    return this;
  }
  u64(o: number, x: number | bigint) {
    this.v.setBigUint64(o, BigInt(x), true);
    return this;
  }
  f64(o: number, x: number) {
    this.v.setFloat64(o, x, true);
    return this;
  }
}

function cc(type: number, values: number[]): Blk {
  const d = new Bytes(24 + 8 * values.length);
  d.u8(0, type).u16(6, values.length);
  values.forEach((x, i) => {
    d.f64(24 + 8 * i, x);
  });
  return blk('CC', [null, null, null, null], d.buf);
}

interface CnSpec {
  name: string;
  type?: number; // cn_type
  sync?: number;
  dataType?: number;
  byteOffset?: number;
  bitOffset?: number;
  bitCount: number;
  cc?: Blk | null;
  data?: Blk | null;
  children?: CnSpec[];
}

function cnChain(specs: CnSpec[]): Blk | null {
  let next: Blk | null = null;
  for (let i = specs.length - 1; i >= 0; i--) {
    const s = specs[i];
    const d = new Bytes(72);
    d.u8(0, s.type ?? 0)
      .u8(1, s.sync ?? 0)
      .u8(2, s.dataType ?? 0)
      .u8(3, s.bitOffset ?? 0)
      .u32(4, s.byteOffset ?? 0)
      .u32(8, s.bitCount)
      .u32(12, s.type === 2 ? 0 : 1 << 10);
    const comp = s.children ? cnChain(s.children) : null;
    next = blk('CN', [next, comp, tx(s.name), null, s.cc ?? null, s.data ?? null, null, null], d.buf);
  }
  return next;
}

interface GroupDef {
  name: string;
  recordId: number;
  size: number;
  vlsd: boolean;
  channels: CnSpec[];
  /** Encodes one event into `rec` (record data, without id); may return VLSD payload bytes. */
  records: Uint8Array[];
  count: number;
  /** For sorted layouts: signal data entries (u32 len + bytes) of its VLSD channel. */
  sd?: Uint8Array[];
  sdBytes?: number;
  cg?: Blk;
  vlsdFor?: GroupDef;
  vlsdChannel?: CnSpec;
}

function defaultLength(f: WriteFrame): number {
  if (f.length !== undefined) return f.length;
  const t = f.type ?? 'CAN_DataFrame';
  if (t.startsWith('LIN')) return f.data?.length ?? 0;
  const dlc = f.dlc ?? 0;
  return f.edl ? FD[dlc & 15] : Math.min(dlc, 8);
}

/** Builds an MDF4 bus log in memory. */
export function buildBusLog(frames: Iterable<WriteFrame>, opts: WriterOptions): Uint8Array {
  const layout = opts.layout;
  const sorted = layout === 'asammdf';
  const finalized = opts.finalized ?? sorted;
  const ridSize = sorted ? 0 : (opts.recordIdSize ?? 1);
  const groups = new Map<string, GroupDef>();
  const order: GroupDef[] = [];
  let nextRid = 1;
  const group = (key: string, make: () => Omit<GroupDef, 'recordId' | 'records' | 'count'>): GroupDef => {
    let g = groups.get(key);
    if (!g) {
      g = { ...make(), recordId: nextRid++, records: [], count: 0 };
      groups.set(key, g);
      order.push(g);
    }
    return g;
  };
  const vlsdGroup = (owner: GroupDef): GroupDef => {
    if (owner.vlsdFor) return owner.vlsdFor;
    const g: GroupDef = { name: '', recordId: nextRid++, size: 0, vlsd: true, channels: [], records: [], count: 0 };
    owner.vlsdFor = g;
    order.splice(order.indexOf(owner) + 1, 0, g);
    return g;
  };
  let vlsdPos = new Map<GroupDef, number>();
  const addVlsd = (owner: GroupDef, payload: Uint8Array): number => {
    if (sorted) {
      owner.sd ??= [];
      const at = owner.sdBytes ?? 0;
      const e = new Uint8Array(4 + payload.length);
      new DataView(e.buffer).setUint32(0, payload.length, true);
      e.set(payload, 4);
      owner.sd.push(e);
      owner.sdBytes = at + e.length;
      return at;
    }
    const vg = vlsdGroup(owner);
    const at = vlsdPos.get(vg) ?? 0;
    const e = new Uint8Array(4 + payload.length);
    new DataView(e.buffer).setUint32(0, payload.length, true);
    e.set(payload, 4);
    vg.records.push(e);
    vg.count++;
    vlsdPos.set(vg, at + e.length);
    return at;
  };
  // all records in write order (unsorted layouts): [group, bytes]
  const stream: [GroupDef, Uint8Array][] = [];

  const linear = (a0: number, a1: number) => cc(1, [a0, a1]);
  for (const f of frames) {
    const type = f.type ?? 'CAN_DataFrame';
    const rel = f.timeNs - opts.startTimeNs;
    if (rel < 0n)
      throw new SigflowError(
        'SF_ERR_MDF4_WRITE_INPUT',
        `frame before start time (frame at ${formatTime(f.timeNs)}, start ${formatTime(opts.startTimeNs)})`,
      );
    const len = defaultLength(f);
    const data = f.data ?? new Uint8Array(0);
    const tx = f.dir === 'Tx' ? 1 : 0;
    const id = f.id ?? 0;
    const ext = f.extended ? 1 : 0;
    let g: GroupDef;
    let rec: Bytes;
    const pending: [GroupDef, Uint8Array][] = [];
    if (layout === 'canedge-v1') {
      const ts: CnSpec = { name: 'Timestamp', type: 2, sync: 1, dataType: 4, bitCount: 64, cc: linear(0, 1e-9) };
      const idf = (p: string): CnSpec[] => [
        { name: `${p}.BusChannel`, byteOffset: 8, bitOffset: 1, bitCount: 2 },
        { name: `${p}.ID`, byteOffset: 8, bitOffset: 3, bitCount: 29 },
        { name: `${p}.IDE`, byteOffset: 8, bitOffset: 0, bitCount: 1 },
      ];
      const linBase = (p: string, full: boolean): CnSpec[] =>
        full
          ? [
              { name: `${p}.BusChannel`, byteOffset: 8, bitOffset: 0, bitCount: 2 },
              { name: `${p}.ID`, byteOffset: 8, bitOffset: 2, bitCount: 6 },
              { name: `${p}.DataLength`, byteOffset: 9, bitOffset: 4, bitCount: 4 },
              { name: `${p}.ReceivedDataByteCount`, byteOffset: 9, bitOffset: 0, bitCount: 4 },
              { name: `${p}.Dir`, byteOffset: 10, bitOffset: 0, bitCount: 1 },
              { name: `${p}.DataBytes`, dataType: 10, byteOffset: 11, bitCount: 64 },
            ]
          : [
              { name: `${p}.BusChannel`, byteOffset: 8, bitOffset: 0, bitCount: 2 },
              { name: `${p}.ID`, byteOffset: 8, bitOffset: 2, bitCount: 6 },
            ];
      switch (type) {
        case 'CAN_DataFrame': {
          g = group('dat', () => ({
            name: 'CAN_DataFrame',
            size: 22,
            vlsd: false,
            channels: [
              ts,
              {
                name: 'CAN_DataFrame',
                dataType: 10,
                byteOffset: 8,
                bitCount: 112,
                children: [
                  ...idf('CAN_DataFrame'),
                  { name: 'CAN_DataFrame.DLC', byteOffset: 13, bitOffset: 4, bitCount: 4 },
                  { name: 'CAN_DataFrame.DataLength', byteOffset: 12, bitOffset: 1, bitCount: 7 },
                  { name: 'CAN_DataFrame.DataBytes', type: 1, dataType: 10, byteOffset: 14, bitCount: 64 },
                  { name: 'CAN_DataFrame.Dir', byteOffset: 12, bitOffset: 0, bitCount: 1 },
                  { name: 'CAN_DataFrame.EDL', byteOffset: 13, bitOffset: 0, bitCount: 1 },
                  { name: 'CAN_DataFrame.BRS', byteOffset: 13, bitOffset: 1, bitCount: 1 },
                  { name: 'CAN_DataFrame.ESI', byteOffset: 13, bitOffset: 2, bitCount: 1 },
                ],
              },
            ],
          }));
          rec = new Bytes(22);
          rec.u32(8, ext | ((f.channel & 3) << 1) | ((id & 0x1fffffff) << 3));
          rec.u8(12, tx | ((len & 0x7f) << 1));
          rec.u8(13, (f.edl ? 1 : 0) | (f.brs ? 2 : 0) | (f.esi ? 4 : 0) | ((f.dlc ?? 0) << 4));
          // device order: fixed record first, then its VLSD record
          const vg = vlsdGroup(g);
          const at = vlsdPos.get(vg) ?? 0;
          rec.u64(14, at);
          const e = new Uint8Array(4 + data.length);
          new DataView(e.buffer).setUint32(0, data.length, true);
          e.set(data, 4);
          vlsdPos.set(vg, at + e.length);
          vg.count++;
          pending.push([vg, e]);
          break;
        }
        case 'CAN_RemoteFrame':
          g = group('rtr', () => ({
            name: 'CAN_RemoteFrame',
            size: 14,
            vlsd: false,
            channels: [
              ts,
              {
                name: 'CAN_RemoteFrame',
                dataType: 10,
                byteOffset: 8,
                bitCount: 48,
                children: [
                  ...idf('CAN_RemoteFrame'),
                  { name: 'CAN_RemoteFrame.DLC', byteOffset: 13, bitOffset: 4, bitCount: 4 },
                  { name: 'CAN_RemoteFrame.DataLength', byteOffset: 12, bitOffset: 1, bitCount: 7 },
                  { name: 'CAN_RemoteFrame.Dir', byteOffset: 12, bitOffset: 0, bitCount: 1 },
                ],
              },
            ],
          }));
          rec = new Bytes(14);
          rec.u32(8, ext | ((f.channel & 3) << 1) | ((id & 0x1fffffff) << 3));
          rec.u8(12, tx | ((len & 0x7f) << 1));
          rec.u8(13, (f.dlc ?? 0) << 4);
          break;
        case 'CAN_ErrorFrame':
          g = group('err', () => ({
            name: 'CAN_ErrorFrame',
            size: 9,
            vlsd: false,
            channels: [
              ts,
              {
                name: 'CAN_ErrorFrame',
                dataType: 10,
                byteOffset: 8,
                bitCount: 8,
                children: [
                  { name: 'CAN_ErrorFrame.BusChannel', byteOffset: 8, bitOffset: 0, bitCount: 2 },
                  { name: 'CAN_ErrorFrame.ErrorType', byteOffset: 8, bitOffset: 2, bitCount: 6 },
                ],
              },
            ],
          }));
          rec = new Bytes(9);
          rec.u8(8, (f.channel & 3) | ((f.errorType ?? 0) << 2));
          break;
        default: {
          const full = type === 'LIN_Frame' || type === 'LIN_ChecksumError';
          g = group(type, () => ({
            name: type,
            size: full ? 19 : 9,
            vlsd: false,
            channels: [
              ts,
              { name: type, dataType: 10, byteOffset: 8, bitCount: full ? 88 : 8, children: linBase(type, full) },
            ],
          }));
          rec = new Bytes(full ? 19 : 9);
          rec.u8(8, (f.channel & 3) | ((id & 0x3f) << 2));
          if (full) {
            rec.u8(9, (data.length & 15) | ((len & 15) << 4));
            rec.u8(10, tx);
            rec.buf.set(data.subarray(0, 8), 11);
          }
        }
      }
      rec.f64(0, Number(rel));
    } else if (layout === 'canedge-v2') {
      if (rel % 1000n !== 0n)
        throw new SigflowError(
          'SF_ERR_MDF4_WRITE_INPUT',
          `canedge-v2 stores µs timestamps: frame times must be whole µs (frame at ${f.timeNs} ns)`,
        );
      const us = Number(rel / 1000n);
      const ts: CnSpec = { name: 'Timestamp', type: 2, sync: 1, dataType: 0, bitCount: 48, cc: linear(0, 1e-6) };
      const konst = (name: string, v: number): CnSpec => ({ name, type: 6, bitCount: 0, cc: linear(v, 0) });
      const ch = f.channel;
      const dirS = tx ? 'Tx' : 'Rx';
      if (type === 'CAN_DataFrame' || type === 'CAN_RemoteFrame') {
        const rtr = type === 'CAN_RemoteFrame';
        const fd = !!f.edl && !rtr;
        const over8 = fd && (f.dlc ?? 0) > 8;
        const idBytes = ext ? 4 : 2; // ID field then DLC byte
        const idBits = ext ? 29 : 11;
        const dlcAt = 6 + idBytes;
        const p = rtr ? 'CAN_RemoteFrame' : 'CAN_DataFrame';
        const name = rtr
          ? `CAN${ch}_RTR${ext ? '_IDE' : ''}_${dirS}`
          : `CAN${ch}_${dirS}${fd ? `_FD${ext ? '_IDE' : ''}_DLC_${over8 ? 'over' : 'up_to'}_8` : ext ? '_IDE' : ''}`;
        const dataAt = dlcAt + 1;
        const size = rtr ? dlcAt + 1 : over8 ? dataAt + 4 : dataAt + 8;
        g = group(name, () => {
          const kids: CnSpec[] = [
            konst(`${p}.BusChannel`, ch),
            { name: `${p}.ID`, byteOffset: 6, bitCount: idBits },
            konst(`${p}.IDE`, ext),
            { name: `${p}.DLC`, byteOffset: dlcAt, bitOffset: 0, bitCount: 4 },
            {
              name: `${p}.DataLength`,
              byteOffset: dlcAt,
              bitCount: 4,
              cc: rtr
                ? null
                : cc(
                    5,
                    FD.flatMap((v, i) => [i, fd ? v : Math.min(i, 8)]),
                  ),
            },
            konst(`${p}.Dir`, tx),
          ];
          if (!rtr) {
            kids.push(
              over8
                ? { name: `${p}.DataBytes`, type: 1, dataType: 10, byteOffset: dataAt, bitCount: 32 }
                : { name: `${p}.DataBytes`, dataType: 10, byteOffset: dataAt, bitCount: 64 },
            );
            if (fd)
              kids.push(
                konst(`${p}.EDL`, 1),
                { name: `${p}.ESI`, byteOffset: dlcAt, bitOffset: 7, bitCount: 1 },
                { name: `${p}.BRS`, byteOffset: dlcAt, bitOffset: 6, bitCount: 1 },
              );
          }
          return {
            name,
            size,
            vlsd: false,
            channels: [ts, { name: p, dataType: 10, byteOffset: 6, bitCount: (size - 6) * 8, children: kids }],
          };
        });
        rec = new Bytes(size);
        if (ext) rec.u32(6, id & 0x1fffffff);
        else rec.u16(6, id & 0x7ff);
        rec.u8(dlcAt, ((f.dlc ?? 0) & 15) | (f.brs ? 0x40 : 0) | (f.esi ? 0x80 : 0));
        if (!rtr) {
          if (over8) {
            const vg = vlsdGroup(g);
            const at = vlsdPos.get(vg) ?? 0;
            rec.u32(dataAt, at);
            const e = new Uint8Array(4 + data.length);
            new DataView(e.buffer).setUint32(0, data.length, true);
            e.set(data, 4);
            vlsdPos.set(vg, at + e.length);
            vg.count++;
            pending.push([vg, e]);
          } else rec.buf.set(data.subarray(0, 8), dataAt);
        }
      } else if (type === 'CAN_ErrorFrame') {
        g = group(`CAN${ch}_Errors`, () => ({
          name: `CAN${ch}_Errors`,
          size: 7,
          vlsd: false,
          channels: [
            ts,
            {
              name: 'CAN_ErrorFrame',
              dataType: 10,
              byteOffset: 6,
              bitCount: 8,
              children: [
                konst('CAN_ErrorFrame.BusChannel', ch),
                { name: 'CAN_ErrorFrame.ErrorType', byteOffset: 6, bitCount: 6 },
              ],
            },
          ],
        }));
        rec = new Bytes(7);
        rec.u8(6, (f.errorType ?? 0) & 0x3f);
      } else {
        const full = type === 'LIN_Frame' || type === 'LIN_ChecksumError';
        const short = type.replace('LIN_', '').replace('SyncError', 'SynchronizationError');
        const name = `LIN${ch}_${short}`;
        const size = full ? 16 : 7;
        g = group(name, () => ({
          name,
          size,
          vlsd: false,
          channels: [
            ts,
            {
              name: type,
              dataType: 10,
              byteOffset: 6,
              bitCount: (size - 6) * 8,
              children: full
                ? [
                    konst(`${type}.BusChannel`, ch),
                    { name: `${type}.ID`, byteOffset: 6, bitCount: 6 },
                    { name: `${type}.DataLength`, byteOffset: 7, bitCount: 4 },
                    { name: `${type}.ReceivedDataByteCount`, byteOffset: 7, bitOffset: 4, bitCount: 4 },
                    { name: `${type}.Dir`, byteOffset: 6, bitOffset: 7, bitCount: 1 },
                    { name: `${type}.DataBytes`, dataType: 10, byteOffset: 8, bitCount: 64 },
                  ]
                : [konst(`${type}.BusChannel`, ch), { name: `${type}.ID`, byteOffset: 6, bitCount: 6 }],
            },
          ],
        }));
        rec = new Bytes(size);
        rec.u8(6, (id & 0x3f) | (tx << 7));
        if (full) {
          rec.u8(7, (len & 15) | ((data.length & 15) << 4));
          rec.buf.set(data.subarray(0, 8), 8);
        }
      }
      rec.u32(0, us % 0x100000000).u16(4, Math.floor(us / 0x100000000));
    } else {
      // asammdf: sorted, byte-aligned fields, f64 seconds
      const seconds = Number(rel) / 1e9;
      const t: CnSpec = { name: 'timestamps', type: 2, sync: 1, dataType: 4, bitCount: 64 };
      const can = type.startsWith('CAN');
      const withData = type === 'CAN_DataFrame' || type === 'LIN_Frame' || type === 'LIN_ChecksumError';
      const size = 8 + 1 + 4 + 1 + 1 + 1 + 1 + 1 + (withData ? 8 : 0);
      g = group(type, () => {
        const kids: CnSpec[] = [
          { name: `${type}.BusChannel`, byteOffset: 8, bitCount: 8 },
          { name: `${type}.ID`, byteOffset: 9, bitCount: can ? 29 : 6 },
          { name: `${type}.IDE`, byteOffset: 13, bitCount: 1 },
          { name: `${type}.DLC`, byteOffset: 14, bitCount: 8 },
          { name: `${type}.DataLength`, byteOffset: 15, bitCount: 8 },
          { name: `${type}.Dir`, byteOffset: 16, bitOffset: 0, bitCount: 1 },
          { name: `${type}.EDL`, byteOffset: 16, bitOffset: 1, bitCount: 1 },
          { name: `${type}.BRS`, byteOffset: 16, bitOffset: 2, bitCount: 1 },
          { name: `${type}.ESI`, byteOffset: 16, bitOffset: 3, bitCount: 1 },
          { name: `${type}.ErrorType`, byteOffset: 17, bitCount: 8 },
        ];
        if (withData) kids.push({ name: `${type}.DataBytes`, type: 1, dataType: 10, byteOffset: 18, bitCount: 64 });
        return {
          name: type,
          size,
          vlsd: false,
          channels: [t, { name: type, dataType: 10, byteOffset: 8, bitCount: (size - 8) * 8, children: kids }],
        };
      });
      rec = new Bytes(size);
      rec.f64(0, seconds);
      rec
        .u8(8, f.channel)
        .u32(9, id)
        .u8(13, ext)
        .u8(14, can ? (f.dlc ?? 0) : len)
        .u8(15, len);
      rec.u8(16, tx | (f.edl ? 2 : 0) | (f.brs ? 4 : 0) | (f.esi ? 8 : 0)).u8(17, f.errorType ?? 0);
      if (withData) rec.u64(18, addVlsd(g, data));
    }
    g.count++;
    if (sorted) g.records.push(rec.buf);
    else {
      stream.push([g, rec.buf]);
      for (const pnd of pending) stream.push(pnd);
    }
  }
  vlsdPos = new Map();

  // ---- metadata blocks
  const hdComment = opts.hdComment ?? canedgeComment(opts.device ?? {});
  const siFor = new Map<string, Blk>();
  const si = (bus: number, name: string) => {
    const k = `${bus}${name}`;
    let b = siFor.get(k);
    if (!b) {
      b = blk('SI', [tx(name), tx(name), null], new Bytes(8).u8(0, 2).u8(1, bus).buf);
      siFor.set(k, b);
    }
    return b;
  };
  const cgBlock = (g: GroupDef, next: Blk | null, vlsdLink?: (cn: CnSpec) => Blk | null): Blk => {
    const d = new Bytes(32);
    d.u64(0, g.recordId);
    d.u64(8, finalized ? g.count : 0);
    if (g.vlsd) {
      d.u16(16, 1);
      const total = g.records.reduce((a, r) => a + r.length, 0);
      d.u64(24, finalized ? total : 0);
    } else {
      d.u16(16, 0b110);
      d.u32(24, g.size);
    }
    const b = blk(
      'CG',
      [
        next,
        null,
        g.name ? tx(g.name) : null,
        g.vlsd ? null : si(g.name.startsWith('LIN') ? 3 : 2, g.name.startsWith('LIN') ? 'LIN' : 'CAN'),
        null,
        null,
      ],
      d.buf,
    );
    if (!g.vlsd) {
      const patch = (specs: CnSpec[]): CnSpec[] =>
        specs.map((s) => ({
          ...s,
          data: s.type === 1 && vlsdLink ? vlsdLink(s) : s.data,
          children: s.children ? patch(s.children) : undefined,
        }));
      b.links[1] = cnChain(patch(g.channels));
    }
    g.cg = b;
    return b;
  };

  const dataChain = (bytes: Uint8Array, kind: 'DT' | 'SD', unfinalizedTail: boolean, recordSize: number): Blk => {
    const bs = opts.blockSize && opts.blockSize > 0 ? opts.blockSize : Math.max(bytes.length, 1);
    const pieces: Uint8Array[] = [];
    for (let o = 0; o < bytes.length; o += bs) pieces.push(bytes.subarray(o, Math.min(bytes.length, o + bs)));
    if (pieces.length === 0) pieces.push(new Uint8Array(0));
    const leaves = pieces.map((p) => {
      if (opts.compression && opts.compression !== 'none' && p.length > 0) {
        const transposed = opts.compression === 'transposed' && recordSize > 1;
        let src = p;
        if (transposed) {
          const rows = Math.floor(p.length / recordSize);
          src = new Uint8Array(p.length);
          for (let r = 0; r < rows; r++) for (let c = 0; c < recordSize; c++) src[c * rows + r] = p[r * recordSize + c];
          src.set(p.subarray(rows * recordSize), rows * recordSize);
        }
        const z = deflateSync(src);
        const d = new Bytes(24 + z.length);
        d.buf[0] = kind.charCodeAt(0);
        d.buf[1] = kind.charCodeAt(1);
        d.u8(2, transposed ? 1 : 0)
          .u32(4, transposed ? recordSize : 0)
          .u64(8, p.length)
          .u64(16, z.length);
        d.buf.set(z, 24);
        return blk('DZ', [], d.buf);
      }
      return blk(kind, [], p);
    });
    if (unfinalizedTail && leaves.length === 1 && leaves[0].id === 'DT') leaves[0].declaredLength = 24;
    if (leaves.length === 1 && !opts.headerList && !opts.blockSize) return leaves[0];
    const d = new Bytes(16);
    d.u8(0, 1).u32(4, leaves.length).u64(8, bs);
    const dl = blk('DL', [null, ...leaves], d.buf);
    if (!opts.headerList) return dl;
    const h = new Bytes(8);
    h.u16(0, 1).u8(2, opts.compression === 'transposed' ? 1 : 0);
    return blk('HL', [dl], h.buf);
  };

  const dgs: Blk[] = [];
  if (!sorted) {
    let total = 0;
    for (const [, r] of stream) total += ridSize + r.length;
    const all = new Uint8Array(total);
    const dv = new DataView(all.buffer);
    let o = 0;
    for (const [g, r] of stream) {
      if (ridSize === 1) dv.setUint8(o, g.recordId);
      else if (ridSize === 2) dv.setUint16(o, g.recordId, true);
      else if (ridSize === 4) dv.setUint32(o, g.recordId, true);
      else dv.setBigUint64(o, BigInt(g.recordId), true);
      all.set(r, o + ridSize);
      o += ridSize + r.length;
    }
    let next: Blk | null = null;
    for (let i = order.length - 1; i >= 0; i--) {
      const g = order[i];
      next = cgBlock(g, next, () => g.vlsdFor?.cg ?? null);
    }
    // VLSD links must point at the VLSD CG blocks (built above, later in the chain → patch now)
    for (const g of order) if (g.vlsdFor && g.cg) relinkVlsd(g.cg, g.vlsdFor.cg as Blk);
    const d = new Bytes(8).u8(0, ridSize);
    dgs.push(blk('DG', [null, next, dataChain(all, 'DT', !finalized, 0), null], d.buf));
  } else {
    for (const g of order) {
      const body = new Uint8Array(g.records.reduce((a, r) => a + r.length, 0));
      let o = 0;
      for (const r of g.records) {
        body.set(r, o);
        o += r.length;
      }
      let sdBlk: Blk | null = null;
      if (g.sd) {
        const sd = new Uint8Array(g.sdBytes ?? 0);
        let so = 0;
        for (const e of g.sd) {
          sd.set(e, so);
          so += e.length;
        }
        sdBlk = dataChain(sd, 'SD', false, 0);
      }
      const cgB = cgBlock(g, null, () => sdBlk);
      dgs.push(blk('DG', [null, cgB, dataChain(body, 'DT', false, g.size), null], new Bytes(8).buf));
    }
  }
  for (let i = 0; i + 1 < dgs.length; i++) dgs[i].links[0] = dgs[i + 1];
  const hdData = new Bytes(32);
  hdData.u64(0, opts.startTimeNs).u8(12, 2);
  const hd = blk('HD', [dgs[0] ?? null, null, null, null, null, tx(hdComment, 'MD')], hdData.buf);
  return serialize(hd, finalized, opts.layout === 'asammdf' ? 'sigflow' : 'CE');
}

function relinkVlsd(cg: Blk, target: Blk): void {
  const walk = (cn: Blk | null) => {
    for (let c = cn; c; c = c.links[0]) {
      if (c.data[0] === 1) c.links[5] = target;
      walk(c.links[1]);
    }
  };
  walk(cg.links[1]);
}

function canedgeComment(d: NonNullable<WriterOptions['device']>): string {
  const e = (k: string, v: string) => `<e name="${k}" ro="true">${v}</e>`;
  return (
    '<HDcomment><TX/><common_properties><tree name="Device Information">' +
    e('firmware version', d.firmware ?? '01.07.01') +
    e('hardware version', d.hardware ?? '00.03') +
    e('serial number', d.serial ?? '00000000') +
    '</tree><tree name="File Information">' +
    e('session', String(d.session ?? 1).padStart(8)) +
    e('split', String(d.split ?? 1).padStart(8)) +
    e('comment', (d.comment ?? '').padStart(32)) +
    '</tree></common_properties></HDcomment>'
  );
}

function serialize(root: Blk, finalized: boolean, program: string): Uint8Array {
  // lay out blocks depth-first from HD; 8-byte aligned
  const list: Blk[] = [];
  const seen = new Set<Blk>();
  const visit = (b: Blk | null) => {
    if (!b || seen.has(b)) return;
    seen.add(b);
    list.push(b);
    for (const l of b.links) visit(l);
  };
  visit(root);
  // data blocks last (an unfinalised DT must be the final block)
  const meta = list.filter((b) => !['DT', 'SD', 'DZ'].includes(b.id));
  const data = list.filter((b) => ['DT', 'SD', 'DZ'].includes(b.id));
  data.sort((a, b) => (a.declaredLength !== undefined ? 1 : 0) - (b.declaredLength !== undefined ? 1 : 0));
  let off = 64;
  for (const b of [...meta, ...data]) {
    b.offset = off;
    off += 24 + 8 * b.links.length + b.data.length;
    off = (off + 7) & ~7;
  }
  const out = new Uint8Array(off);
  const v = new DataView(out.buffer);
  const id = finalized ? 'MDF     ' : 'UnFinMF ';
  out.set(te.encode(id), 0);
  out.set(te.encode('4.11    '), 8);
  out.set(te.encode(program.padEnd(8).slice(0, 8)), 16);
  v.setUint16(28, 411, true);
  if (!finalized) v.setUint16(60, 0x25, true);
  for (const b of [...meta, ...data]) {
    const o = b.offset;
    out[o] = 0x23;
    out[o + 1] = 0x23;
    out[o + 2] = b.id.charCodeAt(0);
    out[o + 3] = b.id.charCodeAt(1);
    const len = 24 + 8 * b.links.length + b.data.length;
    v.setBigUint64(o + 8, BigInt(b.declaredLength ?? len), true);
    v.setBigUint64(o + 16, BigInt(b.links.length), true);
    b.links.forEach((l, i) => {
      v.setBigUint64(o + 24 + 8 * i, BigInt(l ? l.offset : 0), true);
    });
    out.set(b.data, o + 24 + 8 * b.links.length);
  }
  if (!finalized) {
    // the unfinalised DT runs to end of file: drop alignment padding after it
    const last = data[data.length - 1];
    if (last && last.declaredLength !== undefined) return out.subarray(0, last.offset + 24 + last.data.length);
  }
  return out;
}

export function writeBusLog(path: string, frames: Iterable<WriteFrame>, opts: WriterOptions): void {
  writeFileSync(path, buildBusLog(frames, opts));
}
