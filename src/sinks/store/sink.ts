/**
 * The `store` sink: writes batches into the embedded SQLite time-series store (src/store), the default sink.
 * Idempotent on series + time. Records the store cannot take (type conflict, NaN, int64 overflow) come back as
 * a `partial` result naming each record; storage failures (disk full, I/O, locked) are `retry`: the data is fine,
 * the disk is not, so the outbox keeps it. A store file found damaged is `misconfigured`: kept, the sink's alarm
 * raised, nothing counted as delivered until the file is replaced. Opening checks the file's integrity first
 * (src/store), so an import never writes into a damaged store as if it were healthy.
 */

import { dirname } from 'node:path';
import { makeDirectory } from '../../io/index.js';
import type { Sink, WriteResult } from '../../outbox/index.js';
import type { TelemetryRecord } from '../../records/index.js';
import { TimeSeriesStore } from '../../store/index.js';
import { type StoreSinkConfig, storeSinkConfigSchema } from './config.js';

export class StoreSink implements Sink {
  readonly name: string;
  readonly store: TimeSeriesStore;
  private readonly owned: boolean;

  constructor(name: string, store: TimeSeriesStore, owned: boolean) {
    this.name = name;
    this.store = store;
    this.owned = owned;
  }

  async write(batch: readonly TelemetryRecord[], signal?: AbortSignal): Promise<WriteResult> {
    if (signal?.aborted) return { kind: 'retry', reason: 'aborted before writing' };
    try {
      const rep = this.store.write(batch);
      if (rep.rejected.length === 0) return { kind: 'ok' };
      return {
        kind: 'partial',
        rejected: rep.rejected,
        reason: `${rep.rejected.length} of ${batch.length} records rejected by the store (first: ${rep.rejected[0].reason})`,
      };
    } catch (e) {
      if ((e as { code?: unknown }).code === 'SF_ERR_STORE_CORRUPT')
        return { kind: 'misconfigured', reason: (e as Error).message };
      return { kind: 'retry', reason: `store ${this.store.path}: ${(e as Error).message}` };
    }
  }

  async close(): Promise<void> {
    if (this.owned) this.store.close();
  }
}

/** Creates a store sink from its config (opens the SQLite file). */
export function createStoreSink(config: StoreSinkConfig): StoreSink {
  const c = storeSinkConfigSchema.parse(config);
  // `path: /var/lib/sigflow/store.db` works on a fresh machine, as the outbox's data_dir does
  makeDirectory(dirname(c.path), 'store folder');
  return new StoreSink(c.name, TimeSeriesStore.open(c.path, { synchronous: c.synchronous }), true);
}

/** Wraps an already open store (the caller keeps ownership: close() does not close it). */
export function storeSinkFor(store: TimeSeriesStore, name = 'store'): StoreSink {
  return new StoreSink(name, store, false);
}
