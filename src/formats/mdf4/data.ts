/**
 * Data-block layer: turns a data link (DT, SD, RD, DZ, DL chain, HL) into the logical byte stream it stores,
 * delivered as bounded chunks. Nothing here holds more than one chunk (raw blocks are read in `chunkSize` pieces)
 * or one decompressed DZ block (capped by `maxDzBytes`).
 *
 * Unfinalised files (ID `UnFinMF`) whose unfinalised flags say the last DT length was not updated (bit 2, 0x4):
 * a DT whose length says "header only" (24), that ends its chain and is the data block with the highest file offset,
 * runs to the next known block (metadata or data) or to end of file, as devices write it. Any other header-only DT
 * is empty. Raw blocks whose length runs past end of file are
 * clamped with a warning (power loss mid-write); compressed blocks that are cut off end the stream with a warning.
 */
import { inflateSync } from 'node:zlib';
import { type BlockReader, flattenChannels, u64 } from './blocks.js';
import { Mdf4Error, type Mdf4ErrorCode, type Mdf4WarningCode } from './errors.js';
import type { Mdf4File } from './file.js';

/** The warning code for data that ends early because of `e`: unsupported (e.g. a DZ zip type) or damaged. */
function damageWarning(e: Mdf4Error): Mdf4WarningCode {
  return e.code === 'SF_ERR_MDF4_UNSUPPORTED' ? 'SF_WARN_MDF4_UNSUPPORTED' : 'SF_WARN_MDF4_DATA_DAMAGED';
}

export const DEFAULT_CHUNK = 1024 * 1024;
export const DEFAULT_MAX_DZ = 256 * 1024 * 1024;

export interface StreamOptions {
  chunkSize?: number;
  maxDzBytes?: number;
}

interface Leaf {
  /** Block offset. */
  offset: number;
  id: string;
  /** Logical (uncompressed) bytes this leaf contributes. */
  length: number;
  /** Start of its payload (raw blocks) or compressed bytes (DZ). */
  payload: number;
  dz?: { zipType: number; param: number; orgLength: number; dataLength: number };
}

export interface StreamContext {
  reader: BlockReader;
  /** Unfinalised file whose flags say the last DT's length was not updated (ID unfinalised flags bit 2). */
  unfinalized: boolean;
  /** Start offsets of all metadata blocks read (to bound an unfinalised DT). */
  blockStarts: number[];
  /** Start offsets of every data block of the file (DG data, VLSD signal data, DL/HL members); computed lazily. */
  dataBlockStarts?: () => Promise<number[]>;
}

/** ID block unfinalised flag: the length of the last DT block was not updated. */
export const UNFIN_DT_LENGTH = 0x4;

/**
 * Start offsets of every data block reachable from `links` (DT/RD/SD/DZ leaves, DL and HL blocks). Damage is
 * skipped quietly (the data streams report it when they read the same chains); cycles end the walk.
 */
export async function collectDataBlockStarts(reader: BlockReader, links: number[]): Promise<number[]> {
  const out = new Set<number>();
  const size = reader.source.size;
  const ok = (l: number) => Number.isInteger(l) && l >= 64 && l + 24 <= size;
  for (const link of links) {
    if (!ok(link) || out.has(link)) continue;
    try {
      const h = await reader.readHeader(link);
      out.add(link);
      let dl = 0;
      if (h.id === 'HL') {
        const b = await reader.readBlock(link, ['HL'], 'header list');
        dl = b.links[0] ?? 0;
      } else if (h.id === 'DL') dl = link;
      while (ok(dl)) {
        const b = await reader.readBlock(dl, ['DL'], 'data list');
        out.add(dl);
        for (let i = 1; i < b.links.length; i++) if (ok(b.links[i])) out.add(b.links[i]);
        const next = b.links[0] ?? 0;
        if (out.has(next)) break;
        dl = next;
      }
    } catch {
      // damaged chain: whatever was found so far still bounds
    }
  }
  return [...out].sort((a, b) => a - b);
}

const dataStartsOf = new WeakMap<Mdf4File, Promise<number[]>>();

/** The stream context of a file's data streams (its data block starts are collected once per file, lazily). */
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

/** Transposed-deflate un-transpose: the first rows*cols bytes were stored column by column. */
export function untranspose(src: Uint8Array, cols: number): Uint8Array {
  if (cols <= 1) return src;
  const rows = Math.floor(src.length / cols);
  if (rows <= 1) return src;
  const out = new Uint8Array(src.length);
  const n = rows * cols;
  for (let c = 0; c < cols; c++) {
    const base = c * rows;
    for (let r = 0, o = c; r < rows; r++, o += cols) out[o] = src[base + r];
  }
  out.set(src.subarray(n), n);
  return out;
}

