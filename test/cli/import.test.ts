/**
 * `sigflow import`: logs → DBC → outbox → embedded store. The store must hold exactly the values `sigflow decode`
 * prints; a re-run skips imported files; --force re-imports without duplicating samples (the store is idempotent).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { TimeSeriesStore } from '../../src/store/store.js';
import { runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';
import { tempDir } from '../harness/temp.js';

const log = join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4');
const dbc = join(fixturesDir, 'canedge/dbc/api-examples/examples/other/concatenate-mf4-by-period/dbc_files/gnss.dbc');

test('sigflow import stores every decoded value once, skips imported files (same settings only), --force is idempotent', async () => {
  const dir = tempDir('sigflow-import-');
  const decoded = await runCli(['decode', log, '--dbc', dbc, '--format', 'ndjson'], { timeoutMs: 120_000 });
  assert.equal(decoded.code, 0, decoded.stderr);
  const values = decoded.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(values.length > 1000);

  const first = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir], { timeoutMs: 120_000 });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /1 file\(s\) imported, 0 already imported, 0 failed/);
  assert.match(first.stderr, /store: \d+ delivered, 0 dead-lettered in this run, 0 pending now/);

  const check = () => {
    const store = TimeSeriesStore.open(join(dir, 'store.db'), { readonly: true });
    try {
      assert.equal(store.count(), values.length, 'one sample per decoded value');
      // Spot-check: every value of one signal, with its exact ns timestamp.
      const want = values.filter((v) => v.message === values[0].message && v.signal === values[0].signal);
      const got = store.samples({
        measurement: values[0].message,
        tags: { device: values[0].device, chn: String(values[0].chn) },
        fields: [values[0].signal],
        from: 0n,
        to: 2n ** 62n,
      });
      const flat = got.flatMap((s) => s.samples.map((x) => [String(x.time), Number(x.value)]));
      assert.deepEqual(
        flat,
        want.map((v) => [v.t, v.value]),
      );
    } finally {
      store.close();
    }
  };
  check();

  const again = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir], { timeoutMs: 120_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /0 file\(s\) imported, 1 already imported/);

  const forced = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir, '--force'], { timeoutMs: 120_000 });
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stderr, /1 file\(s\) imported/);
  check();

  // Other settings (a time window, a signal filter) are another import: the file is read again.
  const dir2 = tempDir('sigflow-import-');
  const windowed = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir2, '--to', '2000-01-01T00:00:00Z']);
  assert.equal(windowed.code, 0, windowed.stderr);
  assert.match(windowed.stderr, /1 file\(s\) imported.*0 records/);
  const full = await runCli(['import', log, '--dbc', dbc, '--data-dir', dir2], { timeoutMs: 120_000 });
  assert.match(full.stderr, /1 file\(s\) imported, 0 already imported/);
  const records = /(\d+) records/.exec(first.stderr)?.[1];
  assert.ok(records && Number(records) > 0);
  assert.match(full.stderr, new RegExp(`, ${records} records`));

  const bad = await runCli(['import', log, '--data-dir', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /needs --dbc/);
});
