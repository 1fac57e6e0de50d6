/** The outbox's settings: one schema for defaults and checks, config files and Outbox.open alike; errors name the key. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SigflowError } from '../../src/errors/index.js';
import { Outbox, outboxOptionsFromConfig, resolveOutboxOptions } from '../../src/outbox/index.js';
import { ScriptedSink, seqRecords, silent, tempDir } from './helpers.js';

/** Asserts `fn` throws SF_ERR_CONFIG_INVALID whose message matches `re`. */
function invalid(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SigflowError, String(e));
    assert.equal(e.code, 'SF_ERR_CONFIG_INVALID');
    assert.match(e.message, re);
    return true;
  });
}

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

test('durations and sizes take the units grammar; a bare number is ms or bytes', () => {
  const o = outboxOptionsFromConfig(
    {
      data_dir: '/x',
      max_bytes: '2GiB',
      max_age: '7d',
      block_timeout: '30s',
      checkpoint_interval: 0,
      memory_cache_bytes: '0B',
      dead_letter_max_bytes: 4096,
    },
    [
      {
        sink: new ScriptedSink('a'),
        delivery: {
          flush_interval: '500ms',
          flush_jitter: 0,
          write_timeout: '1m',
          backoff_max: '0.5s',
          retry_after_max: '2h',
        },
      },
    ],
  );
  assert.deepEqual(
    [o.maxBytes, o.maxAgeMs, o.blockTimeoutMs, o.checkpointIntervalMs, o.memoryCacheBytes, o.deadLetterMaxBytes],
    [2 * 1024 ** 3, 7 * 86_400_000, 30_000, 0, 0, 4096],
  );
  const d = o.sinks[0];
  assert.deepEqual(
    [d.flushIntervalMs, d.flushJitterMs, d.writeTimeoutMs, d.backoffMaxMs, d.retryAfterMaxMs],
    [500, 0, 60_000, 500, 7_200_000],
  );
});

test('bad values are refused naming the key path (SF_ERR_CONFIG_INVALID)', () => {
  invalid(() => outboxOptionsFromConfig({ data_dir: '/x', when_full: 'drop_everything' }, []), /^outbox\.when_full: /);
  invalid(() => outboxOptionsFromConfig({ data_dir: '/x', max_bytes: -1 }, []), /outbox\.max_bytes/);
  invalid(() => outboxOptionsFromConfig({ data_dir: '/x', max_bytes: '1 potato' }, []), /outbox\.max_bytes/);
  invalid(() => outboxOptionsFromConfig({ data_dir: '/x', max_age: '0s' }, []), /outbox\.max_age/);
  invalid(() => outboxOptionsFromConfig({ data_dir: '/x', maxBytes: 1 }, []), /maxBytes/);
  // the keys renamed when they learned the units grammar are unknown now
  invalid(() => outboxOptionsFromConfig({ data_dir: '/x', max_age_ms: 1000 }, []), /max_age_ms/);
  invalid(
    () =>
      outboxOptionsFromConfig({ data_dir: '/x' }, [{ sink: new ScriptedSink('a'), delivery: { backoff_jitter: 2 } }]),
    /^sinks\[0\]\.delivery\.backoff_jitter: /,
  );
  invalid(
    () =>
      outboxOptionsFromConfig({ data_dir: '/x' }, [
        { sink: new ScriptedSink('a'), delivery: { flush_interval_ms: 10 } },
      ]),
    /flush_interval_ms/,
  );
  assert.throws(
    () => outboxOptionsFromConfig({ data_dir: '/x', max_bytes: 0 }, []),
    (e: SigflowError) => e.where === 'outbox.max_bytes',
  );
});

test('Outbox.open from code gets the same defaults and the same checks', (t) => {
  const sink = new ScriptedSink('a');
  const fromCode = resolveOutboxOptions({ dataDir: '/x', sinks: [{ sink }] });
  const fromConfig = resolveOutboxOptions(outboxOptionsFromConfig({ data_dir: '/x' }, [{ sink }]));
  const { random: _r1, now: _n1, ...a } = fromCode;
  const { random: _r2, now: _n2, ...b } = fromConfig;
  assert.deepEqual(a, b);
  assert.equal(fromCode.maxAgeMs, Number.POSITIVE_INFINITY, 'no age limit');
  assert.equal(fromCode.deadLetterMaxBytes, fromCode.maxBytes, 'dead letters default to the pending budget');
  assert.equal(fromCode.sinks[0].maxAttempts, Number.POSITIVE_INFINITY, 'retry forever');
  assert.equal(fromCode.pollIntervalMs, 1000);
  // Infinity is "no limit" from code, as before
  const inf = resolveOutboxOptions({ dataDir: '/x', maxAgeMs: Infinity, sinks: [{ sink, maxAttempts: Infinity }] });
  assert.equal(inf.maxAgeMs, Number.POSITIVE_INFINITY);
  assert.equal(inf.sinks[0].maxAttempts, Number.POSITIVE_INFINITY);

  const dir = tempDir(t);
  invalid(() => Outbox.open({ dataDir: dir, sinks: [{ sink }], maxBytes: -1 }), /^outbox option maxBytes: /);
  invalid(() => Outbox.open({ dataDir: dir, sinks: [{ sink }], whenFull: 'later' as never }), /outbox option whenFull/);
  invalid(() => Outbox.open({ dataDir: dir, sinks: [{ sink, backoffJitter: 1 }] }), /outbox option a\.backoffJitter/);
  invalid(() => Outbox.open({ dataDir: dir, sinks: [{ sink, backoffFactor: 0.5 }] }), /a\.backoffFactor/);
  invalid(() => Outbox.open({ dataDir: dir, sinks: [{ sink, writeTimeoutMs: 0 }] }), /a\.writeTimeoutMs/);
  invalid(() => Outbox.open({ dataDir: dir, sinks: [{ sink }], pollIntervalMs: 0 }), /outbox option pollIntervalMs/);
  invalid(() => Outbox.open({ dataDir: dir, sinks: [{ sink }, { sink }] }), /sink name a is configured twice/);
  invalid(() => Outbox.open({ dataDir: dir, sinks: [{ sink: { name: '' } as never }] }), /sink 0 has no name/);
});
