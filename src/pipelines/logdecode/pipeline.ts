/**
 * Log files → frames → DBC decode → values. For each input (in order): open it through the CANedge container
 * layer (MF4/MFC/MFE/MFM, passwords), stream its bus events with the MDF4 reader as columnar batches, adapt each
 * batch to the DBC decoder's FrameColumns without copying payloads, decode it with every database that serves
 * the frame's channel, and hand the batch to the caller. Nothing is allocated per frame or per value here; the
 * caller formats what it needs (see `forEachValue`).
 *
 * Errors: a file that cannot be opened or read (missing, wrong password, corrupt) is reported through
 * `onFileError` and the run continues with the next file (unless the callback throws). Data damage inside a
 * file ends that file's stream early with MDF4 warnings (reported through `onWarning`).
 */

import { DecodedBatch, ERR_UNKNOWN_ID, type FrameColumns } from '../../codecs/dbc/index.js';
import { SigflowError } from '../../errors/index.js';
import { type ContainerKind, openLogMdf4, type PasswordBook } from '../../formats/canedge/index.js';
import {
  BUS_CAN,
  EV_CAN_DATA,
  EV_LIN_FRAME,
  FLAG_EDL,
  FLAG_EXT,
  type FrameBatch,
  type Mdf4File,
  type Mdf4Warning,
  readBusFrames,
} from '../../formats/mdf4/index.js';
import { type ByteSource, FileSource } from '../../io/index.js';
import type { TransportProtocol, TransportStats } from '../../transport/index.js';
import type { DecodeDb, DecoderConfig } from './dbcset.js';
import { DecodeErrorTally } from './diagnosis.js';
import type { LogInput } from './inputs.js';
import { NsFormatter } from './time.js';
import { BatchReassembly, type ReassembledBatch } from './transport.js';

export interface OpenedFile {
  input: LogInput;
  /** Device id: the MDF header's serial number, else the tree folder, else the container header, else ''. */
  device: string;
  kind: ContainerKind;
  mdf: Mdf4File;
}

/**
 * Opens one log (any container) for bus-frame reading. Throws a SigflowError naming the file: SF_ERR_IO_OPEN when
 * it cannot be opened, the container's or the MDF4 reader's code when its bytes are wrong.
 */
export async function openInput(
  input: LogInput,
  opts: { passwords?: PasswordBook; onWarning?: (w: Mdf4Warning) => void } = {},
): Promise<OpenedFile> {
  // SF_ERR_IO_OPEN naming the file when it cannot be opened
  const open = input.open;
  const src: ByteSource = open ? await open() : new FileSource(input.path);
  const { log: opened, mdf } = await openLogMdf4(src, opts);
  const serial = mdf.header.metadata.serial_number;
  const device = serial?.trim() || input.folderDevice || opened.deviceId || '';
  return { input, device, kind: opened.kind, mdf };
}

/** Counters of one file or of a whole run. */
export interface LogStats {
  files: number;
  failedFiles: number;
  bytes: number;
  /** All bus events. */
  events: number;
  /** CAN data frames + LIN frames. */
  frames: number;
  /** CAN data frames at least one database decoded. */
  decodedFrames: number;
  /** Values handed out (after the signal filter). */
  values: number;
  /** CAN data frames no database of their channel knows. */
  unknownIds: number;
  /** CAN data frames a known message could not decode (too short, undefined multiplexer value). */
  decodeErrors: number;
  /** MDF4 warnings (data damage). */
  warnings: number;
  /** CAN data frames taken by transport-protocol reassembly (not decoded one by one). */
  transportFrames: number;
  /** Messages reassembled from them (decoded like frames: counted in decodedFrames, decodeErrors …). */
  transportMessages: number;
  /** A run's totals: reassembly counters per protocol in use, drops by reason (empty per file and when off). */
  transport: { protocol: TransportProtocol; stats: TransportStats }[];
  /** decodeErrors per message and reason (`entries(config)`: the breakdown; diagnosis.ts). */
  decodeErrorDetail: DecodeErrorTally;
}

