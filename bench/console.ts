/**
 * `npm run bench -- console [--json] [--rate 10000] [--window 10] [--rounds 3] [--loads 20]`
 *
 * The web console's cost (issue 15), on `sigflow run` (the compiled CLI) ingesting ~`rate` records/s from a
 * replay source (a real J1939 log played faster, retimed, looped) into the store sink:
 * - CPU of sigflow (the supervisor and its unit processes, from /proc) over `window` seconds with no page open and
 *   with one console page open in Debian's Chromium (the status view: a status event every second; and the signals
 *   view with its live tail: a rows request every second), rounds alternating; the overhead is the median over
 *   the rounds of the CPU added, in % of one core (target < 5 %), and relative to the run without a page;
 * - page load over 127.0.0.1, with the run nearly idle (the log at its own pace) and at `rate`: navigation start →
 *   load event of /console/ in a fresh browser context (cold) and
 *   reloaded (warm), p50/p95 of `loads` (target < 300 ms), and until the unit table shows the first status.
 * Chromium's own CPU is not sigflow's and is not counted.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitWhenWritten } from '../src/io/index.js';
import { chromiumPath, launchBrowser } from '../test/harness/browser.js';
import { Daemon } from '../test/harness/daemon.js';
import { fixturesDir } from '../test/harness/paths.js';
import { arg, median, note, report } from './_harness.js';

const RATE = Number(arg('rate', '10000'));
const WINDOW_S = Number(arg('window', '10'));
const ROUNDS = Number(arg('rounds', '3'));
const LOADS = Number(arg('loads', '20'));
const MF4 = join(fixturesDir, 'canedge', '00000001-60B621D9.MF4');
const DBC = join(
  fixturesDir,
  'canedge/dbc/api-examples/examples/data-processing/dbc_files/CSS-Electronics-SAE-J1939-DEMO.dbc',
);
/** Records per second this log gives at speed 1 (measured below, then the speed is scaled to the rate). */
const TICK_MS = 10; // USER_HZ = 100 on Linux

/** CPU time (ms) of a process and all its descendants, from /proc. */
function treeCpuMs(root: number): number {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(name), Number(f[1]));
      cpu.set(Number(name), (Number(f[11]) + Number(f[12])) * TICK_MS);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  for (const [pid, ms] of cpu) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p))
      if (p === root) {
        total += ms;
        break;
      }
  }
  return total;
}

interface Status {
  run: { units: { counters: Record<string, number> }[] } | null;
}

async function records(http: string): Promise<number> {
  const s = (await (await fetch(`${http}/api/console/status`)).json()) as Status;
  return s.run?.units.reduce((n, u) => n + (u.counters.records ?? 0), 0) ?? 0;
}

