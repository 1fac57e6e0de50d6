/**
 * `sigflow logs …`: CANedge log trees. `logs index <root>` builds or refreshes the tree's index (cached outside the
 * tree) and prints devices, sessions, splits and time ranges. Per-file problems are listed, not fatal.
 */
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import {
  defaultIndexPath,
  entryBounds,
  type IndexEntry,
  LocalLogStore,
  LogIndex,
  MDF4_TIME_RANGE_ID,
  mdf4TimeRange,
  PasswordBook,
  passwordsFor,
  type RefreshStats,
} from '../formats/canedge/index.js';
import { parseTime } from '../units/index.js';

interface IndexCmdOptions {
  passwords?: string;
  json?: boolean;
  index?: string;
  times: boolean;
  device?: string;
  from?: string;
  to?: string;
  concurrency: string;
}

function isoNs(ns: string | undefined): string {
  if (ns === undefined) return '?';
  const v = BigInt(ns);
  const ms = v / 1_000_000n;
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return ns;
  const frac = (v % 1_000_000_000n).toString().padStart(9, '0');
  return `${d.toISOString().slice(0, 19)}.${frac.slice(0, 6)}Z`;
}

function fmtSize(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

interface SessionSummary {
  session: number;
  files: IndexEntry[];
  firstNs?: string;
  lastNs?: string;
  size: number;
}

interface DeviceSummary {
  device: string;
  comment?: string;
  firmware?: string;
  folders: string[];
  sessions: SessionSummary[];
}

function minMax(files: IndexEntry[]): { firstNs?: string; lastNs?: string } {
  let lo: bigint | null = null;
  let hi: bigint | null = null;
  for (const f of files) {
    const first = f.firstNs ?? f.startNs;
    if (first !== undefined && (lo === null || BigInt(first) < lo)) lo = BigInt(first);
    if (f.lastNs !== undefined && (hi === null || BigInt(f.lastNs) > hi)) hi = BigInt(f.lastNs);
  }
  return { firstNs: lo?.toString(), lastNs: hi?.toString() };
}

function summarise(files: IndexEntry[]): DeviceSummary[] {
  const byDev = new Map<string, IndexEntry[]>();
  for (const f of files) {
    const list = byDev.get(f.device) ?? [];
    list.push(f);
    byDev.set(f.device, list);
  }
  const out: DeviceSummary[] = [];
  for (const [device, list] of [...byDev].sort((a, b) => a[0].localeCompare(b[0]))) {
    const bySession = new Map<number, IndexEntry[]>();
    for (const f of list) {
      const s = bySession.get(f.session) ?? [];
      s.push(f);
      bySession.set(f.session, s);
    }
    const sessions = [...bySession]
      .sort((a, b) => a[0] - b[0])
      .map(([session, fs]) => {
        fs.sort((a, b) => a.split - b.split || a.path.localeCompare(b.path));
        return { session, files: fs, size: fs.reduce((n, f) => n + f.size, 0), ...minMax(fs.filter((f) => !f.error)) };
      });
    const latest = [...list].reverse().find((f) => f.metadata);
    out.push({
      device,
      comment: latest?.metadata?.comment,
      firmware: latest?.metadata?.firmware,
      folders: [...new Set(list.map((f) => [f.location.prefix, f.location.device].filter(Boolean).join('/')))].sort(),
      sessions,
    });
  }
  return out;
}

function splitRanges(nums: number[]): string {
  const s = [...new Set(nums)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

function printHuman(root: string, index: LogIndex, stats: RefreshStats, shown: IndexEntry[], filtered: boolean): void {
  const w = (s: string) => process.stdout.write(`${s}\n`);
  w(`log tree ${root}`);
  w(`index    ${index.path}`);
  w(
    `refresh  ${stats.added} added, ${stats.changed} changed, ${stats.removed} removed, ${stats.reprobed} re-probed, ` +
      `${stats.unchanged} unchanged in ${stats.ms.toFixed(0)} ms`,
  );
  w('');
  const devices = summarise(shown.filter((f) => !f.error));
  for (const d of devices) {
    const info = [d.comment && `"${d.comment}"`, d.firmware && `FW ${d.firmware}`, `folders ${d.folders.join(', ')}`]
      .filter(Boolean)
      .join('  ');
    w(`device ${d.device}  ${info}`);
    for (const s of d.sessions) {
      w(
        `  session ${String(s.session).padStart(8, '0')}  splits ${splitRanges(s.files.map((f) => f.split))}  ` +
          `${s.files.length} file(s), ${fmtSize(s.size)}  ${isoNs(s.firstNs)} → ${isoNs(s.lastNs)}`,
      );
      for (const f of s.files) {
        const b = entryBounds(f);
        const range = f.firstNs
          ? `${isoNs(f.firstNs)} → ${isoNs(f.lastNs)}`
          : `start ${isoNs(f.startNs)}${b.hi !== null ? ` (ends by ${isoNs(b.hi.toString())})` : ''}`;
        const mism = f.mismatches?.length ? `  [${f.mismatches.join('; ')}]` : '';
        const dmg = f.dataWarnings ? `  [damaged: ${f.dataWarnings.count} warning(s)]` : '';
        w(
          `    split ${String(f.split).padStart(8, '0')}  ${(f.container ?? '?').toUpperCase().padEnd(3)}  ${fmtSize(f.size).padStart(9)}  ${range}  ${f.path}${mism}${dmg}`,
        );
      }
    }
  }
  const damaged = shown.filter((f) => !f.error && f.dataWarnings);
  if (damaged.length) {
    w('');
    w(`files with damaged data (${damaged.length}; times from the readable records):`);
    for (const f of damaged)
      w(`  ${f.path}: ${f.dataWarnings?.count} warning(s), first: ${f.dataWarnings?.messages[0] ?? ''}`);
  }
  const errors = shown.filter((f) => f.error);
  if (errors.length) {
    w('');
    w(`unreadable files (${errors.length}):`);
    for (const f of errors) w(`  ${f.error?.code}: ${f.error?.message}`);
  }
  if (stats.unreadable.length) {
    w('');
    w(`unreadable folders and links (${stats.unreadable.length}; their files are not indexed):`);
    for (const p of stats.unreadable) w(`  ${p.path}: ${p.message}`);
  }
  const all = index.files;
  const ok = all.filter((f) => !f.error);
  const range = minMax(ok);
  w('');
  w(
    `summary  ${new Set(ok.map((f) => f.device)).size} device(s), ${new Set(ok.map((f) => `${f.device}/${f.session}`)).size} session(s), ` +
      `${all.length} log file(s) (${fmtSize(all.reduce((n, f) => n + f.size, 0))}), ${all.length - ok.length} unreadable, ` +
      `${index.ignored.count} other file(s) ignored; ${isoNs(range.firstNs)} → ${isoNs(range.lastNs)}` +
      (filtered ? `; ${shown.length} file(s) match the filter` : ''),
  );
}

/** The root argument: an existing folder (SF_ERR_USAGE otherwise). */
function checkRoot(root: string): void {
  let st: import('node:fs').Stats;
  try {
    st = statSync(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such directory' : (err as Error).message;
    throw new SigflowError('SF_ERR_USAGE', `${root}: ${why}`, { where: root, cause: err });
  }
  if (!st.isDirectory()) throw new SigflowError('SF_ERR_USAGE', `${root}: not a directory`, { where: root });
}

async function runIndex(root: string, opts: IndexCmdOptions): Promise<void> {
  checkRoot(root);
  const fromNs = opts.from !== undefined ? parseTime(opts.from, '--from') : undefined;
  const toNs = opts.to !== undefined ? parseTime(opts.to, '--to') : undefined;
  const concurrency = Number(opts.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    throw new SigflowError('SF_ERR_USAGE', `--concurrency: "${opts.concurrency}" is not 1…64`);
  const store = new LocalLogStore(root);
  // the same rule as frames/decode/import: --passwords, else <root>/passwords.json
  const pw = await passwordsFor([store.root], opts.passwords);
  const pwPath = pw.files[0];
  const passwords = pw.book ?? PasswordBook.empty();
  const indexPath = opts.index ?? defaultIndexPath(store.id);
  const index = await LogIndex.load(indexPath, store.id);
  if (index.loadWarning) process.stderr.write(`sigflow: ${index.loadWarning}\n`);
  const stats = await index.refresh(store, {
    passwords,
    timeRange: opts.times ? mdf4TimeRange : undefined,
    timeRangeId: MDF4_TIME_RANGE_ID,
    concurrency,
  });
  try {
    await index.save();
  } catch (err) {
    process.stderr.write(`sigflow: could not save the index to ${indexPath}: ${(err as Error).message}\n`);
  }
  const filtered = opts.device !== undefined || opts.from !== undefined || opts.to !== undefined;
  let shown: IndexEntry[] = [...index.files];
  if (filtered) shown = index.query({ device: opts.device, fromNs, toNs });
  if (opts.json) printJson({ root: store.root, index: indexPath, passwords: pwPath ?? null }, index, stats, shown);
  else printHuman(store.root, index, stats, shown, filtered);
  if (stats.unreadable.length > 0) {
    // the files below could not even be listed: say so on stderr too, and fail (exit 1) after printing the rest
    for (const p of stats.unreadable) process.stderr.write(`sigflow logs index: ${p.path}: ${p.message}\n`);
    process.exitCode = 1;
  }
}

function printJson(
  where: { root: string; index: string; passwords: string | null },
  index: LogIndex,
  stats: RefreshStats,
  shown: IndexEntry[],
): void {
  const out = {
    ...where,
    stats,
    ignored: index.ignored,
    devices: summarise(shown.filter((f) => !f.error)).map((d) => ({
      ...d,
      sessions: d.sessions.map((s) => ({ ...s, splits: s.files.map((f) => f.split) })),
    })),
    errors: index
      .errors()
      .map((f) => ({ path: f.path, device: f.device, code: f.error?.code, message: f.error?.message })),
  };
  process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
}

export function registerLogsCommands(program: Command): void {
  const logs = program.command('logs').description('CANedge log trees: <device>/<session>/<split>.(MF4|MFC|MFE|MFM)');
  logs
    .command('index')
    .description(
      'build or refresh the index of a log tree (only new/changed files are read) and print devices, sessions,\n' +
        'splits and time ranges; unreadable files are listed, not fatal (folders that cannot be listed: exit 1)',
    )
    .argument('<root>', 'log tree root (a folder holding <device>/<session>/ folders, at any depth)')
    .option('--passwords <file>', 'passwords.json for MFE/MFM files (default: <root>/passwords.json if present)')
    .option('--index <file>', 'index file (default: $SIGFLOW_CACHE_DIR or $XDG_CACHE_HOME/sigflow/canedge-index/…)')
    .option('--no-times', 'skip reading records for first/last timestamps (header start time only; much faster)')
    .option('--device <id>', 'only show files of this device (header serial number)')
    .option('--from <time>', 'only show files with records at or after this time (see below)')
    .option('--to <time>', 'only show files with records at or before this time (see below)')
    .option('--concurrency <n>', 'files probed in parallel', '4')
    .option('--json', 'print JSON instead of text')
    .addHelpText(
      'after',
      '\n--from/--to: RFC 3339 / ISO 8601, UTC unless an offset is given (2024-01-02T03:04:05 = …05Z), or integer ns\n' +
        'since the epoch. Bad arguments: exit status 2.\n\n' +
        'Examples:\n' +
        '  sigflow logs index LOG/\n' +
        '  sigflow logs index LOG/ --device 2F6913DB --from 2024-01-02 --to 2024-01-03\n' +
        '  sigflow logs index /mnt/sd --passwords passwords.json --json',
    )
    .action(async (root: string, opts: IndexCmdOptions) => {
      await runIndex(root, opts);
    });
}
