/**
 * The log catalog of a server: a log store (a tree on disk, a bucket), its index (src/formats/canedge LogIndex:
 * device, session, split and first/last record time of every file, persisted in the cache folder) and the
 * passwords. Queries pick files from the index by device and time range — no log file is opened to find out.
 * `refresh()` brings the index up to date (new files probed, changed ones probed again, deleted ones dropped);
 * the server calls it on a poll interval, so files uploaded while it runs are served within that interval.
 * One refresh runs at a time (a second caller shares it). The index can always be rebuilt: nothing here is state
 * that matters, so several servers over one bucket are interchangeable.
 */
import {
  defaultIndexPath,
  type IndexEntry,
  LogIndex,
  type LogStore,
  MDF4_TIME_RANGE_ID,
  mdf4TimeRange,
  type PasswordBook,
  type RefreshStats,
} from '../formats/canedge/index.js';
import type { ByteSource } from '../io/index.js';
import { nsToMs } from './time.js';

export interface CatalogOptions {
  store: LogStore;
  passwords?: PasswordBook;
  /** Where the index is kept (default: the cache folder, see LogIndex). */
  indexPath?: string;
  /** Files probed at once by a refresh (default 4). */
  concurrency?: number;
  /** Called when saving the index fails (a read-only cache folder): the index still serves from memory. */
  onSaveError?: (err: Error) => void;
}

export class LogCatalog {
  private running: Promise<RefreshStats> | null = null;
  private lastStats: RefreshStats | null = null;
  private refreshedAt = 0;
  private gen = 0;

  private constructor(
    private readonly opts: CatalogOptions,
    private readonly index: LogIndex,
  ) {}

  /** Loads the stored index (if any) and refreshes it once. */
  static async open(opts: CatalogOptions): Promise<LogCatalog> {
    const index = await LogIndex.load(opts.indexPath ?? defaultIndexPath(opts.store.id), opts.store.id);
    const c = new LogCatalog(opts, index);
    await c.refresh();
    return c;
  }

  get store(): LogStore {
    return this.opts.store;
  }

  get passwords(): PasswordBook | undefined {
    return this.opts.passwords;
  }

  /** Why a stored index was discarded on load (it was rebuilt), if it was. */
  get loadWarning(): string | null {
    return this.index.loadWarning;
  }

  /** The last refresh's counters and when it ended (ms since the epoch). */
  get lastRefresh(): { stats: RefreshStats | null; at: number } {
    return { stats: this.lastStats, at: this.refreshedAt };
  }

  /** Goes up whenever a refresh changed the index: answers computed at an older generation are stale. */
  get generation(): number {
    return this.gen;
  }

  /** Lists the store and probes what changed; concurrent calls share one run. */
  refresh(): Promise<RefreshStats> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const stats = await this.index.refresh(this.opts.store, {
          passwords: this.opts.passwords,
          timeRange: mdf4TimeRange,
          timeRangeId: MDF4_TIME_RANGE_ID,
          concurrency: this.opts.concurrency,
        });
        if (stats.added + stats.changed + stats.removed + stats.reprobed > 0) {
          this.gen++;
          await this.index.save().catch((e: Error) => this.opts.onSaveError?.(e));
        }
        this.lastStats = stats;
        this.refreshedAt = Date.now();
        return stats;
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** Device ids (identity: the header serial), sorted. Files that could not be read count too. */
  devices(): string[] {
    return [...new Set(this.index.files.map((e) => e.device))].sort();
  }

  /** Readable files of a device overlapping [fromNs, toNs], in time order (then split). */
  files(device: string, fromNs?: bigint, toNs?: bigint): IndexEntry[] {
    return this.index.query({ device, fromNs, toNs });
  }

  /** Files of a device the index could not read (their error says why), in path order. */
  unreadable(device?: string): IndexEntry[] {
    const dev = device?.toUpperCase();
    return this.index
      .errors()
      .filter((e) => dev === undefined || e.device === dev)
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** The device's most recent readable file (highest session, then split). */
  latest(device: string): IndexEntry | undefined {
    let best: IndexEntry | undefined;
    for (const e of this.files(device)) {
      if (!best || e.session > best.session || (e.session === best.session && e.split > best.split)) best = e;
    }
    return best;
  }

  /**
   * A message about `path` with the store's own location cut out (`/srv/LOG/2F6913DB/…`) and without the
   * leading `<path>: ` (the caller names the file): answers to clients do not show the server's folders.
   */
  relative(message: string, path: string): string {
    const root = this.opts.store.id.replace(/\/+$/, '');
    const cut = message.split(`${root}/`).join('');
    return cut.startsWith(`${path}: `) ? cut.slice(path.length + 2) : cut;
  }

  /**
   * Opens a file; `blocking`: one the store reads whole (LogStore.wholeFileBytes, 4 MiB) with one blocking read
   * where it has them (LogStore.openBlocking) — it blocks the event loop less than decoding it does; a bigger one
   * is read in chunks through the thread pool, which gives the loop a turn per chunk.
   */
  async open(entry: IndexEntry, blocking = false): Promise<ByteSource> {
    const store = this.opts.store;
    return blocking && store.openBlocking && entry.size <= (store.wholeFileBytes ?? 0)
      ? store.openBlocking(entry.path)
      : store.open(entry.path);
  }
}

/** First record time of an entry in epoch ms (HD start when the records were not probed), or null. */
export function entryStartMs(e: IndexEntry): number | null {
  const ns = e.firstNs ?? e.startNs;
  if (ns === undefined) return null;
  return nsToMs(BigInt(ns));
}
