/**
 * The install root's links and state (src/update): switch, rollback, prune, the report a starting version makes,
 * the running pid — on folders made here (no packages needed); and the guard against a small HTTP server that
 * plays the new version.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SigflowError } from '../../src/errors/index.js';
import {
  COMPLETE_MARKER,
  currentVersion,
  guardUpdate,
  installRootOf,
  markReported,
  pendingReport,
  previousVersion,
  pruneVersions,
  readRunningPid,
  readUpdateState,
  recordRunningPid,
  rollback,
  switchVersion,
  waitForOutcome,
} from '../../src/update/index.js';

const work = mkdtempSync(join(tmpdir(), 'sigflow-update-switch-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A root with complete (marked) version folders, staged in this order. */
function rootWith(...versions: string[]): string {
  const root = mkdtempSync(join(work, 'root-'));
  for (const v of versions) {
    mkdirSync(join(root, 'versions', v), { recursive: true });
    writeFileSync(join(root, 'versions', v, COMPLETE_MARKER), JSON.stringify({ version: v }));
  }
  return root;
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof SigflowError && e.code === code);
}

describe('switchVersion, rollback, pruneVersions', () => {
  it('first install, update, rollback: links replaced atomically, state says what happened', () => {
    const root = rootWith('1.0.0', '1.1.0');
    const first = switchVersion(root, '1.0.0');
    assert.equal(first.from, null);
    assert.equal(currentVersion(root), '1.0.0');
    assert.equal(previousVersion(root), null);
    assert.equal(readlinkSync(join(root, 'current')), join('versions', '1.0.0'), 'relative: the root can move');
    const s = switchVersion(root, '1.1.0', { deadlineMs: 30_000 });
    assert.deepEqual([s.from, s.to, s.status], ['1.0.0', '1.1.0', 'switching']);
    assert.ok(Date.parse(s.deadline) - Date.parse(s.at) === 30_000);
    assert.equal(currentVersion(root), '1.1.0');
    assert.equal(previousVersion(root), '1.0.0');
    assert.deepEqual(readUpdateState(root), s);
    assert.deepEqual(
      readdirSync(root).sort(),
      ['current', 'previous', 'state', 'versions'],
      'no temporary link left behind',
    );
    const r = rollback(root, 'not healthy');
    assert.deepEqual([r.from, r.to, r.status, r.reason], ['1.0.0', '1.1.0', 'rolled_back', 'not healthy']);
    assert.equal(currentVersion(root), '1.0.0');
    assert.equal(previousVersion(root), null, 'nothing safe to roll back to any more');
    throwsCode(() => rollback(root, 'again'), 'SF_ERR_UPDATE_LAYOUT');
  });

  it('refuses a version not staged (or incomplete), the current one, and a bad name', () => {
    const root = rootWith('1.0.0');
    mkdirSync(join(root, 'versions', '2.0.0')); // no marker: staging did not finish
    switchVersion(root, '1.0.0');
    throwsCode(() => switchVersion(root, '2.0.0'), 'SF_ERR_UPDATE_VERSION');
    throwsCode(() => switchVersion(root, '3.0.0'), 'SF_ERR_UPDATE_VERSION');
    throwsCode(() => switchVersion(root, '1.0.0'), 'SF_ERR_UPDATE_VERSION');
    throwsCode(() => switchVersion(root, '../1.0.0'), 'SF_ERR_UPDATE_VERSION');
    assert.equal(currentVersion(root), '1.0.0');
  });

  it('prune keeps current and previous (and the newest others up to keep), leaves *.partial to staging', () => {
    const root = rootWith('1.0.0', '1.1.0', '1.2.0', '1.3.0');
    mkdirSync(join(root, 'versions', '1.4.0.partial'));
    switchVersion(root, '1.1.0');
    switchVersion(root, '1.2.0');
    assert.deepEqual(pruneVersions(root).sort(), ['1.0.0', '1.3.0']);
    assert.deepEqual(readdirSync(join(root, 'versions')).sort(), ['1.1.0', '1.2.0', '1.4.0.partial']);
    assert.deepEqual(pruneVersions(root, 2), []);
  });

  it('pendingReport: done for the new version, rolled_back for the old one, until markReported', () => {
    const root = rootWith('1.0.0', '1.1.0');
    assert.equal(pendingReport(root), null);
    switchVersion(root, '1.0.0');
    switchVersion(root, '1.1.0');
    assert.equal(pendingReport(root, '1.1.0')?.status, 'switching', 'undecided: wait for the outcome');
    assert.equal(pendingReport(root, '1.0.0'), null);
    rollback(root, 'no answer');
    assert.equal(pendingReport(root, '1.1.0'), null);
    const p = pendingReport(root, '1.0.0');
    assert.deepEqual([p?.status, p?.reason], ['rolled_back', 'no answer']);
    markReported(root, '1.0.0');
    assert.equal(pendingReport(root, '1.0.0'), null);
    assert.equal(readUpdateState(root)?.reportedBy, '1.0.0');
  });

  it('recordRunningPid and installRootOf', () => {
    const root = rootWith('1.0.0');
    assert.equal(installRootOf(join(root, 'versions', '1.0.0')), root);
    switchVersion(root, '1.0.0');
    assert.equal(installRootOf(join(root, 'current')), root, 'through the link too');
    assert.equal(installRootOf(work), null);
    recordRunningPid(root, '1.0.0', 4242);
    assert.deepEqual({ ...readRunningPid(root), startedAt: 'x' }, { pid: 4242, version: '1.0.0', startedAt: 'x' });
    writeFileSync(join(root, 'state', 'update.json'), 'not json');
    throwsCode(() => readUpdateState(root), 'SF_ERR_UPDATE_LAYOUT');
  });
});

