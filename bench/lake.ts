/**
 * `npm run bench -- lake [--json] [--devices 20] [--days 30] [--per-day 2] [--runs 20]`
 *
 * The Parquet data lake (issue 14) over a synthetic fleet built from a real CANedge log (the in-repo
 * 2F6913DB/00000004/00000001.MF4, GNSS messages on CAN2): copies with their start time moved to each device's day
 * and split, and their serial number replaced by the device's (the bytes of the log are otherwise the real ones).
 * Measured in this process, one after the other:
 * - `lake write` of the whole fleet: MB of log per second and per CPU-second (the pipeline is single-threaded:
 *   MB per CPU-second is the per-core figure; target ≥ 50), peak RSS;
 * - files per GB of log in the per-split layout (CSS's: one file per log × message × day) and after `lake compact`;
 * - DuckDB over the lake (p50/p95 of `--runs` runs, before and after compaction): an hourly panel over a month of
 *   one device, and a daily panel over the month of the whole fleet (target p95 < 500 ms) — beside `sigflow
 *   decode` of the same range (the logs decoded on demand, as the CANedge Grafana backend does), measured once.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { FolderLakeStore, type LakeStore } from '../src/formats/lake/index.js';
import { exitWhenWritten, writeFileAtomic } from '../src/io/index.js';
import { compactLake, LakeQuery, writeLake } from '../src/pipelines/lake/index.js';
import { decoderConfigFrom, expandInputs, runDecodeJob } from '../src/pipelines/logdecode/index.js';
import { repoRoot } from '../test/harness/paths.js';
import { arg, kernelPeakRssMb, median, note, report } from './_harness.js';

const DEVICES = Number(arg('devices', '20'));
const DAYS = Number(arg('days', '30'));
const PER_DAY = Number(arg('per-day', '2'));
const RUNS = Number(arg('runs', '20'));
const SAMPLE_DIR = join(repoRoot, 'test', 'fixtures', 'canedge', 'serve', 'LOG');
const SAMPLE = join(SAMPLE_DIR, '2F6913DB', '00000004', '00000001.MF4');
const DBC = join(SAMPLE_DIR, 'canmod-gps.dbc');
/** The month: from 2026-03-01 UTC. */
const T0 = BigInt(Date.UTC(2026, 2, 1)) * 1_000_000n;
const DAY_NS = 86_400_000_000_000n;

function deviceId(d: number): string {
  return (0x10000000 + d * 0x01010101).toString(16).toUpperCase().padStart(8, '0');
}

/** The fleet's logs: the sample with its HD start time (offset 136) and serial number replaced. */
function buildFleet(root: string): number {
  const sample = readFileSync(SAMPLE);
  // internal invariant: the sample is a CANedge MF4 with its HD block at 64
  if (sample.toString('latin1', 64, 68) !== '##HD') throw new Error('the sample has no HD block at 64');
  let bytes = 0;
  for (let d = 0; d < DEVICES; d++) {
    const id = deviceId(d);
    const text = sample.toString('latin1').split('2F6913DB').join(id);
    const withId = Buffer.from(text, 'latin1');
    for (let day = 0; day < DAYS; day++)
      for (let k = 0; k < PER_DAY; k++) {
        const b = Buffer.from(withId);
        b.writeBigUInt64LE(
          T0 + BigInt(day) * DAY_NS + BigInt(k) * 3_600_000_000_000n * 3n + BigInt(d) * 60_000_000_000n,
          136,
        );
        const dir = join(root, id, String(day + 1).padStart(8, '0'));
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, `${String(k + 1).padStart(8, '0')}.MF4`), b);
        bytes += b.length;
      }
  }
  return bytes;
}

/**
 * The filesystem's share: the lake's objects (same folders, same sizes) written again the way the store writes
 * them (writeFileAtomic — temporary file, fdatasync, rename — for tables and ledger records alike) into a
 * scratch folder, with nothing to compute — the CPU-seconds that creating this many files costs here, whatever
 * the encoder.
 */
