/**
 * Compaction (`sigflow lake compact`): the per-log files of one device, message folder and day — CSS's layout
 * makes ~10,000 of them per 0.25 GB — merged into one file per folder and day, the ledger still knowing which
 * logs each holds. Each group goes in steps that a crash between any two leaves recoverable:
 *   1. a `pending` compaction record naming the new file, the files it replaces and the logs they hold;
 *   2. the merged file (DuckDB: the parts read with union_by_name, in time order), its row count checked against
 *      the parts' before anything is removed;
 *   3. the ledger entries of those logs point to the new file;
 *   4. the parts are deleted, then the record says `done`.
 * A later run finishes a `pending` record whose file exists (3, 4) and drops one whose file does not (the parts are
 * still there). A reader listing files between 2 and 4 can see that day's rows twice for that moment (an object
 * store has no atomic swap of several objects); at rest every row is in exactly one file.
 */
import { createHash } from 'node:crypto';
import { renameSync, unlinkSync } from 'node:fs';
import { SigflowError } from '../../errors/index.js';
import {
  type CompactionRecord,
  compactedFile,
  isCompactedFile,
  LakeLedger,
  type LakeStore,
  parseTableKey,
} from '../../formats/lake/index.js';
import { tempPath } from '../../io/index.js';

type Connection = import('@duckdb/node-api').DuckDBConnection;

export interface CompactOptions {
  lake: LakeStore;
  /** Only days before this one (days since the epoch, UTC): leave the days still being uploaded alone. */
  beforeDay?: number;
  /** Called after each group. */
  onGroup?: (g: { device: string; folder: string; day: number; files: number; rows: number }) => void;
}

export interface CompactStats {
  groups: number;
  /** Files replaced, and files written instead. */
  filesBefore: number;
  filesAfter: number;
  rows: number;
  /** Compactions a crashed run left pending: finished, or dropped when their file was never written. */
  recovered: number;
  /** Sink batch files deleted because a compacted file of their folder and day holds the same batch already. */
  duplicates: number;
  /** Groups left alone, and why. */
  conflicts: string[];
}

/** Files compaction merges: per-log files (`<session>_<split>`) and the lake sink's per-batch files (`b_<hash>`). */
const PART = /^(\d{8}_\d{8}|b_[0-9a-f]{16})\.parquet$/;
const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
/** A key's file name, and its stem (the name without `.parquet`). */
const fileOf = (key: string) => key.slice(key.lastIndexOf('/') + 1);
const stemOf = (key: string) => fileOf(key).slice(0, -'.parquet'.length);

/** The local paths of several objects while `use` runs. */
async function withLocalFiles<T>(lake: LakeStore, keys: string[], use: (paths: string[]) => Promise<T>): Promise<T> {
  const paths: string[] = [];
  const step = async (i: number): Promise<T> => {
    if (i === keys.length) return use(paths);
    return lake.withLocalFile(keys[i], async (p) => {
      paths.push(p);
      return step(i + 1);
    });
  };
  return step(0);
}

async function rowCount(conn: Connection, paths: string[]): Promise<number> {
  const r = await conn.runAndReadAll(
    `SELECT count(*)::BIGINT AS n FROM read_parquet([${paths.map(lit).join(', ')}], union_by_name = true)`,
  );
  return Number(r.getRowObjectsJS()[0].n);
}

/** Points the ledger entries of `logs` at `target` instead of any of `replaced`. */
async function repoint(ledger: LakeLedger, r: CompactionRecord): Promise<void> {
  const replaced = new Set(r.parts);
  for (const stem of r.logs) {
    const e = await ledger.get(r.device, stem);
    if (!e) continue;
    const objects = e.objects.filter((o) => !replaced.has(o.key));
    if (!objects.some((o) => o.key === r.key)) objects.push({ key: r.key, rows: 0 });
    objects.sort((a, b) => (a.key < b.key ? -1 : 1));
    await ledger.put({ ...e, objects });
  }
}

/** Steps 3 and 4 of a group whose merged file exists. */
async function finish(lake: LakeStore, ledger: LakeLedger, r: CompactionRecord): Promise<void> {
  await repoint(ledger, r);
  for (const k of r.parts) {
    if (isCompactedFile(k.slice(k.lastIndexOf('/') + 1))) await ledger.deleteCompaction(k);
    await lake.delete(k);
  }
  await ledger.putCompaction({ ...r, state: 'done' });
}

/**
 * Takes compacted files apart (their logs are to be decoded again, each into its own files): every one marked
 * first, then per file the ledger entries of its logs that point at it removed (those logs are decoded again by
 * the next write that is given them), the file and its record deleted, then its mark. A crash at any step leaves
 * marks, and the next write or compaction finishes them all (recoverTakingApart) — never a ledger entry saying a
 * log is in the lake while its rows are gone, nor a compacted file left beside its logs' new files (rows twice).
 */
export async function takeApart(lake: LakeStore, ledger: LakeLedger, records: CompactionRecord[]): Promise<void> {
  for (const r of records) await ledger.putTakingApart(r);
  for (const r of records) await finishTakingApart(lake, ledger, r);
}

async function finishTakingApart(lake: LakeStore, ledger: LakeLedger, r: CompactionRecord): Promise<void> {
  for (const stem of r.logs) {
    const e = await ledger.get(r.device, stem);
    if (e?.objects.some((o) => o.key === r.key)) await ledger.remove(r.device, stem);
  }
  await lake.delete(r.key);
  await ledger.deleteCompaction(r.key);
  await ledger.deleteTakingApart(r.key);
}

