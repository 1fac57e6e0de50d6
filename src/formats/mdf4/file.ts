/**
 * An opened MDF4 file: ID block, header (+ parsed metadata), file history, data groups with channel groups and
 * channels. Opening reads only metadata blocks; data is streamed on demand (records.ts, bus.ts).
 */

import { type ByteSource, FileSource } from '../../io/index.js';
import {
  BlockReader,
  type ChannelGroup,
  type DataGroup,
  type FileHistory,
  type HeaderBlock,
  type IdBlock,
} from './blocks.js';
import { DEFAULT_CHUNK } from './data.js';
import type { Mdf4Warning } from './errors.js';
import { type HeaderMetadata, parseHeaderComment } from './header.js';

export interface Mdf4Header extends HeaderBlock {
  /** Normalised device metadata from the HD comment (CANedge `Device Information` / `File Information`). */
  metadata: HeaderMetadata;
  /** Raw `<tree name>` → `<e name>` → text fields from the HD comment (all trees of a name merged). */
  fields: Record<string, Record<string, string>>;
  timeIsLocal: boolean;
}

export interface OpenOptions {
  /**
   * Bytes per sequential data read (default: the file's size rounded up to a power of two, between 64 KiB and
   * 1 MiB — readers allocate a chunk buffer up front, so a small file does not pay for a 1 MiB one).
   */
  chunkSize?: number;
  /** Refuse DZ blocks that inflate to more than this (default 256 MB). */
  maxDzBytes?: number;
  /** Called for every warning as it happens (they are also collected in `mdf.warnings`, up to 1000). */
  onWarning?: (w: Mdf4Warning) => void;
}

export class Mdf4File {
  constructor(
    readonly source: ByteSource,
    readonly reader: BlockReader,
    readonly id: IdBlock,
    readonly header: Mdf4Header,
    readonly history: FileHistory[],
    readonly groups: DataGroup[],
    readonly options: OpenOptions,
  ) {}

  get name(): string {
    return this.source.name;
  }
  get finalized(): boolean {
    return this.id.finalized;
  }
  get warnings(): Mdf4Warning[] {
    return this.reader.warnings;
  }
  /** Every channel group, in file order. */
  get channelGroups(): ChannelGroup[] {
    return this.groups.flatMap((g) => g.channelGroups);
  }
  async close(): Promise<void> {
    await this.source.close?.();
  }
}

/**
 * Opens an MDF4 file from a path or any {@link ByteSource} (e.g. a decompressed .MFC buffer via BufferSource).
 * Throws Mdf4Error for input that is not MDF4 or whose metadata blocks are damaged.
 */
/** The default chunk for a file of `size` bytes: its size rounded up to a power of two, 64 KiB … 1 MiB. */
function fittedChunk(size: number): number {
  return Math.max(64 * 1024, Math.min(DEFAULT_CHUNK, 2 ** Math.ceil(Math.log2(size + 1))));
}

export async function openMdf4(src: ByteSource | string, options: OpenOptions = {}): Promise<Mdf4File> {
  const source = typeof src === 'string' ? new FileSource(src) : src;
  try {
    const warnings: Mdf4Warning[] = [];
    if (options.onWarning) {
      const cb = options.onWarning;
      const push = warnings.push.bind(warnings);
      warnings.push = (...ws: Mdf4Warning[]) => {
        for (const w of ws) cb(w);
        return push(...ws);
      };
    }
    const reader = new BlockReader(source, warnings);
    const id = await reader.id();
    const { hd, dgFirst, fhFirst } = await reader.header();
    let history: FileHistory[] = [];
    try {
      history = await reader.fileHistory(fhFirst);
    } catch (e) {
      reader.warn(64, `file history skipped: ${(e as Error).message}`, 'SF_WARN_MDF4_HISTORY');
    }
    const groups = await reader.dataGroups(dgFirst);
    reader.blockStarts.sort((a, b) => a - b);
    const parsed = parseHeaderComment(hd.comment);
    const header: Mdf4Header = { ...hd, ...parsed, timeIsLocal: (hd.timeFlags & 1) !== 0 };
    if (header.timeIsLocal)
      reader.warn(
        64,
        'HD start time is local time (time flags bit 0), of an unknown time zone; times are reported as if it were UTC',
        'SF_WARN_MDF4_LOCAL_TIME',
      );
    const chunkSize = options.chunkSize ?? fittedChunk(source.size);
    return new Mdf4File(source, reader, id, header, history, groups, { ...options, chunkSize });
  } catch (e) {
    if (typeof src === 'string') await source.close?.();
    throw e;
  }
}
