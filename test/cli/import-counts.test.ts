/**
 * Issue 8, items 2 and 15, end to end through the command line: after a partial delivery (an InfluxDB that takes
 * one write and then answers 503) the counts add up per sink — delivered + pending + dead-lettered + dropped =
 * accepted — in `sigflow outbox status`, and `outbox forget-sink` drops exactly what was pending, not the records
 * already delivered from a partly written batch. `sigflow import` shows this run's figures, with the lifetime
 * totals labelled as such.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { runCli } from '../harness/cli.js';
import { fixturesDir } from '../harness/paths.js';

const small = join(fixturesDir, 'mdf4', 'fw0107_00000002.MF4'); // 3,283 records with gnss.dbc
const big = join(fixturesDir, 'canedge', '00000007-643E54EA.MFC'); // 119,952 records
const dbc = join(fixturesDir, 'canedge/dbc/api-examples/examples/other/concatenate-mf4-by-period/dbc_files/gnss.dbc');

interface SinkJson {
  name: string;
  acceptedRecords: number;
  deliveredRecords: number;
  pendingRecords: number;
  deadLetteredRecords: number;
  droppedRecords: number;
  expiredRecords: number;
  corruptRecords: number;
  lostRecords: number;
}

const accounted = (s: SinkJson) =>
  s.deliveredRecords +
  s.pendingRecords +
  s.deadLetteredRecords +
  s.droppedRecords +
  s.expiredRecords +
  s.corruptRecords +
  s.lostRecords;

/** An InfluxDB 1.x stand-in: answers ping and CREATE DATABASE, stores the first `accept` writes, then 503. */
async function flakyInflux(accept: number): Promise<{ url: string; lines: () => number; close: () => Promise<void> }> {
  let writes = 0;
  let lines = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/ping') {
        res.writeHead(204, { 'X-Influxdb-Version': '1.8.10' }).end();
      } else if (path === '/query') {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"results":[{"statement_id":0}]}');
      } else if (path === '/write') {
        if (writes++ < accept) {
          const body = Buffer.concat(chunks);
          const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8');
          lines += text.split('\n').filter((l) => l.length > 0).length;
          res.writeHead(204).end();
        } else res.writeHead(503, { 'Content-Type': 'application/json' }).end('{"error":"busy"}');
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    lines: () => lines,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

test('after a partial delivery the counts add up per sink, and forget-sink drops only what was pending', {
  timeout: 240_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-import-counts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // 3,283 records first, so the first 5,000-record write ends inside the second stored batch
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  copyFileSync(small, join(logs, '1.MF4'));
  copyFileSync(big, join(logs, '2.MFC'));
  const influx = await flakyInflux(1);
  t.after(() => influx.close());
  const data = join(dir, 'data');
  const r = await runCli(
    [
      'import',
      join(logs, '1.MF4'),
      join(logs, '2.MFC'),
      '--dbc',
      dbc,
      '--data-dir',
      data,
      '--influx',
      influx.url,
      '--drain-timeout',
      '3s',
    ],
    { timeoutMs: 200_000 },
  );
  assert.equal(r.code, 1, `influx is behind: the run fails\n${r.stderr}`);
  const total = 3283 + 119952;
  assert.match(r.stderr, new RegExp(`${total} records`));
  const st = await runCli(['outbox', 'status', '--data-dir', data, '--json']);
  assert.equal(st.code, 0, st.stderr);
  const sinks = JSON.parse(st.stdout).sinks as SinkJson[];
  for (const s of sinks) {
    assert.equal(s.acceptedRecords, total, `${s.name}: accepted`);
    assert.equal(accounted(s), s.acceptedRecords, `${s.name}: delivered + pending + dead + dropped = accepted`);
  }
  const ix = sinks.find((s) => s.name === 'influx') as SinkJson;
  assert.equal(ix.deliveredRecords, influx.lines(), 'influx delivered = what the server stored');
  assert.equal(ix.deliveredRecords, 5000);
  assert.equal(ix.pendingRecords, total - 5000, 'pending counts records, not the partly written batch whole');
  assert.match(r.stderr, /influx: 5000 delivered, 0 dead-lettered in this run, 118235 pending now/);

  const f = await runCli(['outbox', 'forget-sink', '--data-dir', data, '--sink', 'influx', '--yes']);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout, /dropped 118235 pending records/, 'the 5,000 delivered are not counted as dropped');

  // A second run: this run's figures, lifetime labelled (the store delivered everything the first time).
  const again = await runCli(['import', join(logs, '1.MF4'), '--dbc', dbc, '--data-dir', data, '--force']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stderr,
    /store: 3283 delivered, 0 dead-lettered in this run, 0 pending now; lifetime \d+ delivered of \d+ accepted/,
  );
  const lifetime = Number(/lifetime (\d+) delivered/.exec(again.stderr)?.[1]);
  assert.equal(lifetime, total + 3283, 'the lifetime total is labelled as such');
});
