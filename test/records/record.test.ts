import assert from 'node:assert/strict';
import { test } from 'node:test';
import { msToNs, nsToIso, nsToMs, secondsToNs, validateRecord } from '../../src/records/index.js';

test('time conversions keep microseconds', () => {
  assert.equal(msToNs(1700000000123.456), 1700000000123456000n);
  assert.equal(secondsToNs(1700000000.123456), 1700000000123456000n);
  assert.equal(nsToMs(1700000000123456000n), 1700000000123.456);
  assert.equal(nsToIso(1700000000123456789n), '2023-11-14T22:13:20.123456789Z');
  assert.equal(nsToIso(-1n), '1969-12-31T23:59:59.999999999Z');
});

test('validateRecord names what is wrong', () => {
  assert.equal(validateRecord({ time: 1n, measurement: 'm', tags: {}, fields: { a: 1 } }), null);
  assert.match(validateRecord({ time: 1n, measurement: '', tags: {}, fields: { a: 1 } }) ?? '', /measurement/);
  assert.match(validateRecord({ time: 1n, measurement: 'm', tags: {}, fields: {} }) ?? '', /at least one field/);
  assert.match(
    validateRecord({ time: 1n, measurement: 'm', tags: {}, fields: { a: null as unknown as number } }) ?? '',
    /field a/,
  );
});
