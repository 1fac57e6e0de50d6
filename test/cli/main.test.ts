/**
 * The one place errors become exit statuses (src/cli/main.ts): SigflowErrors print one line and exit with their
 * catalogue status, commander's usage errors exit 2, anything else is an internal error (exit 1); the stack only
 * with SIGFLOW_DEBUG=1. The version comes from package.json.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { reportError, VERSION } from '../../src/cli/main.js';
import { SigflowError } from '../../src/errors/index.js';
import { runCli } from '../harness/cli.js';
import { repoRoot } from '../harness/paths.js';

/** Runs fn with process.stderr.write captured; returns what it wrote. */
function captureStderr(fn: () => void): string {
  const write = process.stderr.write;
  let out = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return out;
}

describe('sigflow: exit statuses and error lines', () => {
  it('--version prints the version of package.json', async () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(VERSION, pkg.version);
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${pkg.version}\n`);
  });

  it('usage errors found by commander exit 2; --help exits 0', async () => {
    for (const args of [['frames', '--no-such-option', 'x'], ['frames'], ['no-such-command'], []]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.notEqual(r.stderr, '');
    }
    const help = await runCli(['decode', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /a time without an offset is UTC/);
  });

  it('a SigflowError is one line without a stack; SIGFLOW_DEBUG=1 adds the stack and the code', async () => {
    const args = ['decode', 'x.MF4', '--dbc', join(repoRoot, 'no-such.dbc')];
    const r = await runCli(args);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^sigflow: cannot read DBC file .*no-such\.dbc: ENOENT \(SF_ERR_DBC_READ\)\n$/);
    process.env.SIGFLOW_DEBUG = '1';
    try {
      const d = await runCli(args);
      assert.equal(d.code, 2);
      assert.match(d.stderr, /^sigflow: cannot read DBC file /);
      assert.match(d.stderr, /\n {4}at /, 'a stack trace');
      assert.match(d.stderr, /\[SF_ERR_DBC_READ at .*no-such\.dbc\]/);
    } finally {
      delete process.env.SIGFLOW_DEBUG;
    }
  });

  it('maps errors in one place: the catalogue status, or SF_ERR_INTERNAL for anything else', () => {
    let code = 0;
    let out = captureStderr(() => {
      code = reportError(new SigflowError('SF_ERR_UNITS_TIME', '--from: "x" is not a time'));
    });
    assert.equal(code, 2);
    assert.equal(out, 'sigflow: --from: "x" is not a time (SF_ERR_UNITS_TIME)\n');
    out = captureStderr(() => {
      code = reportError(new SigflowError('SF_ERR_LOGDECODE_FAIL_FAST', 'stopped'));
    });
    assert.equal(code, 1);
    assert.equal(out, 'sigflow: stopped (SF_ERR_LOGDECODE_FAIL_FAST)\n');
    out = captureStderr(() => {
      code = reportError(new TypeError('x is not a function'));
    });
    assert.equal(code, 1);
    assert.equal(
      out,
      'sigflow: internal error: x is not a function (SF_ERR_INTERNAL; set SIGFLOW_DEBUG=1 for the stack)\n',
    );
  });
});
