/**
 * Which log files were imported already, so a re-run imports only new or changed files (the CANedge InfluxDB
 * writer kept no such record and re-processed files every run). A file counts as imported once all its records
 * were accepted by the durable outbox; delivery to the sinks is the outbox's job from then on.
 *
 * An entry is keyed by the file's absolute path and holds its size, mtime and a fingerprint of the import
 * settings (DBC contents, channel map, signal filter, time window): the same file imported with other settings
 * is imported again. Stored as JSON in the data directory, replaced atomically (write + fsync + rename) by
 * `save()`; marks not yet saved when the process dies only mean those files are imported again, which the
 * idempotent sinks absorb.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SigflowError } from '../../errors/index.js';

/** A fingerprint of what an import decodes and keeps: DBC file contents, channel map, signal filter, window. */
export function importFingerprint(s: {
  dbc: string[];
  channel: string[];
  signals?: string;
  from?: bigint;
  to?: bigint;
}): string {
  const h = createHash('sha256');
  const file = (p: string) =>
    createHash('sha256')
      .update(readFileSync(resolve(p)))
      .digest('hex');
  h.update(
    JSON.stringify({
      dbc: s.dbc.map(file),
      channel: s.channel.map((c) => {
        const i = c.indexOf('=');
        return i < 0 ? c : `${c.slice(0, i).toUpperCase()}=${file(c.slice(i + 1))}`;
      }),
      signals: s.signals ?? null,
      from: s.from?.toString() ?? null,
      to: s.to?.toString() ?? null,
    }),
  );
  return h.digest('hex').slice(0, 32);
}

export interface LedgerEntry {
  size: number;
  mtimeMs: number;
  /** Fingerprint of the import settings (see importFingerprint). */
  settings: string;
  device: string;
  frames: number;
  records: number;
  importedAt: string;
  /** The outbox batch ids [first, last] this file's records went into (none when it had no records). */
  batches?: [number, number];
}

export class ImportLedger {
  private readonly file: string;
  private readonly entries: Map<string, LedgerEntry>;

  constructor(dataDir: string) {
    this.file = join(dataDir, 'imports.json');
    this.entries = new Map();
    let text: string | null = null;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        throw new SigflowError(
          'SF_ERR_LOGIMPORT_LEDGER',
          `${this.file}: cannot read: ${code ?? (e as Error).message}`,
          {
            where: this.file,
            cause: e,
          },
        );
      }
    }
    if (text !== null) {
      let parsed: { files?: Record<string, LedgerEntry> };
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new SigflowError(
          'SF_ERR_LOGIMPORT_LEDGER',
          `${this.file}: not valid JSON (${(e as Error).message}); move it aside to re-import everything`,
          { where: this.file, cause: e },
        );
      }
      for (const [k, v] of Object.entries(parsed.files ?? {})) this.entries.set(k, v);
      if (typeof (parsed as { lossEventsSeen?: unknown }).lossEventsSeen === 'number')
        this.seen = (parsed as { lossEventsSeen: number }).lossEventsSeen;
    }
  }

  /** True when this exact file (same size and modification time) was imported before with the same settings. */
  has(path: string, size: number, mtimeMs: number, settings: string): boolean {
    const e = this.entries.get(path);
    return e !== undefined && e.size === size && e.mtimeMs === mtimeMs && e.settings === settings;
  }

  /** Records a file as imported (in memory; `save()` persists). */
  mark(path: string, entry: LedgerEntry): void {
    this.entries.set(path, entry);
    this.dirty = true;
  }

  private dirty = false;
  private seen = 0;

  /** The last outbox `recovery-loss` event handled (losses.ts). */
  get lossEventsSeen(): number {
    return this.seen;
  }

  set lossEventsSeen(id: number) {
    if (id === this.seen) return;
    this.seen = id;
    this.dirty = true;
  }

  /**
   * Forgets the files whose records went into any of the given outbox batch ranges (they are read again).
   * `unattributed`: some entries have no batch ids (imported by an older sigflow), so they may be affected too.
   */
  forgetBatches(ranges: readonly [number, number][]): { forgotten: string[]; unattributed: boolean } {
    const forgotten: string[] = [];
    let unattributed = false;
    if (ranges.length === 0) return { forgotten, unattributed };
    for (const [path, e] of this.entries) {
      if (!e.batches) {
        if (e.records > 0) unattributed = true;
        continue;
      }
      const [a, b] = e.batches;
      if (ranges.some(([x, y]) => x <= b && a <= y)) forgotten.push(path);
    }
    for (const p of forgotten) this.entries.delete(p);
    if (forgotten.length > 0) this.dirty = true;
    return { forgotten, unattributed };
  }

  /** Writes the ledger if anything changed since the last save (SF_ERR_LOGIMPORT_LEDGER_WRITE when it cannot). */
  save(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const body = JSON.stringify(
      { version: 1, lossEventsSeen: this.seen, files: Object.fromEntries(this.entries) },
      null,
      1,
    );
    const tmp = `${this.file}.tmp`;
    try {
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, body);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
    } catch (e) {
      this.dirty = true;
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new SigflowError('SF_ERR_LOGIMPORT_LEDGER_WRITE', `${this.file}: cannot write: ${why}`, {
        where: this.file,
        cause: e,
      });
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
