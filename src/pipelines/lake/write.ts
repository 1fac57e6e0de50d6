/**
 * Logs → the lake (`sigflow lake write`): each log decoded with the DBC set into one table file per message
 * folder and UTC day (formats/lake: CSS's layout and schema), written complete or not at all, then recorded in
 * the ledger; a log already in the ledger with the same size, time and DBC set is skipped. At the end each
 * touched device's `messages` table and the lake's `devicemeta` table are rewritten from what the lake holds.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Signal } from '../../codecs/dbc/index.js';
import { SigflowError } from '../../errors/index.js';
import type { PasswordBook } from '../../formats/canedge/index.js';
import {
  type CompactionRecord,
  columnNames,
  dayOf,
  isCompactedFile,
  LakeLedger,
  type LakeStore,
  LakeTable,
  type LedgerEntry,
  logStem,
  messageFolder,
  parseTableKey,
  safeSegment,
  tableKey,
  writeSideTables,
} from '../../formats/lake/index.js';
import type { DecoderConfig, LogInput } from '../logdecode/index.js';
import { type BatchView, forEachDecodedFrame, runLogPipeline } from '../logdecode/index.js';
import type { LakeClaims } from './claims.js';
import { recoverTakingApart, takeApart } from './compact.js';

export interface LakeWriteJob {
  /** The logs (expandInputs), in order. */
  inputs: LogInput[];
  config: DecoderConfig;
  lake: LakeStore;
  passwords?: PasswordBook;
  /** Decode every log again, whatever the ledger says. */
  force?: boolean;
  /** Several workers over the same inputs: each log is decoded by the one that claims it (claims.ts). */
  claims?: LakeClaims;
  /** Stops before the next log (the current one is finished and recorded). */
  signal?: AbortSignal;
}

export interface LakeWriteHooks {
  /** Bytes of input done so far. */
  onProgress?: (bytesDone: number) => void;
  onFileDone?: (input: LogInput, result: { tables: number; rows: number; again: boolean }) => void;
  onSkip?: (input: LogInput) => void;
  onFileError?: (input: LogInput, error: Error) => void;
}

export interface LakeWriteStats {
  /** Logs decoded into the lake by this run. */
  written: number;
  /** Of those, logs that were in the ledger already (changed since, or another DBC set). */
  again: number;
  /** Logs skipped: already in the ledger as they are. */
  skipped: number;
  /** Logs another worker held a claim on (left to it). */
  elsewhere: number;
  failed: number;
  tables: number;
  rows: number;
  /** Objects of an earlier decode of a log that this one no longer produces, deleted. */
  removed: number;
  bytes: number;
  /** The UTC days (days since the epoch) each device got rows on in this run: first and last. */
  days: Map<string, { first: number; last: number }>;
}

/** A fingerprint of the DBC set: the files' contents and which channels each serves. */
export function dbcFingerprint(config: DecoderConfig): string {
  const h = createHash('sha256');
  for (const [i, d] of config.databases.entries()) {
    h.update(`db${i}\n`);
    for (const f of d.files) h.update(readFileSync(f));
  }
  h.update(JSON.stringify({ global: config.global, per: [...config.perChannel].sort((a, b) => a[0] - b[0]) }));
  return h.digest('hex').slice(0, 16);
}

/** The ledger's name of a log: its device folder and `<session>_<split>`; a log outside a tree: its path's. */
function ledgerName(input: LogInput): { device: string; stem: string } {
  if (input.folderDevice && input.session !== null && input.split !== null)
    return { device: safeSegment(input.folderDevice), stem: logStem(input) };
  const h = createHash('sha256').update(ledgerPath(input)).digest('hex').slice(0, 8);
  return { device: OUTSIDE_TREE, stem: `${logStem(input)}-${h}` };
}

/**
 * The path a ledger records for a log: a local file's absolute path (the same log given as `LOG/` from one folder
 * and `../x/LOG` from another is the same log, not a name clash), an S3 object's URL.
 */
