/** Request parsing of the Grafana routes: times read as the units grammar reads them, the notices header. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cell, rowsCsv } from '../../src/server/download.js';
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

test('CSV downloads: a column name a spreadsheet would run as a formula is made text', () => {
  assert.equal(cell('rpm'), 'rpm');
  assert.equal(cell('=2+3'), "'=2+3");
  assert.equal(cell('@SUM(1+1)'), "'@SUM(1+1)");
  assert.equal(cell('-x'), "'-x");
  assert.equal(cell('+1'), "'+1");
  assert.equal(cell('=HYPERLINK("http://x","click")'), `"'=HYPERLINK(""http://x"",""click"")"`);
  assert.equal(cell('\tx'), "'\tx");
  assert.equal(cell('a,b'), '"a,b"');
  assert.equal(rowsCsv([{ time: 0, '=1': 5 }], ['=1']), "time,'=1\n1970-01-01T00:00:00.000Z,5\n");
});