/**
 * An HTTP server playing a running sigflow: /healthz with `health`, /status with `version` — or, `guarded`, as
 * one with server.auth: /status refused, the version said by /healthz.
 */
async function fakeSigflow(state: { health: number; version: string; guarded?: boolean }) {
  const server = createServer((req, res) => {
    if (req.url === '/healthz')
      res.writeHead(state.health).end(state.guarded ? JSON.stringify({ status: 'ok', version: state.version }) : '{}');
    else if (req.url === '/status')
      res.writeHead(state.guarded ? 401 : 200).end(JSON.stringify({ version: state.version }));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
  return { url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('guardUpdate', () => {
  it('done once the new version answers healthy with its version; old versions pruned; waitForOutcome resolves', async () => {
    const root = rootWith('1.0.0', '1.1.0', '1.2.0');
    switchVersion(root, '1.0.0');
    switchVersion(root, '1.1.0');
    switchVersion(root, '1.2.0');
    const app = { health: 503, version: '1.1.0' };
    const srv = await fakeSigflow(app);
    const outcome = waitForOutcome(root, { pollMs: 50 });
    setTimeout(() => (app.health = 200), 300); // healthy, but still the old version answering
    setTimeout(() => (app.version = '1.2.0'), 600);
    const lines: string[] = [];
    const r = await guardUpdate({
      root,
      healthUrl: srv.url,
      expectVersion: '1.2.0',
      deadlineMs: 10_000,
      pollMs: 100,
      log: (l) => lines.push(l),
    });
    await srv.close();
    assert.equal(r.status, 'done', lines.join('\n'));
    assert.deepEqual(r.pruned, ['1.0.0']);
    assert.equal((await outcome)?.status, 'done');
    assert.ok(lines.some((l) => /answered 503/.test(l)) && lines.some((l) => /version 1\.1\.0 answers/.test(l)));
    assert.equal(pendingReport(root, '1.2.0')?.status, 'done');
    // a second guard for the same switch has nothing to decide
    assert.equal(
      (await guardUpdate({ root, healthUrl: srv.url, expectVersion: '1.2.0', deadlineMs: 100 })).status,
      'skipped',
    );
  });

  it('with server.auth (/status refused without credentials): the version /healthz says is enough', async () => {
    const root = rootWith('1.0.0', '1.1.0');
    switchVersion(root, '1.0.0');
    switchVersion(root, '1.1.0');
    const app = { health: 200, version: '1.0.0', guarded: true };
    const srv = await fakeSigflow(app);
    setTimeout(() => (app.version = '1.1.0'), 300);
    const lines: string[] = [];
    const r = await guardUpdate({
      root,
      healthUrl: srv.url,
      expectVersion: '1.1.0',
      deadlineMs: 10_000,
      pollMs: 100,
      log: (l) => lines.push(l),
    });
    await srv.close();
    assert.equal(r.status, 'done', lines.join('\n'));
    assert.ok(lines.some((l) => /version 1\.0\.0 answers/.test(l)));
  });

  it('rolls back at the deadline and stops the process that recorded the new version (SIGTERM, SIGKILL when ignored)', async () => {
    const root = rootWith('1.0.0', '1.1.0');
    switchVersion(root, '1.0.0');
    switchVersion(root, '1.1.0');
    // the "new version": a process whose command line says sigflow and which ignores SIGTERM
    const child = spawn(
      process.execPath,
      ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)", 'sigflow'],
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
    await new Promise((r) => setTimeout(r, 200));
    recordRunningPid(root, '1.1.0', child.pid as number);
    const r = await guardUpdate({
      root,
      healthUrl: 'http://127.0.0.1:1/healthz',
      expectVersion: '1.1.0',
      deadlineMs: 600,
      pollMs: 100,
      killGraceMs: 500,
    });
    assert.equal(r.status, 'rolled_back');
    assert.match(
      r.reason ?? '',
      /1\.1\.0 did not answer healthy .* \(last: no answer from http:\/\/127\.0\.0\.1:1\/healthz/,
    );
    assert.deepEqual(r.killed, { pid: child.pid, signal: 'SIGKILL' });
    assert.equal(await exited, 'SIGKILL');
    assert.equal(currentVersion(root), '1.0.0');
    const st = JSON.parse(readFileSync(join(root, 'state', 'update.json'), 'utf8'));
    assert.equal(st.status, 'rolled_back');
    assert.ok(existsSync(join(root, 'versions', '1.1.0')), 'kept for a look until the next prune');
  });
});

describe('spawnGuard', () => {
  it('says whether the guard started: systemd-run refused (a service user without the right) is a reason, not silence', async () => {
    const { spawnGuard } = await import('../../src/update/index.js');
    const root = rootWith('1.0.0', '1.1.0');
    switchVersion(root, '1.0.0');
    switchVersion(root, '1.1.0');
    const bin = mkdtempSync(join(work, 'bin-'));
    const fake = (code: number) => {
      writeFileSync(
        join(bin, 'systemd-run'),
        `#!/bin/sh\necho "Failed to start transient service unit: Access denied" >&2\nexit ${code}\n`,
        {
          mode: 0o755,
        },
      );
    };
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const o = {
        root,
        healthUrl: 'http://127.0.0.1:9/healthz',
        expectVersion: '1.1.0',
        deadlineMs: 1000,
        packageDir: work,
      };
      fake(1);
      const refused = spawnGuard({ ...o, systemd: true });
      assert.equal(refused.via, 'systemd-run');
      assert.match(String(await refused.started), /^systemd-run ended with code 1 \(its words: .*guard\.log\)$/);
      assert.match(readFileSync(join(root, 'state', 'guard.log'), 'utf8'), /Access denied/);
      fake(0);
      assert.equal(await spawnGuard({ ...o, systemd: true }).started, null);
    } finally {
      process.env.PATH = path;
    }
  });
});
