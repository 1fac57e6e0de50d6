import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SigflowError } from '../../src/errors/index.js';
import {
  formatDuration,
  formatSize,
  formatTime,
  parseDuration,
  parseSize,
  parseTime,
  parseTimerMs,
} from '../../src/units/index.js';

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof SigflowError, String(e));
    return e.code;
  }
  assert.fail('no error');
};

test('times: RFC 3339 shapes, UTC without an offset, nanoseconds kept exactly', () => {
  assert.equal(parseTime('2024-01-02T03:04:05Z', 't'), 1704164645_000000000n);
  assert.equal(parseTime('2024-01-02T03:04:05', 't'), 1704164645_000000000n, 'no offset = UTC');
  assert.equal(parseTime('2024-01-02 03:04:05', 't'), 1704164645_000000000n);
  assert.equal(parseTime('2024-01-02', 't'), 1704153600_000000000n);
  assert.equal(parseTime('2024-01-02T03:04', 't'), 1704164640_000000000n);
  assert.equal(parseTime('2024-01-02T05:04:05+02:00', 't'), 1704164645_000000000n);
  assert.equal(parseTime('2024-01-02T01:04:05-0200', 't'), 1704164645_000000000n);
  assert.equal(parseTime('2024-01-02T03:04:05.123456789Z', 't'), 1704164645_123456789n);
  assert.equal(parseTime('2024-01-02T03:04:05.5Z', 't'), 1704164645_500000000n);
  assert.equal(parseTime('1704164645123456789', 't'), 1704164645123456789n);
  assert.equal(parseTime('-5', 't'), -5n);
  assert.equal(parseTime('1969-12-31T23:59:59.999999999Z', 't'), -1n);
});

test('times: the calendar is checked and the error names the flag', () => {
  for (const bad of [
    '2023-02-30',
    '2023-02-29T00:00:00Z',
    '2023-13-01',
    '2023-00-10',
    '2023-01-01T24:00:00Z',
    '2023-01-01T12:60Z',
    '2023-01-01T12:00:61Z',
    'yesterday',
    '2023-01-01T00:00:00.1234567891Z',
    '2023-1-1',
    '2023-01-01T00:00:00+25:00',
    '',
  ]) {
    assert.equal(
      code(() => parseTime(bad, '--from')),
      'SF_ERR_UNITS_TIME',
      bad,
    );
  }
  assert.equal(parseTime('2024-02-29', 't'), 1709164800_000000000n, 'leap day');
  assert.throws(() => parseTime('2023-02-30', '--from'), /--from: "2023-02-30" is not a calendar date/);
});

test('times: formatTime is the inverse of parseTime', () => {
  assert.equal(formatTime(1704164645_000000000n), '2024-01-02T03:04:05Z');
  assert.equal(formatTime(1704164645_120000000n), '2024-01-02T03:04:05.120Z');
  assert.equal(formatTime(1704164645_000001000n), '2024-01-02T03:04:05.000001Z');
  assert.equal(formatTime(1704164645_000000001n), '2024-01-02T03:04:05.000000001Z');
  assert.equal(formatTime(-1n), '1969-12-31T23:59:59.999999999Z');
  fc.assert(
    fc.property(fc.bigInt({ min: -(10n ** 18n), max: 10n ** 19n }), (ns) => {
      assert.equal(parseTime(formatTime(ns), 't'), ns);
    }),
  );
});

test('durations: one grammar (integers, decimals, every unit)', () => {
  assert.equal(parseDuration('500ms', 'd'), 500_000_000n);
  assert.equal(parseDuration('0.5s', 'd'), 500_000_000n);
  assert.equal(parseDuration('2w', 'd'), 1_209_600_000_000_000n);
  assert.equal(parseDuration('1.5m', 'd'), 90_000_000_000n);
  assert.equal(parseDuration('10min', 'd'), 600_000_000_000n);
  assert.equal(parseDuration('3µs', 'd'), 3_000n);
  assert.equal(parseDuration(' 7d ', 'd'), 604_800_000_000_000n);
  assert.equal(parseDuration('0s', 'd', { allowZero: true }), 0n);
  for (const bad of ['0s', '10', 's', '-1s', '1y', '1.s', '1e3ms']) {
    assert.equal(
      code(() => parseDuration(bad, '--max-age')),
      'SF_ERR_UNITS_DURATION',
      bad,
    );
  }
  assert.equal(formatDuration(90_000_000_000n), '90s');
  assert.equal(formatDuration(1_209_600_000_000_000n), '2w');
  assert.equal(formatDuration(1_500_000n), '1500us');
});

test('sizes: bytes, decimal and binary units', () => {
  assert.equal(parseSize('1GiB', 's'), 1024 ** 3);
  assert.equal(parseSize('1GB', 's'), 1e9);
  assert.equal(parseSize('8mib', 's'), 8 * 1024 ** 2);
  assert.equal(parseSize('1.5KiB', 's'), 1536);
  assert.equal(parseSize('4096', 's'), 4096);
  assert.equal(parseSize('12 B', 's'), 12);
  assert.equal(parseSize('0', 's', { allowZero: true }), 0);
  for (const bad of ['0', '1XB', 'GiB', '-1MiB', '99999999TiB']) {
    assert.equal(
      code(() => parseSize(bad, 'max_bytes')),
      'SF_ERR_UNITS_SIZE',
      bad,
    );
  }
  assert.equal(formatSize(1536), '1.50 KiB');
  assert.equal(formatSize(12), '12 B');
});

test('parseTimerMs: whole ms rounded up, at most 2^31-1 (what a Node timer can wait)', () => {
  assert.equal(parseTimerMs('30s', '--poll'), 30_000);
  assert.equal(parseTimerMs('1.0001ms', '--poll'), 2);
  assert.equal(parseTimerMs('2147483647ms', '--poll'), 2 ** 31 - 1);
  assert.equal(parseTimerMs('0s', '--drain-timeout', { allowZero: true }), 0);
  assert.throws(
    () => parseTimerMs('4w', '--poll'),
    (e: unknown) =>
      e instanceof SigflowError &&
      e.code === 'SF_ERR_UNITS_DURATION' &&
      e.message === '--poll: "4w": 2419200000 ms is longer than a timer can wait (at most 2147483647 ms, 24.8 days)',
  );
  assert.throws(() => parseTimerMs('2147483648ms', '--watch'), /--watch: .* longer than a timer can wait/);
});
