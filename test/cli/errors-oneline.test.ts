/**
 * Ordinary conditions are one line, not a stack trace (issue 8, item 13): two imports on one data directory, a
 * read-only data directory (and a new folder on a read-only mount), damaged store and outbox files, a 16 MiB stdin
 * line in `dbc decode`. Each is run through the real CLI and must print one `sigflow: …` line naming the condition
 * and ending with its code, exit 1 or 2, and no stack frame — the stack only with SIGFLOW_DEBUG=1. The safety net in
 * src/cli/main.ts (OS and SQLite error codes that reach the top without a SigflowError) is checked directly.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { reportError } from '../../src/cli/main.js';
import { Outbox } from '../../src/outbox/index.js';
import { type CliResult, runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';

const log = join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4');
const dbc = join(fixturesDir, 'canedge/dbc/api-examples/examples/other/concatenate-mf4-by-period/dbc_files/gnss.dbc');

/** One `sigflow: …` line naming the condition, ending with an SF_ERR code, exit 1 or 2, no stack frame. */
function assertOneLine(r: CliResult, condition: RegExp, what: string): void {
  assert.ok(r.code === 1 || r.code === 2, `${what}: exit ${r.code}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n {4}at /, `${what}: a stack trace\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('sigflow: '));
  assert.equal(lines.length, 1, `${what}: one error line\n${r.stderr}`);
  assert.match(lines[0], condition, what);
  assert.match(lines[0], / \(SF_ERR_[A-Z0-9_]+\)$/, `${what}: the line ends with the error code`);
}

describe('ordinary conditions through the CLI: one line, a code, exit 1/2, no stack', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-oneline-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('two imports on one data directory: "in use by process N", what to do', async () => {
    const data = join(dir, 'busy');
    // this test process holds the outbox, as a running import would
    const holder = Outbox.open({
      dataDir: join(data, 'outbox'),
      sinks: [{ sink: { name: 'store', write: async () => ({ kind: 'ok' as const }), close: async () => {} } }],
      logger: pino({ level: 'silent' }),
    });
    try {
      const r = await runCli(['import', log, '--dbc', dbc, '--data-dir', data]);
      assertOneLine(r, new RegExp(`in use by process ${process.pid}.*wait for it to finish`), 'second import');
      assert.match(r.stderr, /\(SF_ERR_OUTBOX_LOCKED\)/);
      assert.equal(r.code, 1);
    } finally {
      await holder.close();
    }
  });

  it('a read-only data directory, and a new folder on a read-only mount', async (t) => {
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    let mounted = false;
    if (process.getuid?.() === 0) {
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro], { stdio: 'ignore' });
        mounted = true;
      } catch {
        t.skip('root without permission to mount a read-only tmpfs: cannot make a read-only folder');
        return;
      }
    } else chmodSync(ro, 0o555);
    try {
      const r = await runCli(['import', log, '--dbc', dbc, '--data-dir', ro]);
      assertOneLine(r, /--data-dir .*ro (is on a read-only file system|is not writable)/, 'read-only data dir');
      const n = await runCli(['import', log, '--dbc', dbc, '--data-dir', join(ro, 'new')]);
      assertOneLine(n, /--data-dir .*new/, 'new folder on a read-only mount');
    } finally {
      if (mounted) execFileSync('umount', [ro]);
      else chmodSync(ro, 0o755);
    }
  });

  it('a damaged store file: import, store list and store retention', async () => {
    const data = join(dir, 'damaged-store');
    mkdirSync(data);
    const junk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) & 0xff;
    writeFileSync(join(data, 'store.db'), junk);
    const imp = await runCli(['import', log, '--dbc', dbc, '--data-dir', data]);
    assertOneLine(imp, /store .*store\.db/, 'import into a damaged store');
    for (const args of [
      ['store', 'list', join(data, 'store.db')],
      ['store', 'retention', join(data, 'store.db'), '--max-age', '1d', '--yes'],
    ]) {
      assertOneLine(await runCli(args), /store\.db/, args.slice(0, 2).join(' '));
    }
  });

  it('a damaged outbox file: outbox status', async () => {
    const data = join(dir, 'damaged-outbox');
    mkdirSync(data);
    writeFileSync(join(data, 'outbox.db'), Buffer.alloc(64 * 1024, 0x5a));
    assertOneLine(await runCli(['outbox', 'status', '--data-dir', data]), /outbox\.db/, 'outbox status');
  });

  it('a 16 MiB stdin line in dbc decode', async () => {
    const cantools = join(fixturesDir, 'dbc', 'dbc', 'cantools', 'foobar.dbc');
    const line = `{"id":1,"extended":false,"data":"${'a'.repeat(17 * 1024 * 1024)}"}\n`;
    const r = await runCli(['dbc', 'decode', cantools], { input: line });
    assert.doesNotMatch(r.stderr, /\n {4}at /, r.stderr);
    assert.ok(r.code === 1 || r.code === 2, `exit ${r.code}`);
    assert.match(r.stderr, /line.*(longer|too long).*\(SF_ERR_[A-Z0-9_]+\)/);
  });

  it('SIGFLOW_DEBUG=1 adds the stack to the same line', async () => {
    const data = join(dir, 'debug');
    mkdirSync(data);
    writeFileSync(join(data, 'outbox.db'), Buffer.alloc(4096, 0x5a));
    process.env.SIGFLOW_DEBUG = '1';
    try {
      const r = await runCli(['outbox', 'status', '--data-dir', data]);
      assert.match(r.stderr, /^sigflow: .*\(SF_ERR_OUTBOX_[A-Z_]+\)\n/);
      assert.match(r.stderr, /\n {4}at /);
    } finally {
      delete process.env.SIGFLOW_DEBUG;
    }
  });
});

