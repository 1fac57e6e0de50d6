/**
 * Record layer: streams the records of one channel group out of its data group, in bounded chunks.
 *
 * Sorted groups (one CG, no record ids) are sliced arithmetically. Unsorted groups (record ids of 1/2/4/8 bytes)
 * are walked record by record; other groups' records are skipped by their size (fixed) or length prefix (VLSD).
 * VLSD channels are resolved to their bytes: from a VLSD channel group in the same data group (offsets count the
 * 4-byte length prefixes of that group's record stream; devices write the fixed record *before* its VLSD record,
 * so a reference may point ahead — the cursor then carries the unresolved tail into the next chunk) or from an
 * SD/DL/DZ/HL signal-data chain (sorted files).
 *
 * Damage (unknown record id, record cut off by end of file, VLSD reference that never resolves, broken data
 * chain) ends the stream after the last good record, with a warning on the file.
 */
import type { Channel, ChannelGroup, DataGroup } from './blocks.js';
import { flattenChannels } from './blocks.js';
import { collectDataBlockStarts, DataStream, SignalDataReader, type StreamContext, UNFIN_DT_LENGTH } from './data.js';
import type { Mdf4File } from './file.js';

export interface VlsdColumn {
  /** Bytes of the resolved payloads of this chunk. */
  data: Uint8Array;
  start: Int32Array;
  /** Payload length, or -1 when the reference could not be resolved. */
  len: Int32Array;
}

export interface RecordChunk {
  buf: Uint8Array;
  view: DataView;
  /** Start of each record's data (after the record id) in `buf`. */
  pos: Int32Array;
  /** Offset of each record (its id) in the data group's logical byte stream: on-disk order. */
  streamPos: Float64Array;
  count: number;
  /** Cycle index (0-based, within the channel group) of the first record. */
  index0: number;
  /** One column per entry of `cursor.vlsdChannels`. */
  vlsd: VlsdColumn[];
}

export const MAX_CARRY = 64 * 1024 * 1024;

/** Tuning hook (tests): the bound on bytes carried between chunks, i.e. on one incomplete record. */
export const recordTuning = { maxCarry: MAX_CARRY };

/** Largest incomplete record carried from one chunk to the next before the walk stops with a warning. */
export function maxCarryOf(_mdf: Mdf4File): number {
  return recordTuning.maxCarry > 0 ? recordTuning.maxCarry : MAX_CARRY;
}

/**
 * Whether a fixed record whose VLSD reference `o` lies ahead of everything walked (`o >= next`) should wait for
 * the next chunk. Devices write the fixed record just before its VLSD record, so a genuine reference ahead is
 * satisfied by the data the next read brings: `o` is below `next` + the incomplete tail (`len - walked`) + one
 * chunk, and the fixed record (at `rp`) lies within one chunk of the walk position. Anything else (a corrupt
 * offset) would make every pull keep and grow the buffer without ever resolving: it is resolved as missing.
 */
export function vlsdAheadPlausible(
  o: number,
  next: number,
  rp: number,
  walked: number,
  len: number,
  chunkSize: number,
): boolean {
  return o - next < len - walked + chunkSize && walked - rp < chunkSize;
}
const MAX_RETAINED = 16 * 1024 * 1024;

const dataStartsOf = new WeakMap<Mdf4File, Promise<number[]>>();

export function streamContext(mdf: Mdf4File): StreamContext {
  return {
    reader: mdf.reader,
    unfinalized: !mdf.finalized && (mdf.id.unfinalizedFlags & UNFIN_DT_LENGTH) !== 0,
    blockStarts: mdf.reader.blockStarts,
    dataBlockStarts: () => {
      let p = dataStartsOf.get(mdf);
      if (!p) {
        const links: number[] = [];
        for (const dg of mdf.groups) {
          links.push(dg.dataLink);
          for (const cg of dg.channelGroups)
            for (const ch of flattenChannels(cg.channels))
              if (ch.type === 1 && ch.dataLink !== 0 && !dg.channelGroups.some((g) => g.offset === ch.dataLink))
                links.push(ch.dataLink);
        }
        p = collectDataBlockStarts(mdf.reader, links);
        dataStartsOf.set(mdf, p);
      }
      return p;
    },
  };
}

