/**
 * `sigflow store …`: look into an embedded store file (read-only except `retention`).
 *   sigflow store list <file> [--measurement m] [--json]
 *   sigflow store query <file> <measurement> --from T --to T [--points N] [--tag k=v]… [--field f]…
 *   sigflow store retention <file> (--max-age 30d | --before T) [--dry-run] [--yes]
 * Times: RFC 3339 (2024-01-02T03:04:05.123456789Z; UTC unless an offset is given) or integer ns since the epoch;
 * durations like 30d, 12h, 500ms (src/units). Query output is JSON (ns times and integers as decimal strings, so
 * nothing is rounded).
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import { TimeSeriesStore } from '../store/index.js';
import { formatTime, parseDuration, parseTime } from '../units/index.js';
import { ChunkedWriter } from './chunked-writer.js';
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
    .addHelpText(
      'after',
      '\nExamples:\n  sigflow store list .sigflow/store.db\n  sigflow store list .sigflow/store.db --measurement EEC1 --json',
    )
    .action(listAction);

  store
    .command('query')
    .description('samples of a measurement in [from, to), raw or downsampled to N buckets per series (JSON)')
    .argument('<file>', 'store file')
    .argument('<measurement>')
    .requiredOption('--from <time>', '(required) inclusive start: RFC 3339 (UTC unless an offset is given) or ns')
    .requiredOption('--to <time>', '(required) exclusive end: RFC 3339 (UTC unless an offset is given) or ns')
    .option('--points <n>', 'downsample to at most n buckets per series (min/max/mean/last)')
    .option('--tag <k=v>', 'only series with this tag (repeatable)', collect, [])
    .option('--field <name>', 'only this field (repeatable)', collect, [])
    .addHelpText(
      'after',
      '\nExamples:\n  sigflow store query data.db engine --from 2024-01-01T00:00:00Z --to 2024-01-02T00:00:00Z --points 500\n' +
        '  sigflow store query .sigflow/store.db EEC1 --from 2024-01-01 --to 2024-01-02 --tag device=2F6913DB --field EngineSpeed',
    )
    .action(queryAction);

  store
    .command('retention')
    .description('delete samples older than a maximum age (counted back from now) or before an instant')
    .argument('<file>', 'store file (must exist: a mistyped path is an error, never a new store)')
    .option('--max-age <duration>', 'delete samples older than now minus this, e.g. 30d, 12h, 2w (or give --before)')
    .option('--before <time>', 'delete samples before this instant (RFC 3339, UTC unless an offset is given, or ns)')
    .option('--dry-run', 'only say what would be deleted: samples per measurement and the cut-off instant')
    .option('--yes', 'delete without asking (required when stdin is not a terminal; a terminal is asked)')
    .addHelpText(
      'after',
      `
Give exactly one of --max-age and --before (required). --max-age counts back from the wall clock now, not from
the newest sample: on a store of old data "--max-age 30d" deletes all of it. Look first with --dry-run.

Examples:
  sigflow store retention .sigflow/store.db --max-age 30d --dry-run
  sigflow store retention .sigflow/store.db --max-age 30d --yes
  sigflow store retention .sigflow/store.db --before 2024-01-01T00:00:00Z --yes`,
    )
    .action(retentionAction);
}

function listAction(file: string, opts: { measurement?: string; json?: boolean }): void {
  const s = open(file, true);
  try {
    if (opts.measurement) s.assertKnown({ measurement: opts.measurement }); // not an empty listing: the known names
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

async function queryAction(
  file: string,
  measurement: string,
  opts: { from: string; to: string; points?: string; tag: string[]; field: string[] },
): Promise<void> {
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
    s.assertKnown(q); // a mistyped name is an error listing the known ones, not an empty answer
    if (opts.points !== undefined) {
      const points = Number(opts.points);
      const res = s.query({ ...q, points });
      for (const r of res) process.stdout.write(`${json(r)}\n`);
    } else {
      // streamed: one line per series as before, written sample by sample (bounded memory whatever the range)
      const w = new ChunkedWriter(process.stdout);
      for (const { series, samples } of s.streamSamples(q)) {
        w.push(`{"series":${json(series)},"samples":[`);
        let sep = '';
        for (const v of samples) {
          w.push(`${sep}${json(v)}`);
          sep = ',';
          if (w.full) await w.flush();
        }
        w.push(']}\n');
      }
      await w.flush();
    }
  } finally {
    s.close();
  }
}

interface RetentionOptions {
  maxAge?: string;
  before?: string;
  dryRun?: boolean;
  yes?: boolean;
}

async function retentionAction(file: string, opts: RetentionOptions): Promise<void> {
  if ((opts.maxAge === undefined) === (opts.before === undefined))
    throw new SigflowError(
      'SF_ERR_USAGE',
      'store retention needs exactly one of --max-age <duration> and --before <time>',
    );
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const cutoff =
    opts.maxAge !== undefined
      ? nowNs - parseDuration(opts.maxAge, '--max-age', { allowZero: true })
      : parseTime(opts.before as string, '--before');
  const why =
    opts.maxAge !== undefined
      ? `older than ${formatTime(cutoff)} (--max-age ${opts.maxAge} counted back from now, ${formatTime(nowNs)})`
      : `before ${formatTime(cutoff)}`;
  // never create a store here: a mistyped path is an error (SF_ERR_STORE_OPEN)
  const s = TimeSeriesStore.open(file, { readonly: opts.dryRun === true, mustExist: true });
  try {
    const plan = s.retentionPlan(cutoff);
    const all = plan.total > 0 && plan.total === s.count() ? ' — every sample in the store' : '';
    const perMeasurement = plan.measurements.map((m) => `  ${m.measurement}: ${m.samples}\n`).join('');
    if (opts.dryRun) {
      process.stdout.write(`would delete ${plan.total} samples ${why}${all}\n${perMeasurement}`);
      return;
    }
    if (plan.total === 0) {
      process.stdout.write(`nothing to delete: no sample ${why}\n`);
      return;
    }
    if (!opts.yes) {
      const question = `delete ${plan.total} samples ${why}${all}?\n${perMeasurement}`;
      if (!process.stdin.isTTY || !process.stderr.isTTY)
        throw new SigflowError(
          'SF_ERR_CLI_CONFIRM',
          `store retention would delete ${plan.total} samples ${why}${all}; add --yes to do it (--dry-run lists them per measurement)`,
        );
      if (!(await confirm(`${question}delete them for good? [y/N] `))) {
        process.stderr.write('sigflow store retention: nothing deleted\n');
        return;
      }
    }
    process.stdout.write(`deleted ${s.deleteBefore(cutoff)} samples ${why}\n${perMeasurement}`);
  } finally {
    s.close();
  }
}

/** Asks a yes/no question on the terminal (stderr), true for y/yes. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(question, resolve));
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}
