/**
 * `sigflow lake write` and `sigflow lake query` on the command line: the summary line, a re-run that skips what
 * the ledger has, the views, CSV and JSON output, and the errors (a query DuckDB refuses: exit 1 naming it; a
 * missing --lake: exit 2).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCli } from '../harness/cli.js';
import { repoRoot } from '../harness/paths.js';
import { DBC, duck, MIDNIGHT, syntheticLog } from '../pipelines/lake-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'sigflow-cli-lake-'));
after(() => rmSync(work, { recursive: true, force: true }));
const LOG = join(repoRoot, 'test', 'fixtures', 'canedge', 'serve', 'LOG');

test('lake write, again, then query: summary lines, views, csv and json', async () => {
  const lake = join(work, 'lake');
  const args = ['lake', 'write', LOG, '--dbc', join(LOG, 'canmod-gps.dbc'), '--lake', lake];
  const first = await runCli(args);
  assert.equal(first.code, 0, first.stderr);
  assert.match(
    first.stderr,
    /lake write: 3 log\(s\) written \(0 again\), 0 already in the lake, 0 failed; 9 table file\(s\), 5076 rows/,
  );
  const second = await runCli(args);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /0 log\(s\) written \(0 again\), 3 already in the lake/);

  const list = await runCli(['lake', 'query', '--lake', lake, '--list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^CAN2_gnss_speed\tfleet$/m);
  assert.match(list.stdout, /^tbl_2F6913DB_CAN2_gnss_speed\tdevice\t2F6913DB$/m);
  assert.match(list.stdout, /^messages\tside$/m);

  const csv = await runCli([
    'lake',
    'query',
    '--lake',
    lake,
    '--format',
    'csv',
    'select device, count(*) as n, max(Speed) as top from CAN2_gnss_speed group by device',
  ]);
  assert.equal(csv.code, 0, csv.stderr);
  assert.equal(csv.stdout, 'device,n,top\n2F6913DB,44,0.496\n');
  const json = await runCli([
    'lake',
    'query',
    '--lake',
    lake,
    '--format',
    'json',
    'select t, Speed from tbl_2F6913DB_CAN2_gnss_speed order by t limit 1',
  ]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), { t: '2022-01-06T11:46:17.110600Z', Speed: 0.129 });
});

test('lake errors: bad SQL exits 1 naming DuckDB’s reason; no --lake exits 2', async () => {
  const bad = await runCli(['lake', 'query', '--lake', join(work, 'lake'), 'select * from nope']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Table with name nope does not exist.*\(SF_ERR_LAKE_QUERY\)/);
  const usage = await runCli(['lake', 'write', LOG, '--dbc', join(LOG, 'canmod-gps.dbc')]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--lake/);
});

test('lake events and trips on the command line: outputs written; a bad config exits 2 naming the key path', async () => {
  const lake = join(work, 'lake-derived');
  const w = await runCli(['lake', 'write', LOG, '--dbc', join(LOG, 'canmod-gps.dbc'), '--lake', lake]);
  assert.equal(w.code, 0, w.stderr);
  const events = join(work, 'events.json');
  writeFileSync(
    events,
    JSON.stringify({
      general: { include_gps_data: true, messages_gps: ['CAN2_gnss_pos'] },
      events: [
        {
          event_name: 'Moving',
          messages_match_type: 'equals',
          messages_filtered_list: ['CAN2_gnss_speed'],
          trigger_signals: ['Speed'],
          lower_threshold: 0.1,
          upper_threshold: 0.3,
        },
      ],
    }),
  );
  const e = await runCli(['lake', 'events', '--lake', lake, '--config', events]);
  assert.equal(e.code, 0, e.stderr);
  const m = /lake events: 1 device\(s\), (\d+) event row\(s\) \((\d+) Start, (\d+) Stop\) in (\d+) file\(s\)/.exec(
    e.stderr,
  );
  assert.ok(m, e.stderr);
  assert.ok(Number(m[2]) >= 1 && Number(m[4]) === 1, e.stderr);
  assert.ok(existsSync(join(lake, 'aggregations', 'events', '2022', '01', '06', '2F6913DB_events.parquet')));

  const aggregations = join(work, 'aggregations.json');
  writeFileSync(
    aggregations,
    JSON.stringify({
      config: { trip: { trip_gap_min: 10, trip_min_length_min: 0 } },
      device_clusters: [{ devices: ['2F6913DB'], cluster: 'all' }],
      cluster_details: [
        {
          clusters: ['all'],
          details: {
            trip_identifier: { message: 'CAN2_gnss_speed' },
            aggregations: [{ message: 'CAN2_gnss_speed', signal: ['Speed'], aggregation: ['avg', 'max'] }],
          },
        },
      ],
    }),
  );
  const t = await runCli(['lake', 'trips', '--lake', lake, '--config', aggregations]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stderr, /lake trips: 2022-01-06 … 2022-01-06: 1 trip\(s\), 2 summary row\(s\) in 1 file\(s\)/);

  writeFileSync(events, JSON.stringify({ events: [{ event_name: 'x', trigger_signals: 'Speed' }] }));
  const bad = await runCli(['lake', 'events', '--lake', lake, '--config', events]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /events\.json: events\[0\]\.[a-z_]+: .*\(SF_ERR_LAKE_EVENTS_CONFIG\)/);
});

test('lake write --events: a late upload revisits the events of its days and the day before', async () => {
  const base = join(work, 'late');
  const root = join(base, 'LOG');
  const dbc = join(base, 'v1.dbc');
  // EngineSpeed of frame k is 512 + k/8: above 520 from k = 64; a new log starts again at 512
  syntheticLog(root, 1, 1, MIDNIGHT - 2_000_000_000n, 200); // the 14th, 23:59:58 → 23:59:59.99
  mkdirSync(base, { recursive: true });
  writeFileSync(dbc, DBC());
  const events = join(base, 'events.json');
  writeFileSync(
    events,
    JSON.stringify({
      general: { include_gps_data: false },
      events: [
        {
          event_name: 'HighRpm',
          messages_match_type: 'equals',
          messages_filtered_list: ['CAN1_EEC1_SAB'],
          trigger_signals: ['EngineSpeed'],
          lower_threshold: 515,
          upper_threshold: 520,
        },
      ],
    }),
  );
  const lake = join(base, 'lake');
  const write = () => runCli(['lake', 'write', root, '--dbc', dbc, '--lake', lake, '--events', events]);
  const first = await write();
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /events 2026-06-13 … 2026-06-15 recomputed: 1 row\(s\)/);
  syntheticLog(root, 1, 2, MIDNIGHT + 10_000_000_000n, 100); // uploaded late: the 15th
  const second = await write();
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /1 log\(s\) written .* 1 already in the lake/);
  assert.match(second.stderr, /events 2026-06-14 … 2026-06-16 recomputed: 3 row\(s\) in 2 file\(s\)/);
  const rows = await duck(
    `SELECT strftime(t, '%Y-%m-%d %H:%M:%S.%f') AS t, EventType FROM read_parquet('${lake}/aggregations/events/*/*/*/*.parquet') ORDER BY t`,
  );
  // the Start on the 14th (frame 64) ends at the late log's first frame on the 15th — a Stop that follows its
  // Start, not a lone Stop — and the late log's own frame 64 starts the event again
  assert.deepEqual(rows, [
    { t: '2026-06-14 23:59:58.641000', EventType: 'Start' },
    { t: '2026-06-15 00:00:10.011000', EventType: 'Stop' },
    { t: '2026-06-15 00:00:10.641000', EventType: 'Start' },
  ]);
});

test('lake write takes whole logs: --from/--to are refused (they were accepted and ignored)', async () => {
  const r = await runCli([
    'lake',
    'write',
    'LOG',
    '--lake',
    'lake',
    '--dbc',
    'x.dbc',
    '--from',
    '2026-01-10T00:00:01Z',
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /unknown option '--from'/);
});