/** Reads an unsigned little-endian record id of 1/2/4/8 bytes. */
export function readRid(b: Uint8Array, p: number, size: number): number {
  switch (size) {
    case 1:
      return b[p];
    case 2:
      return b[p] | (b[p + 1] << 8);
    case 4:
      return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
    default: {
      const lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
      const hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
      return hi >= 0x200000 ? -1 : hi * 0x100000000 + lo;
    }
  }
}

export class Growable {
  data = new Uint8Array(4096);
  n = 0;
  push(src: Uint8Array, from: number, len: number): number {
    if (this.n + len > this.data.length) {
      let cap = this.data.length * 2;
      while (cap < this.n + len) cap *= 2;
      const d = new Uint8Array(cap);
      d.set(this.data.subarray(0, this.n));
      this.data = d;
    }
    const at = this.n;
    const d = this.data;
    if (len <= 64) for (let k = 0; k < len; k++) d[at + k] = src[from + k];
    else d.set(src.subarray(from, from + len), at);
    this.n += len;
    return at;
  }
}

/** Entries of one VLSD channel group seen so far: stream offset → bytes (typed columns, reused). */
export class VlsdEntries {
  off = new Float64Array(256);
  /** 0 = current chunk buffer, 1 = retained copy. */
  src = new Uint8Array(256);
  pos = new Int32Array(256);
  len = new Int32Array(256);
  n = 0;
  retained = new Uint8Array(0);
  next = 0; // stream offset of the next entry
  ptr = 0;
  lastUsed = -1;
  add(off: number, src: number, pos: number, len: number): void {
    if (this.n === this.off.length) {
      const c = this.n * 2;
      const o = new Float64Array(c);
      o.set(this.off);
      this.off = o;
      const s = new Uint8Array(c);
      s.set(this.src);
      this.src = s;
      const p = new Int32Array(c);
      p.set(this.pos);
      this.pos = p;
      const l = new Int32Array(c);
      l.set(this.len);
      this.len = l;
    }
    const i = this.n++;
    this.off[i] = off;
    this.src[i] = src;
    this.pos[i] = pos;
    this.len[i] = len;
  }
  /** Index of the entry with stream offset `o`, -2 if it lies ahead (not seen yet), -1 if missing. */
  find(o: number): number {
    const off = this.off;
    const n = this.n;
    let i = this.ptr;
    if (i >= n || off[i] > o) i = 0;
    while (i < n && off[i] < o) i++;
    this.ptr = i;
    if (i < n && off[i] === o) return i;
    if (o >= this.next) return -2;
    return -1;
  }
  /** Drops entries whose records start in the current buffer at or after `cut` (they will be walked again). */
  truncateFrom(cut: number, ridSize: number): void {
    let i = this.n;
    while (i > 0 && this.src[i - 1] === 0 && this.pos[i - 1] - 4 - ridSize >= cut) i--;
    if (i < this.n) {
      this.next = this.off[i];
      this.n = i;
    }
    if (this.ptr > this.n) this.ptr = 0;
  }
  /** Keeps (copied) the entries not used yet, before the current buffer goes away. */
  retain(buf: Uint8Array): boolean {
    let first = 0;
    while (first < this.n && this.off[first] <= this.lastUsed) first++;
    let dropped = false;
    if (this.n - first > 65536) {
      first = this.n - 65536;
      dropped = true;
    }
    let bytes = 0;
    for (let i = first; i < this.n; i++) bytes += this.len[i];
    while (bytes > MAX_RETAINED && first < this.n) {
      bytes -= this.len[first++];
      dropped = true;
    }
    const nb = new Uint8Array(bytes);
    let at = 0;
    let k = 0;
    for (let i = first; i < this.n; i++, k++) {
      const from = this.src[i] === 0 ? buf : this.retained;
      const l = this.len[i];
      nb.set(from.subarray(this.pos[i], this.pos[i] + l), at);
      this.off[k] = this.off[i];
      this.src[k] = 1;
      this.pos[k] = at;
      this.len[k] = l;
      at += l;
    }
    this.n = k;
    this.retained = nb;
    this.ptr = 0;
    return dropped;
  }
}

interface VlsdSpec {
  channel: Channel;
  byteOffset: number;
  width: 4 | 8;
  /** Index into cursor's VLSD CG slots, or -1 for a signal-data chain. */
  slot: number;
  sd: SignalDataReader | null;
}

