/**
 * DBC sets through the real commands (issue 8, items 6, 9, 16, 19): one id-clash policy for `dbc inspect`,
 * `dbc decode`, `decode` and `import`; identical files load once (no doubled values, no renamed measurements);
 * repeated signal names get their own keys in every output; empty results and decode errors explain themselves.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBusLog } from '../../src/formats/mdf4/writer.js';
import { TimeSeriesStore } from '../../src/store/index.js';
import { runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';

const dbcFiles = join(fixturesDir, 'canedge/dbc/api-examples/examples');
const GNSS = join(dbcFiles, 'other/concatenate-mf4-by-period/dbc_files/gnss.dbc');
const CANMOD = join(dbcFiles, 'other/matlab-basics/dbc_files/canmod-gps.dbc');
const LOG = join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4'); // gnss.dbc decodes it (9 messages)
const HEAD = 'VERSION ""\nBS_:\nBU_: N\n';

function ndjson(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
}

function measurements(dataDir: string): string[] {
  const s = TimeSeriesStore.open(join(dataDir, 'store.db'), { readonly: true });
  try {
    return s.measurements();
  } finally {
    s.close();
  }
}

describe('DBC sets in dbc inspect, dbc decode, decode and import', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-dbc-sets-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('two files defining the same frame ids: every command refuses, naming the clash (exit 2)', async () => {
    const runs = await Promise.all([
      runCli(['dbc', 'inspect', GNSS, CANMOD]),
      runCli(['dbc', 'decode', GNSS, CANMOD], { input: '{"id":3,"ext":false,"data":"0000000000000000"}\n' }),
      runCli(['decode', LOG, '--dbc', GNSS, '--dbc', CANMOD]),
    ]);
    runs.push(await runCli(['import', LOG, '--dbc', GNSS, '--dbc', CANMOD, '--data-dir', join(dir, 'clash')]));
    for (const r of runs) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /frame id clash: .*gnss\.dbc already defines 0x3 \(gnss_pos there, gnss_pos here\)/);
      assert.match(r.stderr, /SF_ERR_DBC_ID_CLASH/);
      assert.equal(r.stdout, '');
    }
  });

  it('the same DBC twice or a byte-identical copy: loaded once with a note, values not doubled, names kept', async () => {
    const copy = join(dir, 'gnss-copy.dbc');
    copyFileSync(GNSS, copy);
    const inspect = await runCli(['dbc', 'inspect', GNSS, copy]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stderr, /gnss-copy\.dbc has the same contents as .*gnss\.dbc: loaded once/);
    const once = await runCli(['decode', LOG, '--dbc', GNSS]);
    const twice = await runCli(['decode', LOG, '--dbc', GNSS, '--dbc', GNSS]);
    const copied = await runCli(['decode', LOG, '--dbc', GNSS, '--dbc', copy]);
    assert.equal(once.code, 0, once.stderr);
    assert.ok(once.stdout.length > 0);
    assert.equal(twice.stdout, once.stdout, 'the same file twice: the same values');
    assert.equal(copied.stdout, once.stdout, 'a copy: the same values');
    assert.match(copied.stderr, /note: .*gnss-copy\.dbc has the same contents as .*gnss\.dbc: loaded once/);

    // import: a later import with more DBC files does not rename what is in the store
    const data = join(dir, 'names');
    const first = await runCli(['import', LOG, '--dbc', GNSS, '--data-dir', data]);
    assert.equal(first.code, 0, first.stderr);
    const names = measurements(data);
    assert.ok(names.includes('gnss_pos#0x13'), names.join());
    const other = join(dir, 'engine.dbc');
    writeFileSync(other, `${HEAD}BO_ 1024 Engine: 1 N\n SG_ Rpm : 0|8@1+ (1,0) [0|255] "" N\n`);
    const later = await runCli(['import', LOG, '--dbc', GNSS, '--dbc', copy, '--dbc', other, '--data-dir', data]);
    assert.equal(later.code, 0, later.stderr);
    assert.deepEqual(measurements(data), names, 'no measurement renamed or added');
  });

  it('a message repeating a signal name: the n-th is <name>#<n> in dbc decode, decode and import', async () => {
    const dbc = join(dir, 'dup.dbc');
    writeFileSync(
      dbc,
      `${HEAD}BO_ 5 Dup: 2 N\n SG_ S : 0|8@1+ (1,0) [0|255] "" N\n SG_ S : 8|8@1+ (10,0) [0|2550] "" N\n`,
    );
    const t0 = 1704067200000000000n;
    const logDir = join(dir, 'dup', 'LOG', 'DEADBEEF', '00000001');
    mkdirSync(logDir, { recursive: true });
    const log = join(logDir, '00000001.MF4');
    writeFileSync(
      log,
      buildBusLog([{ timeNs: t0, channel: 1, id: 5, dlc: 2, data: Uint8Array.of(1, 2) }], {
        layout: 'canedge-v2',
        startTimeNs: t0,
        device: { serial: 'DEADBEEF' },
      }),
    );
    const dd = await runCli(['dbc', 'decode', dbc], { input: '{"id":5,"ext":false,"data":"0102"}\n' });
    assert.equal(dd.code, 0, dd.stderr);
    assert.match(dd.stdout, /"phys":\{"S":1,"S#2":20\},"raw":\{"S":1,"S#2":2\}/, 'each value under its own key');
    const dec = await runCli(['decode', log, '--dbc', dbc]);
    assert.equal(dec.code, 0, dec.stderr);
    assert.deepEqual(
      ndjson(dec.stdout).map((v) => [v.signal, v.value]),
      [
        ['S', 1],
        ['S#2', 20],
      ],
    );
    const data = join(dir, 'dup-data');
    const imp = await runCli(['import', log, '--dbc', dbc, '--data-dir', data]);
    assert.equal(imp.code, 0, imp.stderr);
    const s = TimeSeriesStore.open(join(data, 'store.db'), { readonly: true });
    try {
      assert.deepEqual(
        s
          .fields('Dup')
          .map((f) => f.field)
          .sort(),
        ['S', 'S#2'],
      );
      assert.equal(s.count(), 2);
    } finally {
      s.close();
    }
  });

  it('empty results explain themselves: an empty DBC, a --signals matching nothing, ids matching no frame', async () => {
    const empty = join(dir, 'empty.dbc');
    writeFileSync(empty, HEAD);
    for (const cmd of [['decode'], ['import', '--data-dir', join(dir, 'empty-data')]]) {
      const e = await runCli([cmd[0], LOG, '--dbc', empty, ...cmd.slice(1)]);
      assert.equal(e.code, 2, e.stderr);
      assert.match(e.stderr, /empty\.dbc: the DBC file defines no messages with signals.*SF_ERR_LOGDECODE_EMPTY_DBC/);
      const s = await runCli([cmd[0], LOG, '--dbc', GNSS, '--signals', 'NoSuchSignal', ...cmd.slice(1)]);
      assert.equal(s.code, 2, s.stderr);
      assert.match(s.stderr, /--signals "NoSuchSignal" matches no signal of the DBC files \(78 signals, e\.g\. /);
    }
    const other = join(dir, 'nothing-here.dbc');
    writeFileSync(other, `${HEAD}BO_ 1500 Engine: 1 N\n SG_ Rpm : 0|8@1+ (1,0) [0|255] "" N\n`);
    const none = await runCli(['decode', LOG, '--dbc', other]);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /no value: none of the 3,587 frames has a frame id the DBC files define/);
    const imp = await runCli(['import', LOG, '--dbc', other, '--data-dir', join(dir, 'none-data')]);
    assert.match(imp.stderr, /no value: none of the 3,587 frames has a frame id the DBC files define/);
    // a --signals matching signals of messages the log does not carry
    const sig = await runCli(['decode', LOG, '--dbc', GNSS, '--signals', '^gnss_imu#0x9\\.']);
    assert.equal(sig.code, 0, sig.stderr);
    assert.equal(sig.stdout, '');
    assert.match(
      sig.stderr,
      /no value: [\d,]+ of the 3,587 frames decoded, but none carries a signal matching --signals/,
    );
  });

  it('decode errors are broken down per message, with the transport-protocol reason', async () => {
    const tp = join(dir, 'tp.dbc');
    writeFileSync(tp, `${HEAD}BO_ 1979 Temperature: 54 N\n SG_ T : 400|8@1+ (1,-40) [0|0] "" N\n`);
    const log = join(fixturesDir, 'canedge', '00000170.MF4');
    for (const cmd of [['decode'], ['import', '--data-dir', join(dir, 'tp-data')]]) {
      const r = await runCli([cmd[0], log, '--dbc', tp, '--transport', 'off', ...cmd.slice(1)]);
      assert.match(
        r.stderr,
        /(\d+) decode error\(s\), by message:\n {2}Temperature \(0x7BB, .*tp\.dbc\): \d+ frame\(s\): needs transport-protocol reassembly: the DBC defines 54 bytes/,
      );
      const total = /(\d+) decode error\(s\), by message/.exec(r.stderr)?.[1];
      const one = /Temperature \(0x7BB, .*\): (\d+) frame/.exec(r.stderr)?.[1];
      assert.equal(one, total, 'all of them');
    }
  });
});
