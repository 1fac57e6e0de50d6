/**
 * DBC sets (issue 8, items 6, 9, 16, 19): identical files load once, names are a function of the message and its
 * own file, id and name clashes between files are refused (the one policy of Database.load), duplicate signal
 * names get their own keys, an empty DBC or a --signals that matches nothing is said up front, and decode errors
 * are broken down per message with the transport-protocol reason.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Database, signalKeys } from '../../src/codecs/dbc/index.js';
import { SigflowError } from '../../src/errors/index.js';
import { buildBusLog } from '../../src/formats/mdf4/writer.js';
import {
  buildDecoderConfig,
  describeDecodeErrors,
  expandInputs,
  explainNoValues,
  forEachValue,
  runLogPipeline,
} from '../../src/pipelines/logdecode/index.js';
import { fixturesDir } from '../harness/paths.js';

const code = (c: string) => (e: unknown) => e instanceof SigflowError && e.code === c;
const dbcFiles = join(fixturesDir, 'canedge/dbc/api-examples/examples');
const GNSS = join(dbcFiles, 'other/concatenate-mf4-by-period/dbc_files/gnss.dbc');
const CANMOD = join(dbcFiles, 'other/matlab-basics/dbc_files/canmod-gps.dbc');
const HEAD = 'VERSION ""\nBS_:\nBU_: N\n';

describe('DBC sets', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-dbcset-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the same DBC twice, or a byte-identical copy, loads once with a note (no doubled values)', async () => {
    const copy = join(dir, 'copy-of-gnss.dbc');
    copyFileSync(GNSS, copy);
    const single = buildDecoderConfig({ dbc: [GNSS] });
    for (const list of [
      [GNSS, GNSS],
      [GNSS, copy],
      [GNSS, copy, GNSS],
    ]) {
      const cfg = buildDecoderConfig({ dbc: list });
      assert.equal(cfg.databases.length, 1);
      assert.equal(cfg.databases[0].db.messages.length, single.databases[0].db.messages.length);
      assert.equal(cfg.notes.length, list.length - 1);
      assert.match(cfg.notes[0].message, /has the same contents as .*gnss\.dbc: loaded once/);
      assert.equal(cfg.notes[0].code, 'SF_WARN_DBC_DUPLICATE_FILE');
    }
    // the decoded values of a log: the same count with the file once or twice
    const log = join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4');
    const { files } = await expandInputs([log]);
    const once = await runLogPipeline(files, { config: single });
    const twice = await runLogPipeline(files, { config: buildDecoderConfig({ dbc: [GNSS, copy] }) });
    assert.ok(once.values > 0);
    assert.equal(twice.values, once.values);
    // dbc inspect / dbc decode load through the same rule
    const db = Database.load([GNSS, copy]);
    assert.equal(db.messages.length, Database.load([GNSS]).messages.length);
    assert.equal(db.notes.length, 1);
  });

  it('names are a function of the message and its own file, whatever else is loaded', () => {
    const names = (dbc: string[]) => buildDecoderConfig({ dbc }).databases[0].messageName;
    const alone = names([GNSS]);
    assert.ok(alone.includes('gnss_pos#0x3') && alone.includes('gnss_pos#0x13'), 'a name gnss.dbc repeats: #0x<id>');
    const other = join(dir, 'other.dbc');
    writeFileSync(other, `${HEAD}BO_ 1024 Engine: 1 N\n SG_ Rpm : 0|8@1+ (1,0) [0|255] "" N\n`);
    assert.deepEqual(names([GNSS, other]).slice(0, alone.length), alone);
    assert.deepEqual(names([other, GNSS]).slice(1), alone);
    assert.deepEqual(
      names([CANMOD]),
      Database.load([CANMOD]).messages.map((m) => m.name),
    );
  });

  it('two files defining one frame id, or one message name, are refused by every loader', () => {
    assert.throws(() => buildDecoderConfig({ dbc: [GNSS, CANMOD] }), code('SF_ERR_DBC_ID_CLASH'));
    assert.throws(() => Database.load([CANMOD, GNSS]), code('SF_ERR_DBC_ID_CLASH'));
    assert.throws(
      () => buildDecoderConfig({ dbc: [GNSS, CANMOD] }),
      (e: unknown) => e instanceof Error && /already defines? 0x3 \(gnss_pos there, gnss_pos here\)/.test(e.message),
    );
    const a = join(dir, 'name-a.dbc');
    const b = join(dir, 'name-b.dbc');
    writeFileSync(a, `${HEAD}BO_ 100 Engine: 1 N\n SG_ Rpm : 0|8@1+ (1,0) [0|255] "" N\n`);
    writeFileSync(b, `${HEAD}BO_ 200 Engine: 1 N\n SG_ Rpm : 0|8@1+ (2,0) [0|255] "" N\n`);
    assert.throws(() => buildDecoderConfig({ dbc: [a, b] }), code('SF_ERR_DBC_NAME_CLASH'));
    assert.throws(() => Database.load([a, b]), /message name clash: .*Engine \(0x64 there, 0xc8 here\)/);
    // different channels are different sets: the same names and ids are fine there
    const cfg = buildDecoderConfig({ dbc: [a], channels: [{ bus: 'CAN', channel: 2, file: b }] });
    assert.deepEqual(
      cfg.databases.map((d) => d.column),
      [['Engine.Rpm'], ['Engine.Rpm']],
    );
  });

  it('a set parses its own copy of a file shared with another set (signal numbering is per database)', async () => {
    const a = join(dir, 'shared-a.dbc');
    const c = join(dir, 'shared-c.dbc');
    writeFileSync(a, `${HEAD}BO_ 1 A: 1 N\n SG_ X : 0|8@1+ (1,0) [0|255] "" N\n`);
    writeFileSync(c, `${HEAD}BO_ 2 C: 1 N\n SG_ Y : 0|8@1+ (10,0) [0|2550] "" N\n`);
    const cfg = buildDecoderConfig({ dbc: [a, c], channels: [{ bus: 'CAN', channel: 2, file: c }] });
    const log = join(dir, 'shared.MF4');
    const t0 = 1704067200000000000n;
    writeFileSync(
      log,
      buildBusLog(
        [
          { timeNs: t0, channel: 1, id: 2, dlc: 1, data: Uint8Array.of(3) },
          { timeNs: t0 + 1000n, channel: 2, id: 2, dlc: 1, data: Uint8Array.of(4) },
        ],
        { layout: 'canedge-v2', startTimeNs: t0 },
      ),
    );
    const got: string[] = [];
    await runLogPipeline((await expandInputs([log])).files, {
      config: cfg,
      onBatch: (v) =>
        forEachValue(v, (i, d, k) => {
          const out = v.decoded?.[d];
          if (out) got.push(`${v.frames.channel[i]}:${cfg.databases[d].column[out.signal[k]]}=${out.phys[k]}`);
        }),
    });
    assert.deepEqual(got, ['1:C.Y=30', '2:C.Y=40']);
  });

  it('a message that repeats a signal name: the n-th is <name>#<n> everywhere', () => {
    const p = join(dir, 'dup.dbc');
    writeFileSync(p, `${HEAD}BO_ 5 Dup: 2 N\n SG_ S : 0|8@1+ (1,0) [0|255] "" N\n SG_ S : 8|8@1+ (1,0) [0|255] "" N\n`);
    const cfg = buildDecoderConfig({ dbc: [p] });
    assert.deepEqual(cfg.databases[0].column, ['Dup.S', 'Dup.S#2']);
    assert.deepEqual(cfg.databases[0].signalName, ['S', 'S#2']);
    const db = Database.load([p]);
    const r = db.decodeFrame(5, false, Uint8Array.of(1, 2));
    assert.ok(r.ok);
    assert.deepEqual(r.phys, { S: 1, 'S#2': 2 });
    assert.deepEqual(signalKeys(db.messages[0].signals), ['S', 'S#2']);
  });

  it('an empty DBC, and a --signals that matches no signal, are said before any frame is read', () => {
    const empty = join(dir, 'empty.dbc');
    writeFileSync(empty, HEAD);
    assert.throws(() => buildDecoderConfig({ dbc: [empty] }), code('SF_ERR_LOGDECODE_EMPTY_DBC'));
    assert.throws(() => buildDecoderConfig({ dbc: [empty] }), /empty\.dbc: the DBC file defines no messages/);
    const withEmpty = buildDecoderConfig({ dbc: [GNSS, empty] });
    assert.equal(withEmpty.notes[0].code, 'SF_WARN_LOGDECODE_EMPTY_DBC');
    assert.throws(
      () => buildDecoderConfig({ dbc: [GNSS], signals: /NoSuchSignal/ }),
      (e: unknown) =>
        e instanceof SigflowError &&
        e.code === 'SF_ERR_LOGDECODE_SIGNALS_UNMATCHED' &&
        /--signals "NoSuchSignal" matches no signal .*78 signals, e\.g\. gnss_pos#0x3\.PositionAccuracy/.test(
          e.message,
        ),
    );
    assert.doesNotThrow(() => buildDecoderConfig({ dbc: [GNSS], signals: /^Latitude$/ }));
  });

  it('explains a run without values by the filter that matched nothing', () => {
    const base = { frames: 11074, events: 11074, decodedFrames: 0, values: 0, unknownIds: 11074, decodeErrors: 0 };
    assert.match(
      explainNoValues(base, { files: 1 }) ?? '',
      /none of the 11,074 frames has a frame id the DBC files define/,
    );
    assert.match(
      explainNoValues({ ...base, decodedFrames: 10, unknownIds: 11064 }, { files: 1, signals: 'Foo' }) ?? '',
      /10 of the 11,074 frames decoded, but none carries a signal matching --signals "Foo"/,
    );
    assert.match(
      explainNoValues({ ...base, frames: 0, events: 0, unknownIds: 0 }, { files: 2, window: true }) ?? '',
      /no frame of the 2 file\(s\) lies in the --from\/--to window/,
    );
    assert.equal(explainNoValues({ ...base, values: 1, decodedFrames: 1 }, { files: 1 }), null);
  });

  it('decode errors are broken down per message; a message longer than its frames needs reassembly (off)', async () => {
    // 00000170.MF4 carries UDS responses on id 1979 (0x7BB): ISO-TP frames of 8 bytes each
    const tp = join(dir, 'tp.dbc');
    writeFileSync(
      tp,
      `${HEAD}BO_ 1979 Temperature: 54 N\n SG_ T : 400|8@1+ (1,-40) [0|0] "" N\nBO_ 1 Short: 8 N\n SG_ X : 0|8@1+ (1,0) [0|0] "" N\n`,
    );
    // with reassembly off (by default it is on for such a DBC: then these frames decode, see transport.test.ts)
    const cfg = buildDecoderConfig({ dbc: [tp], transport: { global: 'off', perChannel: new Map() } });
    const stats = await runLogPipeline((await expandInputs([join(fixturesDir, 'canedge', '00000170.MF4')])).files, {
      config: cfg,
    });
    assert.ok(stats.decodeErrors > 0);
    const entries = stats.decodeErrorDetail.entries(cfg);
    assert.equal(
      entries.reduce((a, e) => a + e.count, 0),
      stats.decodeErrors,
      'the breakdown adds up',
    );
    const t = entries.find((e) => e.message === 'Temperature');
    assert.ok(t, JSON.stringify(entries));
    assert.equal(t.reason, 'transport_protocol');
    assert.equal(t.id, 1979);
    assert.equal(t.maxLength, 8);
    const lines = describeDecodeErrors(entries);
    assert.match(lines[0], /^Temperature \(0x7BB, .*tp\.dbc\): \d+ frame\(s\): needs transport-protocol reassembly/);
  });
});