function ledgerPath(input: LogInput): string {
  return input.open ? input.path : resolve(input.path);
}

/** The ledger's device name for logs outside a `<ID>/<session>/<split>` tree. */
const OUTSIDE_TREE = '_files';

/** One message's table layout: its columns (global signal indexes), per multiplexer branch. */
interface Layout {
  /** Global signal index → column in the table (-1: not a column of this branch). */
  columnOf: Int32Array;
  names: string[];
}

/** Per database and message: whether it is multiplexed, and the table its last frame went to (the fast path). */
interface MessageState {
  /** The global index of its top-level multiplexer signal, or -1. */
  muxGi: number;
  last: { chn: number; sa: number; mux: number; day: number; table: LakeTable | null; layout: Layout } | null;
}

/** The rows of one log being assembled: tables by key, and the layouts by database/message/branch. */
class LogTables {
  readonly tables = new Map<string, LakeTable>();
  /** null: a message none of whose signals is included (`signals` filter): no table. */
  private readonly bySlot = new Map<string, { table: LakeTable | null; layout: Layout }>();
  private readonly layouts = new Map<string, Layout>();
  /** By database, then message index. */
  private readonly states: (MessageState | undefined)[][];
  device = 'unknown';

  constructor(
    private readonly config: DecoderConfig,
    private readonly stem: string,
  ) {
    this.states = config.databases.map(() => []);
  }

  private stateOf(d: number, mi: number): MessageState {
    let st = this.states[d][mi];
    if (!st) {
      const m = this.config.databases[d].db.messages[mi];
      const top = m.signals.find((s) => s.isMultiplexer && s.multiplexerSignal === null);
      st = { muxGi: top && m.signals.some((s) => s.multiplexerSignal !== null) ? top.globalIndex : -1, last: null };
      this.states[d][mi] = st;
    }
    return st;
  }

  /** Takes the decoded frames of one batch into their tables. */
  add(view: BatchView): void {
    const b = view.frames;
    const decoded = view.decoded;
    if (!decoded) return;
    const dbs = this.config.databases;
    forEachDecodedFrame(view, (i, d, start, end) => {
      const out = decoded[d];
      const mi = out.message[i];
      const st = this.stateOf(d, mi);
      // the top-level multiplexer's value picks the branch (its own folder, as CSS: _<Mux>_M<value>)
      let mux = -1;
      if (st.muxGi >= 0)
        for (let k = start; k < end; k++)
          if (out.signal[k] === st.muxGi) {
            mux = out.raw[k];
            break;
          }
      const sa = dbs[d].messageJ1939[mi] ? b.id[i] & 0xff : -1;
      const tUs = microseconds(view, b.offsetNs[i]);
      const chn = b.channel[i];
      const day = dayOf(tUs);
      let target = st.last;
      if (!target || target.chn !== chn || target.sa !== sa || target.mux !== mux || target.day !== day) {
        const { table, layout } = this.tableFor(d, mi, chn, sa, mux, day);
        target = st.last = { chn, sa, mux, day, table, layout };
      }
      const { table, layout } = target;
      if (!table) return;
      const row = table.addRow(tUs);
      for (let k = start; k < end; k++) {
        const c = layout.columnOf[out.signal[k]];
        if (c >= 0) table.set(row, c, out.phys[k]);
      }
    });
  }