describe('the safety net in main.ts: OS and SQLite conditions are one line with a code, exit 1', () => {
  const capture = (err: unknown): { code: number; out: string } => {
    const write = process.stderr.write;
    let out = '';
    process.stderr.write = ((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      return { code: reportError(err), out };
    } finally {
      process.stderr.write = write;
    }
  };
  const errno = (code: string, syscall: string, path: string) =>
    Object.assign(new Error(`${code}: something, ${syscall} '${path}'`), { code, syscall, path });
  const sqlite = (code: string, message: string) => Object.assign(new Error(message), { code });

  for (const [err, want] of [
    [
      errno('EACCES', 'open', '/x/store.db'),
      /^sigflow: open \/x\/store\.db: permission denied .*\(SF_ERR_CLI_SYSTEM\)\n$/,
    ],
    [
      errno('EROFS', 'mkdir', '/mnt/ro/new'),
      /^sigflow: mkdir \/mnt\/ro\/new: read-only file system .*\(SF_ERR_CLI_SYSTEM\)\n$/,
    ],
    [errno('ENOSPC', 'write', '/x/out.csv'), /^sigflow: write \/x\/out\.csv: no space left .*\(SF_ERR_CLI_SYSTEM\)\n$/],
    [
      errno('ENOENT', 'mkdir', '/mnt/ro/new'),
      /^sigflow: mkdir \/mnt\/ro\/new: no such file or folder .*\(SF_ERR_CLI_SYSTEM\)\n$/,
    ],
    [errno('EBUSY', 'rename', '/x/a'), /^sigflow: rename \/x\/a: busy.*\(SF_ERR_CLI_SYSTEM\)\n$/],
    [
      sqlite('SQLITE_CORRUPT', 'database disk image is malformed'),
      /^sigflow: database disk image is malformed: the database file is damaged .*\(SF_ERR_CLI_DATABASE\)\n$/,
    ],
    [
      sqlite('SQLITE_NOTADB', 'file is not a database'),
      /^sigflow: file is not a database: .*\(SF_ERR_CLI_DATABASE\)\n$/,
    ],
    [sqlite('SQLITE_BUSY', 'database is locked'), /^sigflow: database is locked: .*busy.*\(SF_ERR_CLI_DATABASE\)\n$/],
    [sqlite('SQLITE_IOERR_WRITE', 'disk I/O error'), /^sigflow: disk I\/O error: .*\(SF_ERR_CLI_DATABASE\)\n$/],
    [
      new RangeError('Invalid string length'),
      /^sigflow: the output is too large to build in memory \(SF_ERR_CLI_TOO_LARGE\)\n$/,
    ],
  ] as const) {
    it(`${(err as { code?: string }).code ?? err.message}`, () => {
      const { code, out } = capture(err);
      assert.equal(code, 1);
      assert.match(out, want);
    });
  }

  it('anything else is still an internal error', () => {
    const { code, out } = capture(new TypeError('x is not a function'));
    assert.equal(code, 1);
    assert.match(out, /^sigflow: internal error: x is not a function \(SF_ERR_INTERNAL; /);
  });
});
