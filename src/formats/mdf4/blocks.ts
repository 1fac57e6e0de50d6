/**
 * MDF4 block layer: reads and validates the metadata blocks (ID, HD, TX, MD, FH, DG, CG, CN, CC, SI) into a
 * plain in-memory model. Data blocks (DT, SD, DZ, DL, HL) are walked lazily by data.ts.
 *
 * Every link is checked: inside the file, pointing at a block of an expected type, no cycles in lists (a visited
 * set per chain), bounded nesting. Every block length is checked against the file size. Problems throw
 * {@link Mdf4Error} naming the file and the byte offset.
 */
import type { ByteSource } from '../../io/index.js';
import { Mdf4Error, type Mdf4ErrorCode, type Mdf4Warning, type Mdf4WarningCode } from './errors.js';

export const MAX_META_BLOCK = 64 * 1024 * 1024;
const MAX_NESTING = 32;
const td = new TextDecoder('utf-8');

export interface RawBlock {
  offset: number;
  id: string;
  length: number;
  links: number[];
  /** The block's data section (after the links). */
  data: Uint8Array;
  view: DataView;
}

export interface IdBlock {
  fileId: string;
  versionString: string;
  program: string;
  version: number;
  unfinalizedFlags: number;
  customUnfinalizedFlags: number;
  finalized: boolean;
}

export interface Conversion {
  offset: number;
  type: number;
  name: string | null;
  unit: string | null;
  flags: number;
  values: number[];
  /** cc_ref links resolved: text (TX/MD content), nested conversion, or null. */
  refs: (string | Conversion | null)[];
  physMin: number;
  physMax: number;
}

export interface SourceInfo {
  offset: number;
  name: string | null;
  path: string | null;
  type: number;
  busType: number;
  flags: number;
}

export interface Channel {
  offset: number;
  name: string;
  /** cn_type: 0 fixed, 1 VLSD, 2 master, 3 virtual master, 4 sync, 5 MLSD, 6 virtual data, 7 VLSC. */
  type: number;
  syncType: number;
  dataType: number;
  bitOffset: number;
  byteOffset: number;
  bitCount: number;
  flags: number;
  invalBitPos: number;
  conversion: Conversion | null;
  /** cn_data link (SD/DL/DZ/HL for VLSD in sorted groups, or a VLSD CG), 0 if none. */
  dataLink: number;
  unit: string | null;
  comment: string | null;
  source: SourceInfo | null;
  /** Structure members when cn_composition points to a CN list. */
  children: Channel[];
}

export interface ChannelGroup {
  offset: number;
  index: number;
  recordId: number;
  cycleCount: number;
  flags: number;
  pathSeparator: number;
  dataBytes: number;
  invalBytes: number;
  acqName: string | null;
  comment: string | null;
  source: SourceInfo | null;
  channels: Channel[];
  /** cg_flags bit 0: variable-length signal data CG (records are u32 length + bytes). */
  isVlsd: boolean;
}

export interface DataGroup {
  offset: number;
  index: number;
  recIdSize: number;
  dataLink: number;
  comment: string | null;
  channelGroups: ChannelGroup[];
}

export interface FileHistory {
  offset: number;
  timeNs: bigint;
  comment: string | null;
}

export interface HeaderBlock {
  offset: number;
  startTimeNs: bigint;
  tzOffsetMin: number;
  dstOffsetMin: number;
  timeFlags: number;
  timeClass: number;
  flags: number;
  comment: string | null;
}

export function u64(view: DataView, at: number): number {
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  if (hi >= 0x200000) return Number.POSITIVE_INFINITY; // > 2^53: never a valid offset/length
  return hi * 0x100000000 + lo;
}

const META_PAGE = 64 * 1024;
const META_PAGES = 32;

/** A data-group parse that later files may reuse (BlockReader.dataGroups): the model and the proof of its input. */
interface MemoEntry {
  first: number;
  /** Coalesced [start, end) byte ranges the parse read, flat, ascending; `bytes` holds their contents in order. */
  spans: number[];
  bytes: Uint8Array;
  /** The largest link the parse checked against the file size. */
  maxLink: number;
  /** Shared between files: never mutated after the parse. */
  groups: DataGroup[];
  blockStarts: number[];
}
/** What a parse read: each block's bytes as parsed (headers and whole blocks; they overlap), and the largest link. */
interface Proof {
  pieces: { at: number; bytes: Uint8Array }[];
  maxLink: number;
}

