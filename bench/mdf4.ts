/**
 * MDF4 bus-frame extraction benchmark: `npm run bench -- mdf4 [--json] [--mb 200] [--runs 5]`.
 *
 * Cases: every .MF4 of the sample corpus (../shared/data/canedge, else the in-repo fixtures), and a synthetic
 * log of ≥ 200 MB built in os.tmpdir() by repeating the records of a real FW 01.07 log (timestamps shifted per
 * repetition so each channel group stays in time order), streamed to disk and removed at the end.
 * Reports medians of wall MB/s, MB per CPU-second, frames/s, and peak RSS, beside asammdf's open+sort reference of
 * ~30 MB/s. The synthetic log is extracted in a child process of its own, so its peak RSS (the kernel's maxRSS)
 * is that case's alone. The `cli:` cases run `sigflow frames` / `sigflow decode` (NDJSON to /dev/null by -o and by
 * stdout, Parquet to a temporary file) over the corpus and the synthetic log, each run a process with its own peak RSS.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flattenChannels, openMdf4, readBusFrames } from '../src/formats/mdf4/index.js';
import type { FileSource } from '../src/io/index.js';
import { exitWhenWritten } from '../src/io/index.js';
import { buildDecoderConfig, type DecoderConfig } from '../src/pipelines/logdecode/dbcset.js';
import type { LogInput } from '../src/pipelines/logdecode/inputs.js';
import { runLogPipeline } from '../src/pipelines/logdecode/pipeline.js';
import { cliArgv, fixturesDir, sharedData } from '../test/harness/paths.js';
import {
  arg,
  childCase,
  fmtRate,
  kernelPeakRssMb,
  median,
  note,
  peakRssMb,
  quoted,
  report,
  requireNonZero,
  runCases,
  timeFirstAndWarm,
} from './_harness.js';

/**
 * asammdf 8.0.0 (C extension) open+extract, measured beside sigflow on this machine class (issue 16): quoted, not
 * measured here (no Python in this process), so never divided into a ratio. The old constant "≈ 30 MB/s" was not
 * a measurement.
 */
export const ASAMMDF_QUOTED = {
  corpus: '59–61 MB/s',
  synthetic: '~10 MB/s on the 200 MB log',
  source: 'issue 16, asammdf 8.0.0 measured alternating with sigflow',
};

/** Extracts every bus frame of a file; returns the frame count. */
export async function extractFrames(path: string): Promise<number> {
  const mdf = await openMdf4(path);
  let n = 0;
  try {
    for await (const b of readBusFrames(mdf)) n += b.count;
  } finally {
    await mdf.close();
  }
  return n;
}

function findMf4(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.mf4$/i.test(e.name)) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

/** Every log file (MF4/MFC/MFE/MFM) under a folder. */
function findLogs(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(mf4|mfc|mfe|mfm)$/i.test(e.name)) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** The sample logs: the shared CANedge corpus (.MF4 only), else the in-repo fixtures. */
export function sampleLogs(): string[] {
  const shared = sharedData ? findMf4(join(sharedData, 'canedge')) : [];
  return shared.length ? shared : findMf4(join(fixturesDir, 'mdf4'));
}

/**
 * Writes a log of at least `targetBytes` to `path` by repeating the records of `template` (an unfinalised,
 * unsorted device log whose last DT runs to end of file; record ids of 1 byte; fixed-size records), shifting the
 * master (uint48 µs or float64) of every record by the template's duration per repetition. Streams to disk.
 */