export class DataStream {
  private leaves: AsyncGenerator<Leaf> | null = null;
  private leaf: Leaf | null = null;
  private leafPos = 0;
  /** Logical offset of the next byte `next()` returns. */
  position = 0;
  private done = false;
  readonly chunkSize: number;
  readonly maxDz: number;
  /** Set when the stream ended early because of damage. */
  damage: Mdf4Error | null = null;
  /** fill(): the inflated DZ block being served, and how much of it was delivered. */
  private dzOut: Uint8Array | null = null;
  private dzPos = 0;

  constructor(
    private readonly ctx: StreamContext,
    private readonly link: number,
    private readonly expected: 'DT' | 'SD',
    opts: StreamOptions = {},
  ) {
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK;
    this.maxDz = opts.maxDzBytes ?? DEFAULT_MAX_DZ;
  }

  reset(): void {
    this.leaves = null;
    this.leaf = null;
    this.leafPos = 0;
    this.position = 0;
    this.done = false;
    this.damage = null;
    this.dzOut = null;
    this.dzPos = 0;
  }

  private get name(): string {
    return this.ctx.reader.source.name;
  }

  private fail(offset: number, msg: string, code: Mdf4ErrorCode = 'SF_ERR_MDF4_CORRUPT'): never {
    throw new Mdf4Error(this.name, offset, msg, code);
  }

  private async *walk(): AsyncGenerator<Leaf> {
    if (this.link === 0) return;
    const r = this.ctx.reader;
    r.checkLink(0, 'data', this.link);
    const h = await r.readHeader(this.link);
    if (h.id === 'HL') {
      const b = await r.readBlock(this.link, ['HL'], 'header list');
      r.need(b, 3, 1);
      yield* this.walkDl(b.links[0], b.offset);
    } else if (h.id === 'DL') {
      yield* this.walkDl(this.link, 0);
    } else {
      yield await this.leafAt(this.link, true);
    }
  }

  private async *walkDl(first: number, from: number): AsyncGenerator<Leaf> {
    const r = this.ctx.reader;
    const seen = new Set<number>();
    let link = first;
    let prev = from;
    while (link !== 0) {
      r.checkLink(prev, 'dl link', link);
      if (seen.has(link)) this.fail(link, 'data list chain has a link cycle');
      seen.add(link);
      const b = await r.readBlock(link, ['DL'], 'data list');
      r.need(b, 8, 1);
      const flags = b.view.getUint8(0);
      const count = b.view.getUint32(4, true);
      if (b.links.length < 1 + count)
        this.fail(link, `##DL declares ${count} blocks but has ${b.links.length - 1} links`);
      const next = b.links[0];
      for (let i = 0; i < count; i++) {
        const l = b.links[1 + i];
        if (l === 0) continue;
        r.checkLink(link, 'dl_data', l);
        yield await this.leafAt(l, next === 0 && i === count - 1);
      }
      void flags;
      prev = link;
      link = next;
    }
  }

  private async leafAt(offset: number, last: boolean): Promise<Leaf> {
    const r = this.ctx.reader;
    const size = r.source.size;
    const h = await r.readHeader(offset);
    const okRaw = this.expected === 'DT' ? ['DT', 'RD'] : ['SD'];
    if (h.id === 'DZ') {
      const b = await r.source.read(offset + 24, 24);
      if (b.length < 24) this.fail(offset, '##DZ header truncated');
      const v = new DataView(b.buffer, b.byteOffset, 24);
      const org = String.fromCharCode(b[0], b[1]);
      const zipType = v.getUint8(2);
      const param = v.getUint32(4, true);
      const orgLength = u64(v, 8);
      const dataLength = u64(v, 16);
      if (!okRaw.includes(org)) this.fail(offset, `##DZ holds ##${org} data where ##${this.expected} was expected`);
      if (zipType > 1)
        this.fail(
          offset,
          `##DZ zip type ${zipType} is not supported (0 deflate, 1 transposed)`,
          'SF_ERR_MDF4_UNSUPPORTED',
        );
      if (!(orgLength <= this.maxDz))
        this.fail(
          offset,
          `##DZ original length ${orgLength} exceeds the ${this.maxDz}-byte limit`,
          'SF_ERR_MDF4_TOO_LARGE',
        );
      if (h.length < 48 || dataLength > h.length - 48)
        this.fail(offset, `##DZ data length ${dataLength} exceeds block`);
      return {
        offset,
        id: 'DZ',
        length: orgLength,
        payload: offset + 48,
        dz: { zipType, param, orgLength, dataLength },
      };
    }
    if (!okRaw.includes(h.id)) this.fail(offset, `expected ##${okRaw.join('/##')} or ##DZ data block, found ##${h.id}`);
    let length = h.length - 24;
    if (this.ctx.unfinalized && last && h.id === 'DT' && length === 0) {
      // Unfinalised, last DT length not updated: if this is the data block with the highest offset, its data runs
      // to the next known block or to end of file; any other header-only DT is empty.
      const data = this.ctx.dataBlockStarts ? await this.ctx.dataBlockStarts() : [];
      if (!data.some((s) => s > offset)) {
        let end = size;
        for (const s of this.ctx.blockStarts) if (s > offset && s < end) end = s;
        for (const s of data) if (s > offset && s < end) end = s;
        length = end - (offset + 24);
      } else
        r.warn(
          offset,
          '##DT block holds no data (length 24) but is not the last data block of the file; read as empty',
          'SF_WARN_MDF4_DATA_DAMAGED',
        );
    }
    if (offset + 24 + length > size) {
      r.warn(
        offset,
        `##${h.id} block length ${h.length} runs past end of file; reading the ${size - offset - 24} bytes present`,
        'SF_WARN_MDF4_DATA_DAMAGED',
      );
      length = Math.max(0, size - offset - 24);
    }
    return { offset, id: h.id, length, payload: offset + 24 };
  }

