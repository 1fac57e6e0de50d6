/**
 * Shared benchmark plumbing: repeat a case, report the median and spread, track peak RSS, and print either a
 * table or (with --json) one JSON object per line. Benchmarks are run with `npm run bench -- <name> [--json]`.
 */
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

/** Peak resident set size seen so far, in MB (sampled every 20 ms and at each measurement). */
export function peakRssMb(): number {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  return peakRss / 1048576;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs `fn` `runs` times (after `warmup` unmeasured runs) and returns the seconds each run took.
 * `fn` may be async.
 */
export async function timeRuns(fn: () => unknown, runs = 7, warmup = 2): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
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
  return out;
}

/** Formats a rate with k/M suffix. */
export function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(1);
}

/** Emits one result: a JSON line with --json, otherwise a human-readable line. */
export function report(result: Record<string, unknown>, human: string): void {
  if (jsonOutput) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(`${human}\n`);
}

export function note(text: string): void {
  if (!jsonOutput) process.stdout.write(`${text}\n`);
}
