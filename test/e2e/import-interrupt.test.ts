/**
 * Ctrl-C / SIGTERM on `sigflow import` (issue 8, item 18): a real child process is interrupted while it reads log
 * files. It must say what was kept (files fully imported, records accepted by the outbox), save the ledger for
 * exactly those files (so the next run does not decode them again) and exit 130 (SIGINT) / 143 (SIGTERM).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../harness/cli.js';
import { cliArgv, fixturesDir } from '../harness/paths.js';

const log = join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4');
const dbc = join(fixturesDir, 'canedge/dbc/api-examples/examples/other/concatenate-mf4-by-period/dbc_files/gnss.dbc');
const FILES = 150;

/** Runs an import in a child and sends `sig` once its ledger holds more than `already` files (saved mid-run). */
function interruptedImport(
  logs: string,
  dataDir: string,
  sig: NodeJS.Signals,
  already: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ledgerBefore: number }> {
  const [cmd, ...pre] = cliArgv();
  const child = spawn(cmd, [...pre, 'import', logs, '--dbc', dbc, '--data-dir', dataDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const ledger = join(dataDir, 'imports.json');
  let ledgerBefore = 0;
  const poll = setInterval(() => {
    if (!existsSync(ledger)) return;
    try {
      ledgerBefore = Object.keys(JSON.parse(readFileSync(ledger, 'utf8')).files).length;
    } catch {
      return; // being replaced
    }
    if (ledgerBefore > already) {
      clearInterval(poll);
      child.kill(sig);
    }
  }, 5);
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(killer);
      resolve({ code, signal, stderr, ledgerBefore });
    });
  });
}

const ledgerFiles = (dataDir: string) =>
  Object.keys(JSON.parse(readFileSync(join(dataDir, 'imports.json'), 'utf8')).files as Record<string, unknown>).length;

describe('import interrupted by SIGINT / SIGTERM', () => {
  let dir = '';
  let logs = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-interrupt-'));
    logs = join(dir, 'logs');
    mkdirSync(logs);
    // many copies of one log: the ledger is saved every 20 files, so a signal arrives mid-run
    for (let i = 0; i < FILES; i++) copyFileSync(log, join(logs, `copy${String(i).padStart(3, '0')}.MF4`));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('says what was kept, saves the ledger for those files, exits 130 / 143; the next run goes on from there', async () => {
    const data = join(dir, 'data');
    let done = 0;
    for (const [sig, status] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const r = await interruptedImport(logs, data, sig, done);
      assert.equal(r.signal, null, `the child ends by itself, not killed by ${sig}\n${r.stderr}`);
      assert.equal(r.code, status, r.stderr);
      const m = new RegExp(
        `interrupted by ${sig}: kept (\\d+) file\\(s\\) fully imported \\(marked in .*imports\\.json\\), (\\d+) records accepted by the outbox`,
      ).exec(r.stderr);
      assert.ok(m, r.stderr);
      const kept = Number(m[1]);
      assert.ok(kept >= 1 && done + kept < FILES, `interrupted mid-run (${kept} of ${FILES - done} kept)`);
      assert.ok(Number(m[2]) >= kept * 3000, 'every kept file has its records in the outbox');
      assert.doesNotMatch(r.stderr, /\n {4}at /);
      done += kept;
      // the ledger holds exactly the files reported as kept, not only those saved before the signal
      assert.equal(ledgerFiles(data), done);
      assert.ok(done >= r.ledgerBefore);
    }
    const rest = await runCli(['import', logs, '--dbc', dbc, '--data-dir', data], { timeoutMs: 120_000 });
    assert.equal(rest.code, 0, rest.stderr);
    assert.match(rest.stderr, new RegExp(`${FILES - done} file\\(s\\) imported, ${done} already imported, 0 failed`));
    assert.equal(ledgerFiles(data), FILES);
  });
});
