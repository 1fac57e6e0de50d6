/**
 * Queries over a lake in S3 (s3rver): `LakeQuery` (sigflow lake query), `sigflow serve --lake s3://…` and the CLI
 * read it through a local copy (LakeMirror) — and must answer exactly what the same lake in a folder answers.
 * The copy is brought up to date: a second open downloads nothing, an object removed in S3 (compaction, a DBC
 * change) disappears locally, a new one arrives; --from/--to copy only those days. Events and trips over the
 * S3 lake write the same outputs to S3 as over the folder.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { FolderLakeStore, LakeMirror, openLakeStore, type S3LakeStore } from '../../src/formats/lake/index.js';
import {
  LakeQuery,
  parseAggregationsConfig,
  parseEventsConfig,
  runLakeEvents,
  runLakeTrips,
  writeLake,
} from '../../src/pipelines/lake/index.js';
import { decoderConfigFrom, expandInputs } from '../../src/pipelines/logdecode/index.js';
import { type RunningServer, startServe } from '../../src/server/index.js';
import { runCli } from '../harness/cli.js';
import { startS3, type TestS3 } from '../harness/s3.js';
import { DBC, duck, MIDNIGHT, syntheticLog } from './lake-helpers.js';

let dir: string;
let s3: TestS3;
const LAKE_URL = 's3://lakes/fleet/';

function files(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  walk(root, '');
  return out.sort();
}

/** The environment of a CLI child: credentials of the test server (not blocking: s3rver answers from here). */
const s3Env = () => ({ ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });

const s3Store = (url = LAKE_URL) =>
  openLakeStore(url, { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });

/** Every view's row count and a checksum of its rows. */
async function summary(q: LakeQuery): Promise<string[]> {
  const out: string[] = [];
  for (const v of q.views) {
    const r = await q.query(`SELECT count(*)::BIGINT AS n, sum(hash(COLUMNS(*)))::HUGEINT AS h FROM "${v.name}"`);
    out.push(
      `${v.name} ${v.kind} ${r.rows[0].n} ${JSON.stringify(r.rows[0], (_k, x) => (typeof x === 'bigint' ? String(x) : x))}`,
    );
  }
  return out;
}

async function folderSummary(folder: string): Promise<string[]> {
  const q = await LakeQuery.open(new FolderLakeStore(folder));
  try {
    return await summary(q);
  } finally {
    q.close();
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sigflow-lake-s3-'));
  process.env.SIGFLOW_CACHE_DIR = join(dir, 'cache'); // serve's default copy lands here
  const root = join(dir, 'LOG');
  syntheticLog(root, 1, 1, MIDNIGHT - 2_000_000_000n, 400); // over midnight: two day folders
  writeFileSync(join(dir, 'v1.dbc'), DBC());
  await writeLake({
    inputs: (await expandInputs([root])).files,
    config: decoderConfigFrom({ dbc: [join(dir, 'v1.dbc')], channel: [] }),
    lake: new FolderLakeStore(join(dir, 'lake')),
  });
  s3 = await startS3();
  await s3.createBucket('lakes');
  await s3.upload('lakes', join(dir, 'lake'), 'fleet/');
});

after(async () => {
  await s3?.close();
  delete process.env.SIGFLOW_CACHE_DIR;
  rmSync(dir, { recursive: true, force: true });
});

