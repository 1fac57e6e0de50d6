/**
 * Record walker: the one implementation that walks a data group's record stream. It walks the stream ONCE and
 * hands every record of the channel groups it serves ("targets") to that target's consumer, chunk by chunk. Bus
 * extraction (bus.ts) serves all bus groups of a data group with one walker; records.ts serves one group
 * (`RecordCursor`) and counts records (`countRecords`) with it.
 *
 * - The stream is read into one reused buffer (`DataStream.fill`): an incomplete record at the end of a chunk is
 *   moved to the front and the next chunk is read behind it. No per-chunk allocation on raw (DT) data.
 * - Unsorted groups (record ids of 1/2/4/8 bytes): one pass dispatches each record by id; records of other
 *   groups are skipped by size (fixed) or length prefix (VLSD). Sorted groups (no record id) are sliced.
 * - VLSD channels are resolved to their bytes: from a VLSD channel group of the same data group (entries seen so
 *   far, keyed by stream offset counting the 4-byte length prefixes; devices write the fixed record *before* its
 *   VLSD record, so a reference may point ahead: it cuts the chunk and the walk resumes at that record next time)
 *   or from an SD/DL/DZ/HL signal-data chain (window reader).
 * - A target can be detached (it stops receiving records) and a new walker over the same data group can serve it
 *   from a stream position on (`minPos`): records before it are skipped but still counted for the record index.
 *
 * Damage (unknown record id, record cut off, VLSD record longer than the carry bound, broken chain) ends the walk
 * after the last good record, with a warning on the file (once per file: BlockReader.warn).
 */
import type { Channel, ChannelGroup, DataGroup } from './blocks.js';
import { flattenChannels } from './blocks.js';
import { DataStream, SignalDataReader, streamContext } from './data.js';
import type { Mdf4WarningCode } from './errors.js';
import type { Mdf4File } from './file.js';

/** The resolved payloads of one VLSD channel for the records of a chunk (valid during that chunk only). */
export interface VlsdColumn {
  /** Bytes of the resolved payloads of this chunk (payload i = data[start[i], start[i] + len[i])). */
  data: Uint8Array;
  start: Int32Array;
  /** Payload length, or -1 when the reference could not be resolved. */
  len: Int32Array;
}

const MAX_CARRY = 64 * 1024 * 1024;

/** Tuning hook (tests): the bound on bytes carried between chunks, i.e. on one incomplete record. */
export const recordTuning = { maxCarry: MAX_CARRY };

/** Largest incomplete record carried from one chunk to the next before the walk stops with a warning. */
function maxCarry(): number {
  return recordTuning.maxCarry > 0 ? recordTuning.maxCarry : MAX_CARRY;
}

/**
 * Whether a fixed record whose VLSD reference `o` lies ahead of everything walked (`o >= next`) should wait for
 * the next chunk. Devices write the fixed record just before its VLSD record, so a genuine reference ahead is
 * satisfied by the data the next read brings: `o` is below `next` + the incomplete tail (`len - walked`) + one
 * chunk, and the fixed record (at `rp`) lies within one chunk of the walk position. Anything else (a corrupt
 * offset) would make every pull keep and grow the buffer without ever resolving: it is resolved as missing.
 */
function vlsdAheadPlausible(
  o: number,
  next: number,
  rp: number,
  walked: number,
  len: number,
  chunkSize: number,
): boolean {
  return o - next < len - walked + chunkSize && walked - rp < chunkSize;
}

/** Bytes of VLSD payloads one VLSD channel group may keep (copied) for references not seen yet. */
const MAX_RETAINED = 16 * 1024 * 1024;

