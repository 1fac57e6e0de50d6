/**
 * Empty results explain themselves in `sigflow store` (issue 8, item 16): a query or listing for a measurement,
 * field or tag the store does not have is an error listing the known names nearest first (not an empty answer),
 * and `store list` of a folder or of an SQLite file that is not a store says so.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { TimeSeriesStore } from '../../src/store/index.js';
import { nearestNames } from '../../src/store/names.js';
import { runCli } from '../harness/cli.js';

const T0 = 1_704_067_200_000_000_000n; // 2024-01-01T00:00:00Z
const RANGE = ['--from', '2024-01-01T00:00:00Z', '--to', '2024-01-02T00:00:00Z'];

describe('store: unknown names and files that are not stores', () => {
  let dir = '';
  let file = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-store-names-'));
    file = join(dir, 'store.db');
    const s = TimeSeriesStore.open(file);
    const recs = ['engine', 'engine_aux', 'gearbox', 'body'].map((measurement, i) => ({
      time: T0 + BigInt(i),
      measurement,
      tags: { device: 'A1', chn: '1' },
      fields: { rpm: i * 1.5, gear: BigInt(i) },
    }));
    s.write(recs);
    s.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('nearest names first', () => {
    assert.deepEqual(nearestNames('engin', ['body', 'gearbox', 'engine_aux', 'engine']), [
      'engine',
      'engine_aux',
      'body',
      'gearbox',
    ]);
  });

  it('store query: an unknown measurement, field, tag key or tag value is an error naming the known ones', async () => {
    const m = await runCli(['store', 'query', file, 'engin', ...RANGE]);
    assert.equal(m.code, 2, m.stderr);
    assert.equal(m.stdout, '');
    assert.match(m.stderr, /no measurement "engin"; known \(nearest first\): engine, engine_aux, body, gearbox/);
    assert.match(m.stderr, /SF_ERR_STORE_UNKNOWN_NAME/);
    const f = await runCli(['store', 'query', file, 'engine', ...RANGE, '--field', 'rmp']);
    assert.equal(f.code, 2, f.stderr);
    assert.match(f.stderr, /no field in engine "rmp"; known \(nearest first\): rpm, gear/);
    const k = await runCli(['store', 'query', file, 'engine', ...RANGE, '--tag', 'devce=A1']);
    assert.match(k.stderr, /no tag key in engine "devce"; known \(nearest first\): device, chn/);
    const v = await runCli(['store', 'query', file, 'engine', ...RANGE, '--tag', 'device=A2']);
    assert.match(v.stderr, /no device tag value in engine "A2"; known \(nearest first\): A1/);
    const ok = await runCli(['store', 'query', file, 'engine', ...RANGE, '--field', 'rpm', '--tag', 'device=A1']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(ok.stdout.length > 0);
    const list = await runCli(['store', 'list', file, '--measurement', 'gear_box']);
    assert.equal(list.code, 2, list.stderr);
    assert.match(list.stderr, /no measurement "gear_box"; known \(nearest first\): gearbox/);
  });

  it('store list of a folder, or of an SQLite file that is not a store: a clear error', async () => {
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    const r = await runCli(['store', 'list', folder]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /folder is a folder, not a store file/);
    const other = join(dir, 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE t (x); PRAGMA user_version = 1;');
    db.close();
    const o = await runCli(['store', 'list', other]);
    assert.equal(o.code, 2, o.stderr);
    assert.match(o.stderr, /other\.db is an SQLite file but not a sigflow store.*SF_ERR_STORE_NOT_A_STORE/);
    assert.equal(o.stdout, '');
  });
});
