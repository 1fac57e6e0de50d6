/**
 * `npm run bench -- transport [--json] [--runs N]`: frames/s through the log pipeline (extraction + DBC decode)
 * with transport-protocol reassembly on (auto) against the same logs and DBC with it off, alternating the two
 * in one process. Target (issue 9): reassembly + decode ≥ 80 % of the plain decode rate on the same logs.
 *
 * Cases (a pass reads a small case's logs repeatedly, ~4 MB, so that it lasts long enough to time): the shared CANedge logs that hold multi-frame messages, each with its TP DBC (../shared/data, skipped
 * loudly without it), and a synthetic 30 MB log (always) whose traffic is 20 % UDS/J1939/NMEA transfers among
 * ordinary frames. A case that decodes nothing or reassembles nothing fails the benchmark. Peak RSS is the
 * process's so far (cases run in one process, in order; building the synthetic log in memory comes last).
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type WriteFrame, writeBusLog } from '../src/formats/mdf4/writer.js';
import { exitWhenWritten } from '../src/io/index.js';
import { buildDecoderConfig, type LogInput, runLogPipeline } from '../src/pipelines/logdecode/index.js';
import { segmentFastPacket, segmentIsoTp, segmentJ1939 } from '../src/transport/index.js';
import { sharedData } from '../test/harness/paths.js';
import { arg, fmtRate, median, note, peakRssMb, report, resetPeakRss } from './_harness.js';

const runs = Number(arg('runs', '7'));

interface Case {
  name: string;
  logs: string[];
  dbc: string[];
  /** Makes the case's files (the synthetic log is built when its turn comes, not before the others run). */
  make?: () => void;
}

function cases(tmp: string): Case[] {
  const out: Case[] = [];
  const root = sharedData && join(sharedData, 'canedge', 'api-examples', 'examples', 'data-processing');
  if (root) {
    const d = (f: string) => join(root, 'dbc_files', f);
    const l = (f: string) => join(root, 'LOG', f);
    out.push(
      { name: 'kona-uds', logs: [l('17BD1DB7/00000006/00000170.MF4')], dbc: [d('tp_uds.dbc')] },
      { name: 'leaf-uds', logs: [l('2F6913DB/00000004/00000001.MF4')], dbc: [d('tp_uds_nissan.dbc')] },
      { name: 'j1939-tp', logs: [l('FCBF0606/00003482/00000001-60B621D9.MF4')], dbc: [d('tp_j1939.dbc')] },
      {
        name: 'nmea-fast-packet',
        logs: [l('94C49784/00000005/00000002.MF4'), l('94C49784/00000005/00000017-6099D010.MF4')],
        dbc: [d('tp_nmea.dbc')],
      },
    );
  } else note('*** ../shared/data not found: only the synthetic case runs ***');
  out.push(synthetic(tmp));
  return out;
}

/** 30 MB of CAN traffic: ordinary 8-byte frames with UDS, J1939 BAM and NMEA fast-packet transfers among them. */
function synthetic(tmp: string): Case {
  const dbc = join(tmp, 'synthetic.dbc');
  const log = join(tmp, 'synthetic.MF4');
  return { name: 'synthetic-30MB', logs: [log], dbc: [dbc], make: () => makeSynthetic(dbc, log) };
}

function makeSynthetic(dbc: string, log: string): void {
  const text = `VERSION ""
BO_ 2024 Uds: 24 Vector__XXX
 SG_ service : 15|8@0+ (1,0) [0|255] "" Vector__XXX
 SG_ soc : 88|16@1+ (0.01,0) [0|100] "%" Vector__XXX
BO_ 2566834942 Dm1Like: 20 Vector__XXX
 SG_ first : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ last : 152|8@1+ (1,0) [0|255] "" Vector__XXX
BO_ 2583168510 gnssPositionData: 43 Vector__XXX
 SG_ sid : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ tail : 336|8@1+ (1,0) [0|255] "" Vector__XXX
${Array.from(
  { length: 40 },
  (_, k) => `BO_ ${256 + k} Plain${k}: 8 Vector__XXX
 SG_ a${k} : 0|16@1+ (0.1,0) [0|6553.5] "" Vector__XXX
 SG_ b${k} : 16|16@1- (1,0) [-32768|32767] "" Vector__XXX
 SG_ c${k} : 32|32@1+ (1,0) [0|4294967295] "" Vector__XXX`,
).join('\n')}
BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","J1939PG";
BA_ "VFrameFormat" BO_ 2566834942 3;
`;
  writeFileSync(dbc, text);
  const frames: WriteFrame[] = [];
  let t = 1_700_000_000_000_000_000n;
  const put = (channel: number, f: { id: number; extended: boolean; data: Uint8Array }) => {
    frames.push({ timeNs: t, channel, id: f.id, extended: f.extended, data: f.data, dlc: f.data.length });
    t += 100_000n;
  };
  const plain = new Uint8Array(8);
  for (let k = 0; frames.length < 1_000_000; k++) {
    for (let j = 0; j < 40; j++) {
      plain[0] = k;
      plain[1] = j;
      put(1 + (j & 1), { id: 256 + j, extended: false, data: plain.slice() });
    }
    if (k % 3 === 0)
      for (const f of segmentIsoTp(
        Uint8Array.from({ length: 23 }, (_, i) => i + k),
        { id: 2024 },
      ))
        put(1, f);
    if (k % 3 === 1) for (const f of segmentJ1939(new Uint8Array(20).fill(k), { pgn: 0xfeca, sa: 0 })) put(2, f);
    if (k % 3 === 2)
      for (const f of segmentFastPacket(new Uint8Array(43).fill(k), { id: (0x19f805 << 8) | 0x23, seq: k })) put(2, f);
  }
  writeBusLog(log, frames, { layout: 'canedge-v2', startTimeNs: 1_700_000_000_000_000_000n });
}

