/**
 * The S3 event listener of `sigflow import --watch --listen`: any JSON body is a trigger (what it names is only
 * logged). Malformed notifications — a key not percent-encoded as S3 does it, Records not a list, a null record —
 * used to throw out of the request handler and end the daemon.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { notifiedKeys, startImportTrigger } from '../../src/pipelines/logimport/index.js';

test('notifiedKeys never throws: hostile bodies give what keys they can', () => {
  const rec = (key: unknown) => ({ s3: { bucket: { name: 'b' }, object: { key } } });
  assert.deepEqual(notifiedKeys({ Records: [rec('LOG/100%ZZ.MF4')] }), ['b/LOG/100%ZZ.MF4']);
  assert.deepEqual(notifiedKeys({ Records: [rec('LOG/a+b%2B.MF4')] }), ['b/LOG/a b+.MF4']);
  for (const body of [{ Records: {} }, { Records: [null] }, { Records: [1, 'x', rec(5)] }, null, 7, 'x', []])
    assert.deepEqual(notifiedKeys(body), []);
  assert.deepEqual(notifiedKeys({ Key: 'b/LOG/x.MF4' }), ['b/LOG/x.MF4']);
});

test('the listener answers malformed notifications and keeps listening; each one is a round', async () => {
  const noticed: string[][] = [];
  const t = await startImportTrigger('127.0.0.1', 0, { onNotice: (keys) => noticed.push(keys) });
  try {
    for (const body of [
      '{"Records":[{"s3":{"bucket":{"name":"b"},"object":{"key":"LOG/100%ZZ.MF4"}}}]}',
      '{"Records":{}}',
      '{"Records":[null]}',
    ]) {
      const r = await fetch(`http://${t.address}/`, { method: 'POST', body });
      assert.equal(r.status, 204, body);
    }
    assert.equal(t.received, 3);
    assert.deepEqual(noticed, [['b/LOG/100%ZZ.MF4'], [], []]);
    const bad = await fetch(`http://${t.address}/`, { method: 'POST', body: '{not json' });
    assert.equal(bad.status, 400);
  } finally {
    await t.close();
  }
});