/** Keeps a parse for later files: its pieces coalesced into ascending [start, end) spans and their bytes. */
function remember(first: number, proof: Proof, groups: DataGroup[], blockStarts: number[]): void {
  const pieces = [...proof.pieces].sort((a, b) => a.at - b.at);
  const spans: number[] = [];
  for (const p of pieces) {
    const end = p.at + p.bytes.length;
    const n = spans.length;
    if (n > 0 && p.at <= spans[n - 1]) spans[n - 1] = Math.max(spans[n - 1], end);
    else spans.push(p.at, end);
  }
  let total = 0;
  for (let k = 0; k < spans.length; k += 2) total += spans[k + 1] - spans[k];
  if (total > MEMO_MAX_BYTES) return;
  const bytes = new Uint8Array(total);
  // each piece at its place within its span (overlapping pieces hold the same bytes: one parse of one file)
  let k = 0;
  let base = 0;
  for (const p of pieces) {
    while (p.at >= spans[k + 1]) {
      base += spans[k + 1] - spans[k];
      k += 2;
    }
    bytes.set(p.bytes, base + p.at - spans[k]);
  }
  groupMemo.unshift({ first, spans, bytes, maxLink: proof.maxLink, groups, blockStarts });
  if (groupMemo.length > MEMO_ENTRIES) groupMemo.length = MEMO_ENTRIES;
}

/** The most recently used parses, newest first (a server reads a few devices' firmwares at a time). */
const groupMemo: MemoEntry[] = [];
const MEMO_ENTRIES = 8;
const MEMO_MAX_BYTES = 256 * 1024;

/** Reads metadata blocks of one source, with caches for shared TX/CC/SI blocks. */
export class BlockReader {
  private readonly texts = new Map<number, string>();
  private readonly convs = new Map<number, Conversion>();
  private readonly sources = new Map<number, SourceInfo>();
  /** Offsets of all metadata blocks read (used to bound an unfinalised DT that "runs to EOF"). */
  readonly blockStarts: number[] = [];

  /** Metadata page cache: blocks are small and clustered, so one 64 KB page read serves many of them. */
  private readonly pages = new Map<number, Uint8Array>();
  /** While the data groups are parsed: the bytes read, where, and the largest link checked (see groupMemo). */
  private proof: Proof | null = null;

  constructor(
    readonly source: ByteSource,
    readonly warnings: Mdf4Warning[],
  ) {}

  /** Bytes [offset, offset + length) for metadata parsing (a view: valid until the next call; copy to keep). */
  private async meta(offset: number, length: number): Promise<Uint8Array> {
    const page = Math.floor(offset / META_PAGE);
    const rel = offset - page * META_PAGE;
    if (rel + length > META_PAGE) return this.source.read(offset, length);
    let b = this.pages.get(page);
    if (!b) {
      if (this.pages.size >= META_PAGES) this.pages.delete(this.pages.keys().next().value as number);
      const at = page * META_PAGE;
      // a copy: sources may reuse their buffers between reads, and data reads come in between
      b = new Uint8Array(await this.source.read(at, Math.max(0, Math.min(META_PAGE, this.source.size - at))));
      this.pages.set(page, b);
    }
    return b.subarray(rel, Math.min(b.length, rel + length));
  }

  fail(offset: number, detail: string, code: Mdf4ErrorCode = 'SF_ERR_MDF4_CORRUPT'): never {
    throw new Mdf4Error(this.source.name, offset, detail, code);
  }

  /** Checks a link value: 0 or a block start inside the file. */
  checkLink(from: number, what: string, link: number): void {
    if (link === 0) return;
    if (this.proof && link > this.proof.maxLink) this.proof.maxLink = link;
    if (!Number.isFinite(link) || link < 64 || link + 24 > this.source.size || link % 1 !== 0)
      this.fail(from, `${what} link ${link} points outside the file (size ${this.source.size})`);
  }