/** Each pass reads a case's logs this often (the small logs repeated, so a pass is long enough to time). */
function repeats(c: Case): number {
  const bytes = c.logs.reduce((a, p) => a + statSync(p).size, 0);
  return Math.max(1, Math.round(4e6 / bytes));
}

async function pass(c: Case, transport: 'auto' | 'off') {
  const config = buildDecoderConfig({ dbc: c.dbc, transport: { global: transport, perChannel: new Map() } });
  const one: LogInput[] = c.logs.map((p) => ({
    path: p,
    size: statSync(p).size,
    folderDevice: null,
    session: null,
    split: null,
  }));
  const inputs = Array.from({ length: repeats(c) }, () => one).flat();
  const t0 = process.hrtime.bigint();
  const s = await runLogPipeline(inputs, {
    config,
    onFileError: (_i, e) => {
      throw e;
    },
  });
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, stats: s };
}

const tmp = mkdtempSync(join(tmpdir(), 'sigflow-bench-tp-'));
try {
  let failed = false;
  for (const c of cases(tmp)) {
    c.make?.();
    const bytes = c.logs.reduce((a, p) => a + statSync(p).size, 0) * repeats(c);
    resetPeakRss(); // peak RSS per case: since this case started (bench/_harness.ts)
    let first = 0;
    for (let w = 0; w < 2; w++) {
      const a = await pass(c, 'auto');
      if (w === 0) first = a.stats.frames / a.seconds; // first pass of this case (code warmed by earlier cases)
      await pass(c, 'off');
    }
    const on: number[] = [];
    const off: number[] = [];
    let last = await pass(c, 'auto');
    for (let r = 0; r < runs; r++) {
      // alternate, so that noise on the machine hits both alike
      last = await pass(c, 'auto');
      on.push(last.stats.frames / last.seconds);
      const o = await pass(c, 'off');
      off.push(o.stats.frames / o.seconds);
    }
    const s = last.stats;
    const messages = s.transport.reduce((a, t) => a + t.stats.messages, 0);
    if (s.decodedFrames === 0 || messages === 0) {
      failed = true;
      note(`FAIL ${c.name}: decoded ${s.decodedFrames} frames, reassembled ${messages} messages`);
    }
    const ratio = median(on) / median(off);
    report(
      {
        case: c.name,
        mb: bytes / 1e6,
        frames: s.frames,
        transport_frames: s.transportFrames,
        messages,
        frames_per_s_transport: median(on),
        frames_per_s_plain: median(off),
        ratio,
        first_pass_frames_per_s_transport: first,
        peak_rss_mb: peakRssMb(),
      },
      `${c.name.padEnd(18)} ${(bytes / 1e6).toFixed(1).padStart(6)} MB ${String(s.frames).padStart(8)} frames ` +
        `(${s.transportFrames} in ${messages} messages): with reassembly ${fmtRate(median(on))} frames/s, ` +
        `plain ${fmtRate(median(off))} frames/s = ${(ratio * 100).toFixed(0)} %  (median of ${runs}; first pass ${fmtRate(first)} frames/s; ` +
        `peak RSS ${peakRssMb().toFixed(0)} MB)`,
    );
  }
  if (failed) process.exitCode = 1;
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// not by letting the event loop run dry (Node 20 can hang there: see exitWhenWritten)
await exitWhenWritten();
