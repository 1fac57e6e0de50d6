import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSink, SinkConfigError } from '../../src/sinks/index.js';

test('createSink validates each sink config and names the offending path', async () => {
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
      (e: Error) => e instanceof SinkConfigError && /sinks\[2\]: type must be one of/.test(e.message),
    );
    assert.throws(
      () => createSink({ type: 'influx', url: 'http://127.0.0.1:8086' }, 'sinks[0]'),
      /sinks\[0\]\.database: api v1 needs a database/,
    );
    assert.throws(() => createSink({ type: 'influx', url: 'not a url', database: 'x' }), /sink\.url/);
    assert.throws(
      () => createSink({ type: 'postgres', connectionString: 'postgres://x', schema: 'Bad-Name' }),
      /sink\.schema: a lower-case SQL identifier/,
    );
    assert.throws(() => createSink({ type: 'store', path: join(dir, 'x.db'), extra: 1 }), /sink/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
