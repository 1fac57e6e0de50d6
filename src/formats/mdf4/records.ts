/**
 * Records of one channel group outside bus extraction: `RecordCursor` streams them in bounded chunks (raw record
 * bytes + resolved VLSD payloads) and `countRecords` counts the records of every group of a data group. Both are
 * thin adapters over the record walker (walk.ts), which does the walking (dispatch by record id, VLSD resolution,
 * carry between chunks, damage handling) for bus extraction too.
 */
import type { Channel, ChannelGroup, DataGroup } from './blocks.js';
import type { Mdf4File } from './file.js';
import { GroupWalker, type VlsdColumn, type WalkChunk } from './walk.js';

/** One chunk of a group's records. Valid until the next chunk is requested (buffers are reused). */
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

/**
 * Streams the records of one channel group (a walker with that group as its only target). Throws Mdf4Error if
 * the group's VLSD layout is unusable. Create one per pass; `chunks()` may be iterated once.
 */
export class RecordCursor {
  readonly vlsdChannels: Channel[];
  readonly recordSize: number;
  private readonly walker: GroupWalker;
  private pending: WalkChunk | null = null;

  constructor(
    mdf: Mdf4File,
    readonly dg: DataGroup,
    readonly cg: ChannelGroup,
  ) {
    this.recordSize = cg.dataBytes + cg.invalBytes;
    this.walker = new GroupWalker(mdf, dg);
    this.vlsdChannels = this.walker.add(cg, (c) => {
      this.pending = c;
    }).vlsdChannels;
  }

  async *chunks(): AsyncGenerator<RecordChunk> {
    let streamPos = new Float64Array(1024);
    while (await this.walker.pull()) {
      const c = this.pending;
      if (!c) continue;
      this.pending = null;
      const n = c.count;
      if (streamPos.length < n) streamPos = new Float64Array(Math.max(n, streamPos.length * 2));
      for (let i = 0; i < n; i++) streamPos[i] = c.spBase + c.pos[i];
      yield {
        buf: c.buf,
        view: c.view,
        pos: c.pos.subarray(0, n),
        streamPos: streamPos.subarray(0, n),
        count: n,
        index0: c.index0,
        vlsd: c.vlsd.map((v) => ({ data: v.data, start: v.start.subarray(0, n), len: v.len.subarray(0, n) })),
      };
    }
  }
}

/**
 * Number of records per record id of a data group (devices leave the CG cycle counters at 0 in unfinalised
 * files): one walk that only counts. Damage ends it with the walk's warning — the same one the extraction pass
 * would give, said once (BlockReader.warn): when damage leaves every group without a record, no extraction pass
 * runs, and a log that silently yielded nothing was recorded as imported.
 */
export async function countRecords(mdf: Mdf4File, dg: DataGroup): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const g of dg.channelGroups) counts.set(g.recordId, 0);
  if (dg.channelGroups.length === 0) return counts;
  const walker = new GroupWalker(mdf, dg);
  const targets = dg.channelGroups.map((g) => walker.addCounter(g));
  while (await walker.pull());
  for (const t of targets) counts.set(t.cg.recordId, (counts.get(t.cg.recordId) ?? 0) + t.index);
  return counts;
}
