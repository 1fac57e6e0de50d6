/**
 * `--influx` to nothing, to a server that never answers, and to a server that rejects records (issue 8, item 14):
 * the influx sink probes once (GET /ping, or its one CREATE DATABASE), reports a timeout as "no answer within 10s",
 * sends CREATE DATABASE once per process, accepts only http(s) URLs; `sigflow import` warns once at the start that
 * the records wait in the outbox, prints the outbox's warnings as summarised human lines (no pino JSON), waits for
 * a write on the wire when the drain times out so the reason is known (never "(no error)"), and names a backlog
 * waiting for a sink not configured in this run. Real InfluxDB (test/harness/services.ts) and loopback sockets.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSinkConfig } from '../../src/sinks/index.js';
import { InfluxSink } from '../../src/sinks/influx/index.js';
import { runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';
import { rec, T0 } from '../harness/records.js';
import { freePort, influxQuery, type ServiceHandle, startInfluxDB } from '../harness/services.js';

const log = join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4');
const dbc = join(fixturesDir, 'canedge/dbc/api-examples/examples/other/concatenate-mf4-by-period/dbc_files/gnss.dbc');

/** A loopback server that accepts connections and never answers. */
async function blackHole(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  return {
    url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const influx = await startInfluxDB();
after(async () => {
  await influx?.dispose();
});

describe('influx sink: probe, timeouts, CREATE DATABASE once, URL schemes', () => {
  it('probe: null when InfluxDB answers (and the database is created, once); the reason when not', async (t) => {
    if (!influx) return t.skip('influxd not installed');
    const h = influx as ServiceHandle;
    const sink = new InfluxSink({ type: 'influx', url: h.url, database: 'probed', create_database: true });
    assert.equal(await sink.probe(), null);
    const dbs = await influxQuery(h, 'SHOW DATABASES');
    assert.ok(JSON.stringify(dbs).includes('"probed"'), 'CREATE DATABASE sent by the probe');
    await sink.close();
    const plain = new InfluxSink({ type: 'influx', url: h.url, database: 'probed' });
    assert.equal(await plain.probe(), null, 'GET /ping');
    await plain.close();
    const refused = new InfluxSink({ type: 'influx', url: `http://127.0.0.1:${await freePort()}`, database: 'x' });
    assert.match((await refused.probe()) ?? '', /ECONNREFUSED/);
    await refused.close();
  });

  it('a server that never answers: "no answer within 300ms" from the probe and from a write', async () => {
    const hole = await blackHole();
    try {
      const sink = new InfluxSink({
        type: 'influx',
        url: hole.url,
        database: 'x',
        timeout: 300,
        create_database: true,
      });
      assert.match((await sink.probe()) ?? '', /: no answer within 300ms$/);
      const t0 = Date.now();
      const r = await sink.write([rec(T0, { v: 1 })]);
      assert.equal(r.kind, 'retry');
      assert.match((r as { reason: string }).reason, /no answer within 300ms/);
      assert.ok(Date.now() - t0 < 1000, 'one request per attempt: no CREATE timeout followed by a write timeout');
      await sink.close();
    } finally {
      await hole.close();
    }
  });

  it('CREATE DATABASE once per process, even when it fails and every write is a 400 partial write', async () => {
    const seen: string[] = [];
    const server = createHttpServer((req, res) => {
      seen.push((req.url ?? '').split('?')[0]);
      req.resume();
      req.on('end', () => {
        if (req.url?.startsWith('/query')) {
          res.writeHead(403, { 'content-type': 'application/json' });
          res.end('{"error":"error authorizing query: user is not an admin"}');
        } else {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(
            '{"error":"partial write: field type conflict: input field \\"v\\" on measurement \\"m\\" is type float, already exists as type string dropped=1"}',
          );
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    const sink = new InfluxSink({
      type: 'influx',
      url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`,
      database: 'd',
      create_database: true,
    });
    try {
      for (let i = 0; i < 4; i++) {
        const r = await sink.write([rec(T0 + BigInt(i), { v: 1 }, {}, 'm')]);
        assert.equal(r.kind, 'partial', JSON.stringify(r));
      }
      assert.deepEqual(seen, ['/query', '/write', '/write', '/write', '/write']);
    } finally {
      await sink.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('only http:// and https:// URLs (config key, and --influx: exit 2 before anything is read)', async () => {
    assert.throws(
      () => parseSinkConfig({ type: 'influx', url: 'ftp://127.0.0.1:8086', database: 'd' }),
      /sink\.url: expected an http:\/\/ or https:\/\/ URL/,
    );
    assert.equal(parseSinkConfig({ type: 'influx', url: 'https://influx.example/x', database: 'd' }).type, 'influx');
    const dir = mkdtempSync(join(tmpdir(), 'sigflow-influx-url-'));
    try {
      const r = await runCli([
        'import',
        log,
        '--dbc',
        dbc,
        '--data-dir',
        join(dir, 'd'),
        '--influx',
        'ftp://127.0.0.1:21',
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^sigflow: --influx ftp:\/\/127\.0\.0\.1:21: .*http:\/\/ or https:\/\/ URL \(SF_ERR_USAGE\)\n$/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sigflow import --influx: one warning, human lines, reasons, waiting backlogs', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigflow-influx-import-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const jsonLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('{'));

  it('a server that never answers: warned at the start, "no answer within 10s" at the end; the next run without --influx names the backlog', async () => {
    const hole = await blackHole();
    const data = join(dir, 'hole');
    try {
      const r = await runCli(
        ['import', log, '--dbc', dbc, '--data-dir', data, '--influx', hole.url, '--drain-timeout', '1s'],
        {
          timeoutMs: 90_000,
        },
      );
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(jsonLines(r.stderr), [], 'no pino JSON among human output');
      const lines = r.stderr.split('\n');
      assert.match(
        lines[0],
        /^sigflow import: warning: influx at http:\/\/127\.0\.0\.1:\d+ does not answer \(127\.0\.0\.1:\d+: no answer within 10s\); its records are kept in the outbox/,
      );
      assert.match(
        r.stderr,
        /drain timed out .*still pending: influx: 3283 records \(retry: influx: .*no answer within 10s\)/,
      );
      assert.doesNotMatch(r.stderr, /no error/);
    } finally {
      await hole.close();
    }
    const again = await runCli(['import', log, '--dbc', dbc, '--data-dir', data, '--force']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stderr,
      /the outbox still holds \d+ records for sink influx, not configured in this run; run again with --influx <url>, or drop them: sigflow outbox forget-sink --data-dir .*outbox --sink influx\n/,
    );
  });

  it('records InfluxDB rejects: a few summarised warning lines, not one per record', async (t) => {
    if (!influx) return t.skip('influxd not installed');
    const h = influx as ServiceHandle;
    // Two measurements of the log get a field InfluxDB already has as a string: every such record is rejected.
    const decoded = await runCli(['decode', log, '--dbc', dbc]);
    const firsts = new Map<string, { signal: string; t: string }>();
    for (const l of decoded.stdout.trim().split('\n')) {
      const v = JSON.parse(l) as { message: string; signal: string; t: string };
      if (!firsts.has(v.message)) firsts.set(v.message, v);
    }
    const conflicts = [...firsts].slice(0, 2);
    assert.equal(conflicts.length, 2);
    await influxQuery(h, 'CREATE DATABASE rejects');
    const esc = (s: string) => s.replace(/[ ,=]/g, (c) => `\\${c}`);
    const body = conflicts.map(([m, v]) => `${esc(m)} ${esc(v.signal)}="text" ${v.t}`).join('\n');
    const w = await fetch(`${h.url}/write?db=rejects&precision=ns`, { method: 'POST', body });
    assert.equal(w.status, 204, await w.text());
    const r = await runCli(
      ['import', log, '--dbc', dbc, '--data-dir', join(dir, 'rejects'), '--influx', h.url, '--influx-db', 'rejects'],
      { timeoutMs: 120_000 },
    );
    assert.deepEqual(jsonLines(r.stderr), [], 'no pino JSON among human output');
    const rejected = r.stderr.split('\n').filter((l) => /dead-letter/.test(l) && /warning/.test(l));
    assert.ok(rejected.length >= 1, r.stderr);
    assert.ok(rejected.length <= 5, `${rejected.length} warning lines:\n${r.stderr}`);
    assert.match(r.stderr, /… \d+ more "warning: influx: partial write: rejects dead-lettered"/);
    assert.match(r.stderr, /influx: \d+ delivered, [1-9]\d* dead-lettered/);
  });
});
