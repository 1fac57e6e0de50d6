import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TimeSeriesStore } from '../../src/store/index.js';
import { runCli } from '../harness/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sigflow-store-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const T0 = 1_704_067_200_000_000_000n; // 2024-01-01T00:00:00Z

const file = join(dir, 'data.db');
{
  const s = TimeSeriesStore.open(file);
  const recs = [];
  for (let i = 0n; i < 100n; i++)
    recs.push({
      time: T0 + i * 1_000_000_000n,
      measurement: 'engine',
      tags: { dev: i % 2n ? 'b' : 'a' },
      fields: { rpm: Number(i) * 10.5, gear: i % 5n },
    });
  s.write(recs);
  s.close();
}

test('store list: measurements, tags, fields', async () => {
  const r = await runCli(['store', 'list', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    samples: 200,
    measurements: [
      {
        measurement: 'engine',
        tags: { dev: ['a', 'b'] },
        fields: [
          { field: 'gear', type: 'integer' },
          { field: 'rpm', type: 'float' },
        ],
        series: 4,
      },
    ],
  });
});

test('store query: downsampled buckets with exact ns and integer values as strings', async () => {
  const r = await runCli([
    'store',
    'query',
    file,
    'engine',
    '--from',
    '2024-01-01T00:00:00Z',
    '--to',
    String(T0 + 100_000_000_000n),
    '--points',
    '2',
    '--tag',
    'dev=a',
    '--field',
    'gear',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 1);
  assert.equal(lines[0].series.tags.dev, 'a');
  assert.deepEqual(lines[0].buckets[0].max, { time: String(T0 + 4_000_000_000n), value: '4' });
  assert.equal(lines[0].buckets[0].count, 25);
});

test('store query/retention refuse bad input with a clear message and exit code 2', async () => {
  const bad = await runCli(['store', 'query', file, 'engine', '--from', 'yesterday', '--to', '1']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--from: "yesterday" is not a time/);
  const empty = await runCli(['store', 'query', file, 'engine', '--from', '5', '--to', '5']);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /query range is empty/);
  const junk = join(dir, 'junk.db');
  writeFileSync(junk, 'x'.repeat(5000));
  const j = await runCli(['store', 'list', junk]);
  assert.equal(j.code, 2);
  assert.match(j.stderr, /junk\.db/);
  const dur = await runCli(['store', 'retention', file, '--max-age', 'forever']);
  assert.equal(dur.code, 2);
  assert.match(dur.stderr, /--max-age: "forever" is not a duration/);
});

test('store retention deletes by age', async () => {
  const r = await runCli(['store', 'retention', file, '--max-age', '1d', '--yes']);
  assert.equal(r.code, 0, r.stderr);
  // the data is from 2024; the cut-off is now - 1d (test/store/retention-cli.test.ts checks the confirmation)
  assert.match(
    r.stdout,
    /^deleted 200 samples older than \d{4}-\d\d-\d\dT[\d:.]+Z \(--max-age 1d counted back from now, /,
  );
  assert.match(r.stdout, /\n {2}engine: 200\n$/);
});
