/**
 * The embedded store (src/store) as a data source for dashboards: what `sigflow run` and `sigflow import` wrote —
 * measurements, tags and fields — as the same series the log engine gives. Opened read-only (SQLite WAL: the
 * writer in `sigflow run` goes on undisturbed). Downsampling happens in SQLite (the store's min/max/last per
 * bucket, each with its own sample's time): `minmax` keeps each bucket's min and max point, `min`/`max` one of
 * them, `nearest` the bucket's last sample. When the range holds no more samples than maxDataPoints, the raw
 * samples come back. Booleans are 1/0; string fields cannot be charted and are left out with a notice.
 */
import { existsSync } from 'node:fs';
import { SigflowError } from '../errors/index.js';
import type { FieldValue } from '../records/index.js';
import { type SeriesInfo, TimeSeriesStore } from '../store/index.js';
import { signalNames } from './dbcs.js';
import type { DownsampleMethod, Point } from './downsample.js';
import { msToNs, nsToMs } from './time.js';

export interface StoreSeriesQuery {
  measurement: string;
  /** Field names, or Grafana's `(A|B)` form; empty: every field. */
  fields?: string | readonly string[];
  /** Only series with these tags (exact). */
  tags?: Readonly<Record<string, string>>;
  fromMs: number;
  toMs: number;
  maxPoints: number;
  method?: DownsampleMethod;
}

/** A series of a record source, downsampled: its name for the Grafana protocols, its field and tags apart. */
export interface RecordSeries {
  /** `measurement:k=v,k=v:field` (no tags: `measurement:field`). */
  name: string;
  field: string;
  tags: Record<string, string>;
  points: Point[];
  raw: number;
}

export interface StoreSeries extends RecordSeries {
  series: SeriesInfo;
}

function num(v: FieldValue): number {
  return typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
}

export function storeSeriesName(s: SeriesInfo): string {
  const tags = Object.entries(s.tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return tags ? `${s.measurement}:${tags}:${s.field}` : `${s.measurement}:${s.field}`;
}

/**
 * A source of records served beside the logs: the embedded store (StoreSource), or anything of the same shape —
 * the Parquet lake (src/pipelines/lake, LakeSource). Measurements with tags and fields; series downsampled to
 * real points (the protocols of src/server only read `name` and `points`).
 */
export interface RecordSource {
  /** What it is, for messages (`the store <path>`, `the lake <folder>`). */
  readonly what: string;
  measurements(): string[];
  fields(measurement?: string): string[];
  tagKeys(measurement?: string): string[];
  tagValues(key: string, measurement?: string): string[];
  series(q: StoreSeriesQuery, notices: string[]): Promise<RecordSeries[]>;
  close(): void;
}

export class StoreSource implements RecordSource {
  private opened: TimeSeriesStore | null;

  private constructor(
    readonly path: string,
    opened: TimeSeriesStore | null,
  ) {
    this.opened = opened;
  }

  /** Opens a store file read-only (SF_ERR_STORE_OPEN / _NOT_A_STORE when it is missing or not a store). */
  static open(path: string): StoreSource {
    return new StoreSource(path, TimeSeriesStore.open(path, { readonly: true }));
  }

  /**
   * A store file that may not exist yet (`sigflow run` before its store sink wrote anything): opened at the first
   * request that finds it; until then the source is empty.
   */
  static lazy(path: string): StoreSource {
    return new StoreSource(path, null);
  }

  private get store(): TimeSeriesStore | null {
    if (this.opened) return this.opened;
    if (!existsSync(this.path)) return null;
    this.opened = TimeSeriesStore.open(this.path, { readonly: true });
    return this.opened;
  }

  measurements(): string[] {
    return this.store?.measurements() ?? [];
  }

  fields(measurement?: string): string[] {
    return [...new Set((this.store?.fields(measurement) ?? []).map((f) => f.field))];
  }

  tagKeys(measurement?: string): string[] {
    return this.store?.tagKeys(measurement) ?? [];
  }

  tagValues(key: string, measurement?: string): string[] {
    return this.store?.tagValues(key, measurement) ?? [];
  }

  get what(): string {
    return `the store ${this.path}`;
  }

  /** The series of a query, downsampled (see the file comment); names that match nothing go to `notices`. */
  async series(q: StoreSeriesQuery, notices: string[]): Promise<StoreSeries[]> {
    return this.seriesNow(q, notices);
  }

  private seriesNow(q: StoreSeriesQuery, notices: string[]): StoreSeries[] {
    const store = this.store;
    if (!store) {
      notices.push(`the store ${this.path} holds nothing yet`);
      return [];
    }
    if (!this.measurements().includes(q.measurement)) {
      notices.push(`no measurement "${q.measurement}" in the store`);
      return [];
    }
    const known = new Set(this.fields(q.measurement));
    // a field whose name holds the selection's separators (`a,b`, `x|y`, `(p)`) is taken by its exact name first
    const exact = (sel: string) => (known.has(sel) ? [sel] : signalNames(sel));
    const fields =
      q.fields === undefined
        ? []
        : typeof q.fields === 'string'
          ? exact(q.fields)
          : [...new Set(q.fields.flatMap(exact))];
    const wanted = fields.filter((f) => {
      if (known.has(f)) return true;
      notices.push(`no field "${f}" in measurement "${q.measurement}"`);
      return false;
    });
    if (fields.length > 0 && wanted.length === 0) return [];
    const from = msToNs(q.fromMs);
    const to = msToNs(q.toMs) + 1n; // the store's `to` is exclusive, Grafana's inclusive
    if (to <= from) throw new SigflowError('SF_ERR_SERVE_BAD_REQUEST', 'range: "to" is before "from"');
    const max = Math.max(1, Math.min(100_000, Math.floor(q.maxPoints)));
    const method = q.method ?? 'minmax';
    const base = { measurement: q.measurement, tags: q.tags, fields: wanted.length ? wanted : undefined, from, to };
    const out: StoreSeries[] = [];
    const buckets = store.query({ ...base, points: method === 'minmax' ? Math.max(1, Math.floor(max / 2)) : max });
    for (const { series, buckets: bs } of buckets) {
      if (series.type === 'string') {
        notices.push(`${storeSeriesName(series)}: a string field cannot be charted`);
        continue;
      }
      const raw = bs.reduce((n, b) => n + b.count, 0);
      let points: Point[];
      if (raw <= max) {
        const all = store.samples({ ...base, fields: [series.field], tags: series.tags });
        const mine = all.find((x) => x.series.id === series.id);
        points = (mine?.samples ?? []).map((s) => [num(s.value), nsToMs(s.time)]);
      } else {
        points = [];
        for (const b of bs) {
          if (!b.min || !b.max) continue;
          if (method === 'min') points.push([num(b.min.value), nsToMs(b.min.time)]);
          else if (method === 'max') points.push([num(b.max.value), nsToMs(b.max.time)]);
          else if (method === 'nearest') points.push([num(b.last.value), nsToMs(b.last.time)]);
          else {
            const [a, z] = b.min.time <= b.max.time ? [b.min, b.max] : [b.max, b.min];
            points.push([num(a.value), nsToMs(a.time)]);
            if (z.time !== a.time) points.push([num(z.value), nsToMs(z.time)]);
          }
        }
      }
      out.push({ series, name: storeSeriesName(series), field: series.field, tags: series.tags, points, raw });
    }
    return out;
  }

  close(): void {
    this.opened?.close();
    this.opened = null;
  }
}
