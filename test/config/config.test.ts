/**
 * The root configuration: assembled from the outbox's and the sink plugins' schemas; every sample validates;
 * problems are SF_ERR_CONFIG_INVALID naming the file and the key path.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { ConfigError, validateConfig } from '../../src/config/index.js';
import { SINK_PLUGINS } from '../../src/sinks/index.js';
import { repoRoot } from '../harness/paths.js';

const outbox = { data_dir: '/var/lib/sigflow' };

/** The problems validateConfig reports for `value` (read from `sigflow.yaml`), or [] when it is valid. */
function problems(value: unknown): string[] {
  try {
    validateConfig(value, 'sigflow.yaml');
    return [];
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.code, 'SF_ERR_CONFIG_INVALID');
    assert.equal(e.exitCode, 2);
    assert.equal(e.message, e.problems.map((p) => `sigflow.yaml: ${p}`).join('\n'));
    return [...e.problems];
  }
}

test('a configuration made of every plugin sample validates, with defaults filled in', () => {
  const sinks: unknown[] = [];
  for (const p of SINK_PLUGINS) {
    const sample = parseYaml(readFileSync(join(repoRoot, 'src', 'sinks', p.type, 'sample.yaml'), 'utf8'));
    sinks.push(...(sample as { sinks: unknown[] }).sinks);
    // each sample also validates alone, as a whole file with an outbox section
    assert.deepEqual(problems({ outbox, ...sample }), [], `src/sinks/${p.type}/sample.yaml`);
  }
  const c = validateConfig({ outbox, sinks }, 'all-samples.yaml');
  assert.deepEqual(
    c.sinks.map((s) => s.type),
    // samples with two entries: influx (1.x and 2.x), thingsboard (device and gateway), mqtt (json and line)
    SINK_PLUGINS.flatMap((p) => (['influx', 'thingsboard', 'mqtt'].includes(p.type) ? [p.type, p.type] : [p.type])),
  );
  assert.equal(c.outbox.data_dir, '/var/lib/sigflow');
  assert.equal(c.outbox.max_bytes, 1024 ** 3);
  const influx = c.sinks.find((s) => s.type === 'influx');
  assert.ok(influx && influx.type === 'influx');
  assert.equal(influx.timeout, 30_000);
  assert.equal(influx.gzip_min_bytes, 65_536);
  assert.equal(influx.delivery?.batch_size, 5000);
  const minimal = validateConfig({ outbox, sinks: [{ type: 'store', path: '/tmp/s.db' }] }, 'x.yaml');
  const { delivery, ...store } = minimal.sinks[0];
  assert.deepEqual(store, { type: 'store', name: 'store', path: '/tmp/s.db', synchronous: 'normal' });
  // the store's own delivery default: a partial batch after 100 ms (the outbox's default for the others is 1 s)
  assert.equal(delivery?.flush_interval, 100);
  assert.equal(delivery?.batch_size, 5000);
  assert.equal(influx.delivery?.flush_interval, 1000);
  const set = validateConfig(
    { outbox, sinks: [{ type: 'store', path: '/tmp/s.db', delivery: { flush_interval: '2s' } }] },
    'x.yaml',
  );
  assert.equal(set.sinks[0].delivery?.flush_interval, 2000);
});

test('problems name the file and the key path; all of them are reported', () => {
  assert.deepEqual(problems({ outbox, sinks: [{ type: 'influx', url: 'nope', database: 'd' }] }), [
    'sinks[0].url: expected an http:// or https:// URL',
  ]);
  assert.deepEqual(
    problems({
      outbox,
      sinks: [
        { type: 'store', path: '/tmp/s.db' },
        { type: 'influx', url: 'http://h:8086', database: 'd', retention_policy: 5 },
        { type: 'kafka' },
      ],
    }),
    [
      'sinks[1].retention_policy: expected string, got number',
      'sinks[2].type: expected "store" | "influx" | "postgres" | "archive" | "lake" | "iof" | "thingsboard" | "tenta" | "mqtt", got "kafka"',
    ],
  );
  assert.deepEqual(problems({ sinks: [] }), [
    'outbox: missing (expected object)',
    'sinks: at least one sink (e.g. `- type: store` with a `path`)',
  ]);
  assert.deepEqual(problems(null), ['(root): expected object, got null']);
  // a plugin's cross-key rules hold inside the root schema too
  assert.deepEqual(problems({ outbox, sinks: [{ type: 'influx', url: 'http://h:8086', api: 'v2' }] }), [
    'sinks[0].bucket: api v2 needs a bucket',
  ]);
  assert.deepEqual(
    problems({ outbox: { data_dir: 'd', max_bytes: 'lots' }, sinks: [{ type: 'store', path: 'p' }] }).length,
    1,
  );
  assert.match(
    problems({ outbox: { data_dir: 'd', max_bytes: 'lots' }, sinks: [{ type: 'store', path: 'p' }] })[0],
    /^outbox\.max_bytes: /,
  );
});

