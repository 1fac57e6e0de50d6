/** The postgres sink against a real PostgreSQL server started from its binaries (test/harness/services.ts). */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import type { TelemetryRecord } from '../../src/records/record.js';
import { classifyPgError, PostgresSink } from '../../src/sinks/postgres/index.js';
import { rec, T0 } from '../harness/records.js';
import { freePort, type ServiceHandle, startPostgres } from '../harness/services.js';

const server = await startPostgres();
after(async () => {
  await server?.dispose();
});

let schemaN = 0;
async function sql<T extends pg.QueryResultRow>(h: ServiceHandle, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: h.url });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

describe('postgres sink', { skip: !server && 'postgresql not installed' }, () => {
  const h = server as ServiceHandle;

  test('creates its schema; round trip of every type exactly (ns time, int64, NaN/Inf floats, unicode)', async () => {
    const schema = `s${schemaN++}`;
    const sink = new PostgresSink({ type: 'postgres', connection_string: h.url, schema });
    const batch = [
      rec(T0 + 1n, { f: 0.1, i: 2n ** 63n - 1n, b: true, s: 'hé "q" \\ 😀' }, { dev: 'a', bus: 'can0' }),
      rec(T0 + 2n, { f: Number.NaN, i: -(2n ** 63n), b: false, s: '' }, { bus: 'can0', dev: 'a' }),
      rec(-5n, { f: Number.NEGATIVE_INFINITY }, { dev: 'a', bus: 'can0' }),
    ];
    assert.deepEqual(await sink.write(batch), { kind: 'ok' });
    const rows = await sql<{
      time_ns: string;
      field: string;
      tags: Record<string, string>;
      value: number | null;
      value_int: string | null;
      value_bool: boolean | null;
      value_text: string | null;
    }>(
      h,
      `SELECT time_ns, field, tags, value, value_int, value_bool, value_text FROM ${schema}.points ORDER BY field, time_ns`,
    );
    const got = rows.map((r) => [r.field, BigInt(r.time_ns), r.value_int ?? r.value_bool ?? r.value_text ?? r.value]);
    assert.deepEqual(got, [
      ['b', T0 + 1n, true],
      ['b', T0 + 2n, false],
      ['f', -5n, Number.NEGATIVE_INFINITY],
      ['f', T0 + 1n, 0.1],
      ['f', T0 + 2n, Number.NaN],
      ['i', T0 + 1n, '9223372036854775807'],
      ['i', T0 + 2n, '-9223372036854775808'],
      ['s', T0 + 1n, 'hé "q" \\ 😀'],
      ['s', T0 + 2n, ''],
    ]);
    assert.deepEqual(rows[0].tags, { bus: 'can0', dev: 'a' });
    const series = await sql<{ n: string }>(h, `SELECT count(*) AS n FROM ${schema}.series`);
    assert.equal(series[0].n, '4'); // tag order does not create new series
    const view = await sql<{ t: string }>(
      h,
      `SELECT time::text AS t FROM ${schema}.points WHERE field = 'b' ORDER BY time_ns LIMIT 1`,
    );
    assert.match(view[0].t, /^2023-11-14 22:13:20\+00/);
    // pre-1970 sub-µs times floor to the µs below (not toward zero)
    const neg = await sql<{ t: string }>(h, `SELECT time::text AS t FROM ${schema}.points WHERE time_ns = -5`);
    assert.equal(neg[0].t, '1969-12-31 23:59:59.999999+00');
    await sink.close();
  });

  test('idempotent on (series, time): rewrites and in-batch duplicates leave one row, last value wins', async () => {
    const schema = `s${schemaN++}`;
    const sink = new PostgresSink({ type: 'postgres', connection_string: h.url, schema });
    const batch: TelemetryRecord[] = [];
    for (let i = 0n; i < 5000n; i++) batch.push(rec(T0 + i, { v: Number(i) }, { d: String(i % 10n) }));
    assert.deepEqual(await sink.write(batch), { kind: 'ok' });
    assert.deepEqual(await sink.write(batch), { kind: 'ok' });
    assert.deepEqual(await sink.write([rec(T0, { v: 1.5 }, { d: '0' }), rec(T0, { v: 2.5 }, { d: '0' })]), {
      kind: 'ok',
    });
    const n = await sql<{ n: string }>(h, `SELECT count(*) AS n FROM ${schema}.samples`);
    assert.equal(n[0].n, '5000');
    const v = await sql<{ value: number }>(
      h,
      `SELECT value FROM ${schema}.points WHERE time_ns = ${T0} AND tags->>'d' = '0'`,
    );
    assert.deepEqual(v, [{ value: 2.5 }]);
    // a second sink (fresh cache) finds the existing series instead of duplicating them
    const again = new PostgresSink({ type: 'postgres', connection_string: h.url, schema });
    assert.deepEqual(await again.write(batch.slice(0, 10)), { kind: 'ok' });
    assert.equal((await sql<{ n: string }>(h, `SELECT count(*) AS n FROM ${schema}.series`))[0].n, '10');
    await again.close();
    await sink.close();
  });

  test('concurrent first writes share one schema creation', async () => {
    const schema = `s${schemaN++}`;
    const sink = new PostgresSink({ type: 'postgres', connection_string: h.url, schema, pool_size: 3 });
    const results = await Promise.all([0n, 1n, 2n].map((k) => sink.write([rec(T0 + k, { v: 1 }, { k: String(k) })])));
    assert.deepEqual(results, [{ kind: 'ok' }, { kind: 'ok' }, { kind: 'ok' }]);
    assert.equal((await sql<{ n: string }>(h, `SELECT count(*) AS n FROM ${schema}.samples`))[0].n, '3');
    await sink.close();
  });

  test('per-record rejects (type conflict, NUL, int64 overflow) come back as partial; the rest is stored', async () => {
    const schema = `s${schemaN++}`;
    const sink = new PostgresSink({ type: 'postgres', connection_string: h.url, schema });
    assert.deepEqual(await sink.write([rec(T0, { v: 1n })]), { kind: 'ok' });
    const res = await sink.write([
      rec(T0 + 1n, { v: 2n }),
      rec(T0 + 2n, { v: 2.5 }),
      rec(T0 + 3n, { s: 'a\u0000b' }),
      rec(T0 + 4n, { v: 3n }, { t: 'x\u0000' }),
      rec(T0 + 5n, { big: 2n ** 64n }),
      rec(T0 + 6n, { v: 4n }),
    ]);
    assert.equal(res.kind, 'partial');
    if (res.kind !== 'partial') return;
    assert.deepEqual(
      res.rejected.map((r) => r.index),
      [1, 2, 3, 4],
    );
    assert.match(res.rejected[0].reason, /type conflict.*float.*integer/);
    assert.match(res.rejected[1].reason, /NUL/);
    assert.match(res.rejected[3].reason, /outside int64/);
    assert.equal((await sql<{ n: string }>(h, `SELECT count(*) AS n FROM ${schema}.samples`))[0].n, '3');
    await sink.close();
  });

  test('server down → retry; back up → the same sink writes again (pool reconnects)', async () => {
    const schema = `s${schemaN++}`;
    const sink = new PostgresSink({ type: 'postgres', connection_string: h.url, schema, connect_timeout: '2s' });
    assert.deepEqual(await sink.write([rec(T0, { v: 1 })]), { kind: 'ok' });
    await h.stop();
    try {
      const r = await sink.write([rec(T0 + 1n, { v: 2 })]);
      assert.equal(r.kind, 'retry', JSON.stringify(r));
    } finally {
      await h.start();
    }
    assert.deepEqual(await sink.write([rec(T0 + 1n, { v: 2 })]), { kind: 'ok' });
    assert.equal((await sql<{ n: string }>(h, `SELECT count(*) AS n FROM ${schema}.samples`))[0].n, '2');
    await sink.close();
  });

  test('wrong password/user → auth; nothing listening → retry', async () => {
    const u = new URL(h.url);
    u.username = 'nobody';
    const sink = new PostgresSink({ type: 'postgres', connection_string: u.toString(), schema: 'x' });
    const r = await sink.write([rec(T0, { v: 1 })]);
    assert.equal(r.kind, 'auth', JSON.stringify(r));
    await sink.close();
    const dead = new PostgresSink({
      type: 'postgres',
      connection_string: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
      connect_timeout: '2s',
    });
    assert.equal((await dead.write([rec(T0, { v: 1 })])).kind, 'retry');
    await dead.close();
  });

  test('a table altered behind the sink (dropped column) → misconfigured; restored → written', async () => {
    const schema = `s${schemaN++}`;
    const sink = new PostgresSink({ type: 'postgres', connection_string: h.url, schema });
    assert.deepEqual(await sink.write([rec(T0, { v: 1 })]), { kind: 'ok' });
    await sql(h, `ALTER TABLE ${schema}.samples DROP COLUMN value_text CASCADE`);
    const r = await sink.write([rec(T0 + 1n, { v: 2 })]);
    assert.equal(r.kind, 'misconfigured', JSON.stringify(r));
    assert.match((r as { reason: string }).reason, /42703/);
    await sql(h, `ALTER TABLE ${schema}.samples ADD COLUMN value_text text`);
    assert.deepEqual(await sink.write([rec(T0 + 1n, { v: 2 })]), { kind: 'ok' });
    assert.equal((await sql<{ n: string }>(h, `SELECT count(*) AS n FROM ${schema}.samples`))[0].n, '2');
    await sink.close();
  });

  test('the series cache is bounded; forgotten series are found again, not duplicated', async () => {
    const schema = `s${schemaN++}`;
    const sink = new PostgresSink({ type: 'postgres', connection_string: h.url, schema, series_cache_size: 8 });
    const batch = (k: number, t: bigint) =>
      Array.from({ length: 5 }, (_, i) => rec(t, { v: k * 5 + i }, { d: String(k * 5 + i) }));
    for (let k = 0; k < 20; k++) {
      assert.deepEqual(await sink.write(batch(k, T0)), { kind: 'ok' });
      assert.ok(sink.cachedSeries <= 8 + 5, `cache holds ${sink.cachedSeries} series`);
    }
    for (let k = 0; k < 20; k++) assert.deepEqual(await sink.write(batch(k, T0 + 1n)), { kind: 'ok' });
    assert.equal((await sql<{ n: string }>(h, `SELECT count(*) AS n FROM ${schema}.series`))[0].n, '100');
    assert.equal((await sql<{ n: string }>(h, `SELECT count(*) AS n FROM ${schema}.samples`))[0].n, '200');
    await sink.close();
  });

  test('an aborted write (outbox timeout) is cancelled on the server, not left running beside the retry', async () => {
    const schema = `s${schemaN++}`;
    const sink = new PostgresSink({ type: 'postgres', connection_string: h.url, schema });
    assert.deepEqual(await sink.write([rec(T0, { v: 1 })]), { kind: 'ok' });
    const locker = new pg.Client({ connectionString: h.url });
    locker.on('error', () => {});
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${schema}.samples IN ACCESS EXCLUSIVE MODE`);
    const ac = new AbortController();
    const t0 = Date.now();
    const writing = sink.write([rec(T0 + 1n, { v: 2 })], ac.signal);
    setTimeout(() => ac.abort(new Error('write timed out')), 300);
    const r = await writing;
    assert.equal(r.kind, 'retry', JSON.stringify(r));
    assert.match((r as { reason: string }).reason, /57014|cancel/i);
    assert.ok(Date.now() - t0 < 5000, 'the blocked statement ended soon after the abort');
    const waiting = await locker.query(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%INSERT INTO "${schema}"%' AND state = 'active' AND pid <> pg_backend_pid()`,
    );
    assert.equal(waiting.rows[0].n, '0', 'nothing of the aborted write is still running');
    await locker.query('COMMIT');
    await locker.end();
    assert.equal((await sql<{ n: string }>(h, `SELECT count(*) AS n FROM ${schema}.samples`))[0].n, '1');
    await sink.close();
  });

  test('SQLSTATE classes map to the contract', () => {
    assert.equal(classifyPgError({ code: '22P02', message: 'invalid input' }, 10, 'pg').kind, 'too_large');
    assert.equal(classifyPgError({ code: '22P02', message: 'invalid input' }, 1, 'pg').kind, 'permanent');
    assert.equal(classifyPgError({ code: '57P01', message: 'admin shutdown' }, 1, 'pg').kind, 'retry');
    assert.equal(classifyPgError({ code: '40P01', message: 'deadlock' }, 1, 'pg').kind, 'retry');
    assert.equal(classifyPgError({ code: '28P01', message: 'password' }, 1, 'pg').kind, 'auth');
    assert.equal(classifyPgError({ code: '42501', message: 'permission denied' }, 1, 'pg').kind, 'auth');
    assert.equal(classifyPgError({ code: '42703', message: 'undefined column' }, 10, 'pg').kind, 'misconfigured');
    assert.equal(classifyPgError({ message: 'Connection terminated unexpectedly' }, 1, 'pg').kind, 'retry');
  });
});

