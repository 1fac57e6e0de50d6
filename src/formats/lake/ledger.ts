/**
 * The lake's ledger of processed logs: one small JSON object per log, `_sigflow/ledger/<device>/<stem>.json`,
 * written after every table of that log is in place — so "in the ledger" means "all its rows are in the lake". It
 * names the log (path, size, modification time), the DBC set it was decoded with (a fingerprint) and the objects
 * written. A run skips a log whose entry matches; a log changed since (size, time) or decoded with another DBC set is
 * decoded again, and objects of its previous entry it no longer produces are deleted. A log that failed gets
 * `_sigflow/failed/<device>/<stem>.json` (the reason) until a run decodes it. Table names are deterministic (one
 * log, one message folder, one day → one key), so a run killed part-way leaves objects a re-run overwrites — never
 * a second copy.
 */
import { LAKE_META } from './layout.js';
import type { LakeStore } from './store.js';

export interface LedgerEntry {
  version: 1;
  log: { path: string; size: number; mtimeMs: number | null };
  device: string;
  stem: string;
  /** Fingerprint of the DBC set the log was decoded with. */
  dbc: string;
  /** Every table object of the log, with its rows. */
  objects: { key: string; rows: number }[];
  written_at: string;
}

export interface FailureEntry {
  log: { path: string; size: number };
  device: string;
  stem: string;
  error: string;
  failed_at: string;
}

/**
 * A compacted file: the logs whose rows it holds (their `<session>_<split>` stems), the files it replaced, and
 * whether the replacement is complete (`pending` while the parts may still exist: finished or undone by the next
 * run, so a crash never leaves rows twice at rest).
 */
export interface CompactionRecord {
  key: string;
  device: string;
  logs: string[];
  parts: string[];
  rows: number;
  state: 'pending' | 'done';
}

const LEDGER = `${LAKE_META}/ledger/`;
const COMPACTED = `${LAKE_META}/compacted/`;
const FAILED = `${LAKE_META}/failed/`;
/** Compacted files being taken apart (a marker per file: usually none, so every write run can list them). */
const TAKING_APART = `${LAKE_META}/taking-apart/`;

export class LakeLedger {
  constructor(private readonly store: LakeStore) {}

  private static key(root: string, device: string, stem: string): string {
    return `${root}${device}/${stem}.json`;
  }

  async get(device: string, stem: string): Promise<LedgerEntry | null> {
    const text = await this.store.getText(LakeLedger.key(LEDGER, device, stem));
    if (text === null) return null;
    try {
      const e = JSON.parse(text) as LedgerEntry;
      return e.version === 1 && Array.isArray(e.objects) ? e : null;
    } catch {
      return null; // an unreadable entry: the log is decoded again
    }
  }

  /** Records a log as complete (and clears its failure). */
  async put(entry: LedgerEntry): Promise<void> {
    await this.store.putText(LakeLedger.key(LEDGER, entry.device, entry.stem), `${JSON.stringify(entry, null, 1)}\n`);
    await this.store.delete(LakeLedger.key(FAILED, entry.device, entry.stem));
  }

  async fail(entry: FailureEntry): Promise<void> {
    await this.store.putText(LakeLedger.key(FAILED, entry.device, entry.stem), `${JSON.stringify(entry)}\n`);
  }

  /** The record of a compacted file (by its key), or null. */
  async compaction(key: string): Promise<CompactionRecord | null> {
    const text = await this.store.getText(`${COMPACTED}${key}.json`);
    return text === null ? null : (JSON.parse(text) as CompactionRecord);
  }

  async putCompaction(r: CompactionRecord): Promise<void> {
    await this.store.putText(`${COMPACTED}${r.key}.json`, `${JSON.stringify(r)}\n`);
  }

  async deleteCompaction(key: string): Promise<void> {
    await this.store.delete(`${COMPACTED}${key}.json`);
  }

  /** Marks a compacted file as being taken apart (before anything of it is removed): recover with takingApart(). */
  async putTakingApart(r: CompactionRecord): Promise<void> {
    await this.store.putText(`${TAKING_APART}${r.key}.json`, `${JSON.stringify(r)}\n`);
  }

  async deleteTakingApart(key: string): Promise<void> {
    await this.store.delete(`${TAKING_APART}${key}.json`);
  }

  /** The compacted files a run began to take apart and did not finish (a crash). */
  async *takingApart(): AsyncIterable<CompactionRecord> {
    for await (const o of this.store.list(TAKING_APART)) {
      const text = await this.store.getText(o.key);
      if (text !== null) yield JSON.parse(text) as CompactionRecord;
    }
  }

  /** Every compaction record. */
  async *compactions(): AsyncIterable<CompactionRecord> {
    for await (const o of this.store.list(COMPACTED)) {
      const text = await this.store.getText(o.key);
      if (text !== null) yield JSON.parse(text) as CompactionRecord;
    }
  }

  /** Forgets a log (it will be decoded again). */
  async remove(device: string, stem: string): Promise<void> {
    await this.store.delete(LakeLedger.key(LEDGER, device, stem));
  }

  /** Every ledger entry. */
  async *entries(): AsyncIterable<LedgerEntry> {
    for await (const o of this.store.list(LEDGER)) {
      if (!o.key.endsWith('.json')) continue;
      const text = await this.store.getText(o.key);
      if (text === null) continue;
      try {
        yield JSON.parse(text) as LedgerEntry;
      } catch {
        // skipped: decoded again by the next run
      }
    }
  }

  /** Every recorded failure. */
  async *failures(): AsyncIterable<FailureEntry> {
    for await (const o of this.store.list(FAILED)) {
      const text = await this.store.getText(o.key);
      if (text === null) continue;
      try {
        yield JSON.parse(text) as FailureEntry;
      } catch {
        // a torn failure record: the log is retried anyway
      }
    }
  }
}
