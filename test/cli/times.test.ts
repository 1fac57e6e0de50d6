/**
 * Times and durations on the command line go through the one grammar (src/units): a time without an offset is UTC
 * on every machine — the children here run with TZ=Asia/Tokyo (UTC+9), where the old parsers read such a time as
 * local — and the calendar is checked (2023-02-30 is a usage error, exit 2, in every command that takes a time).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBusLog, type WriteFrame } from '../../src/formats/mdf4/index.js';
import { runCli } from '../harness/cli.js';

// the children inherit it: a machine whose local time is 9 hours ahead of UTC
process.env.TZ = 'Asia/Tokyo';

const T10 = 1673431200000000000n; // 2023-01-11T10:00:00Z

/** Five frames one second apart: 09:59:58Z … 10:00:02Z. */
const FRAMES: WriteFrame[] = [-2, -1, 0, 1, 2].map((s) => ({
  timeNs: T10 + BigInt(s) * 1_000_000_000n,
  channel: 1,
  id: 256,
  dlc: 1,
  data: Uint8Array.from([s + 2]),
}));

const DBC = `VERSION ""
BS_:
BU_: N
BO_ 256 M: 1 N
 SG_ S : 0|8@1+ (1,0) [0|255] "" N
`;

describe('time arguments: UTC unless an offset is given; calendar checked', () => {
  let dir = '';
  let log = '';
  let dbc = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-cli-times-'));
    log = join(dir, 'times.MF4');
    writeFileSync(log, buildBusLog(FRAMES, { layout: 'canedge-v2', startTimeNs: FRAMES[0].timeNs - 1_000_000n }));
    dbc = join(dir, 'm.dbc');
    writeFileSync(dbc, DBC);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const times = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { t: string }).t);

  it('frames and decode: --from 2023-01-11T10:00:00 means 10:00:00Z, not 10:00 local time', async () => {
    const all = await runCli(['frames', log]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(times(all.stdout).length, 5);
    const want = [T10, T10 + 1_000_000_000n, T10 + 2_000_000_000n].map(String);
    for (const from of [
      '2023-01-11T10:00:00',
      '2023-01-11 10:00:00',
      '2023-01-11T10:00:00Z',
      '2023-01-11T19:00:00+09:00',
    ]) {
      const r = await runCli(['frames', log, '--from', from]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(times(r.stdout), want, `frames --from ${from}`);
      const d = await runCli(['decode', log, '--dbc', dbc, '--from', from]);
      assert.equal(d.code, 0, d.stderr);
      assert.deepEqual(times(d.stdout), want, `decode --from ${from}`);
    }
    // --to without an offset: UTC too (10:00 in Tokyo would be 01:00Z, before every frame)
    const to = await runCli(['frames', log, '--to', '2023-01-11T10:00:00']);
    assert.deepEqual(times(to.stdout), [T10 - 2_000_000_000n, T10 - 1_000_000_000n, T10].map(String));
    // a date alone is midnight UTC
    const day = await runCli(['frames', log, '--from', '2023-01-11', '--to', '2023-01-12']);
    assert.equal(times(day.stdout).length, 5);
  });

  it('--from 2023-02-30 is not a calendar date: exit 2 in every command that takes a time', async () => {
    const cases: string[][] = [
      ['frames', log, '--from', '2023-02-30'],
      ['decode', log, '--dbc', dbc, '--from', '2023-02-30'],
      ['import', log, '--dbc', dbc, '--data-dir', join(dir, 'data'), '--from', '2023-02-30'],
      ['store', 'query', join(dir, 'none.db'), 'm', '--from', '2023-02-30', '--to', '2023-03-01'],
      ['logs', 'index', dir, '--index', join(dir, 'index.json'), '--from', '2023-02-30'],
    ];
    for (const args of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /^sigflow: --from: "2023-02-30" is not a calendar date \(2023-02 has no day 30\) \(SF_ERR_UNITS_TIME\)\n/,
      );
      assert.equal(r.stdout, '');
    }
    const late = await runCli(['frames', log, '--from', '2023-01-11T24:00:00']);
    assert.equal(late.code, 2);
    assert.match(late.stderr, /--from: .* is not a time of day/);
  });

  it('--from after --to names both instants in UTC', async () => {
    const r = await runCli(['frames', log, '--from', '2023-01-11T10:00:01', '--to', '2023-01-11T10:00:00']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--from is after --to \(2023-01-11T10:00:01Z > 2023-01-11T10:00:00Z\)/);
  });

  it('durations: --resample takes the units grammar (0.5s, 1m), a bad one is exit 2', async () => {
    const half = await runCli(['decode', log, '--dbc', dbc, '--format', 'csv', '--resample', '0.5s']);
    assert.equal(half.code, 0, half.stderr);
    assert.equal(half.stdout.trim().split('\n').length, 1 + 5, 'header + one row per frame');
    const minute = await runCli(['decode', log, '--dbc', dbc, '--format', 'csv', '--resample', '1m']);
    assert.equal(minute.stdout.trim().split('\n').length, 1 + 2, '09:59 and 10:00');
    for (const bad of ['soon', '0s', '-1s']) {
      const r = await runCli(['decode', log, '--dbc', dbc, '--format', 'csv', '--resample', bad]);
      assert.equal(r.code, 2, `--resample ${bad}: ${r.stderr}`);
      assert.match(r.stderr, /^sigflow: --resample: /);
    }
  });
});