describe('postgres sink: logic under concurrency (a scripted pool, no server)', () => {
  /** A PostgresSink whose pool is a script: series ids are handed out in order; `hold` can stall a statement. */
  function scripted(cacheSize: number, hold: (client: number, sql: string) => Promise<void> | undefined) {
    const sink = new PostgresSink({
      type: 'postgres',
      connection_string: 'postgres://x@127.0.0.1:1/x',
      series_cache_size: cacheSize,
    });
    const internals = sink as unknown as { schemaReady: boolean; pool: unknown };
    internals.schemaReady = true;
    const ids = new Map<string, number>();
    let clients = 0;
    internals.pool = {
      async connect() {
        const me = ++clients;
        return {
          processID: 4000 + me,
          on() {},
          off() {},
          release() {},
          async query(sql: string, args?: unknown[]) {
            await hold(me, sql);
            if (!sql.includes('SELECT u.i')) return { rows: [] };
            const [m, t, f] = args as string[][];
            return {
              rows: m.map((_, i) => {
                const k = `${m[i]}|${t[i]}|${f[i]}`;
                if (!ids.has(k)) ids.set(k, ids.size + 1);
                return { i: String(i + 1), id: ids.get(k), type: 'float' };
              }),
            };
          },
        };
      },
      async query() {
        return { rows: [] };
      },
      async end() {},
    };
    return sink;
  }
  const one = (t: bigint, field: string): TelemetryRecord => ({
    time: t,
    measurement: 'm',
    tags: { d: '1' },
    fields: { [field]: 1.5 },
  });

  test('a series id looked up from the cache survives a concurrent write evicting it', async () => {
    const gates: (() => void)[] = [];
    const sink = scripted(4, (client, sql) =>
      client === 2 && sql.includes('INSERT INTO "sigflow"."series"')
        ? new Promise<void>((r) => gates.push(r))
        : undefined,
    );
    assert.deepEqual(await sink.write(['k1', 'k2', 'k3', 'k4'].map((f, i) => one(BigInt(i), f))), { kind: 'ok' });
    const a = sink.write([one(10n, 'k1'), one(10n, 'n1')]); // k1 from the cache, n1 upserted: a waits there
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(await sink.write([one(11n, 'n2')]), { kind: 'ok' });
    assert.deepEqual(await sink.write([one(12n, 'n3')]), { kind: 'ok' }); // evicts the oldest half, k1 among them
    for (const g of gates) g();
    assert.deepEqual(await a, { kind: 'ok' });
  });
});