export async function buildSyntheticLog(
  template: string,
  path: string,
  targetBytes: number,
): Promise<{ bytes: number; reps: number }> {
  const mdf = await openMdf4(template);
  const src = mdf.source as FileSource;
  try {
    if (mdf.finalized || mdf.groups.length !== 1 || mdf.groups[0].recIdSize !== 1)
      throw new Error(`${template}: not an unfinalised single-DG device log`);
    const dg = mdf.groups[0];
    const dataStart = dg.dataLink + 24;
    const data = new Uint8Array(src.read(dataStart, src.size - dataStart));
    const header = new Uint8Array(src.read(0, dataStart));
    const size = new Int32Array(256).fill(-1);
    const masterAt = new Int32Array(256).fill(-1);
    const masterKind = new Uint8Array(256); // 1 = uint48 µs, 2 = float64
    let maxT = 0;
    for (const cg of dg.channelGroups) {
      if (cg.isVlsd) continue;
      size[cg.recordId] = cg.dataBytes + cg.invalBytes;
      const m = flattenChannels(cg.channels).find((c) => c.type === 2);
      if (!m) continue;
      masterAt[cg.recordId] = m.byteOffset;
      masterKind[cg.recordId] =
        m.dataType === 0 && m.bitCount === 48 ? 1 : m.dataType === 4 && m.bitCount === 64 ? 2 : 0;
    }
    const dv = new DataView(data.buffer, data.byteOffset, data.length);
    const get = (p: number, k: number) =>
      k === 1 ? dv.getUint32(p, true) + dv.getUint16(p + 4, true) * 2 ** 32 : dv.getFloat64(p, true);
    const set = (p: number, k: number, x: number) => {
      if (k === 1) {
        dv.setUint32(p, x % 2 ** 32, true);
        dv.setUint16(p + 4, Math.floor(x / 2 ** 32), true);
      } else dv.setFloat64(p, x, true);
    };
    // pass 1: duration; record starts
    const starts: number[] = [];
    for (let p = 0; p < data.length; ) {
      const rid = data[p];
      if (size[rid] < 0)
        throw new Error(`${template}: record id ${rid} is VLSD or unknown; pick a template without VLSD records`);
      if (p + 1 + size[rid] > data.length) break;
      if (masterKind[rid]) {
        starts.push(p);
        maxT = Math.max(maxT, get(p + 1 + masterAt[rid], masterKind[rid]));
      }
      p += 1 + size[rid];
    }
    const step = Math.ceil(maxT) + 1;
    const fd = openSync(path, 'w');
    let bytes = 0;
    let reps = 0;
    try {
      writeSync(fd, header);
      bytes += header.length;
      while (bytes < targetBytes) {
        if (reps > 0)
          for (const p of starts) {
            const rid = data[p];
            const at = p + 1 + masterAt[rid];
            set(at, masterKind[rid], get(at, masterKind[rid]) + step);
          }
        writeSync(fd, data);
        bytes += data.length;
        reps++;
      }
    } finally {
      closeSync(fd);
    }
    return { bytes, reps };
  } finally {
    await mdf.close();
  }
}

/**
 * The DBC sets of the decode cases: the J1939 demo DBC, and gnss.dbc (shared corpus, else fixtures). canmod-gps.dbc
 * is not added to gnss.dbc: gnss.dbc defines its frame ids too, and a set refuses an id clash (issue 8).
 */
export function benchDbcs(): { name: string; files: string[] }[] {
  const root =
    sharedData && existsSync(join(sharedData, 'canedge', 'api-examples'))
      ? join(sharedData, 'canedge')
      : join(fixturesDir, 'canedge', 'dbc');
  const ex = join(root, 'api-examples', 'examples');
  return [
    { name: 'j1939', files: [join(ex, 'data-processing', 'dbc_files', 'CSS-Electronics-SAE-J1939-DEMO.dbc')] },
    {
      name: 'gnss',
      files: [join(ex, 'other', 'concatenate-mf4-by-period', 'dbc_files', 'gnss.dbc')],
    },
  ];
}

/** Extraction + DBC decode of the files through the log pipeline (no output formatting); counts. */
export async function extractDecode(
  paths: string[],
  config: DecoderConfig,
): Promise<{ frames: number; decoded: number; values: number }> {
  const inputs: LogInput[] = paths.map((p) => ({
    path: p,
    size: statSync(p).size,
    folderDevice: null,
    session: null,
    split: null,
  }));
  const s = await runLogPipeline(inputs, {
    config,
    onFileError: (_i, e) => {
      throw e;
    },
  });
  return { frames: s.frames, decoded: s.decodedFrames, values: s.values };
}

