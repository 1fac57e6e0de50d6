/**
 * Bus-logging extraction (ASAM MDF4 bus logging as written by CANedge and asammdf): CAN data / remote / error
 * frames (classic and FD) and LIN frames / LIN errors, as columnar batches merged into one time-ordered stream.
 *
 * Generic: a bus-event channel group is recognised by its channel names (`CAN_DataFrame.ID`, `LIN_Frame.DataBytes`,
 * …); each field is located by the CN block's byte offset / bit offset / bit count / data type / conversion, and
 * virtual channels (cn_type 6, CANedge FW ≥ 01.07) evaluate their conversion at the record index (a constant when
 * the linear factor is 0). For every channel group an extractor function is generated for exactly that layout.
 * No firmware-specific offsets are hard-coded.
 *
 * Each channel group is in time order on its own; groups are not (FW ≥ 01.07 interleaves groups with backward
 * steps up to ~1 s). `readBusFrames` streams every group with its own cursor (bounded memory: one chunk per
 * group) and k-way merges them; ties keep on-disk order.
 */
import { type Channel, type ChannelGroup, type Conversion, type DataGroup, flattenChannels } from './blocks.js';
import { convert } from './channels.js';
import { Mdf4Error } from './errors.js';
import type { Mdf4File } from './file.js';
import { countRecords } from './records.js';
import { GroupWalker, type WalkChunk, type WalkTarget } from './walk.js';

export const BUS_CAN = 0;
export const BUS_LIN = 1;

/** Event types (FrameBatch.type). */
export const EV_CAN_DATA = 0;
export const EV_CAN_REMOTE = 1;
export const EV_CAN_ERROR = 2;
export const EV_LIN_FRAME = 3;
export const EV_LIN_CHECKSUM_ERROR = 4;
export const EV_LIN_RECEIVE_ERROR = 5;
export const EV_LIN_SYNC_ERROR = 6;
export const EV_LIN_TRANSMISSION_ERROR = 7;

export const EVENT_NAMES = [
  'CAN_DataFrame',
  'CAN_RemoteFrame',
  'CAN_ErrorFrame',
  'LIN_Frame',
  'LIN_ChecksumError',
  'LIN_ReceiveError',
  'LIN_SyncError',
  'LIN_TransmissionError',
] as const;
export type EventName = (typeof EVENT_NAMES)[number];

/** FrameBatch.flags bits. */
export const FLAG_EXT = 1;
export const FLAG_TX = 2;
export const FLAG_EDL = 4;
export const FLAG_BRS = 8;
export const FLAG_ESI = 16;

export type FrameKind = 'data' | 'remote' | 'error';

export function kindOf(type: number): FrameKind {
  if (type === EV_CAN_DATA || type === EV_LIN_FRAME) return 'data';
  if (type === EV_CAN_REMOTE) return 'remote';
  return 'error';
}

/** CAN FD DLC → payload length. */
export const FD_LENGTH = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];

/**
 * A batch of bus events, column by column (index i = one event).
 * - time: `startNs + BigInt(offsetNs[i])` ns since the Unix epoch (HD start time + the record's master value);
 *   offsetNs holds integers, exact below 2^53 ns (~104 days after the HD start).
 * - data: bytes of event i are `data.subarray(dataStart[i], dataStart[i + 1])` (the first `length[i]` bytes of
 *   DataBytes, or fewer if the record holds fewer; none for remote frames). A DataLength beyond the bus maximum
 *   (CAN 64, LIN 8) is clamped with a warning; `length[i]` is then the number of bytes kept.
 * - group: index into `mdf.channelGroups` of the channel group the event came from; recordPos: its byte offset
 *   in its data group's record stream (on-disk order).
 */
export interface FrameBatch {
  count: number;
  startNs: bigint;
  offsetNs: Float64Array;
  bus: Uint8Array;
  type: Uint8Array;
  channel: Uint8Array;
  id: Uint32Array;
  flags: Uint8Array;
  dlc: Uint8Array;
  length: Uint8Array;
  errorType: Uint8Array;
  dataStart: Uint32Array;
  data: Uint8Array;
  group: Uint16Array;
  recordPos: Float64Array;
}

/** One event as a plain object (convenience; the batch API is the fast path). */
export interface BusFrame {
  timeNs: bigint;
  bus: 'CAN' | 'LIN';
  type: EventName;
  kind: FrameKind;
  channel: number;
  id: number;
  extended: boolean;
  dir: 'Rx' | 'Tx';
  dlc: number;
  length: number;
  edl: boolean;
  brs: boolean;
  esi: boolean;
  errorType: number;
  data: Uint8Array;
}

export function frameAt(b: FrameBatch, i: number): BusFrame {
  const f = b.flags[i];
  return {
    timeNs: b.startNs + BigInt(b.offsetNs[i]),
    bus: b.bus[i] === BUS_LIN ? 'LIN' : 'CAN',
    type: EVENT_NAMES[b.type[i]],
    kind: kindOf(b.type[i]),
    channel: b.channel[i],
    id: b.id[i],
    extended: (f & FLAG_EXT) !== 0,
    dir: f & FLAG_TX ? 'Tx' : 'Rx',
    dlc: b.dlc[i],
    length: b.length[i],
    edl: (f & FLAG_EDL) !== 0,
    brs: (f & FLAG_BRS) !== 0,
    esi: (f & FLAG_ESI) !== 0,
    errorType: b.errorType[i],
    data: b.data.slice(b.dataStart[i], b.dataStart[i + 1]),
  };
}

/** The columns of a batch (also implemented by the internal per-group queues). */
type Cols = Omit<FrameBatch, 'count' | 'startNs'>;