  async readHeader(offset: number): Promise<{ id: string; length: number; linkCount: number }> {
    const b = await this.meta(offset, 24);
    if (b.length < 24) this.fail(offset, 'block header truncated (file ends)');
    this.proof?.pieces.push({ at: offset, bytes: b.slice(0, 24) });
    if (b[0] !== 0x23 || b[1] !== 0x23) this.fail(offset, 'no block here (expected "##")');
    const id = String.fromCharCode(b[2], b[3]);
    const v = new DataView(b.buffer, b.byteOffset, 24);
    const length = u64(v, 8);
    const linkCount = u64(v, 16);
    if (!(length >= 24) || linkCount * 8 + 24 > length)
      this.fail(offset, `##${id} block has invalid length ${length} / link count ${linkCount}`);
    return { id, length, linkCount };
  }

  /** Reads a whole (metadata) block, checking its type and that it lies inside the file. */
  async readBlock(offset: number, expected: readonly string[], what: string): Promise<RawBlock> {
    const h = await this.readHeader(offset);
    if (!expected.includes(h.id))
      this.fail(offset, `${what}: expected ##${expected.join('/##')} block, found ##${h.id}`);
    if (offset + h.length > this.source.size)
      this.fail(offset, `##${h.id} block length ${h.length} runs past end of file (size ${this.source.size})`);
    if (h.length > MAX_META_BLOCK) this.fail(offset, `##${h.id} block length ${h.length} is implausibly large`);
    const all = await this.meta(offset, h.length);
    if (all.length < h.length) this.fail(offset, `##${h.id} block truncated`);
    const copy = new Uint8Array(all); // a real copy: sources may reuse buffers (Buffer#slice would be a view)
    const view = new DataView(copy.buffer, copy.byteOffset, copy.length);
    const links: number[] = [];
    for (let i = 0; i < h.linkCount; i++) {
      const l = u64(view, 24 + 8 * i);
      links.push(l);
    }
    const dataStart = 24 + 8 * h.linkCount;
    const data = copy.subarray(dataStart);
    this.blockStarts.push(offset);
    this.proof?.pieces.push({ at: offset, bytes: copy });
    return {
      offset,
      id: h.id,
      length: h.length,
      links,
      data,
      view: new DataView(copy.buffer, copy.byteOffset + dataStart, data.length),
    };
  }

  need(b: RawBlock, dataBytes: number, links: number): void {
    if (b.data.length < dataBytes || b.links.length < links)
      this.fail(b.offset, `##${b.id} block too short (${b.links.length} links, ${b.data.length} data bytes)`);
  }

  /** TX or MD content as a string (null for link 0). */
  async text(link: number, from: number, what: string): Promise<string | null> {
    if (link === 0) return null;
    this.checkLink(from, what, link);
    const cached = this.texts.get(link);
    if (cached !== undefined) return cached;
    const b = await this.readBlock(link, ['TX', 'MD'], what);
    let end = b.data.indexOf(0);
    if (end < 0) end = b.data.length;
    const s = td.decode(b.data.subarray(0, end));
    this.texts.set(link, s);
    return s;
  }

  async conversion(link: number, from: number, depth = 0): Promise<Conversion | null> {
    if (link === 0) return null;
    this.checkLink(from, 'cn_cc_conversion', link);
    const cached = this.convs.get(link);
    if (cached) return cached;
    if (depth > MAX_NESTING) this.fail(link, 'conversion nesting too deep (link cycle?)');
    const b = await this.readBlock(link, ['CC'], 'conversion');
    this.need(b, 24, 4);
    const type = b.view.getUint8(0);
    const flags = b.view.getUint16(2, true);
    const refCount = b.view.getUint16(4, true);
    const valCount = b.view.getUint16(6, true);
    if (b.links.length < 4 + refCount || b.data.length < 24 + 8 * valCount)
      this.fail(link, `##CC block declares ${refCount} refs / ${valCount} values it does not hold`);
    const values: number[] = [];
    for (let i = 0; i < valCount; i++) values.push(b.view.getFloat64(24 + 8 * i, true));
    const conv: Conversion = {
      offset: link,
      type,
      name: null,
      unit: null,
      flags,
      values,
      refs: [],
      physMin: b.view.getFloat64(8, true),
      physMax: b.view.getFloat64(16, true),
    };
    this.convs.set(link, conv); // before recursion: a self-referencing CC terminates
    conv.name = await this.text(b.links[0], link, 'cc_tx_name');
    conv.unit = await this.text(b.links[1], link, 'cc_md_unit');
    for (let i = 0; i < refCount; i++) {
      const r = b.links[4 + i];
      if (r === 0) {
        conv.refs.push(null);
        continue;
      }
      this.checkLink(link, 'cc_ref', r);
      const h = await this.readHeader(r);
      if (h.id === 'CC') conv.refs.push(await this.conversion(r, link, depth + 1));
      else conv.refs.push(await this.text(r, link, 'cc_ref'));
    }
    return conv;
  }