  /**
   * The next chunk of the logical stream (a view, valid until the next call), or null at the end. Damage in the
   * data chain ends the stream; it is recorded in `damage` (and as a reader warning) instead of thrown.
   */
  async next(): Promise<Uint8Array | null> {
    if (this.done) return null;
    try {
      return await this.nextInner();
    } catch (e) {
      if (!(e instanceof Mdf4Error)) throw e;
      this.damage = e;
      this.ctx.reader.warn(e.offset, `data ends early: ${e.detail}`, damageWarning(e));
      this.done = true;
      return null;
    }
  }

  /**
   * Copies up to `max` bytes of the logical stream into `target` at `at` (no allocation for raw blocks when the
   * source implements `readInto`); returns the number copied, 0 at the end. Damage ends the stream as in `next()`.
   * Do not mix with `next()` on one stream.
   */
  async fill(target: Uint8Array, at: number, max: number): Promise<number> {
    if (this.done || max <= 0) return 0;
    try {
      return await this.fillInner(target, at, max);
    } catch (e) {
      if (!(e instanceof Mdf4Error)) throw e;
      this.damage = e;
      this.ctx.reader.warn(e.offset, `data ends early: ${e.detail}`, damageWarning(e));
      this.done = true;
      return 0;
    }
  }

  private async fillInner(target: Uint8Array, at: number, max: number): Promise<number> {
    if (this.dzOut) {
      const n = Math.min(max, this.dzOut.length - this.dzPos);
      target.set(this.dzOut.subarray(this.dzPos, this.dzPos + n), at);
      this.dzPos += n;
      this.position += n;
      if (this.dzPos >= this.dzOut.length) this.dzOut = null;
      return n;
    }
    if (!this.leaves) this.leaves = this.walk();
    for (;;) {
      if (this.leaf && this.leafPos < this.leaf.length) break;
      const n = await this.leaves.next();
      if (n.done) {
        this.done = true;
        return 0;
      }
      this.leaf = n.value;
      this.leafPos = 0;
    }
    const leaf = this.leaf;
    if (leaf.dz) {
      this.dzOut = await this.inflate(leaf);
      this.dzPos = 0;
      this.leafPos = leaf.length;
      return this.fillInner(target, at, max);
    }
    const len = Math.min(max, leaf.length - this.leafPos);
    const src = this.ctx.reader.source;
    const from = leaf.payload + this.leafPos;
    let got: number;
    if (src.readInto) got = await src.readInto(from, target, at, len);
    else {
      const b = await src.read(from, len);
      target.set(b.subarray(0, len), at);
      got = Math.min(b.length, len);
    }
    if (got < len) this.fail(from, `data block truncated (file ends)`);
    this.leafPos += len;
    this.position += len;
    return len;
  }

  private async nextInner(): Promise<Uint8Array | null> {
    if (!this.leaves) this.leaves = this.walk();
    for (;;) {
      if (this.leaf && this.leafPos < this.leaf.length) break;
      const n = await this.leaves.next();
      if (n.done) {
        this.done = true;
        return null;
      }
      this.leaf = n.value;
      this.leafPos = 0;
    }
    const leaf = this.leaf;
    if (leaf.dz) {
      const out = await this.inflate(leaf);
      this.leafPos = leaf.length;
      this.position += out.length;
      return out;
    }
    const len = Math.min(this.chunkSize, leaf.length - this.leafPos);
    const out = await this.ctx.reader.source.read(leaf.payload + this.leafPos, len);
    if (out.length < len) this.fail(leaf.payload + this.leafPos, `data block truncated (file ends)`);
    this.leafPos += len;
    this.position += len;
    return out;
  }