/** Streams the records of one channel group. Create one per pass; `chunks()` may be iterated once. */
export class RecordCursor {
  readonly vlsdChannels: Channel[];
  readonly recordSize: number;
  private readonly specs: VlsdSpec[] = [];
  private readonly slots: ChannelGroup[] = [];
  private warnedSd = false;

  constructor(
    private readonly mdf: Mdf4File,
    readonly dg: DataGroup,
    readonly cg: ChannelGroup,
  ) {
    this.recordSize = cg.dataBytes + cg.invalBytes;
    this.vlsdChannels = flattenChannels(cg.channels).filter((c) => c.type === 1);
    for (const ch of this.vlsdChannels) {
      const width = ch.bitCount === 32 ? 4 : 8;
      if (ch.bitOffset !== 0 || (ch.bitCount !== 32 && ch.bitCount !== 64) || ch.byteOffset + width > cg.dataBytes)
        mdf.reader.fail(
          ch.offset,
          `VLSD channel "${ch.name}": offset field must be a byte-aligned u32/u64 in the record`,
        );
      let slot = -1;
      let sd: SignalDataReader | null = null;
      const target = dg.channelGroups.find((g) => g.offset === ch.dataLink);
      if (target) {
        if (!target.isVlsd) mdf.reader.fail(ch.offset, `VLSD channel "${ch.name}" points at a non-VLSD channel group`);
        slot = this.slots.indexOf(target);
        if (slot < 0) slot = this.slots.push(target) - 1;
      } else if (ch.dataLink !== 0) {
        sd = new SignalDataReader(
          new DataStream(streamContext(mdf), ch.dataLink, 'SD', {
            chunkSize: 1 << 20,
            maxDzBytes: mdf.options.maxDzBytes,
          }),
        );
      }
      this.specs.push({ channel: ch, byteOffset: ch.byteOffset, width, slot, sd });
    }
  }

  private warn(offset: number, msg: string): void {
    this.mdf.reader.warn(offset, msg);
  }

