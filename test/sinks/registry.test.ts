/**
 * The sink registry: createSink validates and names the key path; every registered plugin is a complete plugin
 * folder (README.md naming each key and its delivery guarantee, a sample.yaml that validates).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { SigflowError } from '../../src/errors/index.js';
import { createSink, parseSinkConfig, SINK_PLUGINS, SinkConfigError, sinkPlugin } from '../../src/sinks/index.js';
import { repoRoot } from '../harness/paths.js';

const isConfigError = (re: RegExp) => (e: unknown) =>
  e instanceof SinkConfigError && e.code === 'SF_ERR_CONFIG_INVALID' && e.exitCode === 2 && re.test(e.message);

test('createSink validates each sink config and names the offending key path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-registry-'));
  try {
    const store = createSink({ type: 'store', path: join(dir, 's.db') });
    assert.equal(store.name, 'store');
    assert.deepEqual(await store.write([{ time: 1n, measurement: 'm', tags: {}, fields: { v: 1 } }]), { kind: 'ok' });
    await store.close();
    const archive = createSink({ type: 'archive', name: 'raw', dir });
    assert.equal(archive.name, 'raw');
    await archive.close();
    assert.throws(
      () => createSink({ type: 'kafka' }, 'sinks[2]'),
      isConfigError(
        /^sinks\[2\]\.type: expected "store" \| "influx" \| "postgres" \| "archive" \| "lake" \| "iof" \| "thingsboard" \| "tenta" \| "mqtt", got "kafka"$/,
      ),
    );
    assert.throws(() => createSink(null, 'sinks[2]'), isConfigError(/^sinks\[2\]: expected object, got null$/));
    assert.throws(
      () => createSink({ type: 'influx', url: 'http://127.0.0.1:8086' }, 'sinks[0]'),
      isConfigError(/^sinks\[0\]\.database: api v1 needs a database$/),
    );
    assert.throws(
      () => createSink({ type: 'influx', url: 'not a url', database: 'x' }),
      isConfigError(/^sink\.url: expected an http:\/\/ or https:\/\/ URL$/),
    );
    assert.throws(
      () => createSink({ type: 'influx', url: 'ftp://127.0.0.1:8086', database: 'x' }),
      isConfigError(/^sink\.url: expected an http:\/\/ or https:\/\/ URL$/),
    );
    assert.throws(
      () => createSink({ type: 'influx', url: 'http://h', database: 'x', retention_policy: 7 }, 'sinks[1]'),
      isConfigError(/^sinks\[1\]\.retention_policy: expected string, got number$/),
    );
    assert.throws(() => createSink({ type: 'store' }, 'sinks[0]'), isConfigError(/^sinks\[0\]\.path: missing/));
    assert.throws(
      () => createSink({ type: 'postgres', connection_string: 'postgres://x', schema: 'Bad-Name' }),
      isConfigError(/^sink\.schema: a lower-case SQL identifier$/),
    );
    assert.throws(
      () => createSink({ type: 'store', path: join(dir, 'x.db'), extra: 1 }),
      isConfigError(/^sink\.extra: unknown key$/),
    );
    const e = (() => {
      try {
        createSink({ type: 'influx', url: 'x', database: 'd', gzipMinBytes: 1 }, 'sinks[3]');
      } catch (err) {
        return err as SinkConfigError;
      }
    })();
    assert.ok(e instanceof SigflowError);
    assert.equal(e.where, 'sinks[3].url');
    assert.deepEqual(e.problems, [
      'sinks[3].url: expected an http:// or https:// URL',
      'sinks[3].gzipMinBytes: unknown key (renamed: gzip_min_bytes)',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the old camelCase keys are rejected, each naming its new key', () => {
  const base: Record<string, Record<string, unknown>> = {
    store: { type: 'store', path: '/tmp/x.db' },
    influx: { type: 'influx', url: 'http://127.0.0.1:8086', database: 'd' },
    postgres: { type: 'postgres', connection_string: 'postgres://x' },
    archive: { type: 'archive', dir: '/tmp/a' },
    lake: { type: 'lake', lake: '/tmp/lake' },
    iof: { type: 'iof', project: '/tmp/iof.yaml', path: '/tmp/iof.db' },
    thingsboard: { type: 'thingsboard', url: 'mqtt://127.0.0.1', access_token: 't' },
    tenta: { type: 'tenta', url: 'mqtt://127.0.0.1', sensor: 's' },
    mqtt: { type: 'mqtt', url: 'mqtt://127.0.0.1', topic: 't' },
  };
  let renames = 0;
  for (const p of SINK_PLUGINS) {
    assert.ok(base[p.type], `test has a base config for ${p.type}`);
    for (const [old, now] of Object.entries(p.renamed)) {
      renames++;
      assert.ok(now in p.schema.shape, `${p.type}: ${old} is renamed to ${now}, which the schema has`);
      assert.throws(
        () => parseSinkConfig({ ...base[p.type], [old]: 1 }, 'sinks[0]'),
        isConfigError(new RegExp(`^sinks\\[0\\]\\.${old}: unknown key \\(renamed: ${now}\\)$`)),
      );
    }
  }
  assert.equal(renames, 12);
  assert.throws(() => parseSinkConfig({ ...base.store, someKey: 1 }), isConfigError(/snake_case/));
});

test('durations and sizes take a number (ms, bytes) or the units grammar', () => {
  const influx = (extra: object) =>
    parseSinkConfig({ type: 'influx', url: 'http://h:8086', database: 'd', ...extra }) as {
      timeout: number;
      gzip_min_bytes: number | null;
    };
  assert.equal(influx({}).timeout, 30_000);
  assert.equal(influx({}).gzip_min_bytes, 65_536);
  assert.equal(influx({ timeout: 2500 }).timeout, 2500);
  assert.equal(influx({ timeout: '2.5s' }).timeout, 2500);
  assert.equal(influx({ gzip_min_bytes: 1024 }).gzip_min_bytes, 1024);
  assert.equal(influx({ gzip_min_bytes: '1KiB' }).gzip_min_bytes, 1024);
  assert.equal(influx({ gzip_min_bytes: null }).gzip_min_bytes, null);
  assert.throws(() => influx({ timeout: '0s' }), isConfigError(/^sink\.timeout: .*longer than 0/));
  assert.throws(() => influx({ timeout: '5 parsecs' }), isConfigError(/^sink\.timeout: /));
  assert.throws(() => influx({ gzip_min_bytes: '1 parsec' }), isConfigError(/^sink\.gzip_min_bytes: .*not a size/));
  const pg = parseSinkConfig({ type: 'postgres', connection_string: 'postgres://x', chunk_interval: '1w' }) as {
    chunk_interval: number;
    statement_timeout: number;
    connect_timeout: number;
  };
  assert.deepEqual([pg.chunk_interval, pg.statement_timeout, pg.connect_timeout], [604_800_000, 30_000, 10_000]);
  const ar = parseSinkConfig({ type: 'archive', dir: '/tmp/a', close_after: 0 }) as { close_after: number };
  assert.equal(ar.close_after, 0);
  assert.equal((parseSinkConfig({ type: 'archive', dir: '/tmp/a' }) as { close_after: number }).close_after, 3_600_000);
});

test('every registered plugin is a complete folder: README (keys, guarantee) and a sample.yaml that validates', () => {
  assert.equal(new Set(SINK_PLUGINS.map((p) => p.type)).size, SINK_PLUGINS.length, 'plugin types are unique');
  for (const p of SINK_PLUGINS) {
    const dir = join(repoRoot, 'src', 'sinks', p.type);
    assert.equal(sinkPlugin(p.type), p);
    assert.equal(p.schema.shape.type.value, p.type, `${p.type}: the schema's type literal is the plugin's type`);
    assert.ok(p.description.length > 10, `${p.type}: has a description`);
    assert.equal(typeof p.idempotent, 'boolean');

    const readmePath = join(dir, 'README.md');
    assert.ok(existsSync(readmePath), `src/sinks/${p.type}/README.md is missing`);
    const readme = readFileSync(readmePath, 'utf8');
    for (const key of Object.keys(p.schema.shape))
      assert.ok(readme.includes(`\`${key}\``), `src/sinks/${p.type}/README.md does not document the key \`${key}\``);
    assert.match(readme, /## Delivery guarantee/, `src/sinks/${p.type}/README.md has no "Delivery guarantee" section`);
    assert.match(
      readme,
      p.idempotent ? /\*\*Idempotent\*\*/ : /\*\*Not idempotent\*\*/,
      `src/sinks/${p.type}/README.md must say whether its writes are idempotent, as the plugin declares`,
    );

    const samplePath = join(dir, 'sample.yaml');
    assert.ok(existsSync(samplePath), `src/sinks/${p.type}/sample.yaml is missing`);
    const sample = parseYaml(readFileSync(samplePath, 'utf8')) as { sinks?: unknown };
    assert.ok(Array.isArray(sample.sinks) && sample.sinks.length > 0, `${p.type}: sample.yaml has a sinks: list`);
    (sample.sinks as Record<string, unknown>[]).forEach((entry, i) => {
      assert.equal(entry.type, p.type, `${p.type}: sample.yaml sinks[${i}] is of type ${p.type}`);
      const { delivery: _delivery, ...sinkKeys } = entry;
      parseSinkConfig(sinkKeys, `src/sinks/${p.type}/sample.yaml: sinks[${i}]`);
    });
  }
});
