/**
 * One rule for times in every command (issue 8, item 8), with the children in TZ=America/New_York (UTC-5 in
 * January): `import --from/--to`, `store query --from/--to`, `store retention --before` and `logs index --from`
 * read a time without an offset as UTC, and messages show instants as RFC 3339 UTC, never as nanoseconds.
 * (test/cli/times.test.ts covers frames/decode and the calendar check under TZ=Asia/Tokyo.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBusLog, type WriteFrame } from '../../src/formats/mdf4/index.js';
import { runCli } from '../harness/cli.js';

process.env.TZ = 'America/New_York';

const T10 = 1673431200000000000n; // 2023-01-11T10:00:00Z (05:00 in New York)
const S = 1_000_000_000n;

/** Five frames one second apart: 09:59:58Z … 10:00:02Z. */
const FRAMES: WriteFrame[] = [-2, -1, 0, 1, 2].map((s) => ({
  timeNs: T10 + BigInt(s) * S,
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

describe('times without an offset are UTC in import, store and logs index (TZ=America/New_York)', () => {
  let dir = '';
  let log = '';
  let dbc = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-times-tz-'));
    mkdirSync(join(dir, 'LOG', 'AABBCCDD', '00000001'), { recursive: true });
    log = join(dir, 'LOG', 'AABBCCDD', '00000001', '00000001.MF4');
    writeFileSync(log, buildBusLog(FRAMES, { layout: 'canedge-v2', startTimeNs: FRAMES[0].timeNs - 1_000_000n }));
    dbc = join(dir, 'm.dbc');
    writeFileSync(dbc, DBC);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const sampleTimes = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .flatMap((l) => (JSON.parse(l) as { samples: { time: string }[] }).samples.map((s) => BigInt(s.time)));

  it('import --from/--to and store query --from/--to agree, in UTC', async () => {
    const data = join(dir, 'data');
    const imp = await runCli([
      'import',
      log,
      '--dbc',
      dbc,
      '--data-dir',
      data,
      '--from',
      '2023-01-11T10:00:00',
      '--to',
      '2023-01-11 10:00:01',
    ]);
    assert.equal(imp.code, 0, imp.stderr);
    const store = join(data, 'store.db');
    const all = await runCli(['store', 'query', store, 'M', '--from', '2023-01-11', '--to', '2023-01-12']);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(sampleTimes(all.stdout), [T10, T10 + S], 'import kept 10:00:00Z and 10:00:01Z');
    const q = await runCli([
      'store',
      'query',
      store,
      'M',
      '--from',
      '2023-01-11T10:00:01',
      '--to',
      '2023-01-11T10:00:02',
    ]);
    assert.equal(q.code, 0, q.stderr);
    assert.deepEqual(sampleTimes(q.stdout), [T10 + S]);
  });

  it('messages show instants in RFC 3339 UTC, not nanoseconds', async () => {
    const store = join(dir, 'data', 'store.db');
    const r = await runCli([
      'store',
      'query',
      store,
      'M',
      '--from',
      '2023-01-11T10:00:01',
      '--to',
      '2023-01-11T10:00:00',
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /query range is empty: from 2023-01-11T10:00:01Z is not before to 2023-01-11T10:00:00Z/);
    assert.doesNotMatch(r.stderr, /\d{15,}/);
    const ret = await runCli(['store', 'retention', store, '--before', '2023-01-11T10:00:01', '--dry-run']);
    assert.equal(ret.code, 0, ret.stderr);
    assert.equal(ret.stdout, 'would delete 1 samples before 2023-01-11T10:00:01Z\n  M: 1\n');
  });

  it('logs index --from without an offset is UTC', async () => {
    const root = join(dir, 'LOG');
    const show = async (from: string) => {
      const r = await runCli(['logs', 'index', root, '--index', join(dir, 'index.json'), '--from', from, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { devices: { sessions: { files: unknown[] }[] }[] };
      return j.devices.flatMap((d) => d.sessions.flatMap((x) => x.files)).length;
    };
    // the log ends at 10:00:02Z: from 10:00:02 UTC it is shown; read as New York time (15:00:02Z) it would not be
    assert.equal(await show('2023-01-11T10:00:02'), 1);
    assert.equal(await show('2023-01-11T10:00:03'), 0);
  });
});
