/**
 * `sigflow serve`: a 5-signal Grafana panel over one device-day of CANedge logs.
 *   The day is built from the 2F6913DB sample (64 s of CAN2 GNSS/IMU + CAN1 UDS, 215 kB): `--files N` copies
 *   (default 675) whose MDF header start time is moved so they follow each other every 86400/N s — 24 hours, in
 *   sessions of 20 splits. The server runs as `./bin/sigflow serve` in a child process (its own event loop and
 *   peak RSS, as users run it); the clients are fetch() calls from this process.
 *   Cold: the panel (Latitude, Longitude, Speed, Altitude, Satellites over the whole day, maxDataPoints 1000) as
 *   the first query of a fresh server (`--cold-runs`, default 3), with the default worker threads and with
 *   `--workers 0` (decoding on the event loop: MB/s of log per core).
 *   Warm: the same panel again, at 1 client (100 requests) and at 20 concurrent clients (10 requests each):
 *   latency p50/p95/p99.
 *   Memory: VmRSS of the server after 100, 500, 1000 and 2000 queries over changing ranges (zooms): bounded by the
 *   cache (`--cache`, default 256MiB) plus a constant, not by the number of queries; and its peak (VmHWM).
 *   Reference in the same run: `sigflow decode` of the same files, CAN2 with the same DBC, NDJSON to /dev/null.
 * `npm run bench -- serve [--json] [--files N] [--cold-runs N]`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitWhenWritten } from '../src/io/index.js';
import { fixturesDir, repoRoot } from '../test/harness/paths.js';
import { arg, median, note, report } from './_harness.js';

const FILES = Number(arg('files', '675'));
const COLD_RUNS = Number(arg('cold-runs', '3'));
const CACHE = arg('cache', '256MiB') as string;
const SAMPLE = join(fixturesDir, 'canedge', 'serve', 'LOG', '2F6913DB', '00000004', '00000001.MF4');
const DBC = join(fixturesDir, 'canedge', 'serve', 'LOG', 'canmod-gps.dbc');
const SIGNALS = '(Latitude|Longitude|Speed|Altitude|Satellites)';
const bin = join(repoRoot, 'bin', 'sigflow');

function buildDay(root: string): { bytes: number; fromMs: number; toMs: number } {
  const sample = readFileSync(SAMPLE);
  const hdStart = sample.readBigUInt64LE(136); // HD block at 64, its start_time_ns after 24 header + 6 links
  const step = 86_400_000_000_000n / BigInt(FILES);
  const day0 = 1_641_427_200_000_000_000n; // 2022-01-06T00:00:00Z, the sample's day
  for (let i = 0; i < FILES; i++) {
    const session = 1 + Math.floor(i / 20);
    const split = 1 + (i % 20);
    const dir = join(root, '2F6913DB', String(session).padStart(8, '0'));
    mkdirSync(dir, { recursive: true });
    const b = Buffer.from(sample);
    b.writeBigUInt64LE(day0 + step * BigInt(i), 136);
    writeFileSync(join(dir, `${String(split).padStart(8, '0')}.MF4`), b);
  }
  copyFileSync(DBC, join(root, 'canmod-gps.dbc'));
  const firstOffsetMs = Number(1_641_469_577_024n - hdStart / 1_000_000n);
  return {
    bytes: sample.length * FILES,
    fromMs: Number(day0 / 1_000_000n),
    toMs: Number(day0 / 1_000_000n) + 86_400_000 + firstOffsetMs + 70_000,
  };
}

function vm(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function startServer(
  root: string,
  cacheDir: string,
  extra: string[] = [],
): Promise<{ child: ChildProcess; url: string; startMs: number }> {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      bin,
      'serve',
      root,
      '--port',
      '0',
      '--poll',
      '0',
      '--limit',
      '4GiB',
      '--cache',
      CACHE,
      '--loglevel',
      'warn',
      ...extra,
    ],
    {
      env: { ...process.env, SIGFLOW_CACHE_DIR: cacheDir },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /listening on (http:\/\/[^\s,]+)/.exec(err);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`sigflow serve exited ${code}: ${err}`)));
  });
  return { child, url, startMs: performance.now() - t0 };
}

async function stop(child: ChildProcess): Promise<void> {
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

function panel(fromMs: number, toMs: number) {
  return JSON.stringify({
    range: { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() },
    intervalMs: Math.max(1, Math.floor((toMs - fromMs) / 1000)),
    maxDataPoints: 1000,
    targets: [
      {
        refId: 'A',
        target: JSON.stringify({ device: '2F6913DB', itf: 'CAN', chn: 'CH2', db: 'canmod-gps', signal: SIGNALS }),
      },
    ],
  });
}

/**
 * One /query; the latency is until the last byte arrived. The answer is parsed and checked (5 series with points)
 * after the clock stops: parsing 100 kB of JSON is the client's cost, not the server's, and on this 2-core machine
 * 20 clients parsing at once would be measured as server latency.
 */