  async sourceInfo(link: number, from: number): Promise<SourceInfo | null> {
    if (link === 0) return null;
    this.checkLink(from, 'si link', link);
    const cached = this.sources.get(link);
    if (cached) return cached;
    const b = await this.readBlock(link, ['SI'], 'source information');
    this.need(b, 3, 3);
    const si: SourceInfo = {
      offset: link,
      name: await this.text(b.links[0], link, 'si_tx_name'),
      path: await this.text(b.links[1], link, 'si_tx_path'),
      type: b.view.getUint8(0),
      busType: b.view.getUint8(1),
      flags: b.view.getUint8(2),
    };
    this.sources.set(link, si);
    return si;
  }

  async channels(first: number, from: number, depth: number): Promise<Channel[]> {
    const out: Channel[] = [];
    const seen = new Set<number>();
    let link = first;
    let prev = from;
    while (link !== 0) {
      this.checkLink(prev, 'cn link', link);
      if (seen.has(link)) this.fail(link, 'channel list has a link cycle');
      seen.add(link);
      const b = await this.readBlock(link, ['CN'], 'channel');
      this.need(b, 24, 8);
      const v = b.view;
      const cn: Channel = {
        offset: link,
        name: (await this.text(b.links[2], link, 'cn_tx_name')) ?? '',
        type: v.getUint8(0),
        syncType: v.getUint8(1),
        dataType: v.getUint8(2),
        bitOffset: v.getUint8(3),
        byteOffset: v.getUint32(4, true),
        bitCount: v.getUint32(8, true),
        flags: v.getUint32(12, true),
        invalBitPos: v.getUint32(16, true),
        conversion: await this.conversion(b.links[4], link),
        dataLink: b.links[5],
        unit: await this.text(b.links[6], link, 'cn_md_unit'),
        comment: await this.text(b.links[7], link, 'cn_md_comment'),
        source: await this.sourceInfo(b.links[3], link),
        children: [],
      };
      this.checkLink(link, 'cn_data', cn.dataLink);
      const comp = b.links[1];
      if (comp !== 0) {
        this.checkLink(link, 'cn_composition', comp);
        if (depth >= MAX_NESTING) this.fail(link, 'channel composition nested too deep (link cycle?)');
        const h = await this.readHeader(comp);
        if (h.id === 'CN') cn.children = await this.channels(comp, link, depth + 1);
        else if (h.id !== 'CA') this.fail(comp, `cn_composition: expected ##CN or ##CA, found ##${h.id}`);
        else
          this.warn(
            comp,
            `channel "${cn.name}": array (##CA) compositions are not supported; read as bytes`,
            'SF_WARN_MDF4_UNSUPPORTED',
          );
      }
      out.push(cn);
      prev = link;
      link = b.links[0];
    }
    return out;
  }

  /** Warnings already recorded (code, offset, message): each is said once per opened file. */
  private readonly said = new Set<string>();

  /**
   * Records a warning — once: two passes over one data group (the record count of an unfinalised file, then the
   * extraction) meet the same damage — keeping the first 1000.
   */
  warn(offset: number, message: string, code: Mdf4WarningCode): void {
    const key = `${code}\u0000${offset}\u0000${message}`;
    if (this.said.has(key)) return;
    if (this.said.size < 10_000) this.said.add(key);
    if (this.warnings.length < 1000) this.warnings.push({ code, file: this.source.name, offset, message });
  }