export function emptyStats(): LogStats {
  return {
    files: 0,
    failedFiles: 0,
    bytes: 0,
    events: 0,
    frames: 0,
    decodedFrames: 0,
    values: 0,
    unknownIds: 0,
    decodeErrors: 0,
    warnings: 0,
    transportFrames: 0,
    transportMessages: 0,
    transport: [],
    decodeErrorDetail: new DecodeErrorTally(),
  };
}

export function addStats(into: LogStats, s: LogStats): void {
  for (const k of Object.keys(into) as (keyof LogStats)[]) {
    if (k === 'decodeErrorDetail') into.decodeErrorDetail.merge(s.decodeErrorDetail);
    else if (k !== 'transport') into[k] += s[k];
  }
}

/** What the caller sees per batch. Arrays are reused between batches: copy what you keep. */
export interface BatchView {
  file: OpenedFile;
  frames: FrameBatch;
  /** The batch as DBC input (shares frames.id / data / dataStart). */
  columns: FrameColumns;
  /** Formats frame i's absolute time: time.format(frames.offsetNs[i]). */
  time: NsFormatter;
  /** Per database of the config: its decode of this batch (null without a config). */
  decoded: DecodedBatch[] | null;
  /** Per CAN channel number (0…255): indexes of the databases serving it. */
  dbsOfChannel: number[][] | null;
  config: DecoderConfig | null;
}

export interface PipelineOptions {
  passwords?: PasswordBook;
  from?: bigint;
  to?: bigint;
  batchSize?: number;
  /** Decode with these databases (omit for frames only). */
  config?: DecoderConfig | null;
  /** Also return VAL_ label indexes (DecodedBatch.choice). */
  choices?: boolean;
  onFileStart?: (file: OpenedFile) => void | Promise<void>;
  onBatch?: (view: BatchView) => void | Promise<void>;
  onFileEnd?: (file: OpenedFile, stats: LogStats) => void | Promise<void>;
  /** A file that failed (open or mid-stream). Throw to abort the run. */
  onFileError?: (input: LogInput, error: Error) => void | Promise<void>;
  onWarning?: (input: LogInput, w: Mdf4Warning) => void;
  /** Bytes of input finished so far (after each file and each batch, estimated within a file). */
  onProgress?: (bytesDone: number) => void;
  /** Count values passing the filter (costs a pass over the slots; default true when decoding). */
  countValues?: boolean;
}

/** Builds the channel → databases table. */
function channelTable(config: DecoderConfig): number[][] {
  const t: number[][] = [];
  for (let c = 0; c < 256; c++) t.push(config.perChannel.get(c) ?? config.global);
  return t;
}

/**
 * Runs the pipeline over the inputs; returns the run's totals. Transport-protocol reassembly (config.transport)
 * carries on across the files of the run; its counters are in the totals' `transport`.
 */
export async function runLogPipeline(inputs: LogInput[], opts: PipelineOptions = {}): Promise<LogStats> {
  const total = emptyStats();
  const decoding = new Decoding(opts);
  let bytesBefore = 0;
  for (const input of inputs) {
    const stats = emptyStats();
    stats.files = 1;
    stats.bytes = input.size;
    let file: OpenedFile | null = null;
    try {
      file = await openInput(input, {
        passwords: opts.passwords,
        onWarning: (w) => {
          stats.warnings++;
          opts.onWarning?.(input, w);
        },
      });
      if (opts.onFileStart) await callback(() => opts.onFileStart?.(file as OpenedFile));
      await decoding.stream(file, stats, bytesBefore);
    } catch (e) {
      if (file) await file.mdf.close().catch(() => {});
      if (e instanceof CallbackAbort) throw e.cause;
      stats.failedFiles = 1;
      addStats(total, stats);
      bytesBefore += input.size;
      opts.onProgress?.(bytesBefore);
      await opts.onFileError?.(input, fileError(input, e));
      continue;
    }
    await file.mdf.close();
    addStats(total, stats);
    bytesBefore += input.size;
    opts.onProgress?.(bytesBefore);
    await opts.onFileEnd?.(file, stats);
  }
  decoding.finish();
  total.transport = decoding.transportStats();
  return total;
}