async function query(url: string, body: string, same?: Buffer): Promise<number> {
  const t0 = performance.now();
  const { status, bytes } = await post(url, body);
  const ms = performance.now() - t0;
  // warm: the answer must be byte for byte the first one (a cheap check: parsing 100 kB of JSON per answer would
  // hold this process's event loop while other clients' answers arrive, and be measured as their latency)
  if (same) {
    if (status !== 200 || !bytes.equals(same))
      throw new Error(`warm answer differs: ${status} ${bytes.subarray(0, 200)}`);
    return ms;
  }
  const text = bytes.toString('utf8');
  if (status !== 200) throw new Error(`query failed: ${status} ${text.slice(0, 300)}`);
  const res = JSON.parse(text) as { target: string; datapoints: unknown[] }[];
  const pts = res.reduce((n, s) => n + s.datapoints.length, 0);
  if (res.length !== 5 || pts === 0) throw new Error(`unexpected answer: ${text.slice(0, 300)}`);
  return ms;
}

/**
 * POST /query with node:http over kept-alive connections (one per client, as Grafana's proxy keeps them): fetch()
 * costs the client ~1 ms of CPU per request, which on 2 shared cores would be measured as server latency.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
function post(url: string, body: string): Promise<{ status: number; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/query`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'sigflow-bench-serve-'));
  try {
    const root = join(tmp, 'LOG');
    const day = buildDay(root);
    const mb = day.bytes / 1e6;
    note(
      `device-day: ${FILES} files, ${mb.toFixed(1)} MB, ${new Date(day.fromMs).toISOString()} … ${new Date(day.toMs).toISOString()}`,
    );
    const body = panel(day.fromMs, day.toMs);

    // reference: sigflow decode of the same files (CAN2, the same DBC), output to /dev/null
    const dec: number[] = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      const t0 = performance.now();
      const r = spawnSync(
        process.execPath,
        [bin, 'decode', root, '--channel', `CAN2=${join(root, 'canmod-gps.dbc')}`, '--output', '/dev/null'],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      if (r.status !== 0) throw new Error(`sigflow decode failed: ${r.stderr}`);
      dec.push((performance.now() - t0) / 1000);
    }
    const decS = median(dec);
    report(
      {
        bench: 'serve',
        case: 'reference: sigflow decode',
        median_s: +decS.toFixed(3),
        mb_s: +(mb / decS).toFixed(1),
        runs_s: dec.map((x) => +x.toFixed(2)),
      },
      `reference: sigflow decode (CAN2, NDJSON → /dev/null)  ${decS.toFixed(2)} s = ${(mb / decS).toFixed(1)} MB/s  (runs ${dec.map((x) => x.toFixed(2)).join(', ')} s)`,
    );

    // cold: a fresh server per run (the index is built by the first start and kept in the cache folder)
    const cacheDir = join(tmp, 'cache');
    for (const [label, extra] of [
      ['event loop, --workers 0', ['--workers', '0']],
      ['worker threads (default)', []],
    ] as const) {
      const cold: number[] = [];
      const startMs: number[] = [];
      for (let i = 0; i < COLD_RUNS; i++) {
        const s = await startServer(root, cacheDir, [...extra]);
        startMs.push(s.startMs);
        cold.push(await query(s.url, body));
        await stop(s.child);
      }
      const coldMs = median(cold);
      report(
        {
          bench: 'serve',
          case: `cold panel, ${label}`,
          median_ms: +coldMs.toFixed(1),
          mb_s: +(mb / (coldMs / 1000)).toFixed(1),
          runs_ms: cold.map((x) => +x.toFixed(0)),
          start_ms: startMs.map((x) => +x.toFixed(0)),
        },
        `cold panel (5 signals, whole day, fresh server), ${label.padEnd(26)} ${coldMs.toFixed(0)} ms = ${(mb / (coldMs / 1000)).toFixed(1)} MB/s of log  (runs ${cold.map((x) => x.toFixed(0)).join(', ')} ms; server start ${startMs.map((x) => x.toFixed(0)).join(', ')} ms, the first indexing)`,
      );
    }

    // warm, memory
    const s = await startServer(root, cacheDir);
    try {
      await query(s.url, body);
      const first = (await post(s.url, body)).bytes;
      const one: number[] = [];
      for (let i = 0; i < 100; i++) one.push(await query(s.url, body, first));
      const many: number[] = [];
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          for (let i = 0; i < 10; i++) many.push(await query(s.url, body, first));
        }),
      );
      for (const [name, xs, n] of [
        ['warm panel, 1 client', one, 1],
        ['warm panel, 20 concurrent clients', many, 20],
      ] as const) {
        report(
          {
            bench: 'serve',
            case: name,
            clients: n,
            requests: xs.length,
            p50_ms: +pct(xs, 50).toFixed(2),
            p95_ms: +pct(xs, 95).toFixed(2),
            p99_ms: +pct(xs, 99).toFixed(2),
          },
          `${name.padEnd(36)} p50 ${pct(xs, 50).toFixed(1)} ms  p95 ${pct(xs, 95).toFixed(1)} ms  p99 ${pct(xs, 99).toFixed(1)} ms  (${xs.length} requests)`,
        );
      }
      // memory: zooms over the day (other ranges, same columns) — RSS must not grow with the number of queries
      const rss: [number, number][] = [];
      const heap: number[] = [];
      let done = 0;
      for (const upto of [100, 500, 1000, 2000]) {
        for (; done < upto; done++) {
          const w = 3_600_000 * (1 + (done % 6));
          const from = day.fromMs + ((done * 977_000) % (86_400_000 - w));
          await query(s.url, panel(from, from + w)).catch(() => 0);
        }
        rss.push([upto, vm(s.child.pid as number, 'VmRSS')]);
        const st = (await (await fetch(`${s.url}/api/stats`)).json()) as { memory_mb: { heap_used: number } };
        heap.push(st.memory_mb.heap_used);
      }
      const hwm = vm(s.child.pid as number, 'VmHWM');
      const stats = (await (await fetch(`${s.url}/api/stats`)).json()) as { engine: { cache: { bytes: number } } };
      report(
        {
          bench: 'serve',
          case: 'server memory',
          rss_mb_after: Object.fromEntries(rss.map(([n, r]) => [n, +r.toFixed(1)])),
          heap_used_mb_after: Object.fromEntries(rss.map(([n], i) => [n, heap[i]])),
          peak_rss_mb: +hwm.toFixed(1),
          cache_mb: +(stats.engine.cache.bytes / 1048576).toFixed(1),
          cache_limit: CACHE,
        },
        `server memory: VmRSS ${rss.map(([n, r]) => `${r.toFixed(0)} MB after ${n}`).join(', ')} queries (main heap in use ${heap.map((h) => h.toFixed(0)).join(', ')} MB); peak ${hwm.toFixed(0)} MB; column cache holds ${(stats.engine.cache.bytes / 1048576).toFixed(1)} MB (limit ${CACHE})`,
      );
    } finally {
      await stop(s.child);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
// not by letting the event loop run dry (Node 20 can hang there: see exitWhenWritten)
await exitWhenWritten();
