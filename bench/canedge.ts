/**
 * CANedge containers and log-tree indexing.
 *   heatshrink decode (whole buffer, and streaming in 64 KiB input chunks) of the real fixture MFC → MB/s of output
 *   heatshrink encode of the decoded MDF
 *   openLog on MFC / MFE / MFM (PBKDF2 at 1000 iterations + AES-256-GCM + heatshrink)
 *   index build over the shared corpus (header only, and with record time ranges), and an unchanged refresh
 * `npm run bench -- canedge [--json]` (or `npx tsx bench/canedge.ts`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildEncryptedContainer,
  buildMfm,
  HeatshrinkDecoder,
  heatshrinkDecode,
  heatshrinkEncode,
  LocalLogStore,
  LogIndex,
  MDF4_TIME_RANGE_ID,
  mdf4TimeRange,
  openLog,
  PasswordBook,
} from '../src/formats/canedge/index.js';
import { BufferSource, exitWhenWritten } from '../src/io/index.js';
import { fixturesDir, sharedData } from '../test/harness/paths.js';
import { lastFirstPass, median, note, peakRssMb, report, timeRuns } from './_harness.js';

const mfc = readFileSync(join(fixturesDir, 'canedge', '00000007-643E54EA.MFC'));
const params = { windowBits: 10, lookaheadBits: 4 };
const payload = mfc.subarray(28);
const mdf = heatshrinkDecode(payload, params);
const MB = 1e6;

function line(name: string, secs: number[], bytes: number, unit = 'MB/s out') {
  const med = median(secs);
  const rate = bytes / med / MB;
  report(
    {
      bench: 'canedge',
      case: name,
      median_ms: +(med * 1e3).toFixed(3),
      min_ms: +(Math.min(...secs) * 1e3).toFixed(3),
      rate_mb_s: +rate.toFixed(1),
      first_pass_ms: +(lastFirstPass() * 1e3).toFixed(3),
      peak_rss_mb: +peakRssMb().toFixed(1),
    },
    `${name.padEnd(44)} median ${(med * 1e3).toFixed(2).padStart(8)} ms  ${rate.toFixed(1).padStart(7)} ${unit}  (first pass ${(lastFirstPass() * 1e3).toFixed(2)} ms; peak RSS ${peakRssMb().toFixed(0)} MB since the case started)`,
  );
}

note(`fixture MFC: ${mfc.length} bytes → ${mdf.length} bytes MDF`);
line('heatshrink decode, whole buffer', await timeRuns(() => heatshrinkDecode(payload, params), 15, 3), mdf.length);
line(
  'heatshrink decode, streaming 64 KiB chunks',
  await timeRuns(
    () => {
      const d = new HeatshrinkDecoder(params);
      let n = 0;
      for (let i = 0; i < payload.length; i += 65536) d.push(payload.subarray(i, i + 65536), (b) => (n += b.length));
      d.finish((b) => (n += b.length));
      if (n !== mdf.length) throw new Error('length mismatch');
    },
    15,
    3,
  ),
  mdf.length,
);
line('heatshrink encode (w10 l4)', await timeRuns(() => heatshrinkEncode(mdf, params), 5, 1), mdf.length, 'MB/s in ');

const book = new PasswordBook({ default: 'pw' });
const mfe = await buildEncryptedContainer(mdf, { deviceId: '5BC57FEC', password: 'pw', iterations: 1000 });
const mfm = await buildMfm(mdf, { deviceId: '5BC57FEC', password: 'pw', iterations: 1000 });
line('openLog MFC', await timeRuns(() => openLog(new BufferSource(mfc, 'a.MFC')), 15, 3), mdf.length);
line(
  'openLog MFE (AES-256-GCM, key cached)',
  await timeRuns(() => openLog(new BufferSource(mfe, 'a.MFE'), { passwords: book }), 15, 3),
  mdf.length,
);
line(
  'openLog MFM (AES-256-GCM + heatshrink)',
  await timeRuns(() => openLog(new BufferSource(mfm, 'a.MFM'), { passwords: book }), 15, 3),
  mdf.length,
);

if (sharedData) {
  const root = join(sharedData, 'canedge');
  const cache = mkdtempSync(join(tmpdir(), 'sigflow-bench-'));
  try {
    const store = new LocalLogStore(root);
    let total = 0;
    for await (const e of store.list()) total += e.size;
    let i = 0;
    const build = async (times: boolean) => {
      const idx = await LogIndex.load(join(cache, `x${i++}.json`), store.id);
      await idx.refresh(store, times ? { timeRange: mdf4TimeRange, timeRangeId: MDF4_TIME_RANGE_ID } : {});
      await idx.save();
      return idx;
    };
    line('index build, corpus, header only', await timeRuns(() => build(false), 5, 1), total, 'MB/s tree');
    line('index build, corpus, with record times', await timeRuns(() => build(true), 3, 1), total, 'MB/s tree');
    const idx = await build(true);
    line(
      'index refresh, corpus, nothing changed',
      await timeRuns(() => idx.refresh(store, { timeRange: mdf4TimeRange, timeRangeId: MDF4_TIME_RANGE_ID }), 7, 2),
      total,
      'MB/s tree',
    );
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
} else {
  note('../shared/data not found: corpus index cases skipped');
}

// not by letting the event loop run dry (Node 20 can hang there: see exitWhenWritten)
await exitWhenWritten();