test('unknown keys are rejected with their path; the old camelCase names name their new key', () => {
  assert.deepEqual(problems({ outbox, sinks: [{ type: 'store', path: 'p', colour: 'red' }], extra: 1 }), [
    'sinks[0].colour: unknown key',
    'extra: unknown key',
  ]);
  assert.deepEqual(
    problems({
      outbox,
      sinks: [
        { type: 'influx', url: 'http://h:8086', database: 'd', retentionPolicy: 'week', timeoutMs: 5000 },
        { type: 'postgres', connectionString: 'postgres://x' },
        { type: 'archive', dir: 'a', closeAfterMs: 0 },
      ],
    }),
    [
      'sinks[0].retentionPolicy: unknown key (renamed: retention_policy)',
      'sinks[0].timeoutMs: unknown key (renamed: timeout)',
      'sinks[1].connection_string: missing (expected string)',
      'sinks[1].connectionString: unknown key (renamed: connection_string)',
      'sinks[2].closeAfterMs: unknown key (renamed: close_after)',
    ],
  );
  assert.deepEqual(problems({ outbox: { ...outbox, dataDir: 'x' }, sinks: [{ type: 'store', path: 'p' }] }), [
    'outbox.dataDir: unknown key (config keys are snake_case)',
  ]);
  assert.deepEqual(problems({ outbox, sinks: [{ type: 'store', path: 'p', delivery: { batchSize: 5 } }] }), [
    'sinks[0].delivery.batchSize: unknown key (config keys are snake_case)',
  ]);
});

test('durations and sizes: a number (ms, bytes) or the units grammar, in sinks and delivery alike', () => {
  const influx = (extra: object, delivery?: object) => {
    const c = validateConfig(
      { outbox, sinks: [{ type: 'influx', url: 'http://h:8086', database: 'd', ...extra, delivery }] },
      'sigflow.yaml',
    );
    return c.sinks[0] as { timeout: number; gzip_min_bytes: number | null; delivery?: { flush_interval: number } };
  };
  assert.equal(influx({ timeout: 1500 }).timeout, 1500);
  assert.equal(influx({ timeout: '1.5s' }).timeout, 1500);
  assert.equal(influx({ timeout: '2m' }).timeout, 120_000);
  assert.equal(influx({ gzip_min_bytes: 2048 }).gzip_min_bytes, 2048);
  assert.equal(influx({ gzip_min_bytes: '2KiB' }).gzip_min_bytes, 2048);
  assert.equal(influx({}, { flush_interval: 250 }).delivery?.flush_interval, 250);
  assert.equal(influx({}, { flush_interval: '250ms' }).delivery?.flush_interval, 250);
  const bad = problems({
    outbox,
    sinks: [{ type: 'influx', url: 'http://h:8086', database: 'd', timeout: '30 parsecs', gzip_min_bytes: -1 }],
  });
  assert.equal(bad.length, 2);
  assert.match(bad[0], /^sinks\[0\]\.gzip_min_bytes: expected a size ≥ 0/);
  assert.match(bad[1], /^sinks\[0\]\.timeout: "30 parsecs" /);
});