/** Finishes what a crashed run began taking apart; the number finished. */
export async function recoverTakingApart(lake: LakeStore, ledger: LakeLedger): Promise<number> {
  let n = 0;
  for await (const r of ledger.takingApart()) {
    await finishTakingApart(lake, ledger, r);
    n++;
  }
  return n;
}

/** Finishes or drops what a crashed compaction left pending, and finishes any interrupted taking apart. */
async function recover(lake: LakeStore, ledger: LakeLedger): Promise<number> {
  let n = await recoverTakingApart(lake, ledger);
  for await (const r of ledger.compactions()) {
    if (r.state !== 'pending') continue;
    const dir = r.key.slice(0, r.key.lastIndexOf('/') + 1);
    let exists = false;
    for await (const o of lake.list(dir)) if (o.key === r.key) exists = true;
    if (exists) await finish(lake, ledger, r);
    else await ledger.deleteCompaction(r.key);
    n++;
  }
  return n;
}

export async function compactLake(opts: CompactOptions): Promise<CompactStats> {
  const { lake } = opts;
  const ledger = new LakeLedger(lake);
  const stats: CompactStats = {
    groups: 0,
    filesBefore: 0,
    filesAfter: 0,
    rows: 0,
    recovered: 0,
    duplicates: 0,
    conflicts: [],
  };
  stats.recovered = await recover(lake, ledger);
  // the groups: device/folder/day → its per-log parts and compacted files
  const groups = new Map<string, { device: string; folder: string; day: number; keys: string[] }>();
  for await (const o of lake.list('')) {
    const t = parseTableKey(o.key);
    if (!t || (!PART.test(t.file) && !isCompactedFile(t.file))) continue;
    if (opts.beforeDay !== undefined && t.day >= opts.beforeDay) continue;
    const id = `${t.device}/${t.folder}/${t.day}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { device: t.device, folder: t.folder, day: t.day, keys: [] }));
    g.keys.push(o.key);
  }
  const todo = [...groups.values()].filter((g) => g.keys.length > 1);
  if (todo.length === 0) return stats;
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    for (const g of todo.sort((a, b) => (a.keys[0] < b.keys[0] ? -1 : 1))) {
      // what the group's compacted files hold already
      const held = new Set<string>();
      for (const k of g.keys)
        if (isCompactedFile(fileOf(k))) for (const stem of (await ledger.compaction(k))?.logs ?? []) held.add(stem);
      // a sink batch written again beside the compacted file that holds it (its name is its rows' hash): a copy
      const copies = new Set(g.keys.filter((k) => held.has(stemOf(k)) && stemOf(k).startsWith('b_')));
      for (const k of copies) {
        await lake.delete(k);
        stats.duplicates++;
      }
      const keys = g.keys.filter((k) => !copies.has(k)).sort();
      // a log's own file beside a compacted file holding it: which is right is not known here — left alone
      const clash = keys.find((k) => !isCompactedFile(fileOf(k)) && held.has(stemOf(k)));
      if (clash) {
        stats.conflicts.push(
          `${clash}: its log's rows are in a compacted file of the same folder and day too; group left as it is (decode that log's tree again with lake write --force)`,
        );
        continue;
      }
      if (keys.length < 2) continue;
      const logs = new Set<string>(held);
      for (const k of keys) if (PART.test(fileOf(k))) logs.add(stemOf(k));
      const sorted = [...logs].sort();
      const dir = keys[0].slice(0, keys[0].lastIndexOf('/') + 1);
      const target = dir + compactedFile(createHash('sha256').update(sorted.join('\n')).digest('hex'));
      const record: CompactionRecord = {
        key: target,
        device: g.device,
        logs: sorted,
        parts: keys.filter((k) => k !== target),
        rows: 0,
        state: 'pending',
      };
      const rows = await withLocalFiles(lake, keys, async (paths) => {
        const want = await rowCount(conn, paths);
        record.rows = want;
        await ledger.putCompaction(record);
        await lake.writeFile(target, async (path) => {
          const tmp = tempPath(path);
          try {
            await conn.run(
              `COPY (SELECT * FROM read_parquet([${paths.map(lit).join(', ')}], union_by_name = true) ORDER BY t)
               TO ${lit(tmp)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 131072)`,
            );
            const got = await rowCount(conn, [tmp]);
            if (got !== want)
              throw new SigflowError(
                'SF_ERR_LAKE_COMPACT',
                `${target}: the merged file has ${got} rows, its ${paths.length} parts ${want}: nothing replaced`,
                { where: target },
              );
            renameSync(tmp, path);
          } catch (e) {
            try {
              unlinkSync(tmp);
            } catch {
              // not written
            }
            throw e instanceof SigflowError
              ? e
              : new SigflowError('SF_ERR_LAKE_COMPACT', `${target}: ${(e as Error).message.split('\n')[0]}`, {
                  where: target,
                  cause: e,
                });
          }
        });
        return want;
      });
      await finish(lake, ledger, record);
      stats.groups++;
      stats.filesBefore += record.parts.length;
      stats.filesAfter++;
      stats.rows += rows;
      opts.onGroup?.({ device: g.device, folder: g.folder, day: g.day, files: keys.length, rows });
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return stats;
}