  /** The table of a message's frames on one channel, source address, multiplexer branch and day (made once). */
  private tableFor(d: number, mi: number, chn: number, sa: number, mux: number, day: number) {
    const slot = `${d}:${mi}:${chn}:${sa}:${mux}:${day}`;
    let found = this.bySlot.get(slot);
    if (!found) {
      const db = this.config.databases[d];
      const message = db.db.messages[mi];
      const muxSignal = mux >= 0 ? db.db.signals[this.stateOf(d, mi).muxGi] : undefined;
      const layoutKey = `${d}:${mi}:${mux}`;
      let layout = this.layouts.get(layoutKey);
      if (!layout) {
        layout = layoutOf(
          db.db.signals.length,
          message.signals,
          db.include,
          db.signalName,
          muxSignal ? { signal: muxSignal, value: mux } : undefined,
        );
        this.layouts.set(layoutKey, layout);
      }
      const folder = messageFolder({
        itf: 'CAN',
        channel: chn,
        message: db.messageName[mi],
        ...(muxSignal ? { mux: { signal: db.signalName[muxSignal.globalIndex], value: mux } } : {}),
        ...(sa >= 0 ? { sa } : {}),
      });
      found = { table: layout.names.length ? new LakeTable(layout.names) : null, layout };
      this.bySlot.set(slot, found);
      if (found.table) this.tables.set(tableKey(this.device, folder, day, this.stem), found.table);
    }
    return found;
  }
}

function layoutOf(
  signalCount: number,
  signals: readonly Signal[],
  include: Uint8Array,
  signalName: readonly string[],
  mux: { signal: Signal; value: number } | undefined,
): Layout {
  const columnOf = new Int32Array(signalCount).fill(-1);
  const names: string[] = [];
  for (const s of signals) {
    if (include[s.globalIndex] !== 1) continue;
    // a signal of another branch of the top-level multiplexer is not a column of this one
    if (
      mux &&
      s.multiplexerSignal === mux.signal.name &&
      !(s.multiplexerRanges ?? []).some((r) => mux.value >= r.lo && mux.value <= r.hi)
    )
      continue;
    columnOf[s.globalIndex] = names.length;
    names.push(signalName[s.globalIndex]);
  }
  return { columnOf, names: columnNames(names) };
}

/** The frame's time in µs since the epoch (floor), as a double (exact until the year 2255). */
function microseconds(view: BatchView, offsetNs: number): number {
  const s = view.time.seconds(offsetNs);
  if (s >= 0) return s * 1_000_000 + Math.floor(view.time.lastNs / 1000);
  const ns = BigInt(view.time.format(offsetNs));
  return Number(ns >= 0n ? ns / 1000n : (ns - 999n) / 1000n);
}

/** The `log_meta` of a device from `<tree>/<ID>/device.json` beside a local log, when there is one. */
function deviceMeta(input: LogInput): string | null {
  if (input.open || !input.folderDevice) return null;
  try {
    const j = JSON.parse(readFileSync(join(dirname(dirname(input.path)), 'device.json'), 'utf8')) as {
      log_meta?: unknown;
    };
    return typeof j.log_meta === 'string' && j.log_meta !== '' ? j.log_meta : null;
  } catch {
    return null;
  }
}

