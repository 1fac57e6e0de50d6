/**
 * An index of a CANedge log tree: one entry per log file (location from the path, identity and times from the file
 * itself), persisted as JSON in a cache folder and refreshed incrementally — only new files and files whose size or
 * mtime changed are probed again; deleted files are dropped. Queries (files of a device overlapping a time range)
 * then touch no log file at all.
 *
 * Identity vs location: the folder a file sits in may disagree with the serial number/session in its header
 * (files get moved). The header is trusted for identity (`device`, `session`, `split`), the path for location
 * (`location`); disagreements are listed in `mismatches`.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type ErrorCode, errorCode } from '../../errors/index.js';
import { type ByteSource, defaultCacheDir, makeDirectory } from '../../io/index.js';
import { type ContainerKind, type OpenedLog, openLog, peekContainer } from './container.js';
import type { LogStore } from './log-store.js';
import { type CanedgeMetadata, readMdfHeader } from './mdf-header.js';
import type { PasswordBook } from './passwords.js';
import { type LogPath, parseLogPath } from './tree.js';
import type { TreeProblem } from './tree-walk.js';

export const INDEX_FORMAT = 'sigflow-canedge-index';
export const INDEX_VERSION = 1;
/** Bump when probing changes what it records: entries from an older probe revision are probed again. */
export const PROBE_REVISION = 4; // 4: error codes are catalogue codes (src/errors), data warnings carry a code

/** First and last record time of an MDF file (ns since the epoch), or null when the file has no records. */
/** Damage the reader reported while reading a file's records (the file stays usable; what it returned may not be all). */
export interface DataWarnings {
  code: 'SF_WARN_CANEDGE_DATA_DAMAGED';
  count: number;
  /** The first few warning texts. */
  messages: string[];
}

/**
 * First/last record time of an MDF file, or null without records. `dataWarnings` reports damage found while
 * reading (also when there are no records: then firstNs/lastNs are absent).
 */
export type TimeRangeProbe = (
  mdf: ByteSource,
) => Promise<
  | { firstNs: bigint; lastNs: bigint; dataWarnings?: DataWarnings }
  | { firstNs?: undefined; lastNs?: undefined; dataWarnings: DataWarnings }
  | null
>;

export interface IndexEntry {
  path: string;
  size: number;
  mtimeMs: number;
  /** Where the file sits: parsed from its path. */
  location: {
    prefix: string;
    device: string;
    session: number;
    split: number;
    suffixEpochS: number | null;
    ext: ContainerKind;
  };
  /** Identity: header serial / session / split when the file says, else the container header or the path. */
  device: string;
  session: number;
  split: number;
  identitySource: 'mdf-header' | 'container-header' | 'path';
  /** What the bytes are (may differ from the extension; see mismatches). */
  container?: ContainerKind;
  layers?: string[];
  finalized?: boolean;
  mdfVersion?: string;
  /** Decoded MDF size (containers) or the file size. */
  mdfSize?: number;
  /** HD start time (session start), ns since the epoch, as a decimal string. */
  startNs?: string;
  /** First/last record time, ns since the epoch, decimal strings; absent when not probed or no records. */
  firstNs?: string;
  lastNs?: string;
  /** Damage reported while reading the records for the time range (absent: none, or not probed). */
  dataWarnings?: DataWarnings;
  /** 'records' when first/last come from the records; 'none' when not known. */
  timeSource: 'records' | 'none';
  tzOffsetMin?: number;
  metadata?: CanedgeMetadata;
  /** Disagreements between location and identity (or extension and content). */
  mismatches?: string[];
  /** Why the file could not be probed: the error's catalogue code (a canedge, io or mdf4 code) and message. */
  error?: { code: ErrorCode; message: string };
  /** Which probe produced this entry (entries from an older probe are probed again). */
  probe: string;
}

export interface IndexFile {
  format: typeof INDEX_FORMAT;
  version: number;
  store: string;
  updatedAt: string;
  passwordsFingerprint: string | null;
  ignored: { count: number; examples: string[] };
  files: IndexEntry[];
}

export interface RefreshStats {
  total: number;
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
  reprobed: number;
  errors: number;
  ignored: number;
  /**
   * Folders and links of the tree that could not be listed or read (their files, if any, are not in the index):
   * path and reason. Not kept in the index file: every refresh lists the tree again.
   */
  unreadable: TreeProblem[];
  ms: number;
}