  async *chunks(): AsyncGenerator<RecordChunk> {
    const mdf = this.mdf;
    const dg = this.dg;
    const ridSize = dg.recIdSize;
    const recSize = this.recordSize;
    const stream = new DataStream(streamContext(mdf), dg.dataLink, 'DT', {
      chunkSize: mdf.options.chunkSize,
      maxDzBytes: mdf.options.maxDzBytes,
    });
    const chunkSize = Math.max(4096, stream.chunkSize);
    const maxCarry = maxCarryOf(mdf);
    // record id → fixed record size (>= 0) or -1 for VLSD groups
    const sizeOf = new Map<number, number>();
    const table = ridSize === 1 ? new Int32Array(256).fill(-2) : null;
    for (const g of dg.channelGroups) {
      const s = g.isVlsd ? -1 : g.dataBytes + g.invalBytes;
      sizeOf.set(g.recordId, s);
      if (table && g.recordId < 256) table[g.recordId] = s;
    }
    const slotOfRid = new Map<number, number>();
    this.slots.forEach((g, i) => {
      slotOfRid.set(g.recordId, i);
    });
    const entries = this.slots.map(() => new VlsdEntries());
    const targetRid = this.cg.recordId;
    const specs = this.specs;
    const vcols = specs.map(() => new Growable());

    let carry = new Uint8Array(0);
    let bufBase = 0; // stream offset of buf[0]
    let index = 0;
    let posArr = new Int32Array(1024);
    let spArr = new Float64Array(1024);
    let stop = false;

    while (!stop) {
      const chunk = await stream.next();
      const eof = chunk === null;
      if (eof && carry.length === 0) break;
      let buf: Uint8Array;
      if (carry.length === 0) buf = chunk as Uint8Array;
      else if (eof) buf = carry;
      else {
        buf = new Uint8Array(carry.length + chunk.length);
        buf.set(carry, 0);
        buf.set(chunk, carry.length);
      }
      const len = buf.length;
      let n = 0;
      let p = 0;
      const push = (at: number) => {
        if (n === posArr.length) {
          const a = new Int32Array(n * 2);
          a.set(posArr);
          posArr = a;
          const b = new Float64Array(n * 2);
          b.set(spArr);
          spArr = b;
        }
        posArr[n] = at + ridSize;
        spArr[n] = bufBase + at;
        n++;
      };
      if (ridSize === 0) {
        if (recSize === 0) {
          this.warn(dg.offset, 'channel group has zero-length records; nothing to read');
          break;
        }
        const count = Math.floor(len / recSize);
        if (posArr.length < count) {
          posArr = new Int32Array(count);
          spArr = new Float64Array(count);
        }
        for (let i = 0; i < count; i++) {
          posArr[i] = i * recSize;
          spArr[i] = bufBase + i * recSize;
        }
        n = count;
        p = count * recSize;
      } else {
        // walk records
        while (p + ridSize <= len) {
          const rid = table ? buf[p] : readRid(buf, p, ridSize);
          const size = table ? table[rid] : (sizeOf.get(rid) ?? -2);
          if (size >= 0) {
            if (p + ridSize + size > len) break;
            if (rid === targetRid) push(p);
            p += ridSize + size;
          } else if (size === -1) {
            const q = p + ridSize;
            if (q + 4 > len) break;
            const l = (buf[q] | (buf[q + 1] << 8) | (buf[q + 2] << 16) | (buf[q + 3] << 24)) >>> 0;
            if (q + 4 + l > len) {
              if (l > maxCarry) {
                this.warn(dg.offset, `VLSD record at stream offset ${bufBase + p} claims ${l} bytes; stopping`);
                stop = true;
              }
              break;
            }
            const slot = slotOfRid.get(rid);
            if (slot !== undefined) {
              const e = entries[slot];
              e.add(e.next, 0, q + 4, l);
              e.next += 4 + l;
            }
            p = q + 4 + l;
          } else {
            this.warn(
              dg.offset,
              `unknown record id ${rid} at data-group stream offset ${bufBase + p} (data damaged?); records after it are skipped`,
            );
            stop = true;
            break;
          }
        }
      }
      // resolve VLSD references of the target records, in order; cut at the first one that points ahead
      let emit = n;
      let cut = p;
      for (let s = 0; s < specs.length; s++) vcols[s].n = 0;
      const starts = specs.map(() => new Int32Array(n));
      const lens = specs.map(() => new Int32Array(n));
      if (specs.length) {
        const view0 = new DataView(buf.buffer, buf.byteOffset, buf.length);
        outer: for (let i = 0; i < n; i++) {
          const rp = posArr[i];
          for (let s = 0; s < specs.length; s++) {
            const sp = specs[s];
            const at = rp + sp.byteOffset;
            const o =
              sp.width === 4
                ? view0.getUint32(at, true)
                : view0.getUint32(at, true) + view0.getUint32(at + 4, true) * 0x100000000;
            if (sp.slot >= 0) {
              const e = entries[sp.slot];
              const k = e.find(o);
              if (k === -2 && !(eof || stop) && vlsdAheadPlausible(o, e.next, rp, p, len, chunkSize)) {
                emit = i;
                cut = rp - ridSize;
                break outer;
              }
              if (k < 0) {
                lens[s][i] = -1;
                this.warn(
                  dg.offset,
                  `VLSD offset ${o} of channel "${sp.channel.name}" (record at data-group stream offset ${spArr[i]}) not found in its signal data; record dropped`,
                );
                continue;
              }
              const from = e.src[k] === 0 ? buf : e.retained;
              starts[s][i] = vcols[s].push(from, e.pos[k], e.len[k]);
              lens[s][i] = e.len[k];
              e.lastUsed = o;
            } else if (sp.sd) {
              const payload = sp.sd.peek(o) ?? (await sp.sd.get(o));
              if (!payload) {
                lens[s][i] = -1;
                this.warn(
                  sp.channel.offset,
                  `VLSD offset ${o} of channel "${sp.channel.name}" not found in its signal data`,
                );
                continue;
              }
              starts[s][i] = vcols[s].push(payload, 0, payload.length);
              lens[s][i] = payload.length;
            } else {
              lens[s][i] = -1;
              if (!this.warnedSd) {
                this.warnedSd = true;
                this.warn(sp.channel.offset, `VLSD channel "${sp.channel.name}" has no signal data link`);
              }
            }
          }
        }
      }
      if (emit > 0) {
        yield {
          buf,
          view: new DataView(buf.buffer, buf.byteOffset, buf.length),
          pos: posArr.subarray(0, emit),
          streamPos: spArr.subarray(0, emit),
          count: emit,
          index0: index,
          vlsd: specs.map((_, s) => ({ data: vcols[s].data, start: starts[s], len: lens[s] })),
        };
        index += emit;
      }
      if (cut < p) for (const e of entries) e.truncateFrom(cut, ridSize);
      for (const e of entries)
        if (e.retain(buf)) this.warn(dg.offset, 'unreferenced VLSD records dropped (retention limit reached)');
      const rest = len - cut;
      if (eof || stop) {
        if (rest > 0 && !stop)
          this.warn(
            dg.offset,
            `${rest} trailing byte(s) at data-group stream offset ${bufBase + cut} do not form a complete record; ignored`,
          );
        break;
      }
      if (rest > maxCarry) {
        this.warn(dg.offset, `no complete record in ${rest} bytes at stream offset ${bufBase + cut}; stopping`);
        break;
      }
      carry = new Uint8Array(buf.subarray(cut));
      bufBase += cut;
    }
  }
}

