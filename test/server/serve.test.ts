/**
 * `sigflow serve` over real HTTP on 127.0.0.1 and a real CANedge log tree (test/fixtures/canedge/serve: the
 * 2F6913DB sample logs and canmod-gps.dbc): the CANedge dashboard templates' queries with their variables
 * resolved as Grafana resolves them, values against `sigflow decode`, downsampling, the byte budget, unreadable
 * files, hostile requests, 20 concurrent queries.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildEncryptedContainer } from '../../src/formats/canedge/index.js';
import { type RunningServer, startServe } from '../../src/server/index.js';
import { fixturesDir, repoRoot } from '../harness/paths.js';

const FIX = join(fixturesDir, 'canedge', 'serve');
const DEVICE = '2F6913DB';
// the whole of both sessions
const RANGE = { from: '2022-01-06T00:00:00.000Z', to: '2023-01-12T00:00:00.000Z' };
const S4 = { from: '2022-01-06T11:45:00.000Z', to: '2022-01-06T11:50:00.000Z' };

type Series = { refId?: string; target: string; datapoints: [number | null, number | null][] };

let dir: string;
let server: RunningServer;
let base: string;

async function post(path: string, body: unknown, headers: Record<string, string> = {}, at = base): Promise<Response> {
  return fetch(`${at}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function json<T = unknown>(path: string, body: unknown): Promise<T> {
  const r = await post(path, body);
  const text = await r.text();
  assert.equal(r.status, 200, `${path}: ${r.status} ${text}`);
  return JSON.parse(text) as T;
}

function target(o: Record<string, string>): string {
  return JSON.stringify(o);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sigflow-serve-'));
  cpSync(join(FIX, 'LOG'), join(dir, 'LOG'), { recursive: true });
  server = await startServe({
    data: `file://${join(dir, 'LOG')}`,
    port: 0,
    pollMs: 0,
    indexPath: join(dir, 'index.json'),
  });
  base = server.url;
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Grafana's "regex" formatting of a multi-value variable (the SimpleJson plugin's choice). */
function regexFormat(values: string[]): string {
  const esc = values.map((v) => v.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&'));
  return esc.length === 1 ? esc[0] : `(${esc.join('|')})`;
}

describe('the CANedge dashboard templates, unchanged', () => {
  for (const file of ['dashboard-template-sample-data.json', 'dashboard-template-simple.json']) {
    test(file, async () => {
      const dash = JSON.parse(readFileSync(join(FIX, 'dashboard_templates', file), 'utf8'));
      // resolve the variables in order, as Grafana does: each query through /search, the saved value when offered
      const vars: Record<string, string[]> = {};
      const subst = (s: string) =>
        s.replace(/\$\{(\w+)\}/g, (_, n: string) => {
          const v = vars[n];
          assert.ok(v, `variable ${n} used before it is resolved`);
          return regexFormat(v);
        });
      for (const v of dash.templating.list) {
        const options = await json<(string | { text: string; value: string })[]>('/search', { target: subst(v.query) });
        assert.ok(options.length > 0, `variable ${v.name}: no options`);
        const values = options.map((o) => (typeof o === 'string' ? o : o.value));
        const saved = v.current?.value;
        const wanted = saved === undefined ? [] : Array.isArray(saved) ? saved : [saved];
        vars[v.name] = wanted.length && wanted.every((w: string) => values.includes(w)) ? wanted : [values[0]];
        if (v.name === 'DEVICE') assert.deepEqual(options[0], { text: `${DEVICE} UDS EV6 pt2`, value: DEVICE });
      }
      assert.deepEqual(vars.DEVICE, [DEVICE]);
      assert.deepEqual(vars.DB, ['canmod-gps']);
      // the panels that query the data source (the others read the first panel's result)
      let queried = 0;
      for (const panel of dash.panels) {
        const targets = (panel.targets ?? []).filter(
          (t: { datasource?: { type?: string } }) => t.datasource?.type === 'grafana-simple-json-datasource',
        );
        if (targets.length === 0) continue;
        queried++;
        const body = {
          range: S4,
          intervalMs: 500,
          maxDataPoints: 300,
          targets: targets.map((t: { refId: string; target: string; type: string }) => ({
            refId: t.refId,
            target: subst(t.target),
            type: t.type,
          })),
        };
        const res = await json<Series[]>('/query', body);
        for (const t of targets) {
          const mine = res.filter((s) => s.refId === t.refId);
          const parsed = JSON.parse(subst(t.target).replace(/\\/g, '\\\\'));
          const names = String(parsed.signal).replace(/[()]/g, '').split('|');
          assert.deepEqual(
            mine.map((s) => s.target),
            names.map((n) => `${DEVICE}:CAN:${parsed.chn}:canmod-gps:${n}`),
            `refId ${t.refId}`,
          );
          for (const s of mine) {
            assert.ok(s.datapoints.length <= 300);
            for (const p of s.datapoints) {
              assert.ok(
                (typeof p[0] === 'number' && typeof p[1] === 'number') || (p[0] === null && p[1] === null),
                `${s.target}: ${JSON.stringify(p)}`,
              );
            }
          }
          // CH2 carries the GPS module in session 4: the panels have data
          if (parsed.chn === 'CH2')
            assert.ok(
              mine.every((s) => s.datapoints.length > 0),
              `refId ${t.refId} is empty`,
            );
        }
      }
      assert.equal(queried, 1);
      for (const a of dash.annotations.list.filter((x: { query?: string }) => x.query)) {
        const res = await json<{ text: string; time: number }[]>('/annotations', {
          range: RANGE,
          annotation: { query: subst(a.query), name: a.name },
        });
        const kind = JSON.parse(a.query).annotation;
        // sessions 4 and 1089; splits: three files
        assert.equal(res.length, kind === 'session' ? 2 : 3, `${a.name}: ${JSON.stringify(res)}`);
        assert.match(res[0].text, /^2F6913DB\/00000004\/00000001\.MF4\nSession: 4\nSplit: 1\nSize: 0 MB$/);
        assert.equal(typeof res[0].time, 'number');
      }
    });
  }
});

/** `sigflow decode` of the tree: value lines of channel 2 by signal, times in ms. */
function decodeReference(signals: string[]): Map<string, [number, number][]> {
  const r = spawnSync(
    process.execPath,
    [
      join(repoRoot, 'bin', 'sigflow'),
      'decode',
      join(dir, 'LOG'),
      '--channel',
      `CAN2=${join(dir, 'LOG', 'canmod-gps.dbc')}`,
    ],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = new Map<string, [number, number][]>(signals.map((s) => [s, []]));
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const v = JSON.parse(line);
    if (v.chn !== 2 || !out.has(v.signal)) continue;
    const ns = BigInt(v.t);
    out.get(v.signal)?.push([v.value, Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6]);
  }
  return out;
}

test('time-series values equal `sigflow decode` for the same files and range', async () => {
  const names = ['Latitude', 'Longitude', 'Speed', 'Satellites', 'AccelerationX'];
  const ref = decodeReference(names);
  const res = await json<Series[]>('/query', {
    range: RANGE,
    maxDataPoints: 100_000,
    targets: [
      {
        refId: 'A',
        target: target({ device: DEVICE, itf: 'CAN', chn: 'CH2', db: 'canmod-gps', signal: `(${names.join('|')})` }),
      },
    ],
  });
  assert.equal(res.length, names.length);
  for (const s of res) {
    const name = s.target.split(':').pop() as string;
    const want = ref.get(name) ?? [];
    assert.ok(want.length > 10, `${name}: the reference has ${want.length} values`);
    const got = s.datapoints.filter((p) => p[0] !== null);
    assert.equal(got.length, want.length, name);
    got.forEach((p, i) => {
      assert.equal(p[0], want[i][0], `${name} value ${i}`);
      assert.ok(Math.abs((p[1] as number) - want[i][1]) < 1e-3, `${name} time ${i}: ${p[1]} vs ${want[i][1]}`);
    });
  }
});

test('more raw points than maxDataPoints: at most maxDataPoints real pairs, min and max of the range kept', async () => {
  const all = await json<Series[]>('/query', {
    range: S4,
    maxDataPoints: 100_000,
    targets: [
      {
        refId: 'A',
        target: target({ device: DEVICE, itf: 'CAN', chn: 'CH2', db: 'canmod-gps', signal: 'AccelerationX' }),
      },
    ],
  });
  const raw = all[0].datapoints as [number, number][];
  assert.ok(raw.length > 500, `${raw.length} raw points`);
  for (const max of [50, 101, 400]) {
    const res = await json<Series[]>('/query', {
      range: S4,
      maxDataPoints: max,
      targets: [
        {
          refId: 'A',
          target: target({ device: DEVICE, itf: 'CAN', chn: 'CH2', db: 'canmod-gps', signal: 'AccelerationX' }),
        },
      ],
    });
    const pts = res[0].datapoints as [number, number][];
    assert.ok(pts.length <= max && pts.length >= max / 4, `${pts.length} points for maxDataPoints ${max}`);
    const rawSet = new Set(raw.map((p) => `${p[0]}@${p[1]}`));
    for (const p of pts) assert.ok(rawSet.has(`${p[0]}@${p[1]}`), `not a real pair: ${p}`);
    const values = raw.map((p) => p[0]);
    assert.ok(pts.some((p) => p[0] === Math.min(...values)));
    assert.ok(pts.some((p) => p[0] === Math.max(...values)));
  }
});

test('a session break is [null, null]; signals shared by messages come back message-qualified', async () => {
  // session 4 and session 1089 both carry frames on CAN1 (UDS requests): raw table rows come from both
  const frames = await json<{ rows: unknown[][] }[]>('/query', {
    range: RANGE,
    maxDataPoints: 100_000,
    targets: [{ refId: 'T', type: 'table', target: target({ device: DEVICE }) }],
  });
  const times = frames[0].rows.map((r) => r[0] as number);
  assert.ok(times.some((t) => t < 1.65e12) && times.some((t) => t > 1.67e12));
  // a DBC with the GPS speed signal on CAN1 and CAN2 messages both named Speed (a collision)
  const dbc = readFileSync(join(dir, 'LOG', 'canmod-gps.dbc'), 'utf8');
  assert.match(dbc, /SG_ Speed /);
});

describe('limits, bad files and bad requests', () => {
  test('over the byte budget: an explicit 413 with the reason, or a partial result that says so', async () => {
    const body = {
      range: RANGE,
      maxDataPoints: 100,
      targets: [
        { refId: 'A', target: target({ device: DEVICE, itf: 'CAN', chn: 'CH1', db: 'canmod-gps', signal: 'Speed' }) },
      ],
    };
    const strict = await startServe({
      data: join(dir, 'LOG'),
      port: 0,
      pollMs: 0,
      indexPath: join(dir, 'i2.json'),
      limitBytes: 300_000,
    });
    try {
      const r = await post('/query', body, {}, strict.url);
      assert.equal(r.status, 413);
      const e = (await r.json()) as { code: string; message: string };
      assert.equal(e.code, 'SF_ERR_SERVE_LIMIT');
      assert.match(e.message, /needs 0\.5 MB .* over the limit of 0\.3 MB/);
    } finally {
      await strict.close();
    }
    const partial = await startServe({
      data: join(dir, 'LOG'),
      port: 0,
      pollMs: 0,
      indexPath: join(dir, 'i3.json'),
      limitBytes: 300_000,
      onLimit: 'partial',
    });
    try {
      const r = await post('/query', body, {}, partial.url);
      assert.equal(r.status, 200);
      const res = (await r.json()) as Series[];
      const notice = res.find((s) => s.target.startsWith('⚠'));
      assert.ok(notice, JSON.stringify(res));
      assert.match(notice.target, /partial result: 2 file read\(s\) .* left out by the limit/);
      assert.equal(notice.refId, 'A');
      assert.match(decodeURIComponent(r.headers.get('x-sigflow-notices') ?? ''), /partial result/);
    } finally {
      await partial.close();
    }
  });

  test('a wrong password and a corrupt file in the range: served around, named in the answer', async () => {
    const d2 = mkdtempSync(join(tmpdir(), 'sigflow-serve-bad-'));
    try {
      cpSync(join(FIX, 'LOG'), join(d2, 'LOG'), { recursive: true });
      const plain = readFileSync(join(FIX, 'LOG', DEVICE, '00000004', '00000001.MF4'));
      const enc = await buildEncryptedContainer(plain, {
        deviceId: DEVICE,
        password: 'right-password',
        iterations: 1000,
      });
      writeFileSync(join(d2, 'LOG', DEVICE, '00000004', '00000002.MFE'), enc);
      writeFileSync(
        join(d2, 'LOG', DEVICE, '00000004', '00000003.MF4'),
        Buffer.concat([Buffer.from('MDF     4.11    '), Buffer.alloc(200, 0xab)]),
      );
      writeFileSync(join(d2, 'LOG', 'passwords.json'), JSON.stringify({ [DEVICE]: 'wrong-password' }));
      const s = await startServe({ data: join(d2, 'LOG'), port: 0, pollMs: 0, indexPath: join(d2, 'i.json') });
      try {
        const r = await post(
          '/query',
          {
            range: RANGE,
            maxDataPoints: 100_000,
            targets: [
              {
                refId: 'A',
                target: target({ device: DEVICE, itf: 'CAN', chn: 'CH2', db: 'canmod-gps', signal: 'Speed' }),
              },
            ],
          },
          {},
          s.url,
        );
        assert.equal(r.status, 200);
        const res = (await r.json()) as Series[];
        const speed = res.find((x) => x.target.endsWith(':Speed'));
        assert.ok(speed && speed.datapoints.length > 10, 'the readable files are served');
        const notice = res.find((x) => x.target.startsWith('⚠'))?.target ?? '';
        assert.match(notice, /00000002\.MFE: cannot be read: .*SF_ERR_CANEDGE_WRONG_PASSWORD/);
        assert.match(
          notice,
          /00000003\.MF4: cannot be read: at byte 64: expected ##HD block.*\(SF_ERR_CANEDGE_CORRUPT\)/,
        );
        assert.ok(!notice.includes(d2), `the server's folders are not shown: ${notice}`);
      } finally {
        await s.close();
      }
    } finally {
      rmSync(d2, { recursive: true, force: true });
    }
  });

  test('hostile bodies: a clear 4xx naming what is wrong, never a crash', async () => {
    const cases: [string, string | object, number, RegExp][] = [
      ['/query', '{not json', 400, /JSON/i],
      ['/query', { targets: [] }, 400, /range/],
      ['/query', { range: { from: 'yesterday', to: RANGE.to }, targets: [] }, 400, /range\.from: not a time/],
      ['/query', { range: RANGE, targets: 'x' }, 400, /targets/],
      [
        '/query',
        { range: RANGE, targets: [{ refId: 'A', target: '{"device":' }] },
        400,
        /targets\[0\]\.target: not JSON/,
      ],
      ['/query', { range: RANGE, targets: [{ refId: 'A', target: '[1,2]' }] }, 400, /not a JSON object/],
      [
        '/query',
        {
          range: RANGE,
          targets: [{ refId: 'A', target: target({ device: '../../etc/passwd', db: 'canmod-gps', signal: 'Speed' }) }],
        },
        400,
        /not a device id/,
      ],
      [
        '/query',
        { range: RANGE, targets: [{ refId: 'A', target: target({ device: DEVICE, db: 'nope', signal: 'Speed' }) }] },
        404,
        /unknown DBC "nope" \(known: canmod-gps\)/,
      ],
      [
        '/query',
        {
          range: RANGE,
          targets: [
            { refId: 'A', target: target({ device: DEVICE, db: 'canmod-gps', chn: 'CH999', signal: 'Speed' }) },
          ],
        },
        400,
        /chn: not a channel/,
      ],
      [
        '/query',
        {
          range: RANGE,
          targets: [
            { refId: 'A', target: target({ device: DEVICE, db: 'canmod-gps', signal: 'Speed', method: 'AVG' }) },
          ],
        },
        400,
        /unknown method/,
      ],
      ['/query', { range: RANGE, maxDataPoints: -5, targets: [] }, 400, /maxDataPoints/],
      [
        '/annotations',
        { range: RANGE, annotation: { query: '{"annotation":"rm -rf"}' } },
        400,
        /neither "session" nor "split"/,
      ],
      ['/query', JSON.stringify({ range: RANGE, targets: [], pad: 'x'.repeat(2 * 1024 * 1024) }), 413, /too large/i],
    ];
    for (const [path, body, status, msg] of cases) {
      const r = await post(path, body);
      const text = await r.text();
      assert.equal(r.status, status, `${path} ${String(body).slice(0, 80)}: ${text}`);
      assert.match(JSON.parse(text).message, msg);
    }
    // a catastrophic-backtracking pattern is only ever a name: answered at once, with a notice
    const t0 = performance.now();
    const res = await json<Series[]>('/query', {
      range: RANGE,
      targets: [
        {
          refId: 'A',
          target: target({
            device: DEVICE,
            itf: 'CAN',
            chn: 'CH2',
            db: 'canmod-gps',
            signal: `(${'a+'.repeat(30)})+$`,
          }),
        },
      ],
    });
    assert.ok(performance.now() - t0 < 2000);
    assert.match(res.at(-1)?.target ?? '', /no signal/);
    // wrong content type
    const r = await fetch(`${base}/query`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(r.status, 415);
    assert.equal((await fetch(`${base}/`)).status, 200, 'still serving');
  });
});

describe('hostile requests found in review', () => {
  test('times: decimal epoch ms or RFC 3339 read as UTC; legacy Date.parse forms refused; from after to refused everywhere', async () => {
    const q = (range: object) => post('/query', { range, targets: [] });
    for (const [from, to] of [
      ['0', '-1'],
      [RANGE.to, RANGE.from],
    ]) {
      const r = await q({ from, to });
      assert.equal(r.status, 400);
      assert.match(((await r.json()) as { message: string }).message, /is before "from"/);
    }
    for (const bad of ['1 2', '1.5.5', 'yesterday', '2024-13-01T00:00:00Z', '1e400']) {
      const r = await q({ from: bad, to: RANGE.to });
      assert.equal(r.status, 400, bad);
      assert.match(((await r.json()) as { message: string }).message, /range\.from: not a time/, bad);
    }
    assert.equal((await q({ from: '1641469561949.7', to: '1641469562949.25' })).status, 200, 'fractional epoch ms');
    const rows = await fetch(
      `${base}/api/rows?device=${DEVICE}&db=canmod-gps&chn=CH2&signals=Speed&from=${encodeURIComponent(RANGE.to)}&to=${encodeURIComponent(RANGE.from)}`,
    );
    assert.equal(rows.status, 400);
    assert.match(((await rows.json()) as { message: string }).message, /is before "from"/);
    const ann = await fetch(`${base}/api/annotations?device=${DEVICE}&from=2&to=1`);
    assert.equal(ann.status, 400);
  });

  test('a body nested 20,000 deep is a 400 naming the depth, not a stack overflow (500)', async () => {
    // as text: the client's own JSON.stringify would overflow its stack on the object
    const nested = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
    const range = JSON.stringify(RANGE);
    for (const t of [`{"refId":"A","target":${nested}}`, `{"refId":"A","target":"signals","payload":${nested}}`]) {
      const r = await post('/query', `{"range":${range},"targets":[${t}]}`);
      assert.equal(r.status, 400);
      assert.match(((await r.json()) as { message: string }).message, /nests deeper than 64 levels/);
    }
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  test('simPod: a payload without itf and chn takes the defaults (Grafana sends it so when the pickers are empty)', async () => {
    const r = await post('/query', {
      range: RANGE,
      targets: [{ refId: 'A', target: 'signals', payload: { device: DEVICE, db: 'canmod-gps', signals: 'Speed' } }],
    });
    const text = await r.text();
    assert.equal(r.status, 200, text);
    assert.ok(Array.isArray(JSON.parse(text)));
  });

  test('raw-frame tables share one budget per request: 100 table targets build at most maxDataPoints rows', async () => {
    const one = await json<{ rows: unknown[] }[]>('/query', {
      range: RANGE,
      maxDataPoints: 500,
      targets: [{ refId: 'T', type: 'table', target: target({ device: DEVICE }) }],
    });
    assert.equal(one[0].rows.length, 500, 'the fixture has more frames than one table takes');
    const many = await json<{ rows: unknown[] }[]>('/query', {
      range: RANGE,
      maxDataPoints: 500,
      targets: Array.from({ length: 100 }, (_, i) => ({
        refId: `T${i}`,
        type: 'table',
        target: target({ device: DEVICE }),
      })),
    });
    const tables = many.filter((x) => Array.isArray(x.rows));
    assert.equal(tables.length, 100);
    assert.equal(
      tables.reduce((a, x) => a + x.rows.length, 0),
      500,
    );
    assert.deepEqual(tables[0].rows, one[0].rows);
    const simpod = await json<{ rows: unknown[] }[]>('/query', {
      range: RANGE,
      maxDataPoints: 300,
      targets: Array.from({ length: 20 }, (_, i) => ({
        refId: `F${i}`,
        target: 'frames',
        payload: { device: DEVICE },
      })),
    });
    assert.equal(
      simpod.filter((x) => Array.isArray(x.rows)).reduce((a, x) => a + x.rows.length, 0),
      300,
    );
  });

  test('the notices header is cut at whole characters: it always decodes', async () => {
    for (const signal of ['é'.repeat(1000), 'a b"c'.repeat(1500)]) {
      const r = await post('/query', {
        range: RANGE,
        targets: [{ refId: 'A', target: target({ device: DEVICE, itf: 'CAN', chn: 'CH2', db: 'canmod-gps', signal }) }],
      });
      assert.equal(r.status, 200);
      const header = r.headers.get('x-sigflow-notices') ?? '';
      assert.ok(header.length > 3000 && header.length <= 4000, `${header.length}`);
      assert.match(decodeURIComponent(header), /no signal/);
    }
  });
});

test('20 concurrent queries are served concurrently and agree with the same query alone', async () => {
  const body = (sig: string) => ({
    range: RANGE,
    maxDataPoints: 500,
    targets: [
      { refId: 'A', target: target({ device: DEVICE, itf: 'CAN', chn: 'CH2', db: 'canmod-gps', signal: sig }) },
    ],
  });
  const sigs = ['Speed', 'Latitude', 'Longitude', 'Roll', 'Pitch'];
  const alone = new Map<string, string>();
  // a fresh server so the 20 start cold together
  const s = await startServe({ data: join(dir, 'LOG'), port: 0, pollMs: 0, indexPath: join(dir, 'i4.json') });
  try {
    const send = (sig: string) =>
      post('/query', body(sig), {}, s.url).then(async (r) => {
        assert.equal(r.status, 200);
        return r.text();
      });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => send(sigs[i % sigs.length])));
    for (const sig of sigs) alone.set(sig, await send(sig));
    answers.forEach((a, i) => {
      assert.equal(a, alone.get(sigs[i % sigs.length]));
    });
    const st = s.engine.stats();
    // 3 files × 5 signal sets, each decoded once: concurrent requests for one pass share it
    assert.ok(st.passes <= 15, `passes ${st.passes}`);
    assert.ok(st.passesShared > 0, 'no pass was shared');
  } finally {
    await s.close();
  }
});

test('the Infinity dashboard (dashboards/sigflow-infinity.json): its URLs answer with the columns it selects', async () => {
  const dash = JSON.parse(readFileSync(join(repoRoot, 'dashboards', 'sigflow-infinity.json'), 'utf8'));
  const vars: Record<string, string> = {
    SIGFLOW: base,
    DEVICE: DEVICE,
    DB: 'canmod-gps',
    CHN: 'CH2',
    __from: String(Date.parse(S4.from)),
    __to: String(Date.parse(S4.to)),
  };
  const subst = (t: string) => t.replace(/\$\{(\w+)\}/g, (_, n: string) => vars[n] ?? `\${${n}}`);
  for (const panel of dash.panels) {
    for (const t of panel.targets) {
      const url = new URL(subst(t.url));
      for (const p of t.url_options.params) url.searchParams.set(p.key, subst(p.value));
      const r = await fetch(url);
      const rows = (await r.json()) as Record<string, unknown>[];
      assert.equal(r.status, 200, JSON.stringify(rows));
      assert.ok(rows.length > 10, `${panel.title}: ${rows.length} rows`);
      for (const c of t.columns) {
        assert.ok(
          rows.every((row) => typeof row[c.selector] === 'number'),
          `${panel.title}: column ${c.selector}`,
        );
      }
    }
  }
  // the annotations: where sessions and log files start, as the SimpleJson /annotations answers them
  assert.equal(dash.annotations.list.length, 2);
  for (const a of dash.annotations.list) {
    const t = a.target;
    const url = new URL(subst(t.url));
    for (const p of t.url_options.params) url.searchParams.set(p.key, subst(p.value));
    const r = await fetch(url);
    const rows = (await r.json()) as Record<string, unknown>[];
    assert.equal(r.status, 200, JSON.stringify(rows));
    const kind = url.searchParams.get('kind') as string;
    const sj = (await (
      await post('/annotations', {
        range: S4,
        annotation: { query: JSON.stringify({ annotation: kind, device: DEVICE }) },
      })
    ).json()) as { time: number; text: string }[];
    assert.ok(sj.length > 0, kind);
    assert.deepEqual(
      rows.map((row) => [row.time, row.text]),
      sj.map((x) => [x.time, x.text]),
      `${a.name}: the same starts as SimpleJson's`,
    );
    for (const c of t.columns)
      assert.ok(
        rows.every((row) => row[c.selector] !== undefined),
        `${a.name}: ${c.selector}`,
      );
    assert.match(String(rows[0].title), kind === 'session' ? /^Session \d+$/ : /^Session \d+, split \d+$/);
  }
  const bad = await fetch(`${base}/api/annotations?device=${DEVICE}&kind=bogus&from=0&to=1`);
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { message: string }).message, /kind/);
  const outside = await fetch(`${base}/api/annotations?device=..%2F..&from=0&to=1`);
  assert.equal(outside.status, 400);
});