  async id(): Promise<IdBlock> {
    const b = await this.source.read(0, 64);
    if (b.length < 64)
      this.fail(0, `not an MDF file: only ${b.length} bytes (ID block needs 64)`, 'SF_ERR_MDF4_NOT_MDF4');
    const s = (a: number, n: number) => String.fromCharCode(...b.subarray(a, a + n));
    const fileId = s(0, 8);
    if (fileId !== 'MDF     ' && fileId !== 'UnFinMF ')
      this.fail(0, `not an MDF file (file identifier ${JSON.stringify(fileId)})`, 'SF_ERR_MDF4_NOT_MDF4');
    const v = new DataView(b.buffer, b.byteOffset, 64);
    const version = v.getUint16(28, true);
    if (version < 400 || version >= 500)
      this.fail(28, `MDF version ${version} is not supported (need 4.x)`, 'SF_ERR_MDF4_UNSUPPORTED');
    return {
      fileId,
      versionString: s(8, 8).replace(/\0+$/, '').trim(),
      program: s(16, 8).replace(/\0+$/, '').trimEnd(),
      version,
      unfinalizedFlags: v.getUint16(60, true),
      customUnfinalizedFlags: v.getUint16(62, true),
      finalized: fileId === 'MDF     ',
    };
  }

  async header(): Promise<{ hd: HeaderBlock; dgFirst: number; fhFirst: number }> {
    const b = await this.readBlock(64, ['HD'], 'header');
    this.need(b, 17, 6);
    const v = b.view;
    const lo = BigInt(v.getUint32(0, true));
    const hi = BigInt(v.getUint32(4, true));
    for (let i = 0; i < 6; i++) this.checkLink(64, 'hd link', b.links[i]);
    return {
      hd: {
        offset: 64,
        startTimeNs: (hi << 32n) | lo,
        tzOffsetMin: v.getInt16(8, true),
        dstOffsetMin: v.getInt16(10, true),
        timeFlags: v.getUint8(12),
        timeClass: v.getUint8(13),
        flags: v.getUint8(14),
        comment: await this.text(b.links[5], 64, 'hd_md_comment'),
      },
      dgFirst: b.links[0],
      fhFirst: b.links[1],
    };
  }

  async fileHistory(first: number): Promise<FileHistory[]> {
    const out: FileHistory[] = [];
    const seen = new Set<number>();
    let link = first;
    while (link !== 0) {
      this.checkLink(64, 'fh link', link);
      if (seen.has(link)) this.fail(link, 'file history list has a link cycle');
      seen.add(link);
      const b = await this.readBlock(link, ['FH'], 'file history');
      this.need(b, 8, 2);
      const v = b.view;
      out.push({
        offset: link,
        timeNs: (BigInt(v.getUint32(4, true)) << 32n) | BigInt(v.getUint32(0, true)),
        comment: await this.text(b.links[1], link, 'fh_md_comment'),
      });
      link = b.links[0];
    }
    return out;
  }

  /**
   * The data groups (DG → CG → CN/CC/TX/SI) of the chain starting at `first`. The files of one device and firmware
   * (every CANedge split) share this metadata byte for byte: a file whose bytes at the ranges a recent parse read
   * are equal to that parse's (and whose size holds every link it checked) gets that parse's model — the same
   * function of the same bytes — instead of reading some hundred blocks again. Parses that warned are not reused.
   */
  async dataGroups(first: number): Promise<DataGroup[]> {
    const hit = await this.memoHit(first);
    if (hit) {
      for (const b of hit.blockStarts) this.blockStarts.push(b);
      return hit.groups;
    }
    // empty caches: every block the model is made of is read (and so recorded) by this parse
    this.texts.clear();
    this.convs.clear();
    this.sources.clear();
    const proof: Proof = { pieces: [], maxLink: 0 };
    this.proof = proof;
    const warned = this.warnings.length;
    const starts = this.blockStarts.length;
    let groups: DataGroup[];
    try {
      groups = await this.parseDataGroups(first);
    } finally {
      this.proof = null;
    }
    if (this.warnings.length === warned) remember(first, proof, groups, this.blockStarts.slice(starts));
    return groups;
  }