/** A file's failure as an Error whose message names the file. */
function fileError(input: LogInput, e: unknown): Error {
  const err =
    e instanceof Error
      ? e
      : new SigflowError('SF_ERR_LOGDECODE_INPUT', `${input.path}: ${String(e)}`, { where: input.path });
  if (!err.message.includes(input.path)) err.message = `${input.path}: ${err.message}`;
  return err;
}

/**
 * Decode buffers of finished runs (grown to a batch's size: ~1 MB each). The lake writer runs the pipeline once
 * per log; a fresh set per log was a large part of what made V8 collect garbage every few logs.
 */
const spareDecoded: DecodedBatch[] = [];

/** The decode side of a run: tables and buffers made once and reused for every file and batch. */
class Decoding {
  private readonly config: DecoderConfig | null;
  private readonly table: number[][] | null;
  private readonly decoded: DecodedBatch[] | null;
  private readonly choices: boolean;
  private readonly countValues: boolean;
  private ext = new Uint8Array(0);
  private readonly transport: BatchReassembly | null;
  private taken = new Uint8Array(0);

  constructor(private readonly opts: PipelineOptions) {
    const config = opts.config ?? null;
    this.config = config;
    this.transport = config ? BatchReassembly.forConfig(config) : null;
    this.table = config ? channelTable(config) : null;
    this.decoded = config ? config.databases.map(() => spareDecoded.pop() ?? new DecodedBatch()) : null;
    this.choices = opts.choices ?? false;
    this.countValues = opts.countValues ?? true;
  }

  /**
   * Streams one opened file: each batch is adapted to the DBC decoder's columns (no payload copy), decoded,
   * counted into `stats` and handed to onBatch. Hot path: the only loop per frame fills the `ext` column.
   */
  async stream(file: OpenedFile, stats: LogStats, bytesBefore: number): Promise<void> {
    const { opts, config, table, decoded } = this;
    const time = new NsFormatter(file.mdf.header.startTimeNs);
    const progress = new FileProgress(file.mdf);
    const columns: FrameColumns = {
      count: 0,
      id: new Uint32Array(0),
      ext: this.ext,
      data: new Uint8Array(0),
      offset: new Uint32Array(0),
      length: new Uint8Array(0),
    };
    const view: BatchView = {
      file,
      frames: undefined as unknown as FrameBatch,
      columns,
      time,
      decoded,
      dbsOfChannel: table,
      config,
    };
    const size = file.input.size;
    for await (const b of readBusFrames(file.mdf, { from: opts.from, to: opts.to, batchSize: opts.batchSize })) {
      const n = b.count;
      if (this.ext.length < n) this.ext = new Uint8Array(Math.max(n, this.ext.length * 2));
      const ext = this.ext;
      const flags = b.flags;
      const type = b.type;
      let nCan = 0;
      let nLin = 0;
      for (let i = 0; i < n; i++) {
        ext[i] = flags[i] & FLAG_EXT;
        const ty = type[i];
        if (ty === EV_CAN_DATA) nCan++;
        else if (ty === EV_LIN_FRAME) nLin++;
      }
      columns.count = n;
      columns.id = b.id;
      columns.ext = ext;
      columns.data = b.data;
      columns.offset = b.dataStart;
      columns.length = b.length;
      time.reset(b.startNs);
      view.frames = b;
      stats.events += n;
      stats.frames += nCan + nLin;
      let reassembled: ReassembledBatch | null = null;
      let taken: Uint8Array | null = null;
      if (config && decoded && table && nCan > 0) {
        if (this.transport) {
          if (this.taken.length < n) this.taken = new Uint8Array(Math.max(n, this.taken.length * 2));
          taken = this.taken;
          reassembled = this.transport.run(b, file.device, taken);
        }
        decodeBatchAll(config, columns, decoded, this.choices, false);
        tally(b, decoded, table, config.databases, stats, this.countValues, taken);
      }
      if (opts.onBatch) await callback(() => opts.onBatch?.(view));
      if (reassembled) await this.emitReassembled(reassembled, view, stats);
      if (opts.onProgress && n > 0) opts.onProgress(bytesBefore + progress.update(b) * size);
    }
  }

