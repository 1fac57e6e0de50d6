/**
 * `measurements:` on any sink (Telegraf's namepass/namedrop): which records a sink is given, by measurement name
 * with `*` wildcards. The others are passed over — acknowledged to the outbox as written, by design, and counted.
 */
import { z } from 'zod';
import type { Sink, WriteResult } from '../outbox/index.js';
import type { TelemetryRecord } from '../records/index.js';

const pattern = z.string().min(1);

export const measurementFilterSchema = z
  .object({
    /** Only these measurements (default: all). */
    include: z.array(pattern).min(1).optional(),
    /** Never these (applied after include). */
    exclude: z.array(pattern).min(1).optional(),
  })
  .strict()
  .refine((f) => f.include !== undefined || f.exclude !== undefined, 'give include, exclude or both');

export type MeasurementFilter = z.output<typeof measurementFilterSchema>;

function globRegex(globs: readonly string[]): RegExp {
  const alt = globs.map((g) => g.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')).join('|');
  return new RegExp(`^(?:${alt})$`);
}

/** A test for one measurement name. */
export function measurementTest(f: MeasurementFilter): (measurement: string) => boolean {
  const inc = f.include && globRegex(f.include);
  const exc = f.exclude && globRegex(f.exclude);
  return (m) => (!inc || inc.test(m)) && !exc?.test(m);
}

/** The sink, given only the records whose measurement passes; rejected indexes are mapped back to the batch's. */
export function filterSink(inner: Sink, f: MeasurementFilter): Sink {
  const pass = measurementTest(f);
  return {
    name: inner.name,
    async write(batch: readonly TelemetryRecord[], signal?: AbortSignal): Promise<WriteResult> {
      const index: number[] = [];
      for (let i = 0; i < batch.length; i++) if (pass(batch[i].measurement)) index.push(i);
      if (index.length === batch.length) return inner.write(batch, signal);
      if (index.length === 0) return { kind: 'ok' };
      const r = await inner.write(
        index.map((i) => batch[i]),
        signal,
      );
      if (r.kind !== 'partial') return r;
      return { ...r, rejected: r.rejected.map((x) => ({ ...x, index: index[x.index] })) };
    },
    probe: inner.probe && ((signal) => (inner.probe as NonNullable<Sink['probe']>)(signal)),
    close: () => inner.close(),
  };
}