/** Reads an unsigned little-endian record id of 1/2/4/8 bytes. */
function readRid(b: Uint8Array, p: number, size: number): number {
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

/**
 * The hot loop of the walk (1-byte record ids): dispatches the records from `p` on — fixed-size ones to their
 * targets, VLSD ones (u32 length + payload) to their entry table (`slotTable`: record id → slot, -1 none) and
 * target — and returns the position of the first record it does not handle: an unknown record id, a record that
 * does not end within `len` (the caller tells carry from damage), or `len`. Kept small and separate from the
 * async `pull` so that V8 optimises it within the first chunk of a process (a hot loop inside a large async
 * function is optimised late: the first pass ran interpreted); CANedge logs alternate fixed and VLSD records, so
 * both are handled here.
 */
function dispatch1(
  buf: Uint8Array,
  p: number,
  len: number,
  table: Int32Array,
  tgt: Int32Array,
  targets: WalkTarget[],
  slotTable: Int32Array,
  entries: VlsdEntries[],
): number {
  while (p < len) {
    const rid = buf[p];
    const size = table[rid];
    let q: number;
    if (size >= 0) {
      q = p + 1 + size;
      if (q > len) return p;
    } else if (size === -1) {
      const r = p + 1;
      if (r + 4 > len) return p;
      const l = (buf[r] | (buf[r + 1] << 8) | (buf[r + 2] << 16) | (buf[r + 3] << 24)) >>> 0;
      q = r + 4 + l;
      if (q > len) return p;
      const s = slotTable[rid];
      if (s >= 0) {
        const e = entries[s];
        e.add(e.next, 0, r + 4, l);
        e.next += 4 + l;
      }
    } else return p;
    const k = tgt[rid];
    if (k >= 0) {
      const t = targets[k];
      if (t.n === t.pos.length) t.push(p + 1);
      else t.pos[t.n++] = p + 1;
    } else if (k !== -1) targets[-2 - k].n++;
    p = q;
  }
  return p;
}

/**
 * Chunk buffers of finished walkers, for the next ones: a server or a lake writer reads thousands of small files,
 * and fresh typed arrays of a few hundred KB per file (outside V8's heap) are what drives its full collections
 * (the lake writer's, counted: docs/benchmarks.md).
 */
const spareBuffers: Uint8Array[] = [];
const SPARE_MAX = 4;
const EMPTY = new Uint8Array(0);

function takeBuffer(size: number): Uint8Array {
  for (let i = spareBuffers.length - 1; i >= 0; i--) {
    const b = spareBuffers[i];
    if (b.length >= size && b.length <= 2 * size) {
      spareBuffers.splice(i, 1);
      return b;
    }
  }
  return new Uint8Array(size);
}

function giveBuffer(b: Uint8Array): void {
  if (spareBuffers.length >= SPARE_MAX) spareBuffers.shift();
  spareBuffers.push(b);
}

/** A byte column payloads are copied into (reused across chunks). */
class Growable {
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

/** `to` (larger) with the elements of `from` at its start. */
function grown<A extends Float64Array | Int32Array | Uint8Array>(from: A, to: A): A {
  to.set(from);
  return to;
}

/** Entries of one VLSD channel group seen so far: stream offset → bytes (typed columns, reused). */
class VlsdEntries {
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
      this.off = grown(this.off, new Float64Array(c));
      this.src = grown(this.src, new Uint8Array(c));
      this.pos = grown(this.pos, new Int32Array(c));
      this.len = grown(this.len, new Int32Array(c));
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

/** What a consumer gets: records [0, count) of its channel group in this chunk. Valid until the next `pull`. */
export interface WalkChunk {
  buf: Uint8Array;
  view: DataView;
  /** Start of each record's data (after the record id) in `buf`. */
  pos: Int32Array;
  count: number;
  /** Record position in the data group's stream = `spBase + pos[i]`. */
  spBase: number;
  /** Record index (within its channel group) of the first record. */
  index0: number;
  /** One column per VLSD channel of the group (`WalkTarget.vlsdChannels`). */
  vlsd: VlsdColumn[];
}

interface VlsdSpec {
  channel: Channel;
  byteOffset: number;
  width: 4 | 8;
  /** Index into the walker's VLSD entry tables, or -1 for a signal-data chain. */
  slot: number;
  sd: SignalDataReader | null;
}

/** A channel group a walker serves: its consumer, record index and per-chunk scratch. */
export class WalkTarget {
  readonly vlsdChannels: Channel[];
  readonly specs: VlsdSpec[] = [];
  /** Records seen so far (index of the next record). */
  index = 0;
  /** Records before this stream position are skipped (counted, not consumed). */
  minPos = 0;
  active = true;
  /** Walk scratch: record positions of this chunk. */
  pos = new Int32Array(1024);
  n = 0;
  vcols: Growable[] = [];
  vstart: Int32Array[] = [];
  vlen: Int32Array[] = [];
  /** Per slot: the last VLSD offset this target used (entries at or before it may be dropped). */
  lastUsed: number[] = [];
  warnedSd = false;
  readonly chunk: WalkChunk;

  constructor(
    readonly cg: ChannelGroup,
    readonly consume: (c: WalkChunk) => void,
    /** Counter (`GroupWalker.addCounter`): records are counted in `n`, no positions, never consumed. */
    readonly countOnly = false,
  ) {
    this.vlsdChannels = flattenChannels(cg.channels).filter((c) => c.type === 1);
    this.chunk = {
      buf: new Uint8Array(0),
      view: new DataView(new ArrayBuffer(0)),
      pos: this.pos,
      count: 0,
      spBase: 0,
      index0: 0,
      vlsd: [],
    };
  }

  push(at: number): void {
    if (this.n === this.pos.length) {
      const a = new Int32Array(this.n * 2);
      a.set(this.pos);
      this.pos = a;
    }
    this.pos[this.n++] = at;
  }
}

export class GroupWalker {
  readonly targets: WalkTarget[] = [];
  private readonly ridSize: number;
  private readonly stream: DataStream;
  private readonly chunkSize: number;
  private readonly maxCarry: number;
  private buf: Uint8Array;
  /** The incomplete tail of the last chunk: `carry` bytes at `carryFrom` in `buf` (moved to the front by `pull`). */
  private carry = 0;
  private carryFrom = 0;
  /** Stream offset of buf[0]. */
  private bufBase = 0;
  private finished = false;
  /** Start the walk at this stream offset (a record boundary), without walking what lies before it. */
  private skipTo = 0;
  /** Record id → fixed record size (>= 0), -1 VLSD group, -2 unknown (1-byte ids). */
  private readonly sizeTable: Int32Array | null;
  private readonly sizeOf = new Map<number, number>();
  /**
   * Record id → dispatch code (1-byte ids): target index k (positions go to it), -2 - k (counter k: only counted),
   * -1 none.
   */
  private readonly tgtTable: Int32Array | null;
  private readonly tgtOf = new Map<number, number>();
  private readonly slots: ChannelGroup[] = [];
  private readonly slotOfRid = new Map<number, number>();
  /** Record id → VLSD slot, -1 none (1-byte ids; the table form of `slotOfRid` for dispatch1). */
  private readonly slotTable = new Int32Array(256).fill(-1);
  private entries: VlsdEntries[] = [];

  constructor(
    private readonly mdf: Mdf4File,
    readonly dg: DataGroup,
  ) {
    this.ridSize = dg.recIdSize;
    this.stream = new DataStream(streamContext(mdf), dg.dataLink, 'DT', {
      chunkSize: mdf.options.chunkSize,
      maxDzBytes: mdf.options.maxDzBytes,
    });
    this.chunkSize = Math.max(4096, this.stream.chunkSize);
    this.maxCarry = maxCarry();
    this.buf = takeBuffer(this.chunkSize + 4096);
    this.sizeTable = this.ridSize === 1 ? new Int32Array(256).fill(-2) : null;
    this.tgtTable = this.ridSize === 1 ? new Int32Array(256).fill(-1) : null;
    for (const g of dg.channelGroups) {
      const s = g.isVlsd ? -1 : g.dataBytes + g.invalBytes;
      this.sizeOf.set(g.recordId, s);
      if (this.sizeTable && g.recordId < 256) this.sizeTable[g.recordId] = s;
    }
  }

  /** Stream offset up to which every record has been handed out (the next walk starts here). */
  get position(): number {
    return this.bufBase;
  }

  get done(): boolean {
    return this.finished;
  }

  /**
   * Adds a channel group to serve, with its VLSD channels resolved. Throws Mdf4Error if its VLSD layout is
   * unusable. Must be called before the first `pull`, or with `minPos` ≥ the stream position already walked (then
   * use a fresh walker instead). A VLSD channel group gets no records here (its payloads are reached through the
   * VLSD channels that point at it); `addCounter` counts them.
   */
  add(cg: ChannelGroup, consume: (c: WalkChunk) => void, minPos = 0): WalkTarget {
    const mdf = this.mdf;
    const t = new WalkTarget(cg, consume);
    t.minPos = minPos;
    for (const ch of t.vlsdChannels) {
      const width = ch.bitCount === 32 ? 4 : 8;
      if (ch.bitOffset !== 0 || (ch.bitCount !== 32 && ch.bitCount !== 64) || ch.byteOffset + width > cg.dataBytes)
        mdf.reader.fail(
          ch.offset,
          `VLSD channel "${ch.name}": offset field must be a byte-aligned u32/u64 in the record`,
        );
      let slot = -1;
      let sd: SignalDataReader | null = null;
      const target = this.dg.channelGroups.find((g) => g.offset === ch.dataLink);
      if (target) {
        if (!target.isVlsd) mdf.reader.fail(ch.offset, `VLSD channel "${ch.name}" points at a non-VLSD channel group`);
        slot = this.slots.indexOf(target);
        if (slot < 0 && this.targets.some((o) => o.countOnly))
          // internal invariant: callers (records.ts, bus.ts) never mix counters with VLSD-resolving targets
          throw new Error('GroupWalker: counters and targets with VLSD channel groups do not mix');
        if (slot < 0) {
          slot = this.slots.push(target) - 1;
          this.slotOfRid.set(target.recordId, slot);
          if (target.recordId < 256) this.slotTable[target.recordId] = slot;
          this.entries.push(new VlsdEntries());
        }
      } else if (ch.dataLink !== 0) {
        sd = new SignalDataReader(
          new DataStream(streamContext(mdf), ch.dataLink, 'SD', {
            chunkSize: mdf.options.chunkSize,
            maxDzBytes: mdf.options.maxDzBytes,
          }),
        );
      }
      t.specs.push({ channel: ch, byteOffset: ch.byteOffset, width, slot, sd });
      t.vcols.push(new Growable());
      t.vstart.push(new Int32Array(1024));
      t.vlen.push(new Int32Array(1024));
      t.chunk.vlsd.push({ data: t.vcols[t.vcols.length - 1].data, start: t.vstart[0], len: t.vlen[0] });
    }
    return this.register(t, cg.isVlsd ? null : this.targets.length);
  }

  /**
   * Adds a channel group (VLSD ones included) whose records are only counted (`WalkTarget.index`), never consumed.
   * Not in a walker that resolves VLSD channel groups (a VLSD reference ahead would re-walk counted records).
   */
  addCounter(cg: ChannelGroup): WalkTarget {
    // internal invariant: callers (records.ts, bus.ts) never mix counters with VLSD-resolving targets
    if (this.slots.length) throw new Error('GroupWalker: counters and targets with VLSD channel groups do not mix');
    return this.register(new WalkTarget(cg, () => {}, true), -2 - this.targets.length);
  }

  /** Registers `t` under dispatch code `code` (see `tgtTable`; null: it gets no records). */
  private register(t: WalkTarget, code: number | null): WalkTarget {
    const cg = t.cg;
    t.lastUsed = this.slots.map(() => -1);
    this.targets.push(t);
    if (code !== null) {
      this.tgtOf.set(cg.recordId, code);
      if (this.tgtTable && cg.recordId < 256) this.tgtTable[cg.recordId] = code;
    }
    for (const o of this.targets) while (o.lastUsed.length < this.slots.length) o.lastUsed.push(-1);
    return t;
  }

  /**
   * Starts the walk at stream offset `pos` (must be a record boundary, e.g. another walker's `position`) without
   * walking the records before it. Only for targets without VLSD channels in this data group; call before `pull`.
   */
  startAt(pos: number): void {
    this.skipTo = pos;
  }

  /** Stops handing records to `t` (they are skipped from the next chunk on). */
  detach(t: WalkTarget): void {
    t.active = false;
    const k = this.targets.indexOf(t);
    if (this.tgtTable && t.cg.recordId < 256) this.tgtTable[t.cg.recordId] = -1;
    this.tgtOf.delete(t.cg.recordId);
    void k;
  }

  private warn(offset: number, msg: string, code: Mdf4WarningCode): void {
    this.mdf.reader.warn(offset, msg, code);
  }

  /** Walks the next chunk and hands its records to the targets. Returns false once the stream is exhausted. */
  async pull(): Promise<boolean> {
    if (this.finished) {
      // asked again after the end: nothing can still read the last chunk (its consumers ran in the last pull, and
      // a chunk is valid until the next one is requested) — the buffer goes to the next walker
      if (this.buf.length > 0) {
        giveBuffer(this.buf);
        this.buf = EMPTY;
      }
      return false;
    }
    const ridSize = this.ridSize;
    let buf = this.buf;
    while (this.bufBase < this.skipTo) {
      const got = await this.stream.fill(buf, 0, Math.min(buf.length, this.skipTo - this.bufBase));
      if (got === 0) {
        this.finished = true;
        return false;
      }
      this.bufBase += got;
    }
    // the last chunk stayed intact until now (consumers may read it until the next pull): read behind its tail
    if (this.carryFrom > 0) {
      buf.copyWithin(0, this.carryFrom, this.carryFrom + this.carry);
      this.carryFrom = 0;
    }
    if (this.carry + this.chunkSize > buf.length) {
      const nb = new Uint8Array(this.carry + this.chunkSize);
      nb.set(buf.subarray(0, this.carry));
      this.buf = buf = nb;
    }
    let len = this.carry;
    let eof = false;
    while (len < this.carry + this.chunkSize) {
      const got = await this.stream.fill(buf, len, this.carry + this.chunkSize - len);
      if (got === 0) {
        eof = true;
        break;
      }
      len += got;
    }
    if (eof && len === 0) {
      this.finished = true;
      return false;
    }
    const targets = this.targets;
    for (const t of targets) t.n = 0;
    // the per-record loops live in small synchronous methods: V8 optimises those quickly, while this large async
    // function stays unoptimised (optimising it cost ~100 ms of compile time per first pass, three times over)
    const p = this.dispatch(buf, len);
    if (p < 0) {
      this.finished = true;
      return false;
    }
    const stop = this.stopped;
    const last = eof || stop;
    // VLSD references that point ahead (not walked yet) cut the chunk at the earliest such record
    const cut = !last && this.entries.length ? this.vlsdCut(buf, len, p) : p;
    // hand out the records before the cut
    const view = new DataView(buf.buffer, buf.byteOffset, len);
    const spBase = this.bufBase - ridSize;
    for (const t of targets) {
      if (!t.active) continue;
      if (t.countOnly) {
        t.index += t.n;
        continue;
      }
      let k = t.n;
      if (cut < p) while (k > 0 && t.pos[k - 1] - ridSize >= cut) k--;
      let first = 0;
      if (t.minPos > 0) {
        while (first < k && spBase + t.pos[first] < t.minPos) first++;
        if (first > 0) {
          this.skipVlsd(t, buf, view, first);
          t.index += first;
          t.pos.copyWithin(0, first, k);
          k -= first;
        }
      }
      if (k === 0) continue;
      if (t.specs.length) await this.resolveVlsd(t, buf, view, k);
      const c = t.chunk;
      c.buf = buf;
      c.view = view;
      c.pos = t.pos;
      c.count = k;
      c.spBase = spBase;
      c.index0 = t.index;
      t.consume(c);
      t.index += k;
    }
    if (cut < p) for (const e of this.entries) e.truncateFrom(cut, ridSize);
    for (let s = 0; s < this.entries.length; s++) {
      const e = this.entries[s];
      let used = Number.POSITIVE_INFINITY;
      for (const t of targets)
        if (t.active && t.specs.some((sp) => sp.slot === s)) used = Math.min(used, t.lastUsed[s]);
      e.lastUsed = used === Number.POSITIVE_INFINITY ? e.next : used;
      if (e.retain(buf))
        this.warn(this.dg.offset, 'unreferenced VLSD records dropped (retention limit reached)', 'SF_WARN_MDF4_VLSD');
    }
    const rest = len - cut;
    if (last) {
      if (rest > 0 && !stop)
        this.warn(
          this.dg.offset,
          `${rest} trailing byte(s) at data-group stream offset ${this.bufBase + cut} do not form a complete record; ignored`,
          'SF_WARN_MDF4_DATA_DAMAGED',
        );
      this.finished = true;
      return true;
    }
    if (rest > this.maxCarry) {
      this.warn(
        this.dg.offset,
        `no complete record in ${rest} bytes at stream offset ${this.bufBase + cut}; stopping`,
        'SF_WARN_MDF4_DATA_DAMAGED',
      );
      this.finished = true;
      return true;
    }
    this.carryFrom = cut;
    this.carry = rest;
    this.bufBase += cut;
    return true;
  }

  /** The earliest record (< p) whose VLSD reference lies ahead of what was walked: the chunk ends before it. */
  private vlsdCut(buf: Uint8Array, len: number, p: number): number {
    const ridSize = this.ridSize;
    const targets = this.targets;
    let cut = p;
    for (const t of targets) {
      if (!t.specs.length || !t.active) continue;
      const view = new DataView(buf.buffer, buf.byteOffset, len);
      for (let i = 0; i < t.n; i++) {
        const rp = t.pos[i];
        if (rp - ridSize >= cut) break;
        let ahead = false;
        for (const sp of t.specs) {
          if (sp.slot < 0) continue;
          const at = rp + sp.byteOffset;
          const o =
            sp.width === 4
              ? view.getUint32(at, true)
              : view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x100000000;
          if (
            o >= this.entries[sp.slot].next &&
            vlsdAheadPlausible(o, this.entries[sp.slot].next, rp, p, len, this.chunkSize)
          ) {
            ahead = true;
            break;
          }
        }
        if (ahead) {
          cut = rp - ridSize;
          break;
        }
      }
    }
    return cut;
  }

  /** Set by `dispatch` when the walk must stop after this chunk (damage). */
  private stopped = false;

  /**
   * Dispatches the records of buf[0, len) to the targets' position lists; returns the position after the last
   * complete record handed out (`stopped` set if the walk must end there), or -1 if the group has zero-length
   * records (warned).
   */
  private dispatch(buf: Uint8Array, len: number): number {
    this.stopped = false;
    // one method per record-id layout: each is optimised once, for its own case
    if (this.ridSize === 0) return this.dispatchSorted(len);
    if (this.sizeTable && this.tgtTable) return this.dispatchByte(buf, len, this.sizeTable, this.tgtTable);
    return this.dispatchWide(buf, len);
  }

  /** Sorted data group (no record ids): records sliced arithmetically. */
  private dispatchSorted(len: number): number {
    const targets = this.targets;
    const g = this.dg.channelGroups[0];
    const recSize = g ? g.dataBytes + g.invalBytes : 0;
    if (recSize === 0) {
      this.warn(this.dg.offset, 'channel group has zero-length records; nothing to read', 'SF_WARN_MDF4_GROUP_SKIPPED');
      return -1;
    }
    const count = Math.floor(len / recSize);
    // computed before the loop: code after a loop optimised on the stack (OSR) has no type feedback, and the
    // multiplication there deoptimised this method at the end of every chunk (19 times over the corpus)
    const end = count * recSize;
    const t = targets.length && targets[0].active ? targets[0] : null;
    if (t) {
      if (t.pos.length < count) t.pos = new Int32Array(count);
      const pos = t.pos;
      t.n = count; // before the loop: nothing after it needs type feedback (see dispatch1)
      for (let i = 0; i < count; i++) pos[i] = i * recSize;
    }
    return end;
  }

  /** 1-byte record ids: tables by id. */
  private dispatchByte(buf: Uint8Array, len: number, table: Int32Array, tgt: Int32Array): number {
    const targets = this.targets;
    let p = 0;
    while (p < len) {
      // complete records in a small function of their own (optimised early; see dispatch1)
      p = dispatch1(buf, p, len, table, tgt, targets, this.slotTable, this.entries);
      if (p >= len) break;
      const rid = buf[p];
      const size = table[rid];
      if (size >= 0) {
        break; // a fixed record that does not end in this chunk: carried
      } else if (size === -1) {
        const end = this.vlsdRecord(buf, p, 1, len, rid);
        if (end < 0) {
          this.stopped = end === -2;
          break;
        }
        this.hand(tgt[rid], p + 1);
        p = end;
      } else {
        this.warnUnknown(rid, p);
        this.stopped = true;
        break;
      }
    }
    return p;
  }

  /** 2/4/8-byte record ids: maps by id. */
  private dispatchWide(buf: Uint8Array, len: number): number {
    const ridSize = this.ridSize;
    let p = 0;
    while (p + ridSize <= len) {
      const rid = readRid(buf, p, ridSize);
      const size = this.sizeOf.get(rid) ?? -2;
      if (size >= 0) {
        if (p + ridSize + size > len) break;
        const k = this.tgtOf.get(rid);
        if (k !== undefined) this.hand(k, p + ridSize);
        p += ridSize + size;
      } else if (size === -1) {
        const end = this.vlsdRecord(buf, p, ridSize, len, rid);
        if (end < 0) {
          this.stopped = end === -2;
          break;
        }
        const k = this.tgtOf.get(rid);
        if (k !== undefined) this.hand(k, p + ridSize);
        p = end;
      } else {
        this.warnUnknown(rid, p);
        this.stopped = true;
        break;
      }
    }
    return p;
  }

  /**
   * The VLSD record at `p` (id of `ridSize` bytes, then u32 length and payload): its payload becomes an entry of
   * its VLSD slot (if a target's channel uses that group). Returns the position after it, -1 if it does not end
   * within `len` (carried to the next chunk), -2 if it claims more than can ever be carried (warned; stop).
   */
  private vlsdRecord(buf: Uint8Array, p: number, ridSize: number, len: number, rid: number): number {
    const q = p + ridSize;
    if (q + 4 > len) return -1;
    const l = (buf[q] | (buf[q + 1] << 8) | (buf[q + 2] << 16) | (buf[q + 3] << 24)) >>> 0;
    if (q + 4 + l > len) {
      if (l <= this.maxCarry) return -1;
      this.warn(
        this.dg.offset,
        `VLSD record at stream offset ${this.bufBase + p} claims ${l} bytes; stopping`,
        'SF_WARN_MDF4_DATA_DAMAGED',
      );
      return -2;
    }
    const slot = this.slotOfRid.get(rid);
    if (slot !== undefined) {
      const e = this.entries[slot];
      e.add(e.next, 0, q + 4, l);
      e.next += 4 + l;
    }
    return q + 4 + l;
  }

  /** Hands the record whose data starts at `at` to the target with dispatch code `k` (see `tgtTable`). */
  private hand(k: number, at: number): void {
    if (k >= 0) this.targets[k].push(at);
    else if (k !== -1) this.targets[-2 - k].n++;
  }

  private warnUnknown(rid: number, p: number): void {
    this.warn(
      this.dg.offset,
      `unknown record id ${rid} at data-group stream offset ${this.bufBase + p} (data damaged?); records after it are skipped`,
      'SF_WARN_MDF4_DATA_DAMAGED',
    );
  }

  /** Skipped records (before `minPos`) still mark their VLSD entries as used, so retention does not fill up. */
  private skipVlsd(t: WalkTarget, _buf: Uint8Array, view: DataView, count: number): void {
    for (const sp of t.specs) {
      if (sp.slot < 0) continue;
      const at = t.pos[count - 1] + sp.byteOffset;
      const o =
        sp.width === 4
          ? view.getUint32(at, true)
          : view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x100000000;
      if (o > t.lastUsed[sp.slot]) t.lastUsed[sp.slot] = Math.min(o, this.entries[sp.slot].next - 1);
    }
  }

  /**
   * Fast path for a VLSD channel group whose payloads for these records all lie in the current chunk buffer and
   * are all found: fills `starts`/`lens` with positions in the buffer (no copy). Returns false (having changed
   * nothing that matters) otherwise; the general path then runs.
   */
  private resolveFromBuffer(
    t: WalkTarget,
    sp: VlsdSpec,
    view: DataView,
    k: number,
    starts: Int32Array,
    lens: Int32Array,
  ): boolean {
    const e = this.entries[sp.slot];
    const off = e.off;
    const src = e.src;
    const epos = e.pos;
    const elen = e.len;
    const en = e.n;
    const pos = t.pos;
    const bo = sp.byteOffset;
    const w4 = sp.width === 4;
    let ptr = e.ptr;
    let o = -1;
    for (let i = 0; i < k; i++) {
      const at = pos[i] + bo;
      o = w4 ? view.getUint32(at, true) : view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x100000000;
      if (ptr >= en || off[ptr] > o) ptr = 0;
      while (ptr < en && off[ptr] < o) ptr++;
      if (ptr >= en || off[ptr] !== o || src[ptr] !== 0) return false;
      starts[i] = epos[ptr];
      lens[i] = elen[ptr];
    }
    e.ptr = ptr;
    if (k > 0) t.lastUsed[sp.slot] = o;
    return true;
  }

  /**
   * Resolves the references of records [0, k) of `t` to VLSD channel group `sp.slot` into column `s` (`starts`,
   * `lens`); returns true when every payload lies in the chunk buffer (positions in `buf`), false when they were
   * copied into the column's bytes.
   */
  private resolveSlot(t: WalkTarget, sp: VlsdSpec, s: number, buf: Uint8Array, view: DataView, k: number): boolean {
    const starts = t.vstart[s];
    const lens = t.vlen[s];
    const col = t.vcols[s];
    const dg = this.dg;
    const e = this.entries[sp.slot];
    let direct = true;
    for (let i = 0; i < k; i++) {
      const at = t.pos[i] + sp.byteOffset;
      const o =
        sp.width === 4
          ? view.getUint32(at, true)
          : view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x100000000;
      const j = e.find(o);
      if (j < 0) {
        lens[i] = -1;
        this.warn(
          dg.offset,
          `VLSD offset ${o} of channel "${sp.channel.name}" (record at data-group stream offset ${this.bufBase + t.pos[i] - this.ridSize}) not found in its signal data; record dropped`,
          'SF_WARN_MDF4_VLSD',
        );
        continue;
      }
      if (e.src[j] === 0 && direct) {
        // payload in the chunk buffer: point at it (no copy)
        starts[i] = e.pos[j];
      } else {
        if (direct) {
          // first payload from the retained copy: move what was resolved so far into the column
          direct = false;
          for (let r = 0; r < i; r++) if (lens[r] >= 0) starts[r] = col.push(buf, starts[r], lens[r]);
        }
        starts[i] = col.push(e.src[j] === 0 ? buf : e.retained, e.pos[j], e.len[j]);
      }
      lens[i] = e.len[j];
      t.lastUsed[sp.slot] = o;
    }
    return direct;
  }

  /** Resolves the VLSD references of records [0, k) of `t` into its columns. */
  private async resolveVlsd(t: WalkTarget, buf: Uint8Array, view: DataView, k: number): Promise<void> {
    const specs = t.specs;
    for (let s = 0; s < specs.length; s++) {
      t.vcols[s].n = 0;
      if (t.vstart[s].length < k) {
        t.vstart[s] = new Int32Array(Math.max(k, t.vstart[s].length * 2));
        t.vlen[s] = new Int32Array(t.vstart[s].length);
      }
    }
    for (let s = 0; s < specs.length; s++) {
      const sp = specs[s];
      const starts = t.vstart[s];
      const lens = t.vlen[s];
      const col = t.vcols[s];
      let sdDirect = sp.sd !== null;
      if (sp.slot >= 0) {
        // a VLSD channel group of this data group: synchronous, in small methods (see dispatch1)
        const inBuf = this.resolveFromBuffer(t, sp, view, k, starts, lens) || this.resolveSlot(t, sp, s, buf, view, k);
        const v = t.chunk.vlsd[s];
        v.data = inBuf ? buf : col.data;
        v.start = starts;
        v.len = lens;
        continue;
      }
      for (let i = 0; i < k; i++) {
        const at = t.pos[i] + sp.byteOffset;
        const o =
          sp.width === 4
            ? view.getUint32(at, true)
            : view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x100000000;
        if (sp.sd) {
          const sd = sp.sd;
          const at2 = sd.locate(o);
          if (at2 >= 0 && sdDirect) {
            // payload in the loaded signal-data window: point at it (no copy)
            starts[i] = at2;
            lens[i] = sd.lastLength;
            continue;
          }
          if (sdDirect) {
            // the window is about to move: copy what points into it so far
            sdDirect = false;
            const win = sd.window;
            for (let r = 0; r < i; r++) if (lens[r] >= 0) starts[r] = col.push(win, starts[r], lens[r]);
          }
          if (at2 >= 0) {
            starts[i] = col.push(sd.window, at2, sd.lastLength);
            lens[i] = sd.lastLength;
            continue;
          }
          const payload = await sd.get(o);
          if (!payload) {
            lens[i] = -1;
            this.warn(
              sp.channel.offset,
              `VLSD offset ${o} of channel "${sp.channel.name}" not found in its signal data`,
              'SF_WARN_MDF4_VLSD',
            );
            continue;
          }
          starts[i] = col.push(payload, 0, payload.length);
          lens[i] = payload.length;
        } else {
          lens[i] = -1;
          if (!t.warnedSd) {
            t.warnedSd = true;
            this.warn(
              sp.channel.offset,
              `VLSD channel "${sp.channel.name}" has no signal data link`,
              'SF_WARN_MDF4_VLSD',
            );
          }
        }
      }
      const v = t.chunk.vlsd[s];
      v.data = sdDirect && sp.sd ? sp.sd.window : col.data;
      v.start = starts;
      v.len = lens;
    }
  }
}
