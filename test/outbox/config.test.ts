/** The outbox config section: defaults, mapping onto options, errors naming the key. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { outboxOptionsFromConfig } from '../../src/outbox/config.js';
import { Outbox } from '../../src/outbox/outbox.js';
import { ScriptedSink, seqRecords, silent, tempDir } from './helpers.js';

test('defaults follow the documented ones and the options open a working outbox', async (t) => {
  const dir = tempDir(t);
  const sink = new ScriptedSink('a');
  const o = outboxOptionsFromConfig(
    { data_dir: dir, when_full: 'drop_oldest' },
    [{ sink, delivery: { batch_size: 10 } }],
    silent,
  );
  assert.equal(o.maxBytes, 1024 ** 3);
  assert.equal(o.whenFull, 'drop_oldest');
  assert.equal(o.synchronous, 'normal');
  assert.equal(o.maxAgeMs, undefined);
  const d = o.sinks[0];
  assert.deepEqual(
    [d.batchSize, d.flushIntervalMs, d.concurrency, d.backoffInitialMs, d.backoffFactor, d.backoffMaxMs, d.maxAttempts],
    [10, 1000, 1, 5000, 2, 30000, undefined],
  );
  const ob = Outbox.open(o);
  await ob.enqueue(seqRecords(0, 25));
  assert.equal((await ob.deliverOnce('a')).kind, 'ok');
  assert.equal(sink.accepted.length, 10);
  await ob.close();
});

test('bad values are refused naming the key', () => {
  assert.throws(() => outboxOptionsFromConfig({ data_dir: '/x', when_full: 'drop_everything' }, []), /when_full/);
  assert.throws(() => outboxOptionsFromConfig({ data_dir: '/x', max_bytes: -1 }, []), /max_bytes/);
  assert.throws(() => outboxOptionsFromConfig({ data_dir: '/x', maxBytes: 1 }, []), /maxBytes/);
  assert.throws(
    () =>
      outboxOptionsFromConfig({ data_dir: '/x' }, [{ sink: new ScriptedSink('a'), delivery: { backoff_jitter: 2 } }]),
    /backoff_jitter/,
  );
});
