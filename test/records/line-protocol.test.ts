import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatFloat, LineEncoder, toPrecision } from '../../src/records/index.js';
import type { TelemetryRecord } from '../../src/records/record.js';
import { parseRetryAfter } from '../../src/sinks/influx/http.js';

const rec = (
  fields: TelemetryRecord['fields'],
  tags: Record<string, string> = {},
  measurement = 'm',
  time = 1n,
): TelemetryRecord => ({
  time,
  measurement,
  tags,
  fields,
});

describe('line protocol encoder', () => {
  test('escapes each token kind by its own rules and types values', () => {
    const e = new LineEncoder('ns');
    const { body, rejected } = e.encode([
      rec(
        { 'f k=,': 'say "hi" \\ there', i: -42n, b: true, x: 1.5 },
        { 'z k': 'v,=1', a: 'b c' },
        'my m,x=y',
        1_700_000_000_123_456_789n,
      ),
    ]);
    assert.deepEqual(rejected, []);
    assert.equal(
      body,
      'my\\ m\\,x=y,a=b\\ c,z\\ k=v\\,\\=1 f\\ k\\=\\,="say \\"hi\\" \\\\ there",i=-42i,b=true,x=1.5 1700000000123456789\n',
    );
  });

  test('floats print in the shortest round-trip form; integers keep int64 exactly', () => {
    for (const x of [0.1, 1, 1e21, 5e-324, -1.7976931348623157e308, 123456.789e-20])
      assert.equal(Number(formatFloat(x)), x);
    assert.equal(formatFloat(-0), '-0');
    const e = new LineEncoder();
    assert.equal(e.encode([rec({ v: 2n ** 63n - 1n })]).body, 'm v=9223372036854775807i 1\n');
    assert.equal(e.encode([rec({ v: 1 })]).body, 'm v=1 1\n');
  });

  test('timestamps: every precision, floor toward −∞ for pre-1970 times', () => {
    const t = 1_700_000_000_123_456_789n;
    assert.equal(toPrecision(t, 'ns'), t);
    assert.equal(toPrecision(t, 'us'), 1_700_000_000_123_456n);
    assert.equal(toPrecision(t, 'ms'), 1_700_000_000_123n);
    assert.equal(toPrecision(t, 's'), 1_700_000_000n);
    assert.equal(toPrecision(-1n, 'ms'), -1n);
    assert.equal(toPrecision(-1_000_000n, 'ms'), -1n);
    assert.equal(toPrecision(-1_000_001n, 'ms'), -2n);
  });

  test('rejects what line protocol cannot carry, naming the record and the reason, and keeps the good fields', () => {
    const e = new LineEncoder();
    const cases: [TelemetryRecord, RegExp][] = [
      [rec({ v: Number.NaN, ok: 1 }), /"v": NaN is not representable/],
      [rec({ v: Number.POSITIVE_INFINITY }), /Infinity is not representable/],
      [rec({ v: 2n ** 63n }), /outside int64/],
      [rec({ v: 1 }, {}, '#comment'), /starts with '#'/],
      [rec({ time: 1 }), /named "time"/],
      [rec({ v: 1 }, { time: 'x' }), /named "time"/],
      [rec({ v: 1 }, { t: 'a\nb' }), /line break/],
      [rec({ v: 1 }, { t: 'ends\\' }), /backslash before its end/],
      [rec({ v: 1 }, { t: 'a\\,b' }), /backslash before ","/],
      [rec({ v: 1 }, { t: 'x\uD800y' }), /lone UTF-16 surrogate/],
      [rec({ v: 1 }, {}, 'a\u0000'), /NUL/],
      [rec({ v: 'x'.repeat(70_000) }), /exceeds InfluxDB's 64 KiB/],
      [rec({ v: 1 }, {}, 'm', 2n ** 63n - 1n), /outside InfluxDB's range/],
    ];
    const enc = e.encode(cases.map((c) => c[0]));
    assert.deepEqual(
      enc.rejected.map((r) => r.index),
      cases.map((_, i) => i),
    );
    for (const [i, r] of enc.rejected.entries()) assert.match(r.reason, cases[i][1], `case ${i}: ${r.reason}`);
    // only case 0 had a good field besides the bad one
    assert.deepEqual(enc.lines, ['m ok=1 1']);
    assert.deepEqual(enc.lineRecord, [0]);
  });

  test('tags are sorted whatever the key order of each record', () => {
    const e = new LineEncoder();
    const enc = e.encode([
      rec({ v: 1 }, { b: '1', a: '2' }),
      rec({ v: 1 }, { b: '3', a: '4' }),
      rec({ v: 1 }, { c: '5', b: '6' }),
      rec({ v: 1 }, { b: '7', c: '8' }),
    ]);
    assert.deepEqual(enc.lines, ['m,a=2,b=1 v=1 1', 'm,a=4,b=3 v=1 1', 'm,b=6,c=5 v=1 1', 'm,b=7,c=8 v=1 1']);
  });

  test('empty tag values are omitted; double backslashes inside a name are kept', () => {
    const e = new LineEncoder();
    assert.equal(e.encode([rec({ v: 1 }, { a: '', b: 'c\\\\d' })]).body, 'm,b=c\\\\d v=1 1\n');
    // a special character first or alone is escaped too
    assert.equal(e.encode([rec({ ',': ',' }, { ',': '=' }, ' ')]).body, '\\ ,\\,=\\= \\,="," 1\n');
  });

  test('field types are not policed across records (only the server knows the stored type)', () => {
    const e = new LineEncoder();
    const enc = e.encode([rec({ v: 1n }), rec({ v: 2.5, w: true })]);
    assert.deepEqual(enc.lines, ['m v=1i 1', 'm v=2.5,w=true 1']);
    assert.deepEqual(enc.rejected, []);
  });

  test('Retry-After: seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('7'), 7000);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
    const now = Date.parse('2024-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Mon, 01 Jan 2024 00:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Mon, 01 Jan 2023 00:00:30 GMT', now), 0);
  });
});
