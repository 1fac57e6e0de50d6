/**
 * Units of the log pipeline: time formatting, input expansion order, DBC grouping and names. (Time and duration
 * arguments are parsed by src/units: test/units.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SigflowError } from '../../src/errors/index.js';
import {
  buildDecoderConfig,
  decoderConfigFrom,
  expandInputs,
  NsFormatter,
  parseChannelSpec,
} from '../../src/pipelines/logdecode/index.js';

/** A predicate for assert.throws: a SigflowError with this code. */
const code = (c: string) => (e: unknown) => e instanceof SigflowError && e.code === c;

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

  it('combines the DBCs of a set, refuses id clashes between files, names by the own file only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigflow-logdecode-dbc-'));
    try {
      const head = 'VERSION ""\nBS_:\nBU_: N\n';
      writeFileSync(join(dir, 'a.dbc'), `${head}BO_ 1 M: 1 N\n SG_ S : 0|8@1+ (1,0) [0|255] "" N\n`);
      writeFileSync(join(dir, 'b.dbc'), `${head}BO_ 1 M: 1 N\n SG_ S : 0|8@1+ (2,0) [0|255] "" N\n`);
      writeFileSync(join(dir, 'c.dbc'), `${head}BO_ 2 Other: 1 N\n SG_ S : 0|8@1+ (1,0) [0|255] "" N\n`);
      assert.throws(
        () => buildDecoderConfig({ dbc: ['a.dbc', 'b.dbc', 'c.dbc'].map((f) => join(dir, f)) }),
        code('SF_ERR_DBC_ID_CLASH'),
      );
      const cfg = buildDecoderConfig({ dbc: ['a.dbc', 'c.dbc'].map((f) => join(dir, f)) });
      assert.equal(cfg.databases.length, 1, 'a+c combined');
      assert.deepEqual(cfg.databases[0].column, ['M.S', 'Other.S']);
      assert.throws(() => buildDecoderConfig({ dbc: [] }), code('SF_ERR_LOGDECODE_NO_DBC'));
      assert.throws(() => buildDecoderConfig({ dbc: [join(dir, 'none.dbc')] }), /cannot read DBC file/);
      assert.throws(() => buildDecoderConfig({ dbc: [join(dir, 'none.dbc')] }), code('SF_ERR_DBC_READ'));
      assert.deepEqual(parseChannelSpec('can2=x.dbc'), { bus: 'CAN', channel: 2, file: 'x.dbc' });
      for (const bad of ['CAN0=x.dbc', 'LIN1=x.ldf', 'CAN2', '=x'])
        assert.throws(() => parseChannelSpec(bad), code('SF_ERR_LOGDECODE_CHANNEL_SPEC'));
      assert.throws(
        () => decoderConfigFrom({ dbc: [join(dir, 'a.dbc')], channel: [], signals: '([' }),
        code('SF_ERR_LOGDECODE_SIGNAL_FILTER'),
      );
      const spec = decoderConfigFrom({ dbc: [join(dir, 'a.dbc')], channel: [`CAN2=${join(dir, 'c.dbc')}`] });
      assert.deepEqual([...spec.perChannel.keys()], [2]);
      writeFileSync(join(dir, 'bad.dbc'), 'BO_ x');
      assert.throws(
        () => buildDecoderConfig({ dbc: [join(dir, 'bad.dbc')] }),
        (e: unknown) => e instanceof SigflowError && e.exitCode === 2 && e.message.includes('bad.dbc'),
        'a syntax error is the DBC engine’s usage error, naming the file',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