  /**
   * Decodes the messages reassembled in a batch (PGN matching for the 29-bit ones, whose ids are rebuilt; signals
   * that fit, as a multiplexed DBC message's length is its longest variant) and hands them on as a batch.
   */
  private async emitReassembled(r: ReassembledBatch, view: BatchView, stats: LogStats): Promise<void> {
    const { config, table, decoded, opts } = this;
    if (!config || !table || !decoded) return;
    const b = r.frames;
    const ext = new Uint8Array(b.count);
    for (let i = 0; i < b.count; i++) ext[i] = b.flags[i] & FLAG_EXT;
    const columns: FrameColumns = {
      count: b.count,
      id: b.id,
      ext,
      data: b.data,
      offset: b.dataStart,
      length: r.lengths,
    };
    decodeBatchAll(config, columns, decoded, this.choices, true);
    stats.transportMessages += b.count;
    tally(b, decoded, table, config.databases, stats, this.countValues, null);
    view.frames = b;
    view.columns = columns;
    view.time.reset(b.startNs);
    if (opts.onBatch) await callback(() => opts.onBatch?.(view));
  }

  /** The end of the run: its decode buffers go to the next run (nothing reads a batch after its callback). */
  finish(): void {
    this.transport?.finish();
    for (const d of this.decoded ?? []) if (spareDecoded.length < 8) spareDecoded.push(d);
  }

  transportStats(): LogStats['transport'] {
    return this.transport?.stats() ?? [];
  }
}

/**
 * Progress within one file, as a fraction in [0, 1] that never goes backwards. `recordPos` is a byte position in
 * its data group's record stream, and the merge reads every data group at once (each stream restarts at 0 in a
 * sorted file): the bytes read are the sum over data groups of the furthest position seen, against the file size.
 */
class FileProgress {
  private readonly dgOf: Int32Array;
  private readonly furthest: Float64Array;
  private sum = 0;
  private readonly size: number;

  constructor(mdf: Mdf4File) {
    const cgs = mdf.channelGroups;
    this.dgOf = new Int32Array(cgs.length);
    mdf.groups.forEach((dg, d) => {
      for (const cg of dg.channelGroups) {
        const k = cgs.indexOf(cg);
        if (k >= 0) this.dgOf[k] = d;
      }
    });
    this.furthest = new Float64Array(mdf.groups.length);
    this.size = Math.max(1, mdf.source.size);
  }

  /** Takes a batch into account and returns the fraction of the file read so far. */
  update(b: FrameBatch): number {
    const g = b.group;
    const rp = b.recordPos;
    const dgOf = this.dgOf;
    const furthest = this.furthest;
    for (let i = 0; i < b.count; i++) {
      const d = dgOf[g[i]] ?? 0;
      if (rp[i] > furthest[d]) {
        this.sum += rp[i] - furthest[d];
        furthest[d] = rp[i];
      }
    }
    return Math.min(1, this.sum / this.size);
  }
}

/**
 * An error thrown by a caller's callback: aborts the run (it is not a problem of the file being read). Internal:
 * never escapes runLogPipeline, which rethrows the callback's own error (its `cause`).
 */
class CallbackAbort extends Error {
  constructor(override readonly cause: unknown) {
    super('callback failed');
  }
}

async function callback(fn: () => void | Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    throw new CallbackAbort(e);
  }
}

/** Decodes a batch with every database; `reassembled`: transport messages (PGN matching, truncated signals). */
function decodeBatchAll(
  config: DecoderConfig,
  columns: FrameColumns,
  out: DecodedBatch[],
  choices: boolean,
  reassembled: boolean,
): void {
  const dbs = config.databases;
  for (let d = 0; d < dbs.length; d++) {
    dbs[d].db.decodeBatch(
      columns,
      out[d],
      reassembled ? { choices, anyPgn: true, truncated: true } : { choices, j1939: dbs[d].j1939 },
    );
  }
}

