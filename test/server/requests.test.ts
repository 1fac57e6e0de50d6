/** Request parsing of the Grafana routes: times read as the units grammar reads them, the notices header. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nestedDeeperThan, noticesHeader, parseTime } from '../../src/server/requests.js';

test('a time without an offset is UTC whatever the server’s time zone; epoch ms may have a fraction', () => {
  const tz = process.env.TZ;
  process.env.TZ = 'Europe/Berlin';
  try {
    assert.equal(new Date(2024, 0, 2).getTimezoneOffset(), -60, 'the zone took effect');
    assert.equal(parseTime('2024-01-02T03:04:05', 'from'), Date.UTC(2024, 0, 2, 3, 4, 5));
    assert.equal(parseTime('2024-01-02', 'from'), Date.UTC(2024, 0, 2));
    assert.equal(parseTime('2024-01-02T03:04:05.250+02:00', 'from'), Date.UTC(2024, 0, 2, 1, 4, 5, 250));
  } finally {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  }
  assert.equal(parseTime('1641469561949.7', 'from'), 1641469561949.7);
  assert.equal(parseTime(-5, 'from'), -5);
  for (const bad of ['-1 ', '1.5.5', 'Jan 2 2024', '99999999999999999']) {
    if (bad === '-1 ') assert.equal(parseTime(bad, 'f'), -1);
    else assert.throws(() => parseTime(bad, 'from'), /from: not a time/, bad);
  }
});

test('the notices header never ends inside an escape, and lone surrogates do not throw', () => {
  const h = noticesHeader(['é'.repeat(3000)]);
  assert.ok(h.length <= 4000 && h.length >= 3994, `${h.length}`);
  assert.equal(decodeURIComponent(h), 'é'.repeat(h.length / 6));
  assert.equal(decodeURIComponent(noticesHeader(['a\uD800b', 'c'])), 'a\uFFFDb | c');
  assert.equal(noticesHeader(['short']), 'short');
});

test('nesting depth is measured without recursion', () => {
  let deep: unknown = 0;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.equal(nestedDeeperThan(deep, 64), true);
  assert.equal(nestedDeeperThan({ a: [{ b: 1 }] }, 64), false);
  assert.equal(nestedDeeperThan({ a: { b: { c: 1 } } }, 2), true);
  assert.equal(nestedDeeperThan({ a: { b: 1 } }, 2), false);
});