/**
 * One extraction + decode case (`<label>+decode:<set>`), run in a fresh child process by runCases: first pass and
 * warm median. The synthetic log is a J1939 truck log: only the J1939 set decodes its frames (the gnss set decoded
 * 0 frames there and so measured extraction only); a case that decodes nothing fails.
 */
async function decodeCase(name: string, paths: string[], runs: number, warmup: number): Promise<void> {
  const setName = name.split(':').pop();
  const set = benchDbcs().find((x) => x.name === setName);
  if (!set) throw new Error(`no DBC set ${setName}`);
  const bytes = paths.reduce((a, p) => a + statSync(p).size, 0);
  const config = buildDecoderConfig({ dbc: set.files });
  let r = { frames: 0, decoded: 0, values: 0 };
  const cpu: number[] = [];
  const { first, warm: ts } = await timeFirstAndWarm(
    async () => {
      const c0 = process.cpuUsage();
      r = await extractDecode(paths, config);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1e6);
    },
    runs,
    warmup,
  );
  requireNonZero(name, { 'decoded frames': r.decoded, values: r.values });
  const t = median(ts);
  const ct = median(cpu.slice(-runs));
  report(
    {
      case: name,
      mb: bytes / 1e6,
      mb_per_s: bytes / 1e6 / t,
      first_pass_mb_per_s: bytes / 1e6 / first,
      frames_per_s: r.frames / t,
      cpu_mb_per_s: bytes / 1e6 / ct,
      frames: r.frames,
      decoded_frames: r.decoded,
      values: r.values,
      values_per_s: r.values / t,
    },
    `${name.padEnd(24)}${(bytes / 1e6).toFixed(0)} MB, ${r.frames} frames (${r.decoded} decoded, ${r.values} values): first pass ${(bytes / 1e6 / first).toFixed(1)} MB/s, warm ${(bytes / 1e6 / t).toFixed(1)} MB/s, ${fmtRate(r.frames / t)} frames/s, ${fmtRate(r.values / t)} values/s`,
  );
}

/** Prints the child's kernel peak RSS on stderr at exit (a data: URL module, --import'ed before the CLI). */
const RSS_HOOK = `data:text/javascript,${encodeURIComponent(
  "process.on('exit', () => process.stderr.write('\\nsigflow-bench-maxrss-kb ' + process.resourceUsage().maxRSS + '\\n'));",
)}`;

/**
 * `sigflow decode` / `sigflow frames` end to end, each in its own process (process start, read, decode, output):
 * NDJSON to /dev/null — through `-o` and through stdout redirected to it (`> file`: Node writes stdout on a file
 * synchronously, another code path) — and Parquet to a temporary file, with the child's peak RSS (kernel maxRSS)
 * beside each.
 */