test('a duration a timer waits for is at most 2^31-1 ms (Node fires longer timers after 1 ms); spans compared with times may be longer', () => {
  const base = { outbox, sinks: [{ type: 'store', path: 'p' }] };
  assert.deepEqual(problems({ ...base, runtime: { stop_timeout: '24d' } }), []);
  for (const [value, shown] of [
    ['4w', 2_419_200_000],
    [2_147_483_648, 2_147_483_648],
    ['25d', 2_160_000_000],
  ] as const) {
    assert.deepEqual(problems({ ...base, runtime: { stop_timeout: value } }), [
      `runtime.stop_timeout: ${shown} ms is longer than a timer can wait (at most 2147483647 ms, 24.8 days)`,
    ]);
  }
  assert.match(problems({ ...base, logging: { stats_interval: '4w' } })[0], /^logging\.stats_interval: .* timer/);
  assert.match(
    problems({
      outbox,
      sinks: [{ type: 'influx', url: 'http://h:8086', database: 'd', timeout: Number.POSITIVE_INFINITY }],
    })[0],
    /^sinks\[0\]\.timeout: expected a duration > 0 .*got Infinity/,
  );
  // a retention age and a partition interval are no timers
  const long = validateConfig(
    {
      outbox: { ...outbox, max_age: '90d' },
      sinks: [{ type: 'postgres', connection_string: 'postgres://u@h/db', chunk_interval: '30d' }],
    },
    'sigflow.yaml',
  );
  assert.equal(long.outbox.max_age, 90 * 86_400_000);
  assert.equal((long.sinks[0] as { chunk_interval: number }).chunk_interval, 30 * 86_400_000);
});

test('sink and pipeline names are unique; unknown top-level sections are refused', () => {
  assert.deepEqual(
    problems({
      outbox,
      sinks: [
        { type: 'store', path: 'a' },
        { type: 'store', path: 'b' },
      ],
    }),
    [
      'sinks[1].name: "store" is already the name of sinks[0] (names must be unique: the outbox keeps each sink\'s position by name)',
    ],
  );
  const replay = { type: 'replay', paths: ['logs'] };
  assert.deepEqual(
    problems({
      outbox,
      sinks: [{ type: 'store', path: 'a' }],
      pipelines: [
        { name: 'p', source: replay, decode: { dbc: 'a.dbc' } },
        { name: 'p', source: replay, decode: { dbc: 'a.dbc' } },
      ],
    }),
    ['pipelines[1].name: "p" is already the name of pipelines[0] (names must be unique)'],
  );
  assert.deepEqual(problems({ outbox, sinks: [{ type: 'store', path: 'a' }], sources: {} }), ['sources: unknown key']);
});

test('an exec procedure whose grace is not below runtime.stop_timeout is refused, naming both', () => {
  const exec = (grace: string) => ({ name: 'probe', source: { type: 'exec', command: ['/bin/true'], grace } });
  const base = { outbox, sinks: [{ type: 'store', path: 'a' }] };
  assert.deepEqual(problems({ ...base, pipelines: [exec('10s')] }), [
    'pipelines[0].source.grace: 10s is not below runtime.stop_timeout (10s): a stopping unit would be killed before it could SIGKILL its program, leaving the program running — lower grace or raise runtime.stop_timeout',
  ]);
  assert.deepEqual(problems({ ...base, pipelines: [exec('10s')], runtime: { stop_timeout: '15s' } }), []);
  // the default grace (5s) fits the default stop_timeout (10s)
  assert.deepEqual(
    problems({ ...base, pipelines: [{ name: 'p', source: { type: 'exec', command: ['/bin/true'] } }] }),
    [],
  );
});

test('a listen address: host:port with a port of 0–65535 (99999 was accepted by check, then crashed run)', () => {
  const sinks = [{ type: 'store', path: 'a' }];
  assert.deepEqual(problems({ outbox, sinks, server: { listen: '127.0.0.1:99999' } }), [
    'server.listen: the port is 0–65535 (0: any free one)',
  ]);
  assert.deepEqual(problems({ outbox, sinks, broker: { listen: '127.0.0.1:65536' } }), [
    'broker.listen: the port is 0–65535 (0: any free one)',
  ]);
  assert.deepEqual(
    problems({ outbox, sinks, server: { listen: '[::1]:65535' }, broker: { listen: '127.0.0.1:0' } }),
    [],
  );
});