export interface RefreshOptions {
  passwords?: PasswordBook;
  /** First/last record times; without it entries carry only the HD start time. */
  timeRange?: TimeRangeProbe;
  /** Names the time-range probe; a different name makes every entry be probed again. */
  timeRangeId?: string;
  /** Files probed in parallel (default 4). */
  concurrency?: number;
  /** Largest container decoded in memory / largest decoded MDF. */
  maxContainerSize?: number;
  maxDecodedSize?: number;
  /**
   * Decoded MDF above this many bytes goes to a temporary file in `spillDir` (see OpenLogOptions): memory stays
   * bounded per probe, so `concurrency` does not multiply a crafted container's expansion.
   */
  maxInMemory?: number;
  spillDir?: string;
  onProgress?: (done: number, todo: number, path: string) => void;
}

/** The cache folder rule lives in src/io (the lake's local copies use it too); re-exported where it was. */
export { defaultCacheDir };

/** Default index file for a store: `<cache>/canedge-index/<name>-<hash of store id>.json` (trees may be read-only). */
export function defaultIndexPath(storeId: string, cacheDir = defaultCacheDir()): string {
  const tag =
    basename(storeId)
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .slice(0, 40) || 'root';
  const h = createHash('sha256').update(storeId).digest('hex').slice(0, 16);
  return join(cacheDir, 'canedge-index', `${tag}-${h}.json`);
}

function emptyIndex(store: string): IndexFile {
  return {
    format: INDEX_FORMAT,
    version: INDEX_VERSION,
    store,
    updatedAt: new Date(0).toISOString(),
    passwordsFingerprint: null,
    ignored: { count: 0, examples: [] },
    files: [],
  };
}

const PASSWORD_ERRORS = new Set<string>(['SF_ERR_CANEDGE_MISSING_PASSWORD', 'SF_ERR_CANEDGE_WRONG_PASSWORD']);
/** Errors that may pass by themselves (the file was busy, the share away): such files are probed again. */
const TRANSIENT_ERRORS = new Set<string>(['SF_ERR_IO_OPEN', 'SF_ERR_IO_READ', 'SF_ERR_INTERNAL']);