function cliCases(label: string, inputs: string[], bytes: number, runs: number, frames = true): void {
  const [cmd, ...pre] = cliArgv();
  const dbcArgs = benchDbcs().flatMap((s) => s.files.flatMap((f) => ['--dbc', f]));
  const out = join(tmpdir(), `sigflow-bench-${process.pid}.parquet`);
  const toNull = ['-o', '/dev/null', '--no-progress'];
  const variants: [string, string[]][] = [
    ...(frames
      ? ([
          ['cli:frames', ['frames', ...inputs, ...toNull]],
          ['cli:frames>file', ['frames', ...inputs, '--no-progress']],
        ] as [string, string[]][])
      : []),
    ['cli:decode', ['decode', ...inputs, ...dbcArgs, ...toNull]],
    ['cli:decode>file', ['decode', ...inputs, ...dbcArgs, '--no-progress']],
    ['cli:decode:parquet', ['decode', ...inputs, ...dbcArgs, '--format', 'parquet', '-o', out, '--no-progress']],
  ];
  const devNull = openSync('/dev/null', 'w');
  for (const [name, args] of variants) {
    const ts: number[] = [];
    const rss: number[] = [];
    let summary = '';
    let outBytes = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = spawnSync(cmd, ['--import', RSS_HOOK, ...pre, ...args], {
        encoding: 'utf8',
        // `> file`: stdout is /dev/null itself (a character device: written as a file)
        stdio: ['ignore', name.endsWith('>file') ? devNull : 'pipe', 'pipe'],
      });
      ts.push((performance.now() - t0) / 1000);
      if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      summary = lines.filter((l) => /^sigflow (decode|frames): \d+ file/.test(l)).pop() ?? '';
      rss.push(Number(/sigflow-bench-maxrss-kb (\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024);
      if (args.includes('parquet')) {
        outBytes = statSync(out).size;
        rmSync(out, { force: true });
      }
    }
    const t = median(ts);
    const num = (re: RegExp) => Number(re.exec(summary)?.[1] ?? 0);
    const nFrames = num(/(\d+) frames/);
    const values = num(/(\d+) values/);
    const peak = Math.max(...rss);
    const case_ = `${label}${name}`;
    report(
      {
        case: case_,
        mb: bytes / 1e6,
        seconds: t,
        mb_per_s: bytes / 1e6 / t,
        frames_per_s: nFrames / t,
        values_per_s: values / t,
        frames: nFrames,
        values,
        peak_rss_mb: peak,
        ...(outBytes ? { out_mb: outBytes / 1e6, out_bytes_per_value: outBytes / Math.max(1, values) } : {}),
      },
      `${case_.padEnd(30)}${(bytes / 1e6).toFixed(1)} MB, ${nFrames} frames, ${values} values in ${t.toFixed(2)} s (incl. process start): ${(bytes / 1e6 / t).toFixed(1)} MB/s, ${fmtRate(nFrames / t)} frames/s, ${fmtRate(values / t)} values/s, peak RSS ${peak.toFixed(0)} MB${outBytes ? `, ${(outBytes / 1e6).toFixed(1)} MB Parquet (${(outBytes / Math.max(1, values)).toFixed(2)} B/value)` : ''}`,
    );
  }
  closeSync(devNull);
}

async function main(): Promise<void> {
  const runs = Number(arg('runs', '5'));
  const targetMb = Number(arg('mb', '200'));
  note(
    `mdf4 frame extraction (medians; asammdf ${quoted(`${ASAMMDF_QUOTED.corpus} corpus, ${ASAMMDF_QUOTED.synthetic}`, ASAMMDF_QUOTED.source)})`,
  );

  // corpus
  const logs = sampleLogs();
  const totalBytes = logs.reduce((a, p) => a + statSync(p).size, 0);
  let frames = 0;
  const cpu: number[] = [];
  const { first: firstSec, warm: times } = await timeFirstAndWarm(
    async () => {
      frames = 0;
      const c0 = process.cpuUsage();
      for (const p of logs) frames += await extractFrames(p);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1e6);
    },
    runs,
    1,
  );
  requireNonZero('corpus', { frames });
  const tc = median(times);
  const cc = median(cpu.slice(-runs));
  report(
    {
      case: 'corpus',
      files: logs.length,
      mb: totalBytes / 1e6,
      mb_per_s: totalBytes / 1e6 / tc,
      frames_per_s: frames / tc,
      cpu_mb_per_s: totalBytes / 1e6 / cc,
      peak_rss_mb: peakRssMb(),
      first_pass_mb_per_s: totalBytes / 1e6 / firstSec,
      asammdf_quoted: { figure: ASAMMDF_QUOTED.corpus, source: ASAMMDF_QUOTED.source },
    },
    `corpus      ${logs.length} files ${(totalBytes / 1e6).toFixed(1)} MB, ${frames} frames: first pass ${(totalBytes / 1e6 / firstSec).toFixed(1)} MB/s, warm ${(totalBytes / 1e6 / tc).toFixed(1)} MB/s wall (${(totalBytes / 1e6 / cc).toFixed(1)} MB/s per CPU-second), ${fmtRate(frames / tc)} frames/s; asammdf ${quoted(ASAMMDF_QUOTED.corpus, ASAMMDF_QUOTED.source)}; peak RSS ${peakRssMb().toFixed(0)} MB (process so far)`,
  );

  runCases(['corpus+decode:j1939', 'corpus+decode:gnss']);
  const cliDir =
    sharedData && existsSync(join(sharedData, 'canedge')) ? join(sharedData, 'canedge') : join(fixturesDir, 'canedge');
  const cliBytes = findLogs(cliDir).reduce((a, p) => a + statSync(p).size, 0);
  cliCases('', [cliDir], cliBytes, Math.max(1, Math.min(runs, 3)));

  // synthetic ≥ 200 MB from a real FW ≥ 01.07 log
  const template =
    (sharedData && join(sharedData, 'canedge/api-examples/examples/other/asammdf-basics/input/00000001.MF4')) ||
    join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4');
  const tpl = existsSync(template) ? template : join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4');
  const path = join(tmpdir(), `sigflow-mdf4-bench-${process.pid}.MF4`);
  try {
    const t0 = performance.now();
    const { bytes, reps } = await buildSyntheticLog(tpl, path, targetMb * 1e6);
    note(
      `built ${(bytes / 1e6).toFixed(0)} MB synthetic log (${reps} × ${tpl.split('/').pop()}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    // in a child process: its peak RSS is this case's alone
    const child = spawnSync(
      process.execPath,
      [...process.execArgv, process.argv[1], '--extract-child', path, '--runs', String(Math.max(1, Math.min(runs, 5)))],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    const line = child.stdout.trim().split('\n').pop() ?? '';
    if (child.status !== 0 || !line.startsWith('{'))
      throw new Error(`synthetic case failed (exit ${child.status}): ${child.stderr.slice(-2000)}`);
    const r = JSON.parse(line) as { wall_s: number[]; cpu_s: number[]; frames: number; max_rss_mb: number };
    const t = median(r.wall_s);
    const ct = median(r.cpu_s);
    const n = r.frames;
    report(
      {
        case: 'synthetic',
        mb: bytes / 1e6,
        runs: r.wall_s.length,
        mb_per_s: bytes / 1e6 / t,
        frames_per_s: n / t,
        cpu_mb_per_s: bytes / 1e6 / ct,
        frames: n,
        peak_rss_mb: r.max_rss_mb,
        first_pass_mb_per_s: bytes / 1e6 / r.wall_s[0],
        asammdf_quoted: { figure: ASAMMDF_QUOTED.synthetic, source: ASAMMDF_QUOTED.source },
      },
      `synthetic   ${(bytes / 1e6).toFixed(0)} MB, ${n} frames, ${r.wall_s.length} runs: first pass ${(bytes / 1e6 / r.wall_s[0]).toFixed(1)} MB/s, median ${(bytes / 1e6 / t).toFixed(1)} MB/s wall (asammdf ${quoted(ASAMMDF_QUOTED.synthetic, ASAMMDF_QUOTED.source)}), ${(bytes / 1e6 / ct).toFixed(1)} MB/s per CPU-second, ${fmtRate(n / t)} frames/s, peak RSS ${r.max_rss_mb.toFixed(0)} MB (own process)`,
    );
    runCases(['synthetic+decode:j1939'], ['--synthetic', path]);
    cliCases('synthetic ', [path], bytes, 1, false);
  } finally {
    rmSync(path, { force: true });
  }
}

/** Child mode (`--extract-child <path> --runs N`): extracts the file N times, prints one JSON line. */
async function extractChild(path: string): Promise<void> {
  const runs = Number(arg('runs', '3'));
  const wall: number[] = [];
  const cpu: number[] = [];
  let frames = 0;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    frames = await extractFrames(path);
    requireNonZero('synthetic', { frames });
    wall.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
  }
  const max_rss_mb = kernelPeakRssMb();
  process.stdout.write(`${JSON.stringify({ wall_s: wall, cpu_s: cpu, frames, max_rss_mb })}\n`);
}

const isMain = process.argv[1] && /bench[\\/]mdf4\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  const child = arg('extract-child');
  const runs = Number(arg('runs', '5'));
  if (child) await extractChild(child);
  else if (childCase?.startsWith('corpus+decode:')) await decodeCase(childCase, sampleLogs(), runs, 1);
  else if (childCase?.startsWith('synthetic+decode:'))
    await decodeCase(childCase, [arg('synthetic') ?? ''], Math.max(1, Math.min(runs, 3)), 0);
  else await main();
  // not by letting the event loop run dry (Node 20 can hang there: see exitWhenWritten)
  await exitWhenWritten();
}