  private async inflate(leaf: Leaf): Promise<Uint8Array> {
    const dz = leaf.dz!;
    const comp = await this.ctx.reader.source.read(leaf.payload, dz.dataLength);
    if (comp.length < dz.dataLength) this.fail(leaf.offset, '##DZ block truncated (file ends)');
    let out: Uint8Array;
    try {
      out = inflateSync(comp, { maxOutputLength: Math.max(1, dz.orgLength) });
    } catch (e) {
      this.fail(leaf.offset, `##DZ deflate data is corrupt (${(e as Error).message})`);
    }
    if (out.length !== dz.orgLength)
      this.fail(leaf.offset, `##DZ inflated to ${out.length} bytes, header says ${dz.orgLength}`);
    if (dz.zipType === 1) out = untranspose(out, dz.param);
    return out;
  }
}

/**
 * Random access into a signal-data stream (SD chain) by byte offset, for VLSD channels of sorted groups.
 * Keeps one window in one buffer, refilled in place from the stream (fresh memory costs page faults: a new buffer
 * per chunk doubled the time of reading the corpus' signal data); offsets are normally increasing, so this reads
 * the stream once. A backward jump restarts the stream (correct, slower); memory stays one window.
 * A payload (`get`, `peek`) and `window` are views of that buffer: valid until the next `get`.
 */
export class SignalDataReader {
  private buf: Uint8Array = new Uint8Array(0);
  private win: Uint8Array = this.buf;
  private winStart = 0;
  constructor(private readonly stream: DataStream) {}

  /** The payload at `offset` if it is already in the window (no I/O), else undefined. */
  peek(offset: number): Uint8Array | undefined {
    const rel = offset - this.winStart;
    const b = this.win;
    if (rel < 0 || rel + 4 > b.length) return undefined;
    const len = (b[rel] | (b[rel + 1] << 8) | (b[rel + 2] << 16) | (b[rel + 3] << 24)) >>> 0;
    return rel + 4 + len <= b.length ? b.subarray(rel + 4, rel + 4 + len) : undefined;
  }

  /** The loaded window (valid until the next `get`). */
  get window(): Uint8Array {
    return this.win;
  }

  /**
   * Start in `window` of the payload at `offset` if it is already loaded (no I/O, no allocation), else -1; the
   * payload length is then in `lastLength`.
   */
  locate(offset: number): number {
    const rel = offset - this.winStart;
    const b = this.win;
    if (rel < 0 || rel + 4 > b.length) return -1;
    const len = (b[rel] | (b[rel + 1] << 8) | (b[rel + 2] << 16) | (b[rel + 3] << 24)) >>> 0;
    if (rel + 4 + len > b.length) return -1;
    this.lastLength = len;
    return rel + 4;
  }
  lastLength = 0;

  /** Returns the payload of the entry at `offset` (u32 length + bytes), or null if it is not in the stream. */
  async get(offset: number): Promise<Uint8Array | null> {
    if (offset < this.winStart) {
      this.stream.reset();
      this.win = this.buf.subarray(0, 0);
      this.winStart = 0;
    }
    for (;;) {
      const rel = offset - this.winStart;
      let need = 0; // bytes the window must hold from `rel` on (0: unknown yet, read a chunk)
      if (rel + 4 <= this.win.length) {
        const b = this.win;
        const len = (b[rel] | (b[rel + 1] << 8) | (b[rel + 2] << 16) | (b[rel + 3] << 24)) >>> 0;
        if (rel + 4 + len <= b.length) return b.subarray(rel + 4, rel + 4 + len);
        if (len > this.stream.maxDz) return null;
        need = 4 + len;
      }
      // keep the window from the requested offset on (if inside it), move that to the front, fill the rest
      const keepFrom = Math.min(Math.max(0, rel), this.win.length);
      const keep = this.win.length - keepFrom;
      const chunk = this.stream.chunkSize;
      if (this.buf.length < need || this.buf.length - keep < chunk >> 2) {
        // the first window, an entry longer than the buffer, or too little room left behind what is kept
        const nb = new Uint8Array(Math.max(need, keep + chunk));
        nb.set(this.win.subarray(keepFrom));
        this.buf = nb;
      } else if (keepFrom > 0) this.buf.copyWithin(0, keepFrom, this.win.length);
      this.winStart += keepFrom;
      const got = await this.stream.fill(this.buf, keep, this.buf.length - keep);
      this.win = this.buf.subarray(0, keep + got);
      if (got === 0) return null;
    }
  }
}