export async function writeLake(job: LakeWriteJob, hooks: LakeWriteHooks = {}): Promise<LakeWriteStats> {
  const { lake, config } = job;
  const ledger = new LakeLedger(lake);
  const fp = dbcFingerprint(config);
  const stats: LakeWriteStats = {
    written: 0,
    again: 0,
    skipped: 0,
    elsewhere: 0,
    failed: 0,
    tables: 0,
    rows: 0,
    removed: 0,
    bytes: 0,
    days: new Map(),
  };
  const touched = new Map<string, string | null>();
  let done = 0;
  // a compacted file a crashed run began taking apart: finished first (its logs lose their ledger entries)
  await recoverTakingApart(lake, ledger);
  // the plan: what each log needs, decided before anything is written
  const plan: Planned[] = [];
  for (const input of job.inputs) {
    const name = ledgerName(input);
    const previous = await ledger.get(name.device, name.stem);
    if (previous && previous.log.path !== ledgerPath(input) && previous.log.path !== input.path)
      throw new SigflowError(
        'SF_ERR_LAKE_NAME_CLASH',
        `${input.path} and ${previous.log.path} would both be ${name.device}/${name.stem} in the lake: write them to different lakes`,
        { where: input.path },
      );
    plan.push({ input, name, previous, skip: previous !== null && isCurrent(previous, input, fp) && !job.force });
  }
  await takeApartCompacted(plan, ledger, lake);
  const skipped = (input: LogInput) => {
    stats.skipped++;
    done += input.size;
    hooks.onSkip?.(input);
    hooks.onProgress?.(done);
  };
  for (const { input, name, previous, skip } of plan) {
    if (job.signal?.aborted) break;
    if (skip) {
      skipped(input);
      continue;
    }
    const claims = job.claims;
    if (claims) {
      if (!(await claims.claim(name.device, name.stem))) {
        stats.elsewhere++;
        done += input.size;
        hooks.onProgress?.(done);
        continue;
      }
      // another worker may have finished it between the plan and the claim
      const now = await ledger.get(name.device, name.stem);
      if (now && isCurrent(now, input, fp) && !job.force) {
        await claims.release(name.device, name.stem);
        skipped(input);
        continue;
      }
    }
    try {
      const r = await decodeLog(job, ledger, fp, input, name, previous, (b) => hooks.onProgress?.(done + b));
      done += input.size;
      stats.bytes += input.size;
      if (r instanceof Error) {
        stats.failed++;
        hooks.onFileError?.(input, r);
        continue;
      }
      stats.written++;
      if (previous) stats.again++;
      stats.tables += r.objects.length;
      stats.rows += r.rows;
      stats.removed += r.removed;
      touched.set(r.device, deviceMeta(input) ?? touched.get(r.device) ?? null);
      for (const o of r.objects) {
        const day = parseTableKey(o.key)?.day;
        if (day === undefined) continue;
        const span = stats.days.get(r.device);
        if (!span) stats.days.set(r.device, { first: day, last: day });
        else {
          span.first = Math.min(span.first, day);
          span.last = Math.max(span.last, day);
        }
      }
      hooks.onFileDone?.(input, { tables: r.objects.length, rows: r.rows, again: !!previous });
    } finally {
      await claims?.release(name.device, name.stem);
    }
  }
  if (touched.size > 0) await writeSideTables(lake, touched);
  return stats;
}

/** Whether a ledger entry is the log as it is now, decoded with these DBC files. */
function isCurrent(e: LedgerEntry, input: LogInput, fp: string): boolean {
  return (
    e.log.size === input.size &&
    (e.log.mtimeMs === null || input.mtimeMs === undefined || e.log.mtimeMs === input.mtimeMs) &&
    e.dbc === fp
  );
}

/**
 * Decodes one log into its tables, writes them, removes what an earlier decode of it wrote and this one does not,
 * and records it in the ledger; a log that cannot be read gets a failure entry and is returned as the error.
 */