test('lake query over S3 answers what the folder answers; the copy is kept current', async () => {
  const expected = await folderSummary(join(dir, 'lake'));
  assert.ok(expected.length >= 8, expected.join('\n'));
  const cache = join(dir, 'copy');
  const q = await LakeQuery.open(s3Store(), { cacheDir: cache });
  try {
    assert.deepEqual(await summary(q), expected);
  } finally {
    q.close();
  }
  const parquet = (root: string) => files(root).filter((f) => f.endsWith('.parquet'));
  assert.deepEqual(parquet(cache), parquet(join(dir, 'lake')), 'the copy holds the lake’s Parquet files');
  assert.ok(!files(cache).some((f) => f.startsWith('_sigflow/')), 'the ledger is not copied');

  // a second open downloads nothing: the copies are current (same size and time)
  const store = s3Store() as S3LakeStore;
  const mirror = new LakeMirror(store, cache);
  await mirror.sync('', (k) => k.endsWith('.parquet') && !k.startsWith('_sigflow/'));
  assert.equal(mirror.stats.fetched, 0);
  assert.equal(mirror.stats.removed, 0);

  // an object gone from S3 goes from the copy (with its folders); a changed one is downloaded again — also when it
  // changed within the same second and kept its size (the copy's time carries a hash of the ETag)
  const gone = parquet(cache).find((f) => f.includes('/CAN1_Mode_Mux_M2/'));
  assert.ok(gone);
  await s3.client.send(new DeleteObjectCommand({ Bucket: 'lakes', Key: `fleet/${gone}` }));
  const changed = parquet(cache).find((f) => f.includes('/CAN1_EEC1_SAB/'));
  assert.ok(changed);
  const original = readFileSync(join(dir, 'lake', changed));
  const flipped = Buffer.from(original);
  flipped[flipped.length - 9] ^= 1; // a byte of the footer length: same size, other bytes (another ETag)
  await s3.put('lakes', `fleet/${changed}`, flipped);
  const again = new LakeMirror(store, cache);
  await again.sync('', (k) => k.endsWith('.parquet') && !k.startsWith('_sigflow/'));
  assert.equal(again.stats.removed, 1);
  assert.equal(again.stats.fetched, 1);
  assert.deepEqual(readFileSync(join(cache, changed)), flipped);
  await s3.put('lakes', `fleet/${changed}`, original); // the same size again, within the same second
  const third = new LakeMirror(store, cache);
  await third.sync('', (k) => k.endsWith('.parquet') && !k.startsWith('_sigflow/'));
  store.close();
  assert.equal(third.stats.fetched, 1);
  assert.deepEqual(readFileSync(join(cache, changed)), original);
  assert.ok(!parquet(cache).includes(gone));
  rmSync(join(dir, 'lake', gone));
  assert.deepEqual(parquet(cache), parquet(join(dir, 'lake')));
  const q2 = await LakeQuery.open(s3Store(), { cacheDir: cache });
  try {
    assert.deepEqual(await summary(q2), await folderSummary(join(dir, 'lake')));
  } finally {
    q2.close();
  }
  // put it back for the next tests
  await s3.upload('lakes', join(dir, 'lake'), 'fleet/');
});