class Builder {
  n = 0;
  dn = 0;
  /** Time of the last record seen by an extractor, and how often time went backwards (within one group). */
  lastT = Number.NEGATIVE_INFINITY;
  disorder = 0;
  /** First record (stream position) whose data length was out of range (clamped), and that length; -1 none. */
  clampAt = -1;
  clampLen = 0;
  offsetNs!: Float64Array;
  recordPos!: Float64Array;
  bus!: Uint8Array;
  type!: Uint8Array;
  channel!: Uint8Array;
  id!: Uint32Array;
  flags!: Uint8Array;
  dlc!: Uint8Array;
  length!: Uint8Array;
  errorType!: Uint8Array;
  group!: Uint16Array;
  dataStart!: Uint32Array;
  data!: Uint8Array;
  /** Queue use (internal per-group buffers): events before `head` were consumed by the merge. */
  head = 0;
  constructor(
    public cap: number,
    readonly startNs: bigint,
  ) {
    this.alloc();
  }
  /** Queue use: makes room for `extra` more events (moves unconsumed events to the front, grows if needed). */
  ensure(extra: number): void {
    if (this.head > 0) this.compact();
    if (this.n + extra <= this.cap) return;
    let c = this.cap * 2;
    while (c < this.n + extra) c *= 2;
    const n = this.n;
    const g = <T extends Float64Array | Uint8Array | Uint16Array | Uint32Array>(a: T, make: (c: number) => T): T => {
      const b = make(c);
      b.set(a.subarray(0, n) as never);
      return b;
    };
    this.offsetNs = g(this.offsetNs, (k) => new Float64Array(k));
    this.recordPos = g(this.recordPos, (k) => new Float64Array(k));
    this.bus = g(this.bus, (k) => new Uint8Array(k));
    this.type = g(this.type, (k) => new Uint8Array(k));
    this.channel = g(this.channel, (k) => new Uint8Array(k));
    this.id = g(this.id, (k) => new Uint32Array(k));
    this.flags = g(this.flags, (k) => new Uint8Array(k));
    this.dlc = g(this.dlc, (k) => new Uint8Array(k));
    this.length = g(this.length, (k) => new Uint8Array(k));
    this.errorType = g(this.errorType, (k) => new Uint8Array(k));
    this.group = g(this.group, (k) => new Uint16Array(k));
    const ds = new Uint32Array(c + 1);
    ds.set(this.dataStart.subarray(0, n + 1));
    this.dataStart = ds;
    this.cap = c;
  }
  /** Queue use: drops the consumed events [0, head). */
  compact(): void {
    const h = this.head;
    if (h === 0) return;
    const n = this.n;
    if (h >= n) {
      this.n = 0;
      this.dn = 0;
      this.head = 0;
      return;
    }
    this.offsetNs.copyWithin(0, h, n);
    this.recordPos.copyWithin(0, h, n);
    this.bus.copyWithin(0, h, n);
    this.type.copyWithin(0, h, n);
    this.channel.copyWithin(0, h, n);
    this.id.copyWithin(0, h, n);
    this.flags.copyWithin(0, h, n);
    this.dlc.copyWithin(0, h, n);
    this.length.copyWithin(0, h, n);
    this.errorType.copyWithin(0, h, n);
    this.group.copyWithin(0, h, n);
    const d0 = this.dataStart[h];
    const ds = this.dataStart;
    for (let i = h; i < n; i++) ds[i - h] = ds[i] - d0;
    this.data.copyWithin(0, d0, this.dn);
    this.dn -= d0;
    this.n = n - h;
    this.head = 0;
  }
  private alloc(): void {
    const c = this.cap;
    this.offsetNs = new Float64Array(c);
    this.recordPos = new Float64Array(c);
    this.bus = new Uint8Array(c);
    this.type = new Uint8Array(c);
    this.channel = new Uint8Array(c);
    this.id = new Uint32Array(c);
    this.flags = new Uint8Array(c);
    this.dlc = new Uint8Array(c);
    this.length = new Uint8Array(c);
    this.errorType = new Uint8Array(c);
    this.group = new Uint16Array(c);
    this.dataStart = new Uint32Array(c + 1);
    this.data = new Uint8Array(Math.max(1024, c * 8));
    this.n = 0;
    this.dn = 0;
  }
  growData(extra: number): Uint8Array {
    let cap = this.data.length * 2;
    while (cap < this.dn + extra) cap *= 2;
    const d = new Uint8Array(cap);
    d.set(this.data.subarray(0, this.dn));
    this.data = d;
    return d;
  }
  take(): FrameBatch {
    const n = this.n;
    this.dataStart[n] = this.dn;
    const b: FrameBatch = {
      count: n,
      startNs: this.startNs,
      offsetNs: this.offsetNs.subarray(0, n),
      bus: this.bus.subarray(0, n),
      type: this.type.subarray(0, n),
      channel: this.channel.subarray(0, n),
      id: this.id.subarray(0, n),
      flags: this.flags.subarray(0, n),
      dlc: this.dlc.subarray(0, n),
      length: this.length.subarray(0, n),
      errorType: this.errorType.subarray(0, n),
      group: this.group.subarray(0, n),
      dataStart: this.dataStart.subarray(0, n + 1),
      data: this.data.subarray(0, this.dn),
      recordPos: this.recordPos.subarray(0, n),
    };
    // the arrays now belong to the batch; a taken builder is not used again
    return b;
  }
  /** Appends events [from, to) of batch (or queue) s. */
  copyRange(s: Cols, from: number, to: number): void {
    const n = this.n;
    const k = to - from;
    const a = s.dataStart[from];
    const l = s.dataStart[to] - a;
    if (this.dn + l > this.data.length) this.growData(l);
    if (k >= 256) {
      // long runs: bulk copies
      this.offsetNs.set(s.offsetNs.subarray(from, to), n);
      this.recordPos.set(s.recordPos.subarray(from, to), n);
      this.bus.set(s.bus.subarray(from, to), n);
      this.type.set(s.type.subarray(from, to), n);
      this.channel.set(s.channel.subarray(from, to), n);
      this.id.set(s.id.subarray(from, to), n);
      this.flags.set(s.flags.subarray(from, to), n);
      this.dlc.set(s.dlc.subarray(from, to), n);
      this.length.set(s.length.subarray(from, to), n);
      this.errorType.set(s.errorType.subarray(from, to), n);
      this.group.set(s.group.subarray(from, to), n);
      this.data.set(s.data.subarray(a, a + l), this.dn);
    } else {
      // short runs (groups interleaved tightly): plain loops, no subarray objects
      const OT = this.offsetNs;
      const RP = this.recordPos;
      const BU = this.bus;
      const TY = this.type;
      const CH = this.channel;
      const ID = this.id;
      const FL = this.flags;
      const DC = this.dlc;
      const LN = this.length;
      const ET = this.errorType;
      const GR = this.group;
      const sOT = s.offsetNs;
      const sRP = s.recordPos;
      const sBU = s.bus;
      const sTY = s.type;
      const sCH = s.channel;
      const sID = s.id;
      const sFL = s.flags;
      const sDC = s.dlc;
      const sLN = s.length;
      const sET = s.errorType;
      const sGR = s.group;
      for (let i = 0; i < k; i++) {
        const o = n + i;
        const f = from + i;
        OT[o] = sOT[f];
        RP[o] = sRP[f];
        BU[o] = sBU[f];
        TY[o] = sTY[f];
        CH[o] = sCH[f];
        ID[o] = sID[f];
        FL[o] = sFL[f];
        DC[o] = sDC[f];
        LN[o] = sLN[f];
        ET[o] = sET[f];
        GR[o] = sGR[f];
      }
      const D = this.data;
      const sD = s.data;
      const dn = this.dn;
      for (let i = 0; i < l; i++) D[dn + i] = sD[a + i];
    }
    const shift = this.dn - a;
    const ds = this.dataStart;
    const ss = s.dataStart;
    for (let i = 0; i < k; i++) ds[n + i] = ss[from + i] + shift;
    this.dn += l;
    this.n = n + k;
  }
  /** Appends event i of batch (or queue) s. */
  copyFrom(s: Cols, i: number): void {
    const n = this.n;
    this.offsetNs[n] = s.offsetNs[i];
    this.recordPos[n] = s.recordPos[i];
    this.bus[n] = s.bus[i];
    this.type[n] = s.type[i];
    this.channel[n] = s.channel[i];
    this.id[n] = s.id[i];
    this.flags[n] = s.flags[i];
    this.dlc[n] = s.dlc[i];
    this.length[n] = s.length[i];
    this.errorType[n] = s.errorType[i];
    this.group[n] = s.group[i];
    this.dataStart[n] = this.dn;
    const a = s.dataStart[i];
    const l = s.dataStart[i + 1] - a;
    if (this.dn + l > this.data.length) this.growData(l);
    const d = this.data;
    const src = s.data;
    for (let k = 0; k < l; k++) d[this.dn + k] = src[a + k];
    this.dn += l;
    this.n = n + 1;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Layout compilation

const FIELDS = [
  'ID',
  'IDE',
  'BusChannel',
  'DLC',
  'DataLength',
  'DataBytes',
  'Dir',
  'EDL',
  'BRS',
  'ESI',
  'ErrorType',
] as const;
type FieldName = (typeof FIELDS)[number];

export interface BusGroupLayout {
  cg: ChannelGroup;
  dg: DataGroup;
  event: number;
  bus: number;
  master: Channel;
  fields: Partial<Record<FieldName, Channel>>;
}

function isTextConversion(cc: Conversion | null): boolean {
  return !!cc && cc.type >= 7;
}

/** Recognises a bus-event channel group by its channel names; null if it is not one (or lacks a time master). */
export function busLayout(dg: DataGroup, cg: ChannelGroup): BusGroupLayout | null {
  if (cg.isVlsd) return null;
  const all = flattenChannels(cg.channels);
  let event = -1;
  const fields: Partial<Record<FieldName, Channel>> = {};
  for (const ch of all) {
    const dot = ch.name.indexOf('.');
    const prefix = dot < 0 ? ch.name : ch.name.slice(0, dot);
    const ev = (EVENT_NAMES as readonly string[]).indexOf(prefix);
    if (ev < 0) continue;
    if (event < 0) event = ev;
    if (ev !== event || dot < 0) continue;
    const f = ch.name.slice(ch.name.lastIndexOf('.') + 1) as FieldName;
    if ((FIELDS as readonly string[]).includes(f) && !fields[f]) fields[f] = ch;
  }
  if (event < 0) return null;
  const master =
    all.find((c) => (c.type === 2 || c.type === 3) && c.syncType === 1) ??
    all.find((c) => c.type === 2 || c.type === 3);
  if (!master) return null;
  return { cg, dg, event, bus: event >= EV_LIN_FRAME ? BUS_LIN : BUS_CAN, master, fields };
}

/**
 * Bus-event channel groups of a file. Files that share a metadata parse (blocks.ts: splits of one firmware) share
 * their layouts, and so their extractors (compileExtractor): nothing is recompiled per split.
 */
export function busGroups(mdf: Mdf4File): BusGroupLayout[] {
  const known = layoutsOf.get(mdf.groups);
  if (known) return known;
  const out: BusGroupLayout[] = [];
  for (const dg of mdf.groups)
    for (const cg of dg.channelGroups) {
      const l = busLayout(dg, cg);
      if (l) out.push(l);
    }
  layoutsOf.set(mdf.groups, out);
  return out;
}
const layoutsOf = new WeakMap<DataGroup[], BusGroupLayout[]>();

function num(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  if (x === Number.NEGATIVE_INFINITY) return '-Infinity';
  return `(${String(x)})`;
}

/** Slow path for odd bit fields: unsigned little/big-endian value of up to 53 bits. */
function readUnsigned(b: Uint8Array, at: number, bitOffset: number, bitCount: number, be: boolean): number {
  const nbytes = (bitOffset + bitCount + 7) >> 3;
  let v = 0;
  if (nbytes <= 6) {
    if (be) for (let i = 0; i < nbytes; i++) v = v * 256 + b[at + i];
    else for (let i = nbytes - 1; i >= 0; i--) v = v * 256 + b[at + i];
    return Math.floor(v / 2 ** bitOffset) % 2 ** bitCount;
  }
  let big = 0n;
  if (be) for (let i = 0; i < nbytes; i++) big = (big << 8n) | BigInt(b[at + i]);
  else for (let i = nbytes - 1; i >= 0; i--) big = (big << 8n) | BigInt(b[at + i]);
  return Number((big >> BigInt(bitOffset)) & ((1n << BigInt(Math.min(bitCount, 64))) - 1n));
}

interface CompileCtx {
  luts: Float64Array[];
  convs: Conversion[];
  recordSize: number;
  file: string;
  where: string;
}

function bad(cx: CompileCtx, ch: Channel | null, offset: number, msg: string): never {
  throw new Mdf4Error(cx.file, ch ? ch.offset : offset, `${cx.where}: ${ch ? `channel "${ch.name}": ` : ''}${msg}`);
}

/** JS expression for a channel's raw value in the record at `p` (record index `ix`). */
function rawExpr(ch: Channel, cx: CompileCtx): string {
  return `(${rawExprInner(ch, cx)})`;
}

function rawExprInner(ch: Channel, cx: CompileCtx): string {
  if (ch.type === 3 || ch.type === 6) return 'ix';
  const dt = ch.dataType;
  const o = ch.byteOffset;
  const nbytes = Math.ceil((ch.bitOffset + ch.bitCount) / 8); // not >>: bit counts are u32 from the file
  if (o + nbytes > cx.recordSize)
    bad(cx, ch, 0, `byte ${o}, ${ch.bitCount} bits lie outside the ${cx.recordSize}-byte record`);
  if (dt === 4 || dt === 5) {
    const le = dt === 4;
    if (ch.bitCount === 64) return `v.getFloat64(p+${o},${le})`;
    if (ch.bitCount === 32) return `v.getFloat32(p+${o},${le})`;
    bad(cx, ch, 0, `float with ${ch.bitCount} bits is not supported here`);
  }
  if (dt > 3) bad(cx, ch, 0, `non-numeric data type ${dt}`);
  if (ch.bitCount === 0) return '0';
  if (ch.bitCount > 64) bad(cx, ch, 0, `${ch.bitCount}-bit integers are not supported`);
  let e: string;
  const be = dt === 1 || dt === 3;
  const bo = ch.bitOffset;
  const bc = ch.bitCount;
  if (!be && bc + bo <= 32 && nbytes <= 4) {
    const parts: string[] = [];
    for (let i = 0; i < nbytes; i++) parts.push(i === 0 ? `b[p+${o}]` : `(b[p+${o + i}]<<${8 * i})`);
    e = `((${parts.join('|')})>>>${bo})`;
    if (bc < 32) e = `(${e}&${2 ** bc - 1})`;
  } else if (!be && bo === 0 && bc === 48) {
    e = `((b[p+${o}]|(b[p+${o + 1}]<<8)|(b[p+${o + 2}]<<16)|(b[p+${o + 3}]<<24))>>>0)+(b[p+${o + 4}]|(b[p+${o + 5}]<<8))*4294967296`;
  } else if (!be && bo === 0 && bc === 64) {
    e = `(v.getUint32(p+${o},true)+v.getUint32(p+${o + 4},true)*4294967296)`;
  } else {
    e = `ru(b,p+${o},${bo},${Math.min(bc, 64)},${be})`;
  }
  if (dt === 2 || dt === 3) {
    // sign-extend
    const half = 2 ** (bc - 1);
    e = `((x=>x>=${half}?x-${2 ** bc}:x)(${e}))`;
  }
  return e;
}

/** JS expression for a channel's physical numeric value (conversion applied; text conversions ignored). */
function valueExpr(ch: Channel, cx: CompileCtx): string {
  const raw = rawExpr(ch, cx);
  const cc = ch.conversion;
  if (!cc || cc.type === 0 || isTextConversion(cc)) return raw;
  if (cc.type === 1 && cc.values.length >= 2) {
    const [a0, a1] = cc.values;
    if (a1 === 0) return num(a0);
    return `(${num(a0)}+${num(a1)}*${raw})`;
  }
  const virtualOrSmall = ch.type !== 3 && ch.type !== 6 && ch.dataType <= 1 && ch.bitCount <= 16;
  if (virtualOrSmall) {
    const lut = new Float64Array(2 ** ch.bitCount);
    for (let i = 0; i < lut.length; i++) {
      const y = convert(cc, i);
      lut[i] = typeof y === 'number' ? y : i;
    }
    cx.luts.push(lut);
    return `LUT[${cx.luts.length - 1}][${raw}]`;
  }
  cx.convs.push(cc);
  return `cv(C[${cx.convs.length - 1}],${raw})`;
}

function masterExpr(ch: Channel, cx: CompileCtx): string {
  const raw = rawExpr(ch, cx);
  const cc = ch.conversion;
  let a0 = 0;
  let a1 = 1;
  if (cc && cc.type === 1 && cc.values.length >= 2) [a0, a1] = cc.values;
  else if (cc && cc.type !== 0) {
    cx.convs.push(cc);
    return `Math.round(cv(C[${cx.convs.length - 1}],${raw})*1e9)`;
  }
  const m = a1 * 1e9;
  const mi = Math.round(m);
  const ai = Math.round(a0 * 1e9);
  if (mi !== 0 && Math.abs(m - mi) <= 1e-6 * Math.abs(mi) && Math.abs(a0 * 1e9 - ai) <= 1e-6)
    return mi === 1 ? `Math.round(${raw}+${num(ai)})` : `Math.round(${raw}*${num(mi)}+${num(ai)})`;
  return `Math.round((${num(a0)}+${num(a1)}*${raw})*1e9)`;
}

type Extractor = (
  b: Uint8Array,
  v: DataView,
  pos: Int32Array,
  sb: number,
  from: number,
  to: number,
  ix0: number,
  vl: { data: Uint8Array; start: Int32Array; len: Int32Array }[],
  out: Builder,
  lo: number,
  hi: number,
  gi: number,
  keep: KeepMemo | null,
) => number;

/**
 * A reader's filter on channel and id (ReadBusOptions.keep): records it refuses are skipped after their channel
 * and id are read — no payload copied, no event emitted. It must answer the same for the same arguments: the
 * reader remembers its answers.
 */
export type KeepFrame = (channel: number, id: number, extended: boolean) => boolean;

/** A KeepFrame's answers for standard ids, per channel (0 not asked yet, 1 refused, 2 kept): a table read per frame. */
class KeepMemo {
  private readonly std: (Uint8Array | undefined)[] = [];
  constructor(private readonly keep: KeepFrame) {}
  /** Called by the extractors (`fl`: the frame's flags, bit 0 = extended id). */
  kept(ch: number, id: number, fl: number): boolean {
    if ((fl & 1) !== 0 || id >= 2048 || ch > 255) return this.keep(ch, id, (fl & 1) !== 0);
    let t = this.std[ch];
    if (t === undefined) {
      t = new Uint8Array(2048);
      this.std[ch] = t;
    }
    let a = t[id];
    if (a === 0) {
      a = this.keep(ch, id, false) ? 2 : 1;
      t[id] = a;
    }
    return a === 2;
  }
}

/**
 * Generated extractors by source text (+ lookup tables): files with the same layout (every CANedge log of a
 * firmware) share one function, so it is optimised once per process instead of once per file and group.
 */
const extractorCache = new Map<string, Extractor>();
/** The extractor of a layout object (shared by the files of one metadata parse: see busGroups). */
const extractorOf = new WeakMap<BusGroupLayout, { vlsd: Channel[]; fn: Extractor }>();
const EXTRACTOR_CACHE_MAX = 256;

/**
 * Generates the extractor for one bus channel group. Returns a function that appends records [lo, hi) of a
 * chunk to the builder (filtered by time) and returns the number appended.
 */
export function compileExtractor(
  layout: BusGroupLayout,
  groupIndex: number,
  vlsdChannels: Channel[],
  file: string,
  where: string,
): Extractor {
  const made = extractorOf.get(layout);
  if (made && made.vlsd.length === vlsdChannels.length && made.vlsd.every((c, i) => c === vlsdChannels[i]))
    return made.fn;
  const cx: CompileCtx = { luts: [], convs: [], recordSize: layout.cg.dataBytes, file, where };
  const f = layout.fields;
  const val = (name: FieldName, dflt: string) => (f[name] ? valueExpr(f[name] as Channel, cx) : dflt);
  const isCan = layout.bus === BUS_CAN;
  const lines: string[] = [];
  lines.push(
    'let n=out.n,d=out.dn,D=out.data,c=0,lt=out.lastT;const OT=out.offsetNs,RP=out.recordPos,BU=out.bus,TY=out.type,GR=out.group,CH=out.channel,ID=out.id,FL=out.flags,DC=out.dlc,LN=out.length,ET=out.errorType,DS=out.dataStart;',
  );
  lines.push('for(let i=lo;i<hi;i++){const p=pos[i];const ix=ix0+i;');
  lines.push(`const t=${masterExpr(layout.master, cx)};`);
  // the builder's counters are stored in the loop, not after it: code after a loop that V8 optimised on the stack
  // (OSR) in the first chunk has no type feedback and deoptimised the function at the end of every chunk
  lines.push('if(t<lt)out.disorder++;lt=t;out.lastT=t;if(t<from||t>to)continue;');
  lines.push(`let id=${val('ID', '0')}>>>0;`);
  lines.push(
    `let fl=(${val('IDE', '0')}?1:0)|(${val('Dir', '0')}?2:0)|(${val('EDL', '0')}?4:0)|(${val('BRS', '0')}?8:0)|(${val('ESI', '0')}?16:0);`,
  );
  if (isCan) lines.push('if(id>0x1fffffff){id&=0x1fffffff;fl|=1;}');
  lines.push(`const ch=${val('BusChannel', '0')};`);
  lines.push('if(keep!==null&&!keep.kept(ch,id,fl))continue;');
  lines.push(`const dlc=${val('DLC', '0')};`);
  // a declared length beyond the bus maximum (CAN 64, LIN 8), negative or not a number is clamped (the length
  // column is a byte; a longer payload keeps its first allowed bytes) and reported once per group
  // (its length is then the bytes kept, so length[i] === dataStart[i+1]-dataStart[i])
  const maxLen = isCan ? 64 : 8;
  const clamp = `if(!(len>=0&&len<=${maxLen})){cl=1;if(out.clampAt<0){out.clampAt=sb+p;out.clampLen=len;}len=len>${maxLen}?${maxLen}:0;}len=len|0;`;
  if (f.DataLength) lines.push(`let cl=0,len=${valueExpr(f.DataLength, cx)};${clamp}`);
  else if (isCan) lines.push('const cl=0,len=(fl&4)?FD[dlc&15]:(dlc>8?8:dlc);');
  else lines.push(`let cl=0,len=dlc;${clamp}`);
  // data bytes
  const db = f.DataBytes;
  const copyData = db && layout.event !== EV_CAN_REMOTE;
  if (copyData) {
    const vi = vlsdChannels.indexOf(db);
    if (vi >= 0) {
      lines.push(
        `const col=vl[${vi}];const al=col.len[i];if(al<0)continue;const L=len<al?len:al;const so=col.start[i];const S=col.data;`,
      );
      lines.push('if(d+L>D.length){out.dn=d;D=out.growData(L);}');
      lines.push('for(let k=0;k<L;k++)D[d+k]=S[so+k];');
    } else {
      if (db.type !== 0 || db.bitOffset !== 0 || db.bitCount % 8 !== 0)
        bad(cx, db, 0, 'DataBytes must be byte-aligned bytes');
      const nb = db.bitCount / 8; // not >> 3: a damaged u32 bit count would turn negative
      if (nb <= 0 || db.byteOffset + nb > cx.recordSize) bad(cx, db, 0, 'DataBytes lie outside the record');
      lines.push(`const L=len<${nb}?len:${nb};`);
      lines.push('if(d+L>D.length){out.dn=d;D=out.growData(L);}');
      lines.push(`for(let k=0;k<L;k++)D[d+k]=b[p+${db.byteOffset}+k];`);
    }
  } else lines.push('const L=0;');
  lines.push('OT[n]=t;RP[n]=sb+p;');
  lines.push(`BU[n]=${layout.bus};TY[n]=${layout.event};GR[n]=gi;`);
  lines.push('CH[n]=ch;ID[n]=id;FL[n]=fl;');
  lines.push(isCan ? 'DC[n]=dlc;' : 'DC[n]=len;');
  lines.push(`LN[n]=cl?L:len;ET[n]=${val('ErrorType', '0')};`);
  lines.push('DS[n]=d;d+=L;n++;c++;out.n=n;out.dn=d;}');
  lines.push('return c;');
  const body = lines.join('\n');
  void groupIndex;
  // cacheable when the function depends on its text only (no conversion objects; small tables by value)
  let key: string | null = null;
  if (cx.convs.length === 0 && cx.luts.reduce((a, l) => a + l.length, 0) <= 4096)
    key = `${body}\n${cx.luts.map((l) => Array.from(l).join(',')).join(';')}`;
  const hit = key === null ? undefined : extractorCache.get(key);
  if (hit) {
    extractorOf.set(layout, { vlsd: vlsdChannels, fn: hit });
    return hit;
  }
  const make = new Function(
    'LUT',
    'C',
    'cv',
    'ru',
    'FD',
    `return function(b,v,pos,sb,from,to,ix0,vl,out,lo,hi,gi,keep){${body}}`,
  );
  const fn = make(cx.luts, cx.convs, convertNumber, readUnsigned, FD_LENGTH) as Extractor;
  if (key !== null) {
    if (extractorCache.size >= EXTRACTOR_CACHE_MAX) extractorCache.clear();
    extractorCache.set(key, fn);
  }
  extractorOf.set(layout, { vlsd: vlsdChannels, fn });
  return fn;
}

function convertNumber(cc: Conversion, raw: number): number {
  const y = convert(cc, raw);
  return typeof y === 'number' ? y : raw;
}

// ---------------------------------------------------------------------------------------------------------
// Streams and merge

export interface ReadBusOptions {
  /** Only events at or after this time (ns since epoch). */
  from?: bigint;
  /** Only events at or before this time (ns since epoch). */
  to?: bigint;
  /** Events per batch (default 65536). */
  batchSize?: number;
  /** Restrict to these event types (EV_* values). */
  types?: number[];
  /** Only frames this accepts (by channel, id, extended flag): the others are skipped inside the reader. */
  keep?: KeepFrame;
  /**
   * With `keep`: also yield after every chunk walked (≤ 1 MiB) when no full batch was — an empty batch if nothing
   * was kept — so a consumer whose filter keeps little still gets control back per chunk (to give its event loop a
   * turn, to notice a cancellation) instead of once per file. (A single group read alone; several are merged.)
   */
  everyChunk?: boolean;
}

/**
 * Bus groups that hold records (of `types`, when given), with record counts: one structural pass per unsorted,
 * unfinalised data group — except when a single group is wanted, which needs no count (-1: unknown; it is read
 * alone, so nothing waits on its end, and an empty group simply yields nothing).
 */
export async function activeBusGroups(
  mdf: Mdf4File,
  types?: readonly number[],
): Promise<{ layout: BusGroupLayout; records: number }[]> {
  let layouts = busGroups(mdf);
  if (types) layouts = layouts.filter((l) => types.includes(l.event));
  if (layouts.length === 1 && !mdf.finalized) return [{ layout: layouts[0], records: -1 }];
  const out: { layout: BusGroupLayout; records: number }[] = [];
  const counted = new Map<DataGroup, Map<number, number>>();
  for (const l of layouts) {
    let n: number;
    if (l.dg.channelGroups.length === 1 && l.dg.recIdSize === 0) n = mdf.finalized ? l.cg.cycleCount : -1;
    else if (mdf.finalized) n = l.cg.cycleCount;
    else {
      let m = counted.get(l.dg);
      if (!m) {
        m = await countRecords(mdf, l.dg);
        counted.set(l.dg, m);
      }
      n = m.get(l.cg.recordId) ?? 0;
    }
    if (n !== 0) out.push({ layout: l, records: n });
  }
  return out;
}

/**
 * Tuning of the extraction (internal; tests lower the limits to exercise the fallbacks).
 * - maxPendingEvents: events one walker may hold for the merge while a channel group of its data group has
 *   none yet (a quiet group blocks the merge). Beyond it that group is detached to its own walker (see README).
 */
export const busTuning = {
  maxPendingEvents: 1 << 18,
  /** groups detached so far (a statistic for tests) */ detached: 0,
};

/** One bus channel group being extracted: its walker target, its queue of extracted events, its merge head. */
interface GroupState {
  layout: BusGroupLayout;
  gi: number;
  dgIndex: number;
  name: string;
  ex: Extractor;
  /** Records the group holds (counting pass or cycle count); -1 unknown. */
  expected: number;
  walker: GroupWalker;
  target: WalkTarget;
  q: Builder;
  warnedDisorder: boolean;
  warnedExtra: boolean;
  warnedClamp: boolean;
}

/**
 * All bus events of the file as time-ordered batches (k-way merge of the per-group streams; ties keep on-disk
 * order). Each data group's record stream is walked once for all of its bus groups (see walk.ts).
 * Memory: one data chunk per data group, the events the merge has not emitted yet (bounded, see busTuning) and
 * the batch being filled.
 */
export async function* readBusFrames(mdf: Mdf4File, opts: ReadBusOptions = {}): AsyncGenerator<FrameBatch> {
  const batchSize = Math.max(1, opts.batchSize ?? 65536);
  const start = mdf.header.startTimeNs;
  const from = opts.from === undefined ? Number.NEGATIVE_INFINITY : Number(opts.from - start);
  const to = opts.to === undefined ? Number.POSITIVE_INFINITY : Number(opts.to - start);
  const keep = opts.keep ? new KeepMemo(opts.keep) : null;
  const allGroups = mdf.channelGroups;
  const active = await activeBusGroups(mdf, opts.types);
  const walkers = new Map<DataGroup, GroupWalker>();
  const states: GroupState[] = [];
  const direct = active.length === 1;
  /** Direct mode (one group): full batches waiting to be yielded. */
  const ready: FrameBatch[] = [];
  let emitted = 0;
  const cap = (expected: number) => (expected > 0 ? Math.max(1, Math.min(batchSize, expected - emitted)) : batchSize);
  for (const { layout, records } of active) {
    const gi = allGroups.indexOf(layout.cg);
    const name = layout.cg.acqName ?? EVENT_NAMES[layout.event];
    let w = walkers.get(layout.dg);
    if (!w) {
      w = new GroupWalker(mdf, layout.dg);
      walkers.set(layout.dg, w);
    }
    const st = {
      layout,
      gi,
      dgIndex: layout.dg.index,
      name,
      expected: records,
      walker: w,
      q: new Builder(direct && records >= 0 ? cap(records) : Math.min(4096, cap(records)), start),
      warnedDisorder: false,
      warnedExtra: false,
      warnedClamp: false,
    } as GroupState;
    try {
      st.target = w.add(layout.cg, direct ? directConsumer(st) : queueConsumer(st));
      st.ex = compileExtractor(layout, gi, st.target.vlsdChannels, mdf.name, `channel group "${name}"`);
    } catch (e) {
      if (!(e instanceof Mdf4Error)) throw e;
      if (st.target) w.detach(st.target);
      mdf.reader.warn(e.offset, `${e.detail}; group skipped`, 'SF_WARN_MDF4_GROUP_SKIPPED');
      continue;
    }
    states.push(st);
  }

  function noteDisorder(st: GroupState): void {
    if (st.q.clampAt >= 0 && !st.warnedClamp) {
      st.warnedClamp = true;
      mdf.reader.warn(
        st.layout.cg.offset,
        `channel group "${st.name}": data length ${st.q.clampLen} of the record at data-group stream offset ${st.q.clampAt} is out of range (max ${st.layout.bus === BUS_CAN ? 64 : 8}); clamped (further ones not reported)`,
        'SF_WARN_MDF4_DATA_DAMAGED',
      );
    }
    if (st.q.disorder > 0 && !st.warnedDisorder) {
      st.warnedDisorder = true;
      mdf.reader.warn(
        st.layout.cg.offset,
        `channel group "${st.name}" is not in time order; merged stream may be out of order`,
        'SF_WARN_MDF4_OUT_OF_ORDER',
      );
    }
  }
  function queueConsumer(st: GroupState) {
    return (c: WalkChunk) => {
      st.q.ensure(c.count);
      st.ex(c.buf, c.view, c.pos, c.spBase, from, to, c.index0, c.vlsd, st.q, 0, c.count, st.gi, keep);
      st.q.dataStart[st.q.n] = st.q.dn;
      noteDisorder(st);
    };
  }
  function directConsumer(st: GroupState) {
    return (c: WalkChunk) => {
      let lo = 0;
      while (lo < c.count) {
        const out = st.q;
        const hi = Math.min(c.count, lo + (out.cap - out.n));
        st.ex(c.buf, c.view, c.pos, c.spBase, from, to, c.index0, c.vlsd, out, lo, hi, st.gi, keep);
        noteDisorder(st);
        lo = hi;
        if (out.n >= out.cap) {
          emitted += out.n;
          ready.push(out.take());
          // a known count: what is left, and a small batch once it is reached (usually nothing more comes); an
          // unknown count, or more records than it said (a damaged cycle count): growing batches
          const grow = Math.min(batchSize, Math.max(1024, out.cap * 4));
          const size =
            st.expected < 0
              ? grow
              : emitted < st.expected
                ? cap(st.expected)
                : emitted === st.expected
                  ? Math.min(batchSize, 1024)
                  : grow;
          const next = new Builder(size, start);
          next.lastT = out.lastT;
          next.disorder = out.disorder;
          st.q = next;
        }
      }
    };
  }

  if (direct && states.length === 1) {
    const st = states[0];
    const none = opts.everyChunk ? new Builder(0, start).take() : null;
    while (await st.walker.pull()) {
      if (none && ready.length === 0) yield none;
      for (const b of ready) yield b;
      ready.length = 0;
    }
    for (const b of ready) yield b;
    if (st.q.n > 0) yield st.q.take();
    return;
  }

  const isDone = (st: GroupState) => st.walker.done || (st.expected >= 0 && st.target.index >= st.expected);
  const pending = (w: GroupWalker) => {
    let n = 0;
    for (const st of states) if (st.walker === w) n += st.q.n - st.q.head;
    return n;
  };

  /** Pulls `st`'s walker once; if the merge is then holding too much for a group that still has nothing, detaches it. */
  async function refill(st: GroupState): Promise<void> {
    const w = st.walker;
    await w.pull();
    if (st.q.n > st.q.head || isDone(st)) return;
    if (w.targets.filter((t) => t.active).length < 2 || pending(w) <= busTuning.maxPendingEvents) return;
    // detach: a walker of its own takes over from where the shared one is
    busTuning.detached++;
    w.detach(st.target);
    const nw = new GroupWalker(mdf, st.layout.dg);
    const old = st.target;
    const t = nw.add(st.layout.cg, queueConsumer(st), w.position);
    if (!t.specs.some((sp) => sp.slot >= 0)) {
      // no VLSD records to re-index: skip straight to the position (records before it are not walked)
      nw.startAt(w.position);
      t.index = old.index;
      t.minPos = 0;
    }
    st.walker = nw;
    st.target = t;
  }

  // output batches sized for what is left when every group's count is known (small files: small batches)
  const total = states.every((st) => st.expected >= 0) ? states.reduce((a, st) => a + st.expected, 0) : -1;
  let merged = 0;
  const outCap = () => (total >= 0 ? Math.max(1, Math.min(batchSize, total - merged)) : batchSize);
  let out = new Builder(outCap(), start);
  for (;;) {
    // every group that may still have events needs a head before anything can be emitted
    let best: GroupState | null = null;
    let second: GroupState | null = null;
    let blocked: GroupState | null = null;
    let nonEmpty = 0;
    for (const st of states) {
      if (st.q.n > st.q.head) {
        nonEmpty++;
        if (st.expected >= 0 && st.target.index > st.expected && !st.warnedExtra) {
          st.warnedExtra = true;
          mdf.reader.warn(
            st.layout.cg.offset,
            `channel group "${st.name}" has more records than its cycle count says; merged stream may be out of order`,
            'SF_WARN_MDF4_OUT_OF_ORDER',
          );
        }
        if (!best || before(st, best)) {
          second = best;
          best = st;
        } else if (!second || before(st, second)) second = st;
      } else if (!isDone(st)) {
        blocked = st;
        break;
      }
    }
    if (blocked) {
      await refill(blocked);
      continue;
    }
    if (!best) break;
    if (second && nonEmpty === 2) {
      // the common case: two groups with events, every other one done — one comparison per event
      merge2(out, best, second, out.cap);
      if (out.n >= out.cap) {
        merged += out.n;
        yield out.take();
        out = new Builder(outCap(), start);
      }
      continue;
    }
    const q = best.q;
    const j = second ? runEnd(best, second) : q.n;
    while (q.head < j) {
      const take = Math.min(j - q.head, out.cap - out.n);
      out.copyRange(q, q.head, q.head + take);
      q.head += take;
      if (out.n >= out.cap) {
        merged += out.n;
        yield out.take();
        out = new Builder(outCap(), start);
      }
    }
  }
  if (out.n > 0) yield out.take();
}

/**
 * The end of `best`'s run of events that come before `second`'s head (ties: data group, then on-disk position).
 * A small function of its own, like merge2: a per-event loop inside the large async readBusFrames made V8 optimise
 * all of readBusFrames (expensive to compile) in a first pass.
 */
function runEnd(best: GroupState, second: GroupState): number {
  const q = best.q;
  const ot = q.offsetNs;
  const rp = q.recordPos;
  const sq = second.q;
  const limT = sq.offsetNs[sq.head];
  const limP = sq.recordPos[sq.head];
  const limD = second.dgIndex;
  const d = best.dgIndex;
  const n = q.n;
  let j = q.head;
  while (j < n) {
    const t = ot[j];
    if (t > limT || (t === limT && (d > limD || (d === limD && rp[j] > limP)))) break;
    j++;
  }
  return j;
}

/**
 * Merges two groups' queues into `out` until one queue is empty or `out` holds `limit` events (≤ its capacity;
 * ties: data group, then on-disk position).
 */
function merge2(out: Builder, x: GroupState, y: GroupState, limit: number): void {
  const a = x.q;
  const b = y.q;
  const da = x.dgIndex;
  const db = y.dgIndex;
  let ia = a.head;
  let ib = b.head;
  const na = a.n;
  const nb = b.n;
  let n = out.n;
  let dn = out.dn;
  const cap = Math.min(out.cap, limit);
  const OT = out.offsetNs;
  const RP = out.recordPos;
  const BU = out.bus;
  const TY = out.type;
  const CH = out.channel;
  const ID = out.id;
  const FL = out.flags;
  const DC = out.dlc;
  const LN = out.length;
  const ET = out.errorType;
  const GR = out.group;
  const DS = out.dataStart;
  let D = out.data;
  const aT = a.offsetNs;
  const aP = a.recordPos;
  const bT = b.offsetNs;
  const bP = b.recordPos;
  const aBU = a.bus;
  const aTY = a.type;
  const aCH = a.channel;
  const aID = a.id;
  const aFL = a.flags;
  const aDC = a.dlc;
  const aLN = a.length;
  const aET = a.errorType;
  const aGR = a.group;
  const aDS = a.dataStart;
  const aD = a.data;
  const bBU = b.bus;
  const bTY = b.type;
  const bCH = b.channel;
  const bID = b.id;
  const bFL = b.flags;
  const bDC = b.dlc;
  const bLN = b.length;
  const bET = b.errorType;
  const bGR = b.group;
  const bDS = b.dataStart;
  const bD = b.data;
  while (ia < na && ib < nb && n < cap) {
    const ta = aT[ia];
    const tb = bT[ib];
    if (ta < tb || (ta === tb && (da < db || (da === db && aP[ia] < bP[ib])))) {
      OT[n] = aT[ia];
      RP[n] = aP[ia];
      BU[n] = aBU[ia];
      TY[n] = aTY[ia];
      CH[n] = aCH[ia];
      ID[n] = aID[ia];
      FL[n] = aFL[ia];
      DC[n] = aDC[ia];
      LN[n] = aLN[ia];
      ET[n] = aET[ia];
      GR[n] = aGR[ia];
      DS[n] = dn;
      const from = aDS[ia];
      const l = aDS[ia + 1] - from;
      if (dn + l > D.length) {
        out.dn = dn;
        D = out.growData(l);
      }
      for (let k = 0; k < l; k++) D[dn + k] = aD[from + k];
      dn += l;
      ia++;
    } else {
      OT[n] = bT[ib];
      RP[n] = bP[ib];
      BU[n] = bBU[ib];
      TY[n] = bTY[ib];
      CH[n] = bCH[ib];
      ID[n] = bID[ib];
      FL[n] = bFL[ib];
      DC[n] = bDC[ib];
      LN[n] = bLN[ib];
      ET[n] = bET[ib];
      GR[n] = bGR[ib];
      DS[n] = dn;
      const from = bDS[ib];
      const l = bDS[ib + 1] - from;
      if (dn + l > D.length) {
        out.dn = dn;
        D = out.growData(l);
      }
      for (let k = 0; k < l; k++) D[dn + k] = bD[from + k];
      dn += l;
      ib++;
    }
    n++;
  }
  out.n = n;
  out.dn = dn;
  a.head = ia;
  b.head = ib;
}

function before(a: GroupState, b: GroupState): boolean {
  const ta = a.q.offsetNs[a.q.head];
  const tb = b.q.offsetNs[b.q.head];
  if (ta !== tb) return ta < tb;
  if (a.dgIndex !== b.dgIndex) return a.dgIndex < b.dgIndex;
  return a.q.recordPos[a.q.head] < b.q.recordPos[b.q.head];
}

/** Per-event iterator over `readBusFrames` (allocates one object per event: convenient, not the fast path). */
export async function* busFrames(mdf: Mdf4File, opts: ReadBusOptions = {}): AsyncGenerator<BusFrame> {
  for await (const b of readBusFrames(mdf, opts)) for (let i = 0; i < b.count; i++) yield frameAt(b, i);
}