function tally(
  b: FrameBatch,
  decoded: DecodedBatch[],
  table: number[][],
  dbs: DecodeDb[],
  stats: LogStats,
  countValues: boolean,
  taken: Uint8Array | null,
): void {
  const n = b.count;
  const type = b.type;
  const bus = b.bus;
  const chn = b.channel;
  let dec = 0;
  let unk = 0;
  let err = 0;
  let vals = 0;
  let tp = 0;
  for (let i = 0; i < n; i++) {
    if (type[i] !== EV_CAN_DATA || bus[i] !== BUS_CAN) continue;
    const set = table[chn[i]];
    if (taken !== null && taken[i] === 1) {
      // a frame of a multi-frame message: not decoded on its own (its message is, in the reassembled batch)
      for (let k = 0; k < set.length; k++) decoded[set[k]].message[i] = ERR_UNKNOWN_ID;
      tp++;
      continue;
    }
    let ok = false;
    let bad = -1;
    for (let k = 0; k < set.length; k++) {
      const d = set[k];
      const out = decoded[d];
      const m = out.message[i];
      if (m >= 0) {
        ok = true;
        if (countValues) {
          const inc = dbs[d].include;
          const sig = out.signal;
          for (let p = out.start[i], e = out.start[i + 1]; p < e; p++) vals += inc[sig[p]];
        }
      } else if (m !== ERR_UNKNOWN_ID) bad = d;
    }
    if (ok) dec++;
    else if (bad >= 0) {
      err++;
      badFrame(b, i, bad, decoded[bad].message[i], dbs[bad], stats);
    } else unk++;
  }
  stats.transportFrames += tp;
  stats.decodedFrames += dec;
  stats.unknownIds += unk;
  stats.decodeErrors += err;
  stats.values += vals;
}

/** The error path of `tally`: which message a frame that failed to decode was, and why (diagnosis.ts). */
function badFrame(b: FrameBatch, i: number, d: number, code: number, db: DecodeDb, stats: LogStats): void {
  const m = db.db.lookup(b.id[i], (b.flags[i] & FLAG_EXT) !== 0, db.j1939, true);
  if (!m) return;
  stats.decodeErrorDetail.add(d, m.index, code, m.length, b.length[i], (b.flags[i] & FLAG_EDL) !== 0);
}

/**
 * Calls `fn(i, d, k)` for every value of the batch that passes the signal filter, in frame order (and within a
 * frame in database, then signal order): frame i, database index d (config.databases[d]), slot k of
 * view.decoded[d] (signal = decoded[d].signal[k], value = phys[k] or widePhys[k]).
 */
export function forEachValue(view: BatchView, fn: (i: number, d: number, k: number) => void): void {
  const { frames: b, decoded, dbsOfChannel: table, config } = view;
  if (!decoded || !table || !config) return;
  const n = b.count;
  const type = b.type;
  const bus = b.bus;
  const chn = b.channel;
  const dbs = config.databases;
  for (let i = 0; i < n; i++) {
    if (type[i] !== EV_CAN_DATA || bus[i] !== BUS_CAN) continue;
    const set = table[chn[i]];
    for (let s = 0; s < set.length; s++) {
      const d = set[s];
      const out = decoded[d];
      if (out.message[i] < 0) continue;
      const inc = dbs[d].include;
      const sig = out.signal;
      for (let k = out.start[i], e = out.start[i + 1]; k < e; k++) if (inc[sig[k]] === 1) fn(i, d, k);
    }
  }
}

/**
 * Calls `fn(i, d, start, end)` for each CAN data frame i that database d decoded: its values are the slots
 * `start … end-1` of `view.decoded[d]` (every signal of the frame, the `--signals` filter not applied: test
 * `config.databases[d].include` to apply it). Frames in batch order, databases in channel-set order.
 */
export function forEachDecodedFrame(
  view: BatchView,
  fn: (i: number, d: number, start: number, end: number) => void,
): void {
  const { frames: b, decoded, dbsOfChannel: table } = view;
  if (!decoded || !table) return;
  const n = b.count;
  for (let i = 0; i < n; i++) {
    if (b.type[i] !== EV_CAN_DATA || b.bus[i] !== BUS_CAN) continue;
    const set = table[b.channel[i]];
    for (let s = 0; s < set.length; s++) {
      const out = decoded[set[s]];
      if (out.message[i] >= 0) fn(i, set[s], out.start[i], out.start[i + 1]);
    }
  }
}

/** The J1939 source address of a 29-bit id (its low byte). */
export function j1939Sa(id: number): number {
  return id & 0xff;
}
