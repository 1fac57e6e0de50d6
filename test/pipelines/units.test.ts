/** Units of the log pipeline: time formatting/parsing, durations, input expansion order, DBC grouping and names. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildDecoderConfig, DbcConfigError, parseChannelSpec } from '../../src/pipelines/logdecode/dbcset.js';
import { expandInputs } from '../../src/pipelines/logdecode/inputs.js';
import { NsFormatter, parseDuration, parseTimeArg, TimeArgError } from '../../src/pipelines/logdecode/time.js';

describe('NsFormatter', () => {
  it('equals BigInt arithmetic for any start and integer offset below 2^53', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 4_000_000_000_000_000_000n }), fc.maxSafeNat(), (start, off) => {
        const f = new NsFormatter(start);
        assert.equal(f.format(off), (start + BigInt(off)).toString());
      }),
      { numRuns: 2000 },
    );
  });
  it('handles the epoch, carries and negative starts', () => {
    assert.equal(new NsFormatter(0n).format(5), '5');
    assert.equal(new NsFormatter(999_999_999n).format(1), '1000000000');
    assert.equal(new NsFormatter(1_999_999_999n).format(2), '2000000001');
    assert.equal(new NsFormatter(-10n).format(3), '-7');
  });
});

describe('time arguments', () => {
  it('parses ISO 8601 with sub-millisecond digits, offsets and integer ns', () => {
    assert.equal(parseTimeArg('2024-01-01T00:00:00Z', 'x'), 1704067200000000000n);
    assert.equal(parseTimeArg('2024-01-01T00:00:00.123456789Z', 'x'), 1704067200123456789n);
    assert.equal(parseTimeArg('2024-01-01T01:00:00+01:00', 'x'), 1704067200000000000n);
    assert.equal(parseTimeArg('1704067200000000001', 'x'), 1704067200000000001n);
    for (const bad of ['yesterday', '2024-13-45T00:00:00Z', '', '12:00']) {
      assert.throws(
        () => parseTimeArg(bad, '--from'),
        (e: Error) => e instanceof TimeArgError && e.message.startsWith('--from'),
      );
    }
  });
  it('parses durations', () => {
    assert.equal(parseDuration('1s', 'r'), 1_000_000_000n);
    assert.equal(parseDuration('250ms', 'r'), 250_000_000n);
    assert.equal(parseDuration('0.5s', 'r'), 500_000_000n);
    assert.equal(parseDuration('10m', 'r'), 600_000_000_000n);
    assert.equal(parseDuration('1h', 'r'), 3_600_000_000_000n);
    for (const bad of ['0s', '1', 's', '-1s', '1 fortnight'])
      assert.throws(() => parseDuration(bad, 'r'), TimeArgError);
  });
});

describe('inputs and DBC configuration', () => {
  it('expands folders in tree order (device, session, split), explicit files in argument order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigflow-logdecode-units-'));
    try {
      const paths = [
        'LOG/BBBBBBBB/00000001/00000001.MF4',
        'LOG/AAAAAAAA/00000010/00000002-65000000.MF4',
        'LOG/AAAAAAAA/00000010/00000010.MFC',
        'LOG/AAAAAAAA/00000002/00000001.MF4',
        'LOG/.cache/00000001.MF4',
        'LOG/notes.txt',
      ];
      for (const p of paths) {
        mkdirSync(join(dir, p, '..'), { recursive: true });
        writeFileSync(join(dir, p), 'x');
      }
      const { files, problems } = await expandInputs([join(dir, 'LOG'), join(dir, 'missing')]);
      assert.deepEqual(
        files.map((f) => f.path.slice(dir.length + 1)),
        [
          'LOG/AAAAAAAA/00000002/00000001.MF4',
          'LOG/AAAAAAAA/00000010/00000002-65000000.MF4',
          'LOG/AAAAAAAA/00000010/00000010.MFC',
          'LOG/BBBBBBBB/00000001/00000001.MF4',
        ],
      );
      assert.equal(files[0].folderDevice, 'AAAAAAAA');
      assert.equal(problems.length, 1);
      assert.match(problems[0].message, /ENOENT/);
      const explicit = await expandInputs([join(dir, paths[0]), join(dir, paths[3]), join(dir, paths[0])]);
      assert.deepEqual(
        explicit.files.map((f) => f.path),
        [join(dir, paths[0]), join(dir, paths[3])],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('combines DBCs without id clashes, separates clashing ones, qualifies shared names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigflow-logdecode-dbc-'));
    try {
      const head = 'VERSION ""\nBS_:\nBU_: N\n';
      writeFileSync(join(dir, 'a.dbc'), `${head}BO_ 1 M: 1 N\n SG_ S : 0|8@1+ (1,0) [0|255] "" N\n`);
      writeFileSync(join(dir, 'b.dbc'), `${head}BO_ 1 M: 1 N\n SG_ S : 0|8@1+ (2,0) [0|255] "" N\n`);
      writeFileSync(join(dir, 'c.dbc'), `${head}BO_ 2 Other: 1 N\n SG_ S : 0|8@1+ (1,0) [0|255] "" N\n`);
      const cfg = buildDecoderConfig({ dbc: ['a.dbc', 'b.dbc', 'c.dbc'].map((f) => join(dir, f)) });
      assert.equal(cfg.databases.length, 2, 'a+c combined, b separate');
      assert.deepEqual(cfg.databases[0].column, ['a:M.S', 'Other.S']);
      assert.deepEqual(cfg.databases[1].column, ['b:M.S']);
      assert.throws(() => buildDecoderConfig({ dbc: [] }), DbcConfigError);
      assert.throws(() => buildDecoderConfig({ dbc: [join(dir, 'none.dbc')] }), /cannot read DBC file/);
      assert.deepEqual(parseChannelSpec('can2=x.dbc'), { bus: 'CAN', channel: 2, file: 'x.dbc' });
      for (const bad of ['CAN0=x.dbc', 'LIN1=x.ldf', 'CAN2', '=x'])
        assert.throws(() => parseChannelSpec(bad), DbcConfigError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
