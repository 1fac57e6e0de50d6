/**
 * Shared benchmark plumbing: repeat a case, report the median and spread, track peak RSS, and print either a
 * table or (with --json) one JSON object per line. Benchmarks are run with `npm run bench -- <name> [--json]`.
 *
 * Method (docs/benchmarks.md, "Method"): `runCases` runs every case in a fresh child process
 * (`node <bench> --case <name>`), so a case's first pass is really cold and its peak RSS (the kernel's maxRSS of
 * that process) is its own; a case reports its first pass and its warm median (`timeFirstAndWarm`); a case that
 * decodes nothing fails the benchmark (`requireNonZero`); a peer figure that cannot be measured in this process
 * is printed as `quoted(...)` with its source, never divided into a ratio.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

export const jsonOutput = process.argv.includes('--json');

export function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  return fallback;
}

let peakRss = process.memoryUsage.rss();
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 20);
rssTimer.unref();
/** The kernel's peak (VmHWM) was reset by resetPeakRss, so it is the peak since then. */
let kernelReset = false;

function kernelHwmBytes(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Starts a new peak-RSS window (timeRuns calls it before each case): the sampled peak restarts from the current
 * RSS, and on Linux the kernel's own peak (VmHWM) is reset too (`/proc/self/clear_refs` ← 5). Memory a previous
 * case left allocated still counts: cases that must not share a process run in children (runCases). Not in a
 * case child, whose figure is the whole process's peak.
 */
export function resetPeakRss(): void {
  peakRss = process.memoryUsage.rss();
  // A case child is one case: its whole-process peak (maxRSS, read at exit) is the figure, first pass included.
  if (childCase !== undefined) return;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    kernelReset = true;
  } catch {
    kernelReset = false;
  }
}

/** Peak resident set size since the last resetPeakRss (or process start), in MB (kernel VmHWM where reset, else sampled every 20 ms). */
export function peakRssMb(): number {
  peakRss = Math.max(peakRss, process.memoryUsage.rss(), kernelReset ? kernelHwmBytes() : 0);
  return peakRss / 1048576;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs `fn` `runs` times (after `warmup` unmeasured runs) and returns the seconds each run took.
 * `fn` may be async. Starts a new peak-RSS window (resetPeakRss) unless `newPeakWindow` is false.
 */
export async function timeRuns(fn: () => unknown, runs = 7, warmup = 2, newPeakWindow = true): Promise<number[]> {
  if (newPeakWindow) resetPeakRss();
  for (let i = 0; i < warmup; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    if (i === 0) firstPass = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const out: number[] = [];
  // No forced gc() between runs: a full collection shrinks the young generation, and allocation-heavy readers
  // then pay for many extra scavenges while it grows back (measured: MDF4 corpus 130 → 70 MB/s). A long-running
  // process does not collect like that; runs measure the steady state.
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e9);
    peakRssMb();
  }
  if (warmup === 0) firstPass = out[0];
  return out;
}

let firstPass = Number.NaN;
/**
 * Seconds of the first call of the last timeRuns (its first warm-up run): the case's first pass — cold only when
 * the case is the first to run that code in the process (a runCases child), else "first pass of this case".
 */
export function lastFirstPass(): number {
  return firstPass;
}

/** Formats a rate with k/M suffix. */
export function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(1);
}

/** The case this process runs (`--case <name>`: a child of runCases), or undefined in the parent. */
export const childCase = arg('case');
const RESULT = 'sigflow-bench-result ';
const MAXRSS = 'sigflow-bench-maxrss-kb ';
if (childCase !== undefined) {
  process.on('exit', () => process.stdout.write(`\n${MAXRSS}${process.resourceUsage().maxRSS}\n`));
}

/** Emits one result: a JSON line with --json, otherwise a human-readable line (in a case child: to the parent). */
export function report(result: Record<string, unknown>, human: string): void {
  if (childCase !== undefined) process.stdout.write(`${RESULT}${JSON.stringify({ result, human })}\n`);
  else if (jsonOutput) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(`${human}\n`);
}

/** Peak RSS of this process from the kernel (maxRSS), in MB: in a case child, the case's own peak. */
export function kernelPeakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * Runs each named case in a fresh child process (`node <execArgv> <this bench> <args> --case <name>`), one after
 * the other, and reports its results with the child's peak RSS (kernel maxRSS) as `peak_rss_mb`. A case whose
 * child fails (non-zero exit: an error, or a case that decoded nothing) is reported and makes the benchmark exit
 * non-zero at the end. `--only <text>` keeps the cases whose name contains the text.
 */
export function runCases(names: string[], extraArgs: string[] = []): void {
  const only = arg('only');
  const passArgs = process.argv.slice(2).filter((a, i, all) => a !== '--only' && all[i - 1] !== '--only');
  let failed = 0;
  for (const name of names) {
    if (only !== undefined && !name.includes(only)) continue;
    const r = spawnSync(
      process.execPath,
      [...process.execArgv, process.argv[1], ...passArgs, ...extraArgs, '--case', name],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    const lines = (r.stdout ?? '').split('\n');
    const rss = Number(lines.find((l) => l.startsWith(MAXRSS))?.slice(MAXRSS.length) ?? 0) / 1024;
    for (const l of lines) {
      if (l.startsWith(RESULT)) {
        const { result, human } = JSON.parse(l.slice(RESULT.length)) as {
          result: Record<string, unknown>;
          human: string;
        };
        report(
          { ...result, peak_rss_mb: +rss.toFixed(1), rss_scope: 'case process (kernel maxRSS)' },
          `${human}, peak RSS ${rss.toFixed(0)} MB (own process)`,
        );
      } else if (l.trim() !== '' && !l.startsWith(MAXRSS)) note(l);
    }
    if (r.status !== 0) {
      failed++;
      process.stderr.write(`FAILED case ${name} (exit ${r.status ?? r.signal}):\n${(r.stderr ?? '').slice(-3000)}\n`);
    }
  }
  if (failed > 0) {
    process.stderr.write(`${failed} case(s) failed\n`);
    process.exitCode = 1;
  }
}

/** Fails the case (throws: its child exits non-zero) when it decoded nothing: it would measure something else. */
export function requireNonZero(caseName: string, counts: Record<string, number>): void {
  for (const [what, n] of Object.entries(counts)) {
    if (!(n > 0)) throw new Error(`bench case ${caseName} decoded 0 ${what}: it measures nothing; fix its inputs`);
  }
}

/**
 * Times the first call of `fn` in this process (the first pass: cold code, cold caches — what a one-shot command
 * pays), then `warmup` unmeasured calls and `runs` measured ones (the warm figures; take their median).
 */
export async function timeFirstAndWarm(
  fn: () => unknown,
  runs = 7,
  warmup = 2,
): Promise<{ first: number; warm: number[] }> {
  const t0 = process.hrtime.bigint();
  await fn();
  const first = Number(process.hrtime.bigint() - t0) / 1e9;
  return { first, warm: await timeRuns(fn, runs, warmup) };
}

/** A peer tool's figure that was not measured in this process: printed as quoted, with where it comes from. */
export function quoted(figure: string, source: string): string {
  return `quoted: ${figure} (${source})`;
}

export function note(text: string): void {
  if (!jsonOutput) process.stdout.write(`${text}\n`);
}