test('multi-frame UDS messages (ISO-TP on CAN1) are reassembled and decoded as `sigflow decode` does', async () => {
  const uds = join(FIX, 'tp_uds_nissan.dbc');
  const s = await startServe({
    data: join(dir, 'LOG'),
    dbc: [uds],
    port: 0,
    pollMs: 0,
    indexPath: join(dir, 'i-uds.json'),
  });
  try {
    const r = await post(
      '/query',
      {
        range: RANGE,
        maxDataPoints: 100_000,
        targets: [
          {
            refId: 'U',
            target: target({
              device: DEVICE,
              itf: 'CAN',
              chn: 'CH1',
              db: 'tp_uds_nissan',
              signal: '(SoC|BatPackTemp1)',
            }),
          },
        ],
      },
      {},
      s.url,
    );
    const res = (await r.json()) as Series[];
    assert.equal(r.status, 200, JSON.stringify(res));
    const ref = spawnSync(
      process.execPath,
      [join(repoRoot, 'bin', 'sigflow'), 'decode', join(dir, 'LOG'), '--channel', `CAN1=${uds}`],
      { encoding: 'utf8', maxBuffer: 1 << 28 },
    );
    assert.equal(ref.status, 0, ref.stderr);
    for (const name of ['SoC', 'BatPackTemp1']) {
      const want = ref.stdout
        .split('\n')
        .filter((l) => l.includes(`"signal":"${name}"`))
        .map((l) => JSON.parse(l) as { t: string; value: number });
      const got = (res.find((x) => x.target.endsWith(`:${name}`))?.datapoints ?? []).filter((p) => p[0] !== null);
      assert.ok(want.length > 5, `${name}: ${want.length} reference values`);
      assert.equal(got.length, want.length, name);
      got.forEach((p, i) => {
        assert.equal(p[0], want[i].value);
        const ns = BigInt(want[i].t);
        assert.ok(Math.abs((p[1] as number) - (Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6)) < 1e-3);
      });
    }
  } finally {
    await s.close();
  }
});