async function fileFloorCpuS(lake: FolderLakeStore, scratch: string): Promise<{ files: number; cpuS: number }> {
  const objects: { key: string; size: number }[] = [];
  for await (const o of lake.list('')) objects.push({ key: o.key, size: statSync(join(lake.folder, o.key)).size });
  const made = new Set<string>();
  const cpu0 = process.cpuUsage();
  for (const o of objects) {
    const path = join(scratch, o.key);
    const dir = dirname(path);
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    // tables and the ledger's records alike (the store's putText syncs records before their rename too)
    await writeFileAtomic(path, Buffer.alloc(o.size, 1));
  }
  const cpu = process.cpuUsage(cpu0);
  return { files: objects.length, cpuS: (cpu.user + cpu.system) / 1e6 };
}

async function countTables(store: LakeStore): Promise<number> {
  let n = 0;
  for await (const o of store.list(''))
    if (/^[0-9A-F]{8}\/CAN[^/]*\/\d{4}\/\d{2}\/\d{2}\/[^/]+\.parquet$/.test(o.key)) n++;
  return n;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function queryTimes(
  lake: LakeStore,
  device: string,
): Promise<{ device: number[]; fleet: number[]; openMs: number; rows: number[] }> {
  const t0 = performance.now();
  const q = await LakeQuery.open(lake);
  const openMs = performance.now() - t0;
  const from = new Date(Number(T0 / 1_000_000n)).toISOString();
  const to = new Date(Number((T0 + BigInt(DAYS) * DAY_NS) / 1_000_000n)).toISOString();
  const one = `SELECT time_bucket(INTERVAL '1 hour', t) AS h, avg(Speed) AS avg, max(Speed) AS max
    FROM "tbl_${device}_CAN2_gnss_speed" WHERE t >= TIMESTAMPTZ '${from}' AND t < TIMESTAMPTZ '${to}' GROUP BY 1 ORDER BY 1`;
  const fleet = `SELECT device, time_bucket(INTERVAL '1 day', t) AS d, avg(Speed) AS avg, max(Speed) AS max
    FROM CAN2_gnss_speed WHERE t >= TIMESTAMPTZ '${from}' AND t < TIMESTAMPTZ '${to}' GROUP BY ALL ORDER BY ALL`;
  const out = { device: [] as number[], fleet: [] as number[], openMs, rows: [0, 0] };
  try {
    for (let i = 0; i < RUNS; i++) {
      let s = performance.now();
      out.rows[0] = (await q.query(one)).rows.length;
      out.device.push(performance.now() - s);
      s = performance.now();
      out.rows[1] = (await q.query(fleet)).rows.length;
      out.fleet.push(performance.now() - s);
    }
  } finally {
    q.close();
  }
  return out;
}

/** `sigflow decode` (the library job) of the gnss_speed values of some logs, into a counting sink. */
async function decodeMs(paths: string[]): Promise<number> {
  const { files } = await expandInputs(paths);
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      bytes += chunk.length;
      cb();
    },
  });
  const t0 = performance.now();
  await runDecodeJob(
    { inputs: files, config: decoderConfigFrom({ dbc: [DBC], channel: [], signals: 'gnss_speed' }), format: 'ndjson' },
    { stream: sink },
  );
  // internal invariant: the decode produced output
  if (bytes === 0) throw new Error('decode produced nothing');
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'sigflow-bench-lake-'));
  try {
    const root = join(work, 'LOG');
    const logBytes = buildFleet(root);
    const gb = logBytes / 1e9;
    const { files } = await expandInputs([root]);
    const lake = new FolderLakeStore(join(work, 'lake'));
    const config = decoderConfigFrom({ dbc: [DBC], channel: [] });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const w = await writeLake({ inputs: files, config, lake });
    const writeS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const perSplit = await countTables(lake);
    const floor = await fileFloorCpuS(lake, join(work, 'floor'));
    rmSync(join(work, 'floor'), { recursive: true, force: true });
    const device = deviceId(0);
    const before = await queryTimes(lake, device);
    const c0 = performance.now();
    const compact = await compactLake({ lake });
    const compactS = (performance.now() - c0) / 1000;
    const compacted = await countTables(lake);
    const after = await queryTimes(lake, device);
    const decodeOne = await decodeMs([join(root, device)]);
    const decodeFleet = await decodeMs([root]);
    const r = {
      bench: 'lake',
      devices: DEVICES,
      days: DAYS,
      logs: files.length,
      log_mb: Number((logBytes / 1e6).toFixed(1)),
      rows: w.rows,
      write_mb_per_s: Number((logBytes / 1e6 / writeS).toFixed(1)),
      write_mb_per_cpu_s: Number((logBytes / 1e6 / cpuS).toFixed(1)),
      write_target_mb_per_cpu_s: 50,
      // the same files written with nothing to compute: what creating them costs on this filesystem
      file_floor: {
        files: floor.files,
        cpu_s: Number(floor.cpuS.toFixed(2)),
        max_mb_per_cpu_s: Number((logBytes / 1e6 / floor.cpuS).toFixed(1)),
        share_of_write: Number((floor.cpuS / cpuS).toFixed(2)),
      },
      cores: cpus().length,
      files_per_gb_per_split: Math.round(perSplit / gb),
      files_per_gb_compacted: Math.round(compacted / gb),
      compact_s: Number(compactS.toFixed(1)),
      compact_rows: compact.rows,
      query_open_ms: { per_split: Math.round(before.openMs), compacted: Math.round(after.openMs) },
      device_month_ms: {
        per_split: { p50: Math.round(median(before.device)), p95: Math.round(percentile(before.device, 95)) },
        compacted: { p50: Math.round(median(after.device)), p95: Math.round(percentile(after.device, 95)) },
        decode: Math.round(decodeOne),
      },
      fleet_month_ms: {
        per_split: { p50: Math.round(median(before.fleet)), p95: Math.round(percentile(before.fleet, 95)) },
        compacted: { p50: Math.round(median(after.fleet)), p95: Math.round(percentile(after.fleet, 95)) },
        decode: Math.round(decodeFleet),
        target_p95: 500,
      },
      peak_rss_mb: Math.round(kernelPeakRssMb()),
    };
    report(
      r,
      [
        `lake: ${DEVICES} devices × ${DAYS} days × ${PER_DAY} logs = ${files.length} logs, ${r.log_mb} MB (copies of a real CANedge GNSS log), ${w.rows} rows`,
        `  lake write        ${r.write_mb_per_s} MB/s wall, ${r.write_mb_per_cpu_s} MB per CPU-second (per core; target ≥ 50: ${r.write_mb_per_cpu_s >= 50 ? 'met' : 'NOT met'})`,
        `  file creation     the lake's ${floor.files} objects written again with nothing to compute (temporary file, fdatasync, rename): ${r.file_floor.cpu_s} CPU-s = ${Math.round(r.file_floor.share_of_write * 100)} % of the write; no encoder can beat ${r.file_floor.max_mb_per_cpu_s} MB per CPU-second on this filesystem with this layout`,
        `  files per GB      ${r.files_per_gb_per_split} per-split (CSS's layout) → ${r.files_per_gb_compacted} compacted (${compactS.toFixed(1)} s, ${compact.rows} rows kept)`,
        `  device month      per-split p50 ${r.device_month_ms.per_split.p50} / p95 ${r.device_month_ms.per_split.p95} ms; compacted p50 ${r.device_month_ms.compacted.p50} / p95 ${r.device_month_ms.compacted.p95} ms; sigflow decode of the same logs ${r.device_month_ms.decode} ms (${before.rows[0]} rows)`,
        `  fleet month       per-split p50 ${r.fleet_month_ms.per_split.p50} / p95 ${r.fleet_month_ms.per_split.p95} ms; compacted p50 ${r.fleet_month_ms.compacted.p50} / p95 ${r.fleet_month_ms.compacted.p95} ms (target p95 < 500: ${r.fleet_month_ms.compacted.p95 < 500 ? 'met' : 'NOT met'}); sigflow decode ${r.fleet_month_ms.decode} ms (${before.rows[1]} rows)`,
        `  views opened in   ${r.query_open_ms.per_split} ms per-split, ${r.query_open_ms.compacted} ms compacted (a listing of the lake); peak RSS ${r.peak_rss_mb} MB`,
      ].join('\n'),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (!readFileSync(SAMPLE).length) note('the sample log is missing');
await main();
// not by letting the event loop run dry (Node 20 can hang there: see exitWhenWritten)
await exitWhenWritten();
