/**
 * `sigflow frames` and `sigflow decode` end to end: the asammdf reference (frames, counts, digest, decoded
 * statistics) over the fixtures and the shared corpus, a hand-checkable log built with the MDF4 writer (long CSV,
 * wide CSV, per-channel DBC, choices, time filter), encrypted logs and error paths.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Database } from '../../src/codecs/dbc/database.js';
import { buildEncryptedContainer } from '../../src/formats/canedge/container.js';
import { buildBusLog, type WriteFrame } from '../../src/formats/mdf4/writer.js';
import { runCli } from '../harness/cli.js';
import { warnNoShared } from '../harness/paths.js';
import {
  checkDecoded,
  corpusCases,
  dbcPath,
  FrameCheck,
  fixtureCases,
  type OutFrame,
  type RefCase,
  type RefSignal,
  SeriesStats,
  seriesKey,
  signalPattern,
} from '../pipelines/reference.js';

/** Runs tasks with at most `n` at a time (CLI processes: keep both cores busy). */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

function parseLines<T>(stdout: string): T[] {
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

async function framesCheck(c: RefCase): Promise<void> {
  const r = await runCli(['frames', c.log, '--format', 'ndjson'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
  const fc = new FrameCheck();
  for (const f of parseLines<OutFrame>(r.stdout)) fc.add(f);
  fc.check(c.ref, `${c.name} (sigflow frames)`);
  assert.match(r.stderr, new RegExp(`1 file\\(s\\), 0 failed, ${c.ref.n_frames} frames`));
}

/**
 * One `sigflow decode` run per DBC of the reference (canmod-gps.dbc and gnss.dbc define the same frame ids, which
 * one set refuses: SF_ERR_DBC_ID_CLASH); message names follow the documented rule.
 */
async function decodeCheck(c: RefCase): Promise<number> {
  const dbcs = c.ref.decoding_attempts.map((a) => a.dbc);
  let checked = 0;
  for (const d of dbcs) {
    // --signals keeps the output to the reference's signals (the corpus decodes to 10 M values otherwise)
    const args = ['decode', c.log, '--format', 'ndjson', '--signals', signalPattern(c.ref, d), '--dbc', dbcPath(c, d)];
    const r = await runCli(args, { timeoutMs: 120_000 });
    const own = Database.load([dbcPath(c, d)]);
    if (!c.ref.decoded.some((s) => s.dbc === d)) {
      // nothing of this DBC in the log: --signals matches nothing (a usage error) or the run decodes no value
      assert.ok(r.code === 0 || /SF_ERR_LOGDECODE_SIGNALS_UNMATCHED/.test(r.stderr), `${c.name} ${d}: ${r.stderr}`);
      continue;
    }
    assert.equal(r.code, 0, `${c.name} ${d}: ${r.stderr}`);
    const series = new Map<string, SeriesStats>();
    for (const v of parseLines<{ t: string; chn: number; message: string; signal: string; value: number; sa?: number }>(
      r.stdout,
    )) {
      const k = seriesKey(v.chn, v.message, v.signal, v.sa ?? null);
      let st = series.get(k);
      if (!st) {
        st = new SeriesStats();
        series.set(k, st);
      }
      st.add(v.t, v.value);
    }
    // The naming rule (src/pipelines/logdecode/README.md): a function of the message and its own file — the DBC
    // name, "#0x<id of the DBC message>" when the same file defines the name more than once.
    const name = (s: RefSignal): string => {
      const m = own.lookup(s.can_id, s.ext, true);
      assert.ok(m, `${s.message} in ${s.dbc}`);
      const sameFile = own.messages.filter((x) => x.name === s.message).length;
      return sameFile > 1 ? `${s.message}#0x${m.id.toString(16)}` : s.message;
    };
    checked += checkDecoded(c.ref, d, series, name, `${c.name} (sigflow decode)`);
  }
  return checked;
}

describe('sigflow frames / decode: fixtures vs asammdf reference', () => {
  const cases = fixtureCases();
  it(`frames of ${cases.length} fixture logs in one NDJSON run`, async () => {
    const r = await runCli(['frames', ...cases.map((c) => c.log)], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const all = parseLines<OutFrame>(r.stdout);
    let at = 0;
    for (const c of cases) {
      const n = c.ref.counts.reduce((a, x) => a + x.n, 0);
      const fc = new FrameCheck();
      for (let i = at; i < at + n; i++) fc.add(all[i]);
      fc.check(c.ref, `${c.name} (sigflow frames)`);
      at += n;
    }
    assert.equal(at, all.length, 'no extra lines');
    const total = cases.reduce((a, c) => a + c.ref.n_frames, 0);
    assert.match(r.stderr, new RegExp(`${cases.length} file\\(s\\), 0 failed, ${total} frames`));
  });
  it('frames of one log: summary line', () => framesCheck(cases[0]));
  it(`decoded statistics of ${cases.length} fixture logs (one run per DBC)`, async () => {
    let n = 0;
    await pool(cases, 2, async (c) => {
      const k = await decodeCheck(c);
      n += k;
    });
    assert.equal(
      n,
      cases.reduce((a, c) => a + c.ref.decoded.length, 0),
    );
  });
});

describe('sigflow frames / decode: shared corpus vs asammdf reference', () => {
  const cases = corpusCases();
  if (cases.length === 0) {
    warnNoShared();
    it.skip('shared corpus not present');
    return;
  }
  it(`frames of ${cases.length} corpus logs in one run, as CSV (explicit files keep their order)`, async () => {
    const r = await runCli(['frames', '--format', 'csv', ...cases.map((c) => c.log)], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const all = r.stdout.split('\n');
    assert.equal(all[0], 't,device,bus,chn,id,ext,dir,dlc,len,edl,brs,data,kind');
    assert.equal(all.pop(), '', 'ends with a newline');
    const parse = (line: string): OutFrame => {
      const [t, , bus, chn, id, ext, dir, dlc, len, edl, brs, data] = line.split(',');
      return {
        t,
        bus,
        chn: Number(chn),
        id: Number(id),
        ext: ext === '1',
        dir: Number(dir),
        dlc: Number(dlc),
        len: Number(len),
        edl: edl === '1',
        brs: brs === '1',
        data,
      };
    };
    let at = 1;
    for (const c of cases) {
      const n = c.ref.counts.reduce((a, x) => a + x.n, 0);
      const fc = new FrameCheck();
      for (let i = at; i < at + n; i++) {
        const line = all[i];
        const p = line.split(',');
        fc.addFields(p[0], p[2], Number(p[3]), Number(p[4]), p[5] === '1', p[9] === '1', p[11], p[12], () =>
          parse(line),
        );
      }
      fc.check(c.ref, `${c.name} (sigflow frames --format csv)`);
      at += n;
    }
    assert.equal(at, all.length, 'no extra lines');
  });
  it(`decoded statistics of ${cases.length} corpus logs`, async () => {
    let n = 0;
    await pool(cases, 2, async (c) => {
      const k = await decodeCheck(c);
      n += k;
    });
    assert.equal(
      n,
      cases.reduce((a, c) => a + c.ref.decoded.length, 0),
    );
  });
});

// ---- a small hand-checkable log ---------------------------------------------------------------------------

const START = 1704067200000000000n; // 2024-01-01T00:00:00Z
const DBC_MAIN = `VERSION ""
BS_:
BU_: N
BO_ 256 Engine: 8 N
 SG_ Rpm : 0|16@1+ (0.25,0) [0|16383.75] "rpm" N
 SG_ Gear : 16|4@1+ (1,0) [0|15] "" N
BO_ 512 Body: 2 N
 SG_ Speed : 0|16@1+ (0.01,0) [0|655.35] "km/h" N
VAL_ 256 Gear 0 "neutral" 1 "first" ;
`;
const DBC_CAN2 = `VERSION ""
BS_:
BU_: N
BO_ 256 Other: 1 N
 SG_ Temp : 0|8@1- (1,-40) [-168|87] "degC" N
`;

function frame(ms: number, channel: number, id: number, data: number[]): WriteFrame {
  return { timeNs: START + BigInt(ms) * 1_000_000n, channel, id, dlc: data.length, data: Uint8Array.from(data) };
}

const FRAMES: WriteFrame[] = [
  frame(100, 1, 256, [0x10, 0x27, 0x01, 0, 0, 0, 0, 0]), // Rpm 2500, Gear 1
  frame(600, 1, 256, [0x20, 0x4e, 0x00, 0, 0, 0, 0, 0]), // Rpm 5000, Gear 0
  frame(1200, 1, 512, [0x10, 0x27]), // Speed 100
  frame(1500, 2, 256, [0xff]), // CAN2: Other.Temp = -1 - 40 = -41
  frame(1700, 1, 999, [1, 2, 3]), // unknown id
  frame(2000, 1, 256, [0x01]), // Engine is 8 bytes: decode error
];

describe('sigflow decode: hand-checkable log', () => {
  let dir = '';
  let log = '';
  let main = '';
  let can2 = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-cli-logdecode-'));
    const tree = join(dir, 'LOG', 'ABCD1234', '00000001');
    mkdirSync(tree, { recursive: true });
    log = join(tree, '00000001.MF4');
    writeFileSync(
      log,
      buildBusLog(FRAMES, { layout: 'canedge-v2', startTimeNs: START, device: { serial: 'ABCD1234' } }),
    );
    main = join(dir, 'main.dbc');
    can2 = join(dir, 'can2.dbc');
    writeFileSync(main, DBC_MAIN);
    writeFileSync(can2, DBC_CAN2);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('long CSV with a per-channel DBC and choices', async () => {
    const r = await runCli([
      'decode',
      join(dir, 'LOG'),
      '--dbc',
      main,
      '--channel',
      `CAN2=${can2}`,
      '--format',
      'csv',
      '--choices',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        't,device,bus,chn,message,signal,value,label',
        '1704067200100000000,ABCD1234,CAN,1,Engine,Rpm,2500,',
        '1704067200100000000,ABCD1234,CAN,1,Engine,Gear,1,first',
        '1704067200600000000,ABCD1234,CAN,1,Engine,Rpm,5000,',
        '1704067200600000000,ABCD1234,CAN,1,Engine,Gear,0,neutral',
        '1704067201200000000,ABCD1234,CAN,1,Body,Speed,100,',
        '1704067201500000000,ABCD1234,CAN,2,Other,Temp,-41,',
        '',
      ].join('\n'),
    );
    assert.match(
      r.stderr,
      /1 file\(s\), 0 failed, 6 frames, 0 other events, 4 decoded, 6 values, 1 unknown ids, 1 decode errors/,
    );
  });

  it('without --channel, CAN2 frames use the global DBC (a 1-byte Engine frame is a decode error)', async () => {
    const r = await runCli(['decode', log, '--dbc', main, '--format', 'ndjson']);
    assert.equal(r.code, 0, r.stderr);
    const lines = parseLines<Record<string, unknown>>(r.stdout);
    assert.equal(lines.length, 5);
    assert.deepEqual(lines[0], {
      t: '1704067200100000000',
      device: 'ABCD1234',
      bus: 'CAN',
      chn: 1,
      message: 'Engine',
      signal: 'Rpm',
      value: 2500,
    });
    assert.match(r.stderr, /3 decoded, 5 values, 1 unknown ids, 2 decode errors/);
  });

  it('wide CSV with --resample 1s: last value per second, empty cells, sorted columns', async () => {
    const r = await runCli([
      'decode',
      log,
      '--dbc',
      main,
      '--channel',
      `CAN2=${can2}`,
      '--format',
      'csv',
      '--resample',
      '1s',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        't,device,Body.Speed,Engine.Gear,Engine.Rpm,Other.Temp',
        '1704067200000000000,ABCD1234,,0,5000,',
        '1704067201000000000,ABCD1234,100,,,-41',
        '',
      ].join('\n'),
    );
  });

  it('--signals filters on message.signal and signal; --from/--to bound the time', async () => {
    let r = await runCli(['decode', log, '--dbc', main, '--signals', '^Engine\\.Rpm$', '--format', 'csv']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',').slice(4).join(',')),
      ['Engine,Rpm,2500', 'Engine,Rpm,5000'],
    );
    r = await runCli(['decode', log, '--dbc', main, '--signals', 'Speed', '--format', 'csv']);
    assert.equal(r.stdout.trim().split('\n').length, 2);
    r = await runCli([
      'decode',
      log,
      '--dbc',
      main,
      '--format',
      'csv',
      '--from',
      '2024-01-01T00:00:00.5Z',
      '--to',
      `${START + 1_200_000_000n}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[0]),
      ['1704067200600000000', '1704067200600000000', '1704067201200000000'],
    );
  });

  it('frames as CSV and NDJSON agree', async () => {
    const csv = await runCli(['frames', log, '--format', 'csv']);
    const nd = await runCli(['frames', log]);
    assert.equal(csv.code, 0, csv.stderr);
    const rows = csv.stdout.trim().split('\n');
    assert.equal(rows[0], 't,device,bus,chn,id,ext,dir,dlc,len,edl,brs,data,kind');
    assert.equal(rows[4], '1704067201500000000,ABCD1234,CAN,2,256,0,0,1,1,0,0,ff,data');
    const lines = parseLines<OutFrame>(nd.stdout);
    assert.equal(lines.length, 6);
    assert.deepEqual(lines[4], {
      t: '1704067201700000000',
      device: 'ABCD1234',
      bus: 'CAN',
      chn: 1,
      id: 999,
      ext: false,
      dir: 0,
      dlc: 3,
      len: 3,
      edl: false,
      brs: false,
      data: '010203',
    });
  });

  it('encrypted (MFE) logs: right password decodes, wrong or missing password names the file, exit 1', async () => {
    const plain = buildBusLog(FRAMES, { layout: 'canedge-v2', startTimeNs: START, device: { serial: 'ABCD1234' } });
    const mfe = join(dir, 'enc', 'ABCD1234', '00000002', '00000001.MFE');
    mkdirSync(join(mfe, '..'), { recursive: true });
    writeFileSync(
      mfe,
      await buildEncryptedContainer(plain, { deviceId: 'ABCD1234', password: 'right', iterations: 1000 }),
    );
    const good = join(dir, 'good.json');
    const bad = join(dir, 'bad.json');
    writeFileSync(good, JSON.stringify({ ABCD1234: 'right' }));
    writeFileSync(bad, JSON.stringify({ default: 'wrong' }));
    const ok = await runCli(['decode', mfe, '--dbc', main, '--format', 'csv', '--passwords', good]);
    assert.equal(ok.code, 0, ok.stderr);
    const ref = await runCli(['decode', log, '--dbc', main, '--format', 'csv']);
    assert.equal(ok.stdout, ref.stdout);
    for (const pw of [['--passwords', bad], []]) {
      const r = await runCli(['decode', mfe, log, '--dbc', main, '--format', 'csv', ...pw]);
      assert.equal(r.code, 1);
      assert.ok(r.stderr.includes(mfe), r.stderr);
      assert.match(r.stderr, /password/);
      assert.equal(r.stdout, ref.stdout, 'the other file is still decoded');
      assert.match(r.stderr, /2 file\(s\), 1 failed/);
    }
  });

  it('missing and corrupt files are reported and skipped (exit 1); --fail-fast stops', async () => {
    const garbage = join(dir, 'garbage.MF4');
    writeFileSync(garbage, Buffer.alloc(4096, 0x5a));
    const missing = join(dir, 'nope.MF4');
    const r = await runCli(['frames', missing, garbage, log]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(missing), r.stderr);
    assert.ok(r.stderr.includes(garbage), r.stderr);
    assert.equal(parseLines(r.stdout).length, 6);
    const ff = await runCli(['frames', garbage, log, '--fail-fast']);
    assert.equal(ff.code, 1);
    assert.equal(ff.stdout, '');
    assert.match(ff.stderr, /fail-fast/);
  });

  it('bad arguments exit 2 with a clear message', async () => {
    const cases: [string[], RegExp][] = [
      [['decode', log], /no DBC file given/],
      [['decode', log, '--dbc', join(dir, 'none.dbc')], /cannot read DBC file .*none\.dbc/],
      [['decode', log, '--dbc', main, '--channel', 'CAN=x.dbc'], /--channel "CAN=x.dbc"/],
      [['decode', log, '--dbc', main, '--signals', '(['], /--signals/],
      [['decode', log, '--dbc', main, '--from', 'last tuesday'], /--from: "last tuesday" is not a time/],
      [['decode', log, '--dbc', main, '--from', '2024-01-02', '--to', '2024-01-01'], /--from is after --to/],
      [['decode', log, '--dbc', main, '--format', 'parquet'], /--format parquet writes a binary file: give it with -o/],
      [['decode', log, '--dbc', main, '--format', 'xml'], /--format xml: use ndjson, csv or parquet/],
      [['decode', log, '--dbc', main, '--format', 'csv', '--resample', 'soon'], /--resample: "soon" is not a duration/],
      [
        ['decode', log, '--dbc', main, '--resample', '1s'],
        /--resample writes a wide table: use it with --format csv or/,
      ],
      [['frames', log, '--format', 'xml'], /ndjson or csv/],
      [['frames', log, '--passwords', join(dir, 'none.json')], /none\.json: cannot read/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
  });
});
