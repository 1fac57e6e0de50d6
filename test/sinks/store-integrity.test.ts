/**
 * Issue 8, item 1: a damaged store.db must not be written into as if healthy. Opening a store for writing runs
 * PRAGMA quick_check and refuses a damaged file untouched (SF_ERR_STORE_CORRUPT); `sigflow import` then fails with
 * one line and a non-zero exit, marks nothing in its ledger, and what the outbox holds for the store stays there.
 * A store found damaged while writing is `misconfigured` for the outbox: kept and retried, never counted delivered.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TelemetryRecord } from '../../src/records/index.js';
import { createSink } from '../../src/sinks/index.js';
import { StoreSink } from '../../src/sinks/store/sink.js';
import { TimeSeriesStore } from '../../src/store/index.js';
import { runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';
import { damagePages } from '../outbox/helpers.js';

function temp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-store-integrity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function records(n: number): TelemetryRecord[] {
  const out: TelemetryRecord[] = [];
  for (let i = 0; i < n; i++)
    out.push({
      time: BigInt(i) * 1000n,
      measurement: `m${i % 7}`,
      tags: { device: `d${i % 3}` },
      fields: { v: i * 0.25, n: BigInt(i) },
    });
  return out;
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

test('a store with damaged pages is refused on open, before anything is written into it', (t) => {
  const dir = temp(t);
  const file = join(dir, 'store.db');
  const s = TimeSeriesStore.open(file);
  s.write(records(30_000));
  s.close();
  damagePages(file, 30, 11);
  const before = sha(file);
  assert.throws(() => TimeSeriesStore.open(file), {
    code: 'SF_ERR_STORE_CORRUPT',
    message: /store .*store\.db is damaged/,
  });
  assert.throws(() => createSink({ type: 'store', path: file }), { code: 'SF_ERR_STORE_CORRUPT' });
  assert.equal(sha(file), before, 'the damaged file is left exactly as found');
  assert.ok(!existsSync(`${file}-wal`), 'no WAL was started on it');
});

test('a healthy store opens after the check; a write that meets damage is kept and retried, not delivered', async (t) => {
  const dir = temp(t);
  const file = join(dir, 'store.db');
  const s = TimeSeriesStore.open(file);
  s.write(records(100));
  s.close();
  const ok = TimeSeriesStore.open(file);
  assert.equal(ok.count(), 200);
  // The outbox's view of a damaged store: misconfigured (kept, alarm), never ok.
  const damaged = {
    path: file,
    write() {
      throw Object.assign(new Error('store x is damaged'), { code: 'SF_ERR_STORE_CORRUPT' });
    },
    close() {},
  } as unknown as TimeSeriesStore;
  const res = await new StoreSink('store', damaged, false).write(records(3));
  assert.equal(res.kind, 'misconfigured');
  ok.close();
});

const log = join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4');
const dbc = join(fixturesDir, 'canedge/dbc/api-examples/examples/other/concatenate-mf4-by-period/dbc_files/gnss.dbc');

test('sigflow import into a damaged store.db fails (exit 1, one line), marks nothing and writes nothing', {
  timeout: 180_000,
}, async (t) => {
  const dir = temp(t);
  const first = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir], { timeoutMs: 120_000 });
  assert.equal(first.code, 0, first.stderr);
  const store = join(dir, 'store.db');
  damagePages(store, 30, 5);
  const before = sha(store);
  const ledger = readFileSync(join(dir, 'imports.json'), 'utf8');
  const again = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir, '--force'], { timeoutMs: 120_000 });
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stderr, /sigflow: store .*store\.db is damaged/);
  assert.match(again.stderr, /SF_ERR_STORE_CORRUPT/);
  assert.doesNotMatch(again.stderr, /delivered/, 'no summary claiming deliveries');
  assert.doesNotMatch(again.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(sha(store), before, 'nothing was written into the damaged store');
  assert.equal(readFileSync(join(dir, 'imports.json'), 'utf8'), ledger, 'the ledger is unchanged');
});
