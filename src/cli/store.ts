/**
 * `sigflow store …`: look into an embedded store file (read-only except `retention`).
 *   sigflow store list <file> [--measurement m] [--json]
 *   sigflow store query <file> <measurement> --from T --to T [--points N] [--tag k=v]… [--field f]…
 *   sigflow store retention <file> --max-age 30d
 * Times: RFC 3339 (2024-01-02T03:04:05.123456789Z; UTC unless an offset is given) or integer ns since the epoch;
 * durations like 30d, 12h, 500ms (src/units). Query output is JSON (ns times and integers as decimal strings, so
 * nothing is rounded).
 */
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import type { FieldValue } from '../records/index.js';
import { TimeSeriesStore } from '../store/index.js';
import { parseDuration, parseTime } from '../units/index.js';
import { collect } from './log-args.js';

/** Opens a store file; a missing or foreign file is the store's own error (SF_ERR_STORE_OPEN, …, exit 2). */
function open(file: string, readonly: boolean): TimeSeriesStore {
  return TimeSeriesStore.open(file, { readonly });
}

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

export function registerStoreCommands(program: Command): void {
  const store = program.command('store').description('query and maintain an embedded sigflow store (SQLite)');

  store
    .command('list')
    .description('measurements, their tag keys and values, and fields with types')
    .argument('<file>', 'store file')
    .option('--measurement <name>', 'only this measurement')
    .option('--json', 'machine-readable output')
    .action(listAction);

  store
    .command('query')
    .description('samples of a measurement in [from, to), raw or downsampled to N buckets per series (JSON)')
    .argument('<file>', 'store file')
    .argument('<measurement>')
    .requiredOption('--from <time>', 'inclusive start: RFC 3339 (UTC unless an offset is given) or ns')
    .requiredOption('--to <time>', 'exclusive end: RFC 3339 (UTC unless an offset is given) or ns')
    .option('--points <n>', 'downsample to at most n buckets per series (min/max/mean/last)')
    .option('--tag <k=v>', 'only series with this tag (repeatable)', collect, [])
    .option('--field <name>', 'only this field (repeatable)', collect, [])
    .addHelpText(
      'after',
      '\nExample:\n  sigflow store query data.db engine --from 2024-01-01T00:00:00Z --to 2024-01-02T00:00:00Z --points 500',
    )
    .action(queryAction);

  store
    .command('retention')
    .description('delete samples older than a maximum age')
    .argument('<file>', 'store file')
    .requiredOption('--max-age <duration>', 'e.g. 30d, 12h, 2w')
    .action(retentionAction);
}

function listAction(file: string, opts: { measurement?: string; json?: boolean }): void {
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
}

function queryAction(
  file: string,
  measurement: string,
  opts: { from: string; to: string; points?: string; tag: string[]; field: string[] },
): void {
  const tags: Record<string, string> = {};
  for (const t of opts.tag) {
    const i = t.indexOf('=');
    if (i <= 0) throw new SigflowError('SF_ERR_USAGE', `invalid --tag ${JSON.stringify(t)}: use key=value`);
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
  } finally {
    s.close();
  }
}

function retentionAction(file: string, opts: { maxAge: string }): void {
  const age = parseDuration(opts.maxAge, '--max-age', { allowZero: true });
  const s = open(file, false);
  try {
    process.stdout.write(`deleted ${s.applyRetention(age)} samples older than ${opts.maxAge}\n`);
  } finally {
    s.close();
  }
}