/** `sigflow run` with `units` replay pipelines (trucks) at `speed` each, into the store. */
function start(dir: string, speed: number, units: number): Daemon {
  const cfg = join(dir, `run-${speed}-${units}.yaml`);
  rmSync(join(dir, 'data'), { recursive: true, force: true });
  const pipelines = Array.from(
    { length: units },
    (_, i) => `  - name: truck${i + 1}
    source: { type: replay, paths: [${MF4}], speed: ${speed}, loop: true, retime: true }
    decode: { dbc: ${DBC}, mapping: message }`,
  ).join('\n');
  writeFileSync(
    cfg,
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db }
pipelines:
${pipelines}
server: { listen: "127.0.0.1:0" }
logging: { stats_interval: 0 }
`,
  );
  return Daemon.start(cfg, {});
}

/** Records/s and sigflow's CPU (fraction of one core) over `s` seconds. */
async function measure(d: Daemon, s: number): Promise<{ rate: number; cpu: number }> {
  const pid = d.proc.pid as number;
  const r0 = await records(d.http as string);
  const c0 = treeCpuMs(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, s * 1000));
  const dt = (performance.now() - t0) / 1000;
  return { rate: ((await records(d.http as string)) - r0) / dt, cpu: (treeCpuMs(pid) - c0) / 1000 / dt };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

interface Loads {
  cold: number[];
  warm: number[];
  /** Navigation start → the page's HTML received (cold). */
  html: number[];
  firstStatus: number[];
}

/** Page loads of /console/: a fresh browser context each time (nothing cached), then reloads of one page. */
async function pageLoads(browser: import('playwright-core').Browser, http: string): Promise<Loads> {
  const timing = async (page: import('playwright-core').Page) =>
    (await page.evaluate(
      "(() => { const n = performance.getEntriesByType('navigation')[0]; return [n.loadEventEnd - n.startTime, n.responseEnd - n.startTime]; })()",
    )) as [number, number];
  const out: Loads = { cold: [], warm: [], html: [], firstStatus: [] };
  for (let i = 0; i <= LOADS; i++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const t0 = performance.now();
    await page.goto(`${http}/console/`);
    const [load, html] = await timing(page);
    await page.locator('tr[data-unit]').first().waitFor();
    // (the first load is a warm-up: the console's routes are built by their first request)
    if (i > 0) {
      out.cold.push(load);
      out.html.push(html);
      out.firstStatus.push(performance.now() - t0);
    }
    await ctx.close();
  }
  const page = await browser.newPage();
  await page.goto(`${http}/console/`);
  for (let i = 0; i < LOADS; i++) {
    await page.reload();
    out.warm.push((await timing(page))[0]);
  }
  await page.close();
  return out;
}

const p50p95 = (xs: number[]) => ({ p50: Math.round(median(xs)), p95: Math.round(percentile(xs, 95)) });

async function main(): Promise<void> {
  if (!chromiumPath()) {
    note('chromium is not installed (apt-get install chromium): the console bench needs a browser');
    return;
  }
  const browser = await launchBrowser();
  if (!browser) return;
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-bench-console-'));
  try {
    // the log's own rate at speed 1, then several trucks at the speed that gives RATE in all (a replay unit paces
    // itself up to a few thousand records/s)
    let d = start(dir, 1, 1);
    await d.until('the HTTP endpoint', () => d.http !== null);
    await d.until('records', async () => (await records(d.http as string)) > 0);
    const base = (await measure(d, 5)).rate;
    const idle = await pageLoads(browser, d.http as string);
    await d.stop('SIGTERM');
    const units = Math.max(1, Math.ceil(RATE / 2500));
    let speed = Math.max(1, Math.round(RATE / units / base));
    for (let attempt = 0; ; attempt++) {
      d = start(dir, speed, units);
      await d.until('the HTTP endpoint', () => d.http !== null);
      await d.until('records', async () => (await records(d.http as string)) > 0);
      await new Promise((r) => setTimeout(r, 2000));
      const got = (await measure(d, 5)).rate;
      if (got >= 0.9 * RATE || attempt === 2) break;
      await d.stop('SIGTERM');
      speed = Math.round((speed * RATE) / Math.max(got, 1));
    }
    const http = d.http as string;
    const rounds: { rate: number; none: number; status: number; live: number }[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const none = await measure(d, WINDOW_S);
      const page = await browser.newPage();
      await page.goto(`${http}/console/status`);
      await page.locator('tr[data-unit]').first().waitFor();
      const status = await measure(d, WINDOW_S);
      await page.goto(`${http}/console/signals?src=records&m=EEC1&f=EngineSpeed&range=5m&live=1`);
      await page.locator('.plot[data-points]').waitFor();
      const live = await measure(d, WINDOW_S);
      await page.close();
      rounds.push({ rate: none.rate, none: none.cpu, status: status.cpu, live: live.cpu });
    }
    const busy = await pageLoads(browser, http);
    await d.stop('SIGTERM');
    /** Added CPU, in % of one core (what the target means), and relative to the run without a page. */
    const overhead = (k: 'status' | 'live') => median(rounds.map((r) => (r[k] - r.none) * 100));
    const relative = (k: 'status' | 'live') => median(rounds.map((r) => (r[k] / r.none - 1) * 100));
    const r = {
      bench: 'console',
      records_per_s: Math.round(median(rounds.map((x) => x.rate))),
      replay_speed: speed,
      replay_units: units,
      cpu_no_page: Number(median(rounds.map((x) => x.none)).toFixed(3)),
      cpu_status_page: Number(median(rounds.map((x) => x.status)).toFixed(3)),
      cpu_signals_live_page: Number(median(rounds.map((x) => x.live)).toFixed(3)),
      overhead_status_pct_of_core: Number(overhead('status').toFixed(1)),
      overhead_signals_live_pct_of_core: Number(overhead('live').toFixed(1)),
      overhead_status_relative_pct: Number(relative('status').toFixed(1)),
      overhead_signals_live_relative_pct: Number(relative('live').toFixed(1)),
      overhead_target_pct: 5,
      load_idle_ms: { cold: p50p95(idle.cold), warm: p50p95(idle.warm), html: p50p95(idle.html) },
      load_busy_ms: { cold: p50p95(busy.cold), warm: p50p95(busy.warm), html: p50p95(busy.html) },
      first_status_ms: { idle: p50p95(idle.firstStatus), busy: p50p95(busy.firstStatus) },
      load_target_ms: 300,
      rounds,
    };
    const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
    const sign = (x: number) => `${x >= 0 ? '+' : ''}${x}`;
    report(
      r,
      [
        `console: sigflow run ingesting ${r.records_per_s} records/s (${units} replay units ×${speed}), ${ROUNDS} rounds of ${WINDOW_S} s`,
        `  sigflow CPU   no page ${(r.cpu_no_page * 100).toFixed(1)} % of a core; status page open ${(r.cpu_status_page * 100).toFixed(1)} % (${sign(r.overhead_status_pct_of_core)} points, ${sign(r.overhead_status_relative_pct)} %); signals page with live tail ${(r.cpu_signals_live_page * 100).toFixed(1)} % (${sign(r.overhead_signals_live_pct_of_core)} points, ${sign(r.overhead_signals_live_relative_pct)} %)`,
        `                added CPU < 5 % of a core: ${met(Math.max(r.overhead_status_pct_of_core, r.overhead_signals_live_pct_of_core) < 5)}`,
        `  page load     idle run (${Math.round(base)} records/s): cold p50 ${r.load_idle_ms.cold.p50} / p95 ${r.load_idle_ms.cold.p95} ms (HTML in ${r.load_idle_ms.html.p50}), warm p50 ${r.load_idle_ms.warm.p50} / p95 ${r.load_idle_ms.warm.p95} ms (target < 300: ${met(r.load_idle_ms.cold.p95 < 300)})`,
        `                at ${r.records_per_s} records/s: cold p50 ${r.load_busy_ms.cold.p50} / p95 ${r.load_busy_ms.cold.p95} ms (HTML in ${r.load_busy_ms.html.p50}), warm p50 ${r.load_busy_ms.warm.p50} / p95 ${r.load_busy_ms.warm.p95} ms (target < 300: ${met(r.load_busy_ms.cold.p95 < 300)})`,
        `  units shown   (first status event) idle p50 ${r.first_status_ms.idle.p50} / p95 ${r.first_status_ms.idle.p95} ms, busy p50 ${r.first_status_ms.busy.p50} / p95 ${r.first_status_ms.busy.p95} ms`,
      ].join('\n'),
    );
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
// not by letting the event loop run dry (Node 20 can hang there: see exitWhenWritten)
await exitWhenWritten();