/**
 * One structural pass over an unsorted data group: number of records per record id (devices leave the
 * CG cycle counters at 0 in unfinalised files). Stops quietly at damage (the extraction pass reports it).
 */
export async function countRecords(mdf: Mdf4File, dg: DataGroup): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const g of dg.channelGroups) counts.set(g.recordId, 0);
  if (dg.channelGroups.length === 0) return counts;
  const ridSize = dg.recIdSize;
  const maxCarry = maxCarryOf(mdf);
  const stream = new DataStream(streamContext(mdf), dg.dataLink, 'DT', {
    chunkSize: mdf.options.chunkSize,
    maxDzBytes: mdf.options.maxDzBytes,
  });
  if (ridSize === 0) {
    const g = dg.channelGroups[0];
    const size = g.dataBytes + g.invalBytes;
    let total = 0;
    for (let c = await stream.next(); c; c = await stream.next()) total += c.length;
    counts.set(g.recordId, size > 0 ? Math.floor(total / size) : 0);
    return counts;
  }
  const table = new Int32Array(256).fill(-2);
  const sizeOf = new Map<number, number>();
  for (const g of dg.channelGroups) {
    const s = g.isVlsd ? -1 : g.dataBytes + g.invalBytes;
    sizeOf.set(g.recordId, s);
    if (g.recordId < 256) table[g.recordId] = s;
  }
  const cnt = new Float64Array(256);
  // one reused buffer: the incomplete record at the end of a chunk moves to the front
  const chunk = Math.max(4096, stream.chunkSize);
  let buf = new Uint8Array(chunk + 4096);
  let carry = 0;
  outer: for (;;) {
    if (carry + chunk > buf.length) {
      const nb = new Uint8Array(carry + chunk);
      nb.set(buf.subarray(0, carry));
      buf = nb;
    }
    const got = await stream.fill(buf, carry, chunk);
    if (got === 0) break;
    const len = carry + got;
    let p = 0;
    if (ridSize === 1) {
      while (p < len) {
        const rid = buf[p];
        const size = table[rid];
        if (size >= 0) {
          if (p + 1 + size > len) break;
          p += 1 + size;
        } else if (size === -1) {
          const q = p + 1;
          if (q + 4 > len) break;
          const l = (buf[q] | (buf[q + 1] << 8) | (buf[q + 2] << 16) | (buf[q + 3] << 24)) >>> 0;
          if (q + 4 + l > len) {
            if (l > maxCarry) break outer;
            break;
          }
          p = q + 4 + l;
        } else break outer;
        cnt[rid]++;
      }
    } else
      while (p + ridSize <= len) {
        const rid = readRid(buf, p, ridSize);
        const size = sizeOf.get(rid) ?? -2;
        if (size >= 0) {
          if (p + ridSize + size > len) break;
          p += ridSize + size;
        } else if (size === -1) {
          const q = p + ridSize;
          if (q + 4 > len) break;
          const l = (buf[q] | (buf[q + 1] << 8) | (buf[q + 2] << 16) | (buf[q + 3] << 24)) >>> 0;
          if (q + 4 + l > len) {
            if (l > maxCarry) break outer;
            break;
          }
          p = q + 4 + l;
        } else break outer;
        if (rid < 256) cnt[rid]++;
        else counts.set(rid, (counts.get(rid) ?? 0) + 1);
      }
    if (len - p > maxCarry) break;
    buf.copyWithin(0, p, len);
    carry = len - p;
  }
  for (let i = 0; i < 256; i++) if (cnt[i] > 0) counts.set(i, (counts.get(i) ?? 0) + cnt[i]);
  return counts;
}
