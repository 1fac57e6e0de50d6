/**
 * `sigflow store …`: look into an embedded store file (read-only except `retention`).
 *   sigflow store list <file> [--measurement m] [--json]
 *   sigflow store query <file> <measurement> --from T --to T [--points N] [--tag k=v]… [--field f]…
 *   sigflow store retention <file> --max-age 30d
 * Times: RFC 3339 (2024-01-02T03:04:05.123456789Z) or integer ns since the epoch. Query output is JSON (ns times
 * and integers as decimal strings, so nothing is rounded).
 */
import type { Command } from 'commander';
import type { FieldValue } from '../records/record.js';
import { StoreError, TimeSeriesStore } from '../store/store.js';
import { CliError } from './errors.js';

const UNIT_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
  w: 604_800_000_000_000n,
};

/** "30d", "12h", "500ms" → ns. */
export function parseDuration(s: string): bigint {
  const m = /^(\d+)(ns|us|ms|s|m|h|d|w)$/.exec(s.trim());
  if (!m)
    throw new CliError(
      `invalid duration ${JSON.stringify(s)}: use a number and a unit (ns, us, ms, s, m, h, d, w), e.g. 30d`,
      2,
    );
  return BigInt(m[1]) * UNIT_NS[m[2]];
}

/** RFC 3339 (with up to 9 fractional digits) or integer ns → ns. */
export function parseTime(s: string, what: string): bigint {
  const t = s.trim();
  if (/^-?\d+$/.test(t)) return BigInt(t);
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?$/.exec(t);
  if (m) {
    const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${m[4] ?? 'Z'}`);
    if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n + BigInt((m[3] ?? '').padEnd(9, '0') || '0');
  }
  throw new CliError(`invalid ${what} time ${JSON.stringify(s)}: use RFC 3339 (2024-01-02T03:04:05Z) or integer ns`, 2);
}

function open(file: string, readonly: boolean): TimeSeriesStore {
  try {
    return TimeSeriesStore.open(file, { readonly });
  } catch (e) {
    throw new CliError((e as Error).message, 2);
  }
}

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
const collect = (v: string, prev: string[]) => [...prev, v];

export function registerStoreCommands(program: Command): void {
  const store = program.command('store').description('query and maintain an embedded sigflow store (SQLite)');

  store
    .command('list')
    .description('measurements, their tag keys and values, and fields with types')
    .argument('<file>', 'store file')
    .option('--measurement <name>', 'only this measurement')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { measurement?: string; json?: boolean }) => {
      const s = open(file, true);
      try {
        const ms = opts.measurement ? [opts.measurement] : s.measurements();
        const out = ms.map((m) => ({
          measurement: m,
          tags: Object.fromEntries(s.tagKeys(m).map((k) => [k, s.tagValues(k, m)])),
          fields: s.fields(m),
          series: s.series(m).length,
        }));
        if (opts.json) process.stdout.write(`${json({ samples: s.count(), measurements: out })}\n`);
        else {
          process.stdout.write(`${s.count()} samples\n`);
          for (const m of out) {
            process.stdout.write(`${m.measurement}  (${m.series} series)\n`);
            for (const [k, vs] of Object.entries(m.tags)) process.stdout.write(`  tag ${k}: ${vs.join(', ')}\n`);
            for (const f of m.fields) process.stdout.write(`  field ${f.field}: ${f.type}\n`);
          }
        }
      } finally {
        s.close();
      }
    });

  store
    .command('query')
    .description('samples of a measurement in [from, to), raw or downsampled to N buckets per series (JSON)')
    .argument('<file>', 'store file')
    .argument('<measurement>')
    .requiredOption('--from <time>', 'inclusive start: RFC 3339 or ns')
    .requiredOption('--to <time>', 'exclusive end: RFC 3339 or ns')
    .option('--points <n>', 'downsample to at most n buckets per series (min/max/mean/last)')
    .option('--tag <k=v>', 'only series with this tag (repeatable)', collect, [])
    .option('--field <name>', 'only this field (repeatable)', collect, [])
    .addHelpText(
      'after',
      '\nExample:\n  sigflow store query data.db engine --from 2024-01-01T00:00:00Z --to 2024-01-02T00:00:00Z --points 500',
    )
    .action(
      (
        file: string,
        measurement: string,
        opts: { from: string; to: string; points?: string; tag: string[]; field: string[] },
      ) => {
        const tags: Record<string, string> = {};
        for (const t of opts.tag) {
          const i = t.indexOf('=');
          if (i <= 0) throw new CliError(`invalid --tag ${JSON.stringify(t)}: use key=value`, 2);
          tags[t.slice(0, i)] = t.slice(i + 1);
        }
        const q = {
          measurement,
          tags,
          fields: opts.field.length ? opts.field : undefined,
          from: parseTime(opts.from, '--from'),
          to: parseTime(opts.to, '--to'),
        };
        const s = open(file, true);
        try {
          if (opts.points !== undefined) {
            const points = Number(opts.points);
            const res = s.query({ ...q, points });
            for (const r of res) process.stdout.write(`${json(r)}\n`);
          } else {
            for (const r of s.samples(q))
              process.stdout.write(`${json(r as { samples: { time: bigint; value: FieldValue }[] })}\n`);
          }
        } catch (e) {
          if (e instanceof StoreError) throw new CliError(e.message, 2);
          throw e;
        } finally {
          s.close();
        }
      },
    );

  store
    .command('retention')
    .description('delete samples older than a maximum age')
    .argument('<file>', 'store file')
    .requiredOption('--max-age <duration>', 'e.g. 30d, 12h')
    .action((file: string, opts: { maxAge: string }) => {
      const age = parseDuration(opts.maxAge);
      const s = open(file, false);
      try {
        process.stdout.write(`deleted ${s.applyRetention(age)} samples older than ${opts.maxAge}\n`);
      } finally {
        s.close();
      }
    });
}