  private async memoHit(first: number): Promise<MemoEntry | undefined> {
    const size = this.source.size;
    for (let i = 0; i < groupMemo.length; i++) {
      const e = groupMemo[i];
      if (e.first !== first || e.maxLink + 24 > size) continue;
      let ok = true;
      let at = 0;
      for (let k = 0; k < e.spans.length && ok; k += 2) {
        const len = e.spans[k + 1] - e.spans[k];
        if (e.spans[k + 1] > size) ok = false;
        else {
          const b = await this.meta(e.spans[k], len);
          ok = b.length === len && Buffer.compare(b, e.bytes.subarray(at, at + len)) === 0;
        }
        at += len;
      }
      if (!ok) continue;
      if (i > 0) groupMemo.unshift(...groupMemo.splice(i, 1));
      return e;
    }
    return undefined;
  }

  private async parseDataGroups(first: number): Promise<DataGroup[]> {
    const out: DataGroup[] = [];
    const seen = new Set<number>();
    let link = first;
    let cgIndex = 0;
    while (link !== 0) {
      this.checkLink(64, 'dg link', link);
      if (seen.has(link)) this.fail(link, 'data group list has a link cycle');
      seen.add(link);
      const b = await this.readBlock(link, ['DG'], 'data group');
      this.need(b, 1, 4);
      const recIdSize = b.view.getUint8(0);
      if (![0, 1, 2, 4, 8].includes(recIdSize)) this.fail(link, `invalid record id size ${recIdSize}`);
      this.checkLink(link, 'dg_data', b.links[2]);
      const dg: DataGroup = {
        offset: link,
        index: out.length,
        recIdSize,
        dataLink: b.links[2],
        comment: await this.text(b.links[3], link, 'dg_md_comment'),
        channelGroups: [],
      };
      const cgSeen = new Set<number>();
      let cgl = b.links[1];
      while (cgl !== 0) {
        this.checkLink(link, 'cg link', cgl);
        if (cgSeen.has(cgl)) this.fail(cgl, 'channel group list has a link cycle');
        cgSeen.add(cgl);
        const c = await this.readBlock(cgl, ['CG'], 'channel group');
        this.need(c, 32, 6);
        const v = c.view;
        const recordId = u64(v, 0);
        const cycleCount = u64(v, 8);
        if (!Number.isFinite(recordId)) this.fail(cgl, 'record id too large');
        const flags = v.getUint16(16, true);
        const cg: ChannelGroup = {
          offset: cgl,
          index: cgIndex++,
          recordId,
          cycleCount: Number.isFinite(cycleCount) ? cycleCount : 0,
          flags,
          pathSeparator: v.getUint16(18, true),
          dataBytes: v.getUint32(24, true),
          invalBytes: v.getUint32(28, true),
          acqName: await this.text(c.links[2], cgl, 'cg_tx_acq_name'),
          comment: await this.text(c.links[5], cgl, 'cg_md_comment'),
          source: await this.sourceInfo(c.links[3], cgl),
          channels: (flags & 1) !== 0 ? [] : await this.channels(c.links[1], cgl, 0),
          isVlsd: (flags & 1) !== 0,
        };
        dg.channelGroups.push(cg);
        cgl = c.links[0];
      }
      if (recIdSize === 0 && dg.channelGroups.length > 1)
        this.fail(link, `data group has ${dg.channelGroups.length} channel groups but no record ids`);
      const ids = new Set<number>();
      for (const cg of dg.channelGroups) {
        if (recIdSize > 0 && ids.has(cg.recordId)) this.fail(cg.offset, `duplicate record id ${cg.recordId}`);
        ids.add(cg.recordId);
        if (recIdSize > 0 && recIdSize < 8 && cg.recordId >= 2 ** (8 * recIdSize))
          this.fail(cg.offset, `record id ${cg.recordId} does not fit ${recIdSize} byte(s)`);
      }
      out.push(dg);
      link = b.links[0];
    }
    return out;
  }
}

/** All channels of a group, compositions flattened (parents before their members). */
export function flattenChannels(chs: Channel[]): Channel[] {
  const out: Channel[] = [];
  const walk = (list: Channel[]) => {
    for (const c of list) {
      out.push(c);
      walk(c.children);
    }
  };
  walk(chs);
  return out;
}

/** Forgets every remembered data-group parse (tests compare a fresh parse with a reused one). */
export function forgetMetadata(): void {
  groupMemo.length = 0;
}