test('--from/--to copy and query only those days (and the side tables); bad days are usage errors', async () => {
  const cache = join(dir, 'day-copy');
  const day = new Date(Number(MIDNIGHT / 1_000_000n)).toISOString().slice(0, 10); // the second day
  const firstOfDay = async (c: string) => {
    const q = await LakeQuery.open(s3Store(), { cacheDir: c, from: day, to: day });
    try {
      return String((await q.query('SELECT min(t)::VARCHAR AS first FROM CAN1_EEC1_SAB')).rows[0].first);
    } finally {
      q.close();
    }
  };
  assert.ok((await firstOfDay(cache)).startsWith(day));
  const tables = files(cache).filter((f) => /\/CAN1_/.test(f));
  assert.ok(tables.length > 0);
  for (const f of tables) assert.match(f, new RegExp(`/${day.replace(/-/g, '/')}/`), f);
  // a copy that also holds the day before (a full query made it): the range still reads its own days only
  const full = join(dir, 'copy');
  assert.ok(files(full).some((f) => !f.includes(`/${day.replace(/-/g, '/')}/`) && /\/CAN1_EEC1_SAB\//.test(f)));
  assert.ok((await firstOfDay(full)).startsWith(day));
  await assert.rejects(LakeQuery.open(s3Store(), { cacheDir: cache, from: '2026-13-01' }), {
    code: 'SF_ERR_USAGE',
  });
  await assert.rejects(LakeQuery.open(new FolderLakeStore(join(dir, 'lake')), { from: day }), {
    code: 'SF_ERR_USAGE',
  });
});

test('two processes sharing a copy: one never deletes a file the other downloaded after its listing', async () => {
  const shared = join(dir, 'shared-copy');
  const store = s3Store() as S3LakeStore;
  try {
    const month = 'AABBCCDD/CAN1_EEC1_SAB/2026/06/';
    const a = new LakeMirror(store, shared); // a serve: its listing of the month is kept 30 s
    const before = await a.sync(month);
    const extra = `${month}15/zz_extra.parquet`;
    await s3.put('lakes', `fleet/${extra}`, readFileSync(a.pathOf(before[0])));
    const b = new LakeMirror(store, shared); // a lake query started later: lists again, downloads the new file
    assert.ok((await b.sync(month)).includes(extra));
    await a.sync(month); // the serve's cached listing does not have it: it must not delete it
    assert.equal(a.stats.removed, 0);
    assert.ok(statSync(b.pathOf(extra)).isFile());
    await s3.client.send(new DeleteObjectCommand({ Bucket: 'lakes', Key: `fleet/${extra}` }));
    const c = new LakeMirror(store, shared); // once gone from S3, a later listing removes it
    await c.sync(month);
    assert.equal(c.stats.removed, 1);
  } finally {
    store.close();
  }
});

test('the copy stays within its size bound: least recently used files go first, never those in use', async () => {
  const copy = join(dir, 'bounded-copy');
  const store = s3Store() as S3LakeStore;
  const isTable = (k: string) => k.endsWith('.parquet') && !k.startsWith('_sigflow/');
  const onDisk = () => files(copy).filter((f) => f.endsWith('.parquet'));
  const bytesOnDisk = () => onDisk().reduce((a, f) => a + statSync(join(copy, f)).size, 0);
  const age = (keys: string[], ms: number) => {
    for (const k of keys) {
      const st = statSync(join(copy, k));
      utimesSync(join(copy, k), (Date.now() - ms) / 1000, st.mtimeMs / 1000);
    }
  };
  try {
    const all = await new LakeMirror(store, copy, { maxBytes: Number.POSITIVE_INFINITY }).sync('', isTable);
    const folderOf = (k: string) => k.split('/').slice(0, 2).join('/');
    const folders = [...new Set(all.map(folderOf))];
    assert.ok(folders.length >= 3, folders.join(', '));
    const [kept, other] = folders;
    const keptKeys = all.filter((k) => folderOf(k) === kept);
    const otherKeys = all.filter((k) => folderOf(k) === other);
    const keptBytes = keptKeys.reduce((a, k) => a + statSync(join(copy, k)).size, 0);
    assert.ok(bytesOnDisk() > 2 * keptBytes);

    // a file used recently is never taken away, whatever the bound
    age(all, 3_600_000);
    age(otherKeys, 60_000); // used a minute ago (by another request or process)
    const tight = new LakeMirror(store, copy, { maxBytes: keptBytes + 1 });
    assert.deepEqual(await tight.sync(`${kept}/`, isTable), keptKeys);
    for (const k of [...keptKeys, ...otherKeys]) assert.ok(statSync(join(copy, k)).isFile(), k);
    assert.equal(tight.stats.evicted, all.length - keptKeys.length - otherKeys.length);
    assert.equal(onDisk().length, keptKeys.length + otherKeys.length);
    assert.ok(
      !files(copy).some((f) => folders.slice(2).some((x) => f.startsWith(`${x}/`))),
      'the folders emptied are removed',
    );
    // the sync marked its files as used (access time now): the least recently used are now the others
    for (const k of keptKeys) assert.ok(Date.now() - statSync(join(copy, k)).atimeMs < 30_000, k);

    // once they are no longer in use, the least recently used go first, down to 90 % of the bound
    age(otherKeys, 3_600_000);
    age(keptKeys, 1_800_000);
    const otherBytes = otherKeys.reduce((a, k) => a + statSync(join(copy, k)).size, 0);
    const bound = new LakeMirror(store, copy, { maxBytes: keptBytes + otherBytes - 1 });
    await bound.sync(`${kept}/`, isTable);
    assert.equal(bound.stats.fetched, 0);
    assert.ok(bytesOnDisk() <= bound.maxBytes * 0.9, `${bytesOnDisk()} ≤ 90 % of ${bound.maxBytes}`);
    assert.ok(bound.stats.evicted >= 1);
    for (const k of keptKeys) assert.ok(statSync(join(copy, k)).isFile(), k);

    // the copy is a cache: what was evicted is downloaded again when asked for
    const present = onDisk().length;
    const again = new LakeMirror(store, copy, { maxBytes: Number.POSITIVE_INFINITY });
    assert.deepEqual(await again.sync('', isTable), all);
    assert.equal(again.stats.fetched, all.length - present);
    assert.equal(onDisk().length, all.length);
  } finally {
    store.close();
  }
});

test('serve --lake s3://… answers the Grafana targets as the folder lake does', async () => {
  const servers: RunningServer[] = [];
  try {
    const folder = await startServe({ lake: join(dir, 'lake'), port: 0, pollMs: 0 });
    servers.push(folder);
    const remote = await startServe({
      lake: LAKE_URL,
      s3: { endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      port: 0,
      pollMs: 0,
    });
    servers.push(remote);
    const post = async (server: RunningServer, path: string, body: unknown) => {
      const r = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(r.status, 200);
      return r.json();
    };
    const search = { target: '{"search":"measurement"}' };
    assert.deepEqual(await post(remote, '/search', search), await post(folder, '/search', search));
    const t0 = Number(MIDNIGHT / 1_000_000n) - 2000;
    const query = {
      range: { from: new Date(t0).toISOString(), to: new Date(t0 + 4000).toISOString() },
      maxDataPoints: 100_000,
      targets: [{ refId: 'A', target: '{"measurement":"CAN1_EEC1_SAB","field":"EngineSpeed"}' }],
    };
    const want = (await post(folder, '/query', query)) as { datapoints: unknown[] }[];
    assert.ok(want[0].datapoints.length > 200);
    assert.deepEqual(await post(remote, '/query', query), want);
    assert.ok(statSync(join(dir, 'cache', 'lake')).isDirectory(), 'the copy is in the cache folder');
  } finally {
    for (const s of servers) await s.close();
  }
});

test('sigflow lake query --lake s3://… (the CLI, credentials from the environment)', async () => {
  const { code, stdout, stderr } = await runCli(
    [
      ...['lake', 'query', '--lake', LAKE_URL, '--s3-endpoint', s3.endpoint, '--cache', join(dir, 'cli-copy')],
      ...['--format', 'csv', 'select count(*) as n from CAN1_EEC1_SAB'],
    ],
    { env: s3Env(), timeoutMs: 120_000 },
  );
  assert.equal(code, 0, stderr);
  assert.match(
    stderr,
    /sigflow lake query: \d+ object\(s\) of s3:\/\/lakes\/fleet\/ in the copy .*: [1-9]\d* downloaded/,
  );
  const q = await LakeQuery.open(new FolderLakeStore(join(dir, 'lake')));
  try {
    const n = (await q.query('select count(*)::BIGINT as n from CAN1_EEC1_SAB')).rows[0].n;
    assert.equal(stdout, `n\n${n}\n`);
  } finally {
    q.close();
  }
});

test('events and trips over an S3 lake: the same outputs, written to S3', async () => {
  const events = parseEventsConfig({
    events: [
      {
        event_name: 'Revving',
        messages_match_type: 'equals',
        messages_filtered_list: [['CAN1_EEC1_SAB']],
        trigger_signals: ['EngineSpeed'],
        lower_threshold: 520, // EngineSpeed runs 512…544 rpm and back (lake-helpers)
        upper_threshold: 530,
        rising_as_start: true,
        exact_match: false,
        raster: '',
      },
    ],
  });
  const trips = parseAggregationsConfig({
    config: { trip: { trip_gap_min: 1, trip_min_length_min: 0 } },
    device_clusters: [{ devices: ['AABBCCDD'], cluster: 'one' }],
    cluster_details: [
      {
        clusters: ['one'],
        details: {
          trip_identifier: { message: 'CAN1_EEC1_SAB' },
          aggregations: [{ message: 'CAN1_EEC1_SAB', signal: ['EngineSpeed'], aggregation: ['max', 'avg'] }],
        },
      },
    ],
  });
  const folder = new FolderLakeStore(join(dir, 'lake'));
  const want = {
    events: await runLakeEvents({ lake: folder, config: events }),
    trips: await runLakeTrips({ lake: folder, config: trips }),
  };
  assert.ok(want.events.events > 0 && want.trips.trips > 0, JSON.stringify(want));
  const remote = s3Store();
  const cacheDir = join(dir, 'derived-copy');
  try {
    const got = {
      events: await runLakeEvents({ lake: remote, config: events, cacheDir }),
      trips: await runLakeTrips({ lake: remote, config: trips, cacheDir }),
    };
    assert.deepEqual(got, want);
    // the outputs are in S3, the same rows as the folder's
    const outputs = (root: string) => files(root).filter((f) => f.startsWith('aggregations/'));
    const local = outputs(join(dir, 'lake'));
    assert.ok(local.length >= 2, local.join(', '));
    const q = await LakeQuery.open(remote, { cacheDir: join(dir, 'outputs-copy') });
    q.close();
    assert.deepEqual(outputs(join(dir, 'outputs-copy')), local);
    for (const f of local) {
      const rows = async (path: string) =>
        JSON.stringify(await duck(`SELECT * FROM read_parquet('${path}')`), (_k, v) =>
          typeof v === 'bigint' ? String(v) : v,
        );
      assert.equal(await rows(join(dir, 'outputs-copy', f)), await rows(join(dir, 'lake', f)), f);
    }
  } finally {
    remote.close();
  }
});

test('sigflow lake write --events on an s3:// lake: the events land in S3', async () => {
  const events = join(dir, 'events.json');
  writeFileSync(
    events,
    JSON.stringify({
      events: [
        {
          event_name: 'Revving',
          messages_match_type: 'equals',
          messages_filtered_list: [['CAN1_EEC1_SAB']],
          trigger_signals: ['EngineSpeed'],
          lower_threshold: 520,
          upper_threshold: 530,
          rising_as_start: true,
          exact_match: false,
          raster: '',
        },
      ],
    }),
  );
  const { code, stderr } = await runCli(
    [
      ...['lake', 'write', join(dir, 'LOG'), '--dbc', join(dir, 'v1.dbc'), '--lake', 's3://lakes/cli-lake/'],
      ...['--s3-endpoint', s3.endpoint, '--events', events, '--cache', join(dir, 'cli-lake-copy'), '--no-progress'],
    ],
    { env: s3Env(), timeoutMs: 120_000 },
  );
  assert.equal(code, 0, stderr);
  assert.match(stderr, /events .* recomputed: [1-9]\d* row\(s\)/);
  const store = s3Store('s3://lakes/cli-lake/');
  try {
    const keys: string[] = [];
    for await (const o of store.list('aggregations/events/')) keys.push(o.key);
    assert.ok(keys.length >= 1 && keys.every((k) => k.endsWith('_events.parquet')), keys.join(', '));
  } finally {
    store.close();
  }
});
