/**
 * `sigflow store retention` (issue 8, item 10): it never deletes without being told to — --dry-run says how many
 * samples per measurement would go and the cut-off instant; without --yes and without a terminal it refuses
 * (exit 2, nothing deleted) and says that every sample would go; --before <time> takes the units grammar (UTC unless
 * an offset is given, also in a child whose TZ is America/New_York); a missing store is an error and not created.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TelemetryRecord } from '../../src/records/index.js';
import { TimeSeriesStore } from '../../src/store/index.js';
import { runCli } from '../harness/cli.js';
import { cliArgv } from '../harness/paths.js';

// the children inherit it: a local time 5 hours behind UTC in January
process.env.TZ = 'America/New_York';

const T10 = 1673431200000000000n; // 2023-01-11T10:00:00Z
const S = 1_000_000_000n;

describe('store retention: --dry-run, --yes, --before, no new store for a mistyped path', () => {
  let dir = '';
  let file = '';
  const count = () => {
    const s = TimeSeriesStore.open(file, { readonly: true });
    try {
      return s.count();
    } finally {
      s.close();
    }
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-retention-'));
    file = join(dir, 'store.db');
    const s = TimeSeriesStore.open(file);
    const recs: TelemetryRecord[] = [];
    // engine: 09:59:58 … 10:00:02Z (5 samples); gps: 09:59:59 and 10:00:01Z (2 samples)
    for (const k of [-2n, -1n, 0n, 1n, 2n])
      recs.push({ time: T10 + k * S, measurement: 'engine', tags: { d: 'a' }, fields: { rpm: Number(k) } });
    for (const k of [-1n, 1n])
      recs.push({ time: T10 + k * S, measurement: 'gps', tags: { d: 'a' }, fields: { lat: Number(k) } });
    s.write(recs);
    s.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a mistyped path is an error (exit 2) and no store is created', async () => {
    const missing = join(dir, 'stroe.db');
    for (const extra of [['--yes'], ['--dry-run']]) {
      const r = await runCli(['store', 'retention', missing, '--max-age', '30d', ...extra]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^sigflow: no store at .*stroe\.db \(no such file; check the path\) \(SF_ERR_STORE_OPEN\)\n$/,
      );
      assert.equal(existsSync(missing), false, 'no new database for a mistyped path');
    }
  });

  it('without --yes and without a terminal: refuses, says the cut-off and that every sample would go', async () => {
    const r = await runCli(['store', 'retention', file, '--max-age', '1000d']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^sigflow: store retention would delete 7 samples older than \d{4}-\d\d-\d\dT[\d:.]+Z \(--max-age 1000d counted back from now, \d{4}-[\dT:.-]+Z\) — every sample in the store; add --yes to do it .*\(SF_ERR_CLI_CONFIRM\)\n$/,
    );
    assert.equal(count(), 7, 'nothing deleted');
  });

  it('--dry-run: samples per measurement and the cut-off instant, nothing deleted', async () => {
    const r = await runCli(['store', 'retention', file, '--before', '2023-01-11T10:00:00', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    // no offset: 10:00 UTC, not 10:00 in New York (15:00Z, which would take all 7)
    assert.equal(r.stdout, 'would delete 3 samples before 2023-01-11T10:00:00Z\n  engine: 2\n  gps: 1\n');
    assert.equal(count(), 7);
  });

  it('on a terminal it asks: "n" deletes nothing, "y" deletes (through script(1), a real pty)', (t) => {
    try {
      execFileSync('script', ['--version'], { stdio: 'ignore' });
    } catch {
      t.skip('script(1) (util-linux) is not installed: no pseudo-terminal to test the question');
      return;
    }
    const copy = join(dir, 'asked.db');
    copyFileSync(file, copy);
    const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const cmd = [...cliArgv(), 'store', 'retention', copy, '--before', '2023-01-11T10:00:00Z'].map(quote).join(' ');
    const count = (f: string) => {
      const s = TimeSeriesStore.open(f, { readonly: true });
      try {
        return s.count();
      } finally {
        s.close();
      }
    };
    const no = spawnSync('script', ['-qec', cmd, '/dev/null'], { input: 'n\n', encoding: 'utf8', timeout: 60_000 });
    assert.equal(no.status, 0, no.stdout);
    assert.match(no.stdout, /delete 3 samples before 2023-01-11T10:00:00Z\?[\s\S]*delete them for good\? \[y\/N\]/);
    assert.equal(count(copy), 7, 'answered n: nothing deleted');
    const yes = spawnSync('script', ['-qec', cmd, '/dev/null'], { input: 'y\n', encoding: 'utf8', timeout: 60_000 });
    assert.equal(yes.status, 0, yes.stdout);
    assert.match(yes.stdout, /deleted 3 samples before 2023-01-11T10:00:00Z/);
    assert.equal(count(copy), 4);
  });

  it('--before with --yes deletes exactly the samples before the instant; one of --max-age/--before is required', async () => {
    for (const args of [[], ['--max-age', '1d', '--before', '2023-01-01']]) {
      const r = await runCli(['store', 'retention', file, ...args, '--yes']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /exactly one of --max-age <duration> and --before <time> \(SF_ERR_USAGE\)/);
    }
    const bad = await runCli(['store', 'retention', file, '--before', '2023-02-30', '--yes']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--before: "2023-02-30" is not a calendar date/);
    const r = await runCli(['store', 'retention', file, '--before', '2023-01-11T10:00:01+00:00', '--yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'deleted 4 samples before 2023-01-11T10:00:01Z\n  engine: 3\n  gps: 1\n');
    assert.equal(count(), 3);
    const none = await runCli(['store', 'retention', file, '--before', '2023-01-11T10:00:01Z']);
    assert.equal(none.code, 0, 'nothing to delete needs no confirmation');
    assert.equal(none.stdout, 'nothing to delete: no sample before 2023-01-11T10:00:01Z\n');
  });
});