/** Probes one file: container, MDF header, optional record time range. Never throws: errors go into the entry. */
export async function probeLogFile(
  store: LogStore,
  loc: LogPath,
  stat: { size: number; mtimeMs: number },
  opts: RefreshOptions,
  probeId: string,
): Promise<IndexEntry> {
  const entry: IndexEntry = {
    path: loc.path,
    size: stat.size,
    mtimeMs: stat.mtimeMs,
    location: {
      prefix: loc.prefix,
      device: loc.device,
      session: loc.session,
      split: loc.split,
      suffixEpochS: loc.suffixEpochS,
      ext: loc.extKind,
    },
    device: loc.device,
    session: loc.session,
    split: loc.split,
    identitySource: 'path',
    timeSource: 'none',
    probe: probeId,
  };
  let opened: OpenedLog | null = null;
  try {
    // openLog closes `src` on every error path; once it returns, `opened.source` owns it (closed below)
    const src = await store.open(loc.path);
    opened = await openLog(src, {
      passwords: opts.passwords,
      maxContainerSize: opts.maxContainerSize,
      maxDecodedSize: opts.maxDecodedSize,
      maxInMemory: opts.maxInMemory,
      spillDir: opts.spillDir,
    });
    entry.container = opened.kind;
    entry.layers = opened.layers.map((l) => l.kind);
    entry.mdfSize = opened.source.size;
    if (opened.deviceId) {
      entry.device = opened.deviceId;
      entry.identitySource = 'container-header';
    }
    const hdr = await readMdfHeader(opened.source);
    entry.finalized = hdr.finalized;
    entry.mdfVersion = hdr.version;
    entry.startNs = hdr.startNs.toString();
    entry.tzOffsetMin = hdr.tzOffsetMin;
    entry.metadata = hdr.metadata;
    const m = hdr.metadata;
    if (m.serial_number && /^[0-9A-F]{8}$/i.test(m.serial_number)) {
      entry.device = m.serial_number.toUpperCase();
      entry.identitySource = 'mdf-header';
    }
    if (m.session !== undefined) entry.session = m.session;
    if (m.split !== undefined) entry.split = m.split;
    if (opts.timeRange) {
      const r = await opts.timeRange(opened.source);
      if (r) {
        if (r.firstNs !== undefined) {
          entry.firstNs = r.firstNs.toString();
          entry.lastNs = r.lastNs.toString();
        }
        if (r.dataWarnings && r.dataWarnings.count > 0) entry.dataWarnings = r.dataWarnings;
      }
      entry.timeSource = 'records';
    }
  } catch (err) {
    const code = errorCode(err);
    const message = err instanceof Error ? err.message : String(err);
    entry.error = { code, message: code === 'SF_ERR_INTERNAL' ? `${loc.path}: ${message}` : message };
  } finally {
    await opened?.source.close?.();
  }
  // Identity from a container header alone (e.g. an encrypted file without its password) still counts.
  if (entry.error && entry.identitySource === 'path') {
    let src: ByteSource | null = null;
    try {
      src = await store.open(loc.path);
      const peek = await peekContainer(src);
      if (peek.deviceId) {
        entry.device = peek.deviceId;
        entry.identitySource = 'container-header';
      }
    } catch {
      // the error already recorded says why the file is unreadable
    } finally {
      await src?.close?.();
    }
  }
  const mism: string[] = [];
  if (entry.device !== loc.device) mism.push(`device: folder ${loc.device}, file ${entry.device}`);
  if (entry.session !== loc.session) mism.push(`session: folder ${loc.session}, file ${entry.session}`);
  if (entry.split !== loc.split) mism.push(`split: file name ${loc.split}, file ${entry.split}`);
  if (entry.container && entry.container !== loc.extKind)
    mism.push(`container: extension says ${loc.extKind}, content is ${entry.container}`);
  if (mism.length) entry.mismatches = mism;
  return entry;
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/** Bounds used by queries: [first, last] when known, else conservative bounds from the header and the path. */
export function entryBounds(e: IndexEntry): { lo: bigint; hi: bigint | null } {
  if (e.firstNs !== undefined && e.lastNs !== undefined) return { lo: BigInt(e.firstNs), hi: BigInt(e.lastNs) };
  const lo = e.startNs !== undefined ? BigInt(e.startNs) : 0n;
  // The suffix is at or after the last record (whole seconds): allow one second of rounding.
  const hi = e.location.suffixEpochS !== null ? BigInt(e.location.suffixEpochS + 1) * 1_000_000_000n : null;
  return { lo, hi };
}

export interface QueryOptions {
  /** Device id (identity, i.e. header serial), any case. */
  device?: string;
  session?: number;
  /** Inclusive range, ns since the epoch. */
  fromNs?: bigint;
  toNs?: bigint;
}

export class LogIndex {
  private constructor(
    readonly path: string,
    private data: IndexFile,
    /** Why a stored index was discarded on load, if it was (warning SF_WARN_CANEDGE_INDEX_REBUILT). */
    readonly loadWarning: string | null,
  ) {}

  /** The code of `loadWarning`. */
  get loadWarningCode(): 'SF_WARN_CANEDGE_INDEX_REBUILT' | null {
    return this.loadWarning === null ? null : 'SF_WARN_CANEDGE_INDEX_REBUILT';
  }

  /** Loads the index at `path` for `storeId`; a missing, unreadable or foreign file gives an empty index. */
  static async load(path: string, storeId: string): Promise<LogIndex> {
    let text: string;
    try {
      text = await fsp.readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return new LogIndex(
        path,
        emptyIndex(storeId),
        code === 'ENOENT' ? null : `cannot read ${path}: ${(err as Error).message}`,
      );
    }
    try {
      const d = JSON.parse(text) as IndexFile;
      if (d?.format !== INDEX_FORMAT || d.version !== INDEX_VERSION || !Array.isArray(d.files)) {
        return new LogIndex(
          path,
          emptyIndex(storeId),
          `${path}: not a version ${INDEX_VERSION} ${INDEX_FORMAT}; rebuilding`,
        );
      }
      if (d.store !== storeId) {
        return new LogIndex(path, emptyIndex(storeId), `${path}: indexes ${d.store}, not ${storeId}; rebuilding`);
      }
      return new LogIndex(path, d, null);
    } catch (err) {
      return new LogIndex(path, emptyIndex(storeId), `${path}: corrupt index (${(err as Error).message}); rebuilding`);
    }
  }

  get files(): readonly IndexEntry[] {
    return this.data.files;
  }

  get ignored(): { count: number; examples: string[] } {
    return this.data.ignored;
  }

  get updatedAt(): string {
    return this.data.updatedAt;
  }

  get storeId(): string {
    return this.data.store;
  }

  /**
   * Lists the store and brings the index up to date: probes new files, files whose size or mtime changed, files
   * probed by an older probe, and files that failed for a password reason when the passwords changed; drops
   * entries of deleted files. Does not save (call save()).
   */
  async refresh(store: LogStore, opts: RefreshOptions = {}): Promise<RefreshStats> {
    const t0 = performance.now();
    const probeId = `v${INDEX_VERSION}.${PROBE_REVISION}+${opts.timeRange ? (opts.timeRangeId ?? 'time-range') : 'header-only'}`;
    const pwFp = opts.passwords ? opts.passwords.fingerprint() : null;
    const pwChanged = pwFp !== this.data.passwordsFingerprint;
    const old = new Map(this.data.files.map((e) => [e.path, e]));
    const next = new Map<string, IndexEntry>();
    const todo: { loc: LogPath; size: number; mtimeMs: number; isNew: boolean }[] = [];
    const ignored = { count: 0, examples: [] as string[] };
    let unchanged = 0;
    let reprobed = 0;
    const unreadable: TreeProblem[] = [];
    for await (const f of store.list('', (p) => unreadable.push(p))) {
      const loc = parseLogPath(f.path);
      if (!loc) {
        ignored.count++;
        if (ignored.examples.length < 10) ignored.examples.push(f.path);
        continue;
      }
      const prev = old.get(f.path);
      if (prev && prev.size === f.size && prev.mtimeMs === f.mtimeMs) {
        const stale =
          prev.probe !== probeId ||
          (prev.error &&
            (TRANSIENT_ERRORS.has(prev.error.code) || (pwChanged && PASSWORD_ERRORS.has(prev.error.code))));
        if (!stale) {
          next.set(f.path, prev);
          unchanged++;
          continue;
        }
        reprobed++;
      }
      todo.push({ loc, size: f.size, mtimeMs: f.mtimeMs, isNew: !prev });
    }
    let done = 0;
    await mapLimit(todo, opts.concurrency ?? 4, async (t) => {
      const e = await probeLogFile(store, t.loc, t, opts, probeId);
      next.set(t.loc.path, e);
      done++;
      opts.onProgress?.(done, todo.length, t.loc.path);
    });
    let removed = 0;
    for (const p of old.keys()) if (!next.has(p)) removed++;
    const added = todo.filter((t) => t.isNew).length;
    const files = [...next.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    this.data = {
      format: INDEX_FORMAT,
      version: INDEX_VERSION,
      store: store.id,
      updatedAt: new Date().toISOString(),
      passwordsFingerprint: pwFp,
      ignored,
      files,
    };
    return {
      total: files.length,
      added,
      changed: todo.length - added - reprobed,
      removed,
      unchanged,
      reprobed,
      errors: files.filter((f) => f.error).length,
      ignored: ignored.count,
      unreadable,
      ms: performance.now() - t0,
    };
  }

  /** Writes the index atomically (temp file + rename), creating the cache folder. */
  async save(): Promise<void> {
    makeDirectory(dirname(this.path), 'index folder'); // not mkdir -p: Node's loops forever under /proc
    const tmp = `${this.path}.${process.pid}.${Date.now()}.tmp`;
    await fsp.writeFile(tmp, `${JSON.stringify(this.data, null, 1)}\n`);
    await fsp.rename(tmp, this.path);
  }

  /**
   * Readable files (no error) of a device/session overlapping [fromNs, toNs], ordered by start. Entries without a
   * record time range use conservative bounds (HD start … path suffix + 1 s, or unbounded): never wrongly excluded.
   */
  query(q: QueryOptions = {}): IndexEntry[] {
    const dev = q.device?.toUpperCase();
    const out = this.data.files.filter((e) => {
      if (e.error) return false;
      if (dev !== undefined && e.device !== dev) return false;
      if (q.session !== undefined && e.session !== q.session) return false;
      const { lo, hi } = entryBounds(e);
      if (q.toNs !== undefined && lo > q.toNs) return false;
      if (q.fromNs !== undefined && hi !== null && hi < q.fromNs) return false;
      return true;
    });
    return out.sort((a, b) => {
      const d = entryBounds(a).lo - entryBounds(b).lo;
      return d < 0n ? -1 : d > 0n ? 1 : a.split - b.split;
    });
  }

  /** Entries that could not be probed. */
  errors(): IndexEntry[] {
    return this.data.files.filter((e) => e.error);
  }
}

/** Convenience: load (or create) the index for a store, refresh it, save it. */
export async function refreshIndex(
  store: LogStore,
  opts: RefreshOptions & { indexPath?: string } = {},
): Promise<{ index: LogIndex; stats: RefreshStats }> {
  const index = await LogIndex.load(opts.indexPath ?? defaultIndexPath(store.id), store.id);
  const stats = await index.refresh(store, opts);
  await index.save();
  return { index, stats };
}