async function decodeLog(
  job: LakeWriteJob,
  ledger: LakeLedger,
  fp: string,
  input: LogInput,
  name: { device: string; stem: string },
  previous: LedgerEntry | null,
  onProgress: (bytes: number) => void,
): Promise<Error | { device: string; objects: LedgerEntry['objects']; rows: number; removed: number }> {
  const { lake, config } = job;
  // the tables are named as the ledger names the log: the device folder it came from (CSS: the output mirrors the
  // input key), not the header's serial — a log copied under another device's folder must not overwrite that
  // device's rows, and compaction finds its ledger entry under the table's device; a log outside a tree: the
  // header's serial, and its file named with its path's hash as in the ledger (two `00000001.MF4` from different
  // folders are two logs)
  const tables = new LogTables(config, name.stem);
  let failure: Error | null = null;
  await runLogPipeline([input], {
    passwords: job.passwords,
    config,
    countValues: false,
    onFileStart: (f) => {
      tables.device = name.device !== OUTSIDE_TREE ? name.device : safeSegment(f.device || 'unknown');
    },
    onBatch: (view) => tables.add(view),
    onFileError: (_input, e) => {
      failure = e;
    },
    onProgress,
  });
  if (failure) {
    await ledger.fail({
      log: { path: ledgerPath(input), size: input.size },
      ...name,
      error: (failure as Error).message,
      failed_at: new Date().toISOString(),
    });
    return failure;
  }
  const objects: LedgerEntry['objects'] = [];
  let rows = 0;
  // several at once: each file's sync (or upload) overlaps the others' encoding, and the filesystem commits the
  // syncs together — one at a time, a log of 10 messages waits for 10 journal commits
  const pending = [...tables.tables];
  const writeNext = async (): Promise<void> => {
    for (let next = pending.shift(); next; next = pending.shift()) {
      const [key, table] = next;
      await lake.putBytes(key, table.encode({ 'sigflow.log': input.path, 'sigflow.dbc': fp }));
      objects.push({ key, rows: table.rows });
      rows += table.rows;
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, pending.length) }, writeNext));
  objects.sort((a, b) => (a.key < b.key ? -1 : 1));
  // what an earlier decode of this log wrote and this one does not (another DBC set): gone
  const now = new Set(objects.map((o) => o.key));
  let removed = 0;
  for (const o of previous?.objects ?? [])
    if (!now.has(o.key)) {
      await lake.delete(o.key);
      removed++;
    }
  await ledger.put({
    version: 1,
    log: { path: ledgerPath(input), size: input.size, mtimeMs: input.mtimeMs ?? null },
    ...name,
    dbc: fp,
    objects,
    written_at: new Date().toISOString(),
  });
  return { device: tables.device, objects, rows, removed };
}

interface Planned {
  input: LogInput;
  name: { device: string; stem: string };
  previous: LedgerEntry | null;
  skip: boolean;
}

/**
 * Logs to decode again whose rows are in compacted files: each such file is taken apart first — the ledger
 * entries of every log it holds removed, then the file (compact.ts takeApart: crash-safe) — and all those logs are
 * decoded in this run (so each row is written once more, in its log's own file, and never sits in two files).
 * Transitively: a log decoded again takes apart every compacted file holding its rows. A log of such a file that
 * is not among the inputs stops the run before anything changes (SF_ERR_LAKE_COMPACTED). A crash part-way leaves
 * marks the next write or compaction finishes.
 */
async function takeApartCompacted(plan: Planned[], ledger: LakeLedger, lake: LakeStore): Promise<void> {
  const byName = new Map(plan.map((p) => [`${p.name.device}/${p.name.stem}`, p]));
  const compactedOf = (p: Planned) =>
    (p.previous?.objects ?? []).map((o) => o.key).filter((k) => isCompactedFile(k.slice(k.lastIndexOf('/') + 1)));
  const records = new Map<string, CompactionRecord>();
  const work = plan.filter((p) => !p.skip).flatMap(compactedOf);
  while (work.length > 0) {
    const key = work.pop() as string;
    if (records.has(key)) continue;
    const r = await ledger.compaction(key);
    if (!r) continue;
    records.set(key, r);
    for (const stem of r.logs) {
      const p = byName.get(`${r.device}/${stem}`);
      if (!p)
        throw new SigflowError(
          'SF_ERR_LAKE_COMPACTED',
          `${key} holds the rows of ${r.device}/${stem} too, which is not among the inputs: give the whole tree to decode them again together`,
          { where: key },
        );
      if (p.skip) {
        p.skip = false;
        work.push(...compactedOf(p));
      }
    }
  }
  await takeApart(lake, ledger, [...records.values()]);
  for (const r of records.values()) {
    for (const stem of r.logs) {
      const p = byName.get(`${r.device}/${stem}`) as Planned;
      // its other files are replaced (same names) or removed as stale after its decode
      if (p.previous) p.previous = { ...p.previous, objects: p.previous.objects.filter((o) => o.key !== r.key) };
    }
  }
}
