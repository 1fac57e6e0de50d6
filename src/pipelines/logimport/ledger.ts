/**
 * Which log files were imported already, so a re-run imports only new or changed files (the CANedge InfluxDB
 * writer kept no such record and re-processed files every run). A file counts as imported once all its records
 * were accepted by the durable outbox; delivery to the sinks is the outbox's job from then on.
 * Stored as JSON in the data directory, replaced atomically (write + fsync + rename).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface LedgerEntry {
  size: number;
  mtimeMs: number;
  device: string;
  frames: number;
  records: number;
  importedAt: string;
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
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text !== null) {
      let parsed: { files?: Record<string, LedgerEntry> };
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new Error(
          `${this.file}: not valid JSON (${(e as Error).message}); move it aside to re-import everything`,
        );
      }
      for (const [k, v] of Object.entries(parsed.files ?? {})) this.entries.set(k, v);
    }
  }

  /** True when this exact file (same size and modification time) was imported before. */
  has(path: string, size: number, mtimeMs: number): boolean {
    const e = this.entries.get(path);
    return e !== undefined && e.size === size && e.mtimeMs === mtimeMs;
  }

  mark(path: string, entry: LedgerEntry): void {
    this.entries.set(path, entry);
    const body = JSON.stringify({ version: 1, files: Object.fromEntries(this.entries) }, null, 1);
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  get size(): number {
    return this.entries.size;
  }
}
