/**
 * The iof sink's PostgreSQL copy against a real PostgreSQL (Debian's, started by the harness): every table equal
 * to SQLite's; PostgreSQL down → the batch is `retry`, and when it is back the same batch again completes the copy
 * with nothing twice; positions rebuilt by `position --all` replace the copy's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { positionAll } from '../../src/apps/iof/index.js';
import type { TelemetryRecord } from '../../src/records/index.js';
import { createSink } from '../../src/sinks/index.js';
import { type IofSink, loadProject, saveProject } from '../../src/sinks/iof/index.js';
import { PacketPayloads } from '../../src/sources/mqtt/packets.js';
import { envelope, fishProject, messages, transmissions } from '../apps/iof/fish.js';
import { startPostgres } from '../harness/services.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const TABLES = ['backup', 'gps', 'tag', 'tbr', 'positions'];

test('the IoF tables copied to PostgreSQL: equal to SQLite, through an outage, positions replaced after a rebuild', async (t) => {
  const server = await startPostgres();
  if (!server) return t.skip('postgresql is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-iof-pg-'));
  dirs.push(dir);
  await saveProject(join(dir, 'iof.yaml'), fishProject());
  const sink = createSink({
    type: 'iof',
    project: join(dir, 'iof.yaml'),
    path: join(dir, 'iof.db'),
    postgres: { connection_string: server.url, connect_timeout: '2s' },
  }) as IofSink;
  const reader = new PacketPayloads({
    format: 'packets',
    spec: 'iof',
    envelope: true,
    measurement_prefix: 'iof_',
    tags: [],
  });
  const recs: TelemetryRecord[] = [];
  messages(transmissions(20, 3)).forEach((m, i) => {
    reader.toRecords('lora/x', Buffer.from(envelope(m)), BigInt(i) * 1_000_000_000n, recs);
  });
  const half = Math.floor(recs.length / 2);
  const client = async () => {
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    return c;
  };
  const pgCounts = async () => {
    const c = await client();
    try {
      const out: number[] = [];
      for (const x of TABLES) out.push(Number((await c.query(`SELECT COUNT(*) AS n FROM iof.${x}`)).rows[0].n));
      return out;
    } finally {
      await c.end();
    }
  };
  const sqliteCounts = () =>
    TABLES.map((x) => (sink.db.db.prepare(`SELECT COUNT(*) AS n FROM ${x}`).get() as { n: number }).n);
  try {
    assert.deepEqual(await sink.write(recs.slice(0, half)), { kind: 'ok' });
    assert.deepEqual(await pgCounts(), sqliteCounts());

    await server.stop();
    const down = await sink.write(recs.slice(half));
    assert.equal(down.kind, 'retry', JSON.stringify(down));
    const stored = sqliteCounts();
    await server.start();
    // the outbox sends the batch again: SQLite has it already, the copy resumes
    assert.deepEqual(await sink.write(recs.slice(half)), { kind: 'ok' });
    assert.deepEqual(sqliteCounts(), stored);
    assert.deepEqual(await pgCounts(), stored);
    assert.ok(stored[4] > 30, `${stored[4]} positions`);

    const c = await client();
    const row = (
      await c.query('SELECT x, latitude, date::text AS date FROM iof.positions ORDER BY timestamp, tag_id LIMIT 1')
    ).rows[0];
    const local = sink.db.db
      .prepare('SELECT x, latitude, date FROM positions ORDER BY timestamp, tag_id LIMIT 1')
      .get();
    assert.deepEqual(row, local);
    await c.end();

    // positions rebuilt in SQLite (another cage margin): the copy's positions are replaced at the next batch
    const project = await loadProject(join(dir, 'iof.yaml'));
    const r = positionAll(sink.db, { ...project, positioning: { ...project.positioning, cage_margin: 0.5 } });
    assert.ok(r.positions < stored[4]);
    assert.deepEqual(await sink.write([]), { kind: 'ok' });
    assert.equal((await pgCounts())[4], r.positions);
  } finally {
    await sink.close();
    await server.dispose();
  }
});
