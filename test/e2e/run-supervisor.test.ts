/**
 * `sigflow run` supervision, end to end on the compiled CLI with replay sources (no hardware): a unit SIGKILLed
 * twice restarts with backoff while its neighbour keeps delivering in the same process; the crash-loop cap marks a
 * unit failed (/healthz and /readyz 503) without ending sigflow; SIGTERM at full speed drains the outbox and prints
 * final stats that add up; SIGHUP keeps the running config when the file is invalid and applies a valid one to the
 * pipelines it changes; `sigflow check` prints the resolved config with the token redacted and names file, line and
 * key path of a wrong type; a second `sigflow run` on the same data directory is refused, naming the lock holder.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { TimeSeriesStore } from '../../src/store/index.js';
import { Daemon } from '../harness/daemon.js';
import { cliArgv, fixturesDir } from '../harness/paths.js';

const MF4 = join(fixturesDir, 'canedge', '00000001-60B621D9.MF4');
const DBC = join(
  fixturesDir,
  'canedge/dbc/api-examples/examples/data-processing/dbc_files/CSS-Electronics-SAE-J1939-DEMO.dbc',
);

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `sigflow-run-sup-${tag}-`));
  dirs.push(dir);
  return dir;
}

interface PipelineSpec {
  name: string;
  speed: number | string;
}

/** A run config: replay pipelines (loop, retime) → the store, the outbox in <dir>/data, HTTP on a free port. */
function config(dir: string, pipelines: PipelineSpec[], runtime = ''): string {
  const ps = pipelines
    .map(
      (p) => `  - name: ${p.name}
    source:
      type: replay
      paths: [${MF4}]
      speed: ${p.speed}
      loop: true
      retime: true
    decode: { dbc: ${DBC} }
`,
    )
    .join('');
  return `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db }
pipelines:
${ps}${runtime ? `runtime: ${runtime}\n` : ''}server: { listen: "127.0.0.1:0" }
logging: { stats_interval: 0 }
`;
}

/** Replaces the file in one step (a SIGHUP never reads half a file). */
function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

interface UnitStatus {
  name: string;
  state: string;
  connected: boolean;
  detail: string;
  restarts: number;
  lastError: string | null;
  source: string;
  pid: number | null;
  counters: Record<string, number>;
}
interface RunStatus {
  uptimeMs: number;
  units: UnitStatus[];
  outbox: { pendingRecords: number };
}

async function status(d: Daemon): Promise<RunStatus> {
  const r = await fetch(`${d.http}/status`);
  assert.equal(r.status, 200);
  return (await r.json()) as RunStatus;
}
async function unit(d: Daemon, name: string): Promise<UnitStatus | undefined> {
  return (await status(d)).units.find((u) => u.name === name);
}
async function get(d: Daemon, path: string): Promise<{ code: number; body: { status: string; reasons: string[] } }> {
  const r = await fetch(`${d.http}${path}`);
  return { code: r.status, body: (await r.json()) as { status: string; reasons: string[] } };
}

/** Waits until `name` runs in a live process (optionally not `notPid`) and has handed over records; returns it. */
async function running(d: Daemon, name: string, notPid: number | null = null, timeoutMs = 30_000) {
  let last: UnitStatus | undefined;
  await d.until(
    `unit ${name} to run${notPid ? ` in a new process (not ${notPid})` : ''}`,
    async () => {
      last = await unit(d, name);
      return (
        last !== undefined &&
        last.state === 'running' &&
        last.connected &&
        last.pid !== null &&
        last.pid !== notPid &&
        (last.counters.records ?? 0) > 0
      );
    },
    timeoutMs,
  );
  return last as UnitStatus;
}

/** Waits until unit `name`'s records counter passes `than` (it keeps delivering). */
async function recordsPass(d: Daemon, name: string, than: number, timeoutMs = 20_000): Promise<number> {
  let n = 0;
  await d.until(
    `unit ${name} to hand over more than ${than} records`,
    async () => {
      n = (await unit(d, name))?.counters.records ?? 0;
      return n > than;
    },
    timeoutMs,
  );
  return n;
}

const msgs = (d: Daemon) => d.json().map((l) => String(l.msg));
const finals = (d: Daemon) => msgs(d).filter((m) => m.startsWith('final: '));

/** Sends SIGTERM and expects an orderly exit 0. */
async function stopClean(d: Daemon): Promise<void> {
  const { code, signal } = await d.stop('SIGTERM', 60_000);
  assert.equal(signal, null, d.tail());
  assert.equal(code, 0, d.tail());
}

test('a unit SIGKILLed twice restarts with backoff while the other keeps delivering in the same process', async () => {
  const dir = tempDir('crash');
  const file = join(dir, 'sigflow.yaml');
  writeFileSync(
    file,
    config(
      dir,
      [
        { name: 'a', speed: 20 },
        { name: 'b', speed: 20 },
      ],
      '{ restart_initial: 200ms, restart_max: 1s, crash_loop_count: 10 }',
    ),
  );
  const d = Daemon.start(file, {});
  try {
    await d.until('the endpoint', () => d.http !== null);
    const a0 = await running(d, 'a');
    const b0 = await running(d, 'b');
    assert.notEqual(a0.pid, b0.pid);
    assert.equal(a0.restarts, 0);

    let aPid = a0.pid as number;
    let bRecords = b0.counters.records;
    for (const n of [1, 2]) {
      const bBefore = (await unit(d, 'b'))?.counters.records ?? 0;
      process.kill(aPid, 'SIGKILL');
      const a = await running(d, 'a', aPid);
      assert.equal(a.restarts, n, `a restarted ${a.restarts} times after kill ${n}`);
      assert.equal(a.lastError, 'killed by SIGKILL');
      // b: the same process all along, never restarted, and its records keep coming (status and /metrics agree)
      const after = await recordsPass(d, 'b', Math.max(bBefore, bRecords));
      const b = await unit(d, 'b');
      assert.equal(b?.pid, b0.pid, 'b kept its process');
      assert.equal(b?.restarts, 0);
      assert.equal(b?.state, 'running');
      await d.until(
        'sigflow_records_total{unit="b"} to follow',
        async () => (await d.metric('sigflow_records_total', { unit: 'b' })) >= after,
        10_000,
      );
      assert.equal(await d.metric('sigflow_unit_restarts_total', { unit: 'a' }), n);
      bRecords = after;
      aPid = a.pid as number;
    }
    await stopClean(d);
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
  }

  const logs = d.json();
  const crashLines = logs.filter((l) => l.unit === 'a' && l.level === 50 && /unit crashed/.test(String(l.msg)));
  assert.equal(crashLines.length, 2, crashLines.map((l) => l.msg).join('\n'));
  const delays = crashLines.map((l) => {
    const m = /^unit crashed \(killed by SIGKILL\); restarting in (\d+) ms$/.exec(String(l.msg));
    assert.ok(m, String(l.msg));
    return Number(m[1]);
  });
  // restart_initial, then doubled (both crashes are within crash_loop_window), never above restart_max
  assert.ok(delays[0] >= 200 && delays[0] <= 1000, `delays ${delays}`);
  assert.ok(delays[1] >= delays[0] && delays[1] <= 1000, `delays ${delays}`);
  assert.deepEqual(delays, [200, 400]);
  // each restart came no sooner than announced: the crash line → the new process's first "connected" line
  for (const [i, c] of crashLines.entries()) {
    const back = logs.find((l) => l.unit === 'a' && l.connected === true && (l.time as number) >= (c.time as number));
    assert.ok(back, `no reconnect line after crash ${i + 1}`);
    const gap = (back.time as number) - (c.time as number);
    assert.ok(gap >= delays[i] - 5, `restart ${i + 1} after ${gap} ms, announced ${delays[i]} ms`);
  }
  assert.ok(!logs.some((l) => l.unit === 'b' && l.level === 50), 'b logged an error');
  const f = finals(d);
  assert.ok(
    f.some((m) => /^final: a: .*records=\d+; .*; 2 restart\(s\)$/.test(m)),
    f.join('\n'),
  );
  assert.ok(
    f.some((m) => /^final: b: .*records=\d+; .*; 0 restart\(s\)$/.test(m)),
    f.join('\n'),
  );
});

test('crash-loop cap: a unit killed crash_loop_count times is failed, health and readiness say so, sigflow runs on', async () => {
  const dir = tempDir('loop');
  const file = join(dir, 'sigflow.yaml');
  writeFileSync(
    file,
    config(dir, [{ name: 'a', speed: 20 }], '{ restart_initial: 200ms, restart_max: 1s, crash_loop_count: 2 }'),
  );
  const d = Daemon.start(file, {});
  try {
    await d.until('the endpoint', () => d.http !== null);
    const a0 = await running(d, 'a');
    assert.equal((await get(d, '/healthz')).code, 200);
    await d.until('ready', async () => (await get(d, '/readyz')).code === 200, 10_000);

    process.kill(a0.pid as number, 'SIGKILL');
    const a1 = await running(d, 'a', a0.pid);
    assert.equal(a1.restarts, 1);
    process.kill(a1.pid as number, 'SIGKILL');
    await d.until('a to be failed', async () => (await unit(d, 'a'))?.state === 'failed', 20_000);

    const a = await unit(d, 'a');
    assert.equal(a?.pid, null, 'a failed unit has no process');
    assert.equal(a?.restarts, 1, 'not restarted after the second crash');
    assert.equal(a?.connected, false);
    const health = await get(d, '/healthz');
    assert.equal(health.code, 503);
    assert.equal(health.body.status, 'failing');
    assert.ok(
      health.body.reasons.some((r) => /^unit a failed/.test(r)),
      JSON.stringify(health.body),
    );
    const ready = await get(d, '/readyz');
    assert.equal(ready.code, 503);
    assert.ok(
      ready.body.reasons.some((r) => /unit a is failed/.test(r)),
      JSON.stringify(ready.body),
    );
    assert.equal(await d.metric('sigflow_unit_up', { unit: 'a', state: 'failed' }), 0);
    assert.ok(
      msgs(d).some((m) => /^unit crashed 2 times within \d+ s: marked failed/.test(m)),
      d.tail(),
    );
    // it stays failed (no timer restarts it) and the process keeps serving
    const t0 = Date.now();
    await d.until(
      'a second of being failed',
      async () => Date.now() - t0 > 1500 && (await unit(d, 'a'))?.state === 'failed',
    );
    assert.equal((await unit(d, 'a'))?.restarts, 1);
    assert.equal(d.proc.exitCode, null);
    await stopClean(d);
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
  }
  const f = finals(d);
  assert.ok(
    f.some((m) => /^final: a: .*; 1 restart\(s\); FAILED: killed by SIGKILL$/.test(m)),
    f.join('\n'),
  );
});

test('SIGTERM at full speed: the units stop, the outbox drains, exit 0 with final stats that add up', async () => {
  const dir = tempDir('term');
  const file = join(dir, 'sigflow.yaml');
  writeFileSync(file, config(dir, [{ name: 'fast', speed: 0 }]));
  const d = Daemon.start(file, {});
  let atSignal = 0;
  try {
    await d.until('the endpoint', () => d.http !== null);
    await running(d, 'fast');
    atSignal = await recordsPass(d, 'fast', 5000, 30_000);
    // still streaming when the signal comes
    assert.equal((await unit(d, 'fast'))?.state, 'running');
    await stopClean(d);
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
  }
  const m = msgs(d);
  assert.ok(m.includes('SIGTERM: stopping the units, then draining the sinks'), d.tail());
  const f = finals(d);
  assert.equal(f.length, 3, f.join('\n'));
  assert.match(f[0], /^final: uptime \d+\.\d s$/);
  const u =
    /^final: fast: frames_seen=(\d+) decoded=(\d+) unknown_ids=(\d+) decode_errors=(\d+) records=(\d+); [\d.]+ decoded\/s on average; 0 restart\(s\)$/.exec(
      f[1],
    );
  assert.ok(u, f.join('\n'));
  const [seen, decoded, unknown, errors, records] = u.slice(1).map(Number);
  assert.ok(records >= atSignal, `final records ${records} < ${atSignal} seen before SIGTERM`);
  assert.equal(records, decoded, 'one record per decoded frame (message mapping)');
  assert.ok(seen >= decoded + unknown + errors, f[1]);
  const o = /^final: outbox: pending 0 records; store delivered=(\d+) pending=0$/.exec(f[2]);
  assert.ok(o, f.join('\n'));
  assert.equal(Number(o[1]), records, 'every record handed over was delivered to the store');
  // the store holds them (retimed passes may overwrite each other's samples: only "some" is exact here)
  const store = TimeSeriesStore.open(join(dir, 'data', 'store.db'));
  try {
    assert.ok(store.count() > 0);
  } finally {
    store.close();
  }
});

test('SIGHUP: an invalid file is reported and the running config kept; a valid one restarts what it changes', async () => {
  const dir = tempDir('hup');
  const file = join(dir, 'sigflow.yaml');
  writeFileSync(file, config(dir, [{ name: 'a', speed: 20 }], '{ restart_initial: 200ms }'));
  const d = Daemon.start(file, {});
  try {
    await d.until('the endpoint', () => d.http !== null);
    const a0 = await running(d, 'a');

    // (a) invalid: speed -1
    const bad = config(dir, [{ name: 'a', speed: -1 }], '{ restart_initial: 200ms }');
    writeAtomic(file, bad);
    const badLine = bad.split('\n').findIndex((l) => /speed: -1/.test(l)) + 1;
    d.proc.kill('SIGHUP');
    await d.until('the SIGHUP error', () => msgs(d).some((m) => m.startsWith('SIGHUP: ')), 20_000);
    const err = d.json().find((l) => String(l.msg).startsWith('SIGHUP: '));
    assert.ok(err);
    assert.equal(err.level, 50);
    assert.equal(err.msg, `SIGHUP: ${file} is not valid; the running config is kept`);
    const detail = (err.err as { message: string; code: string }).message;
    assert.equal((err.err as { code: string }).code, 'SF_ERR_CONFIG_INVALID');
    assert.ok(detail.includes(`${file}:${badLine}: pipelines[0].source.speed:`), detail);
    const before = (await unit(d, 'a'))?.counters.records ?? 0;
    await recordsPass(d, 'a', before);
    const a1 = await unit(d, 'a');
    assert.equal(a1?.pid, a0.pid, 'a kept its process');
    assert.equal(a1?.restarts, 0);
    assert.equal(a1?.detail, 'replaying 1 file(s) at 20×');

    // (b) valid: a at 40×, a new pipeline b, and a runtime change (reported, applied only by a restart of sigflow)
    writeAtomic(
      file,
      config(
        dir,
        [
          { name: 'a', speed: 40 },
          { name: 'b', speed: 20 },
        ],
        '{ restart_initial: 5s }',
      ),
    );
    d.proc.kill('SIGHUP');
    await d.until('the SIGHUP re-read line', () => msgs(d).some((m) => /^SIGHUP: .* re-read; /.test(m)), 30_000);
    const ok = d.json().find((l) => /^SIGHUP: .* re-read; /.test(String(l.msg)));
    assert.ok(ok);
    const RUNTIME = 'runtime: changed; applies when sigflow is restarted';
    assert.deepEqual(ok.changes, [RUNTIME, 'pipeline a: changed (restarted)', 'pipeline b: added (started)']);
    assert.equal(ok.msg, `SIGHUP: ${file} re-read; ${(ok.changes as string[]).join('; ')}`);
    const a2 = await running(d, 'a', a0.pid);
    assert.equal(a2.detail, 'replaying 1 file(s) at 40×');
    const b = await running(d, 'b');
    assert.notEqual(b.pid, a2.pid);
    await recordsPass(d, 'b', b.counters.records);
    // the running runtime is still the file's first one, for the new unit too: a crash of b waits 200 ms, not 5 s
    process.kill(b.pid as number, 'SIGKILL');
    await d.until(
      'b to crash',
      () => d.json().some((l) => l.unit === 'b' && /unit crashed/.test(String(l.msg))),
      20_000,
    );
    const crash = d.json().find((l) => l.unit === 'b' && /unit crashed/.test(String(l.msg)));
    assert.equal(crash?.msg, 'unit crashed (killed by SIGKILL); restarting in 200 ms');
    const b2 = await running(d, 'b', b.pid);
    assert.equal(b2.restarts, 1);

    // (c) the same file again: no pipeline restarts (the runtime change is still pending, and said again)
    const hups = msgs(d).filter((m) => m.startsWith('SIGHUP: ')).length;
    d.proc.kill('SIGHUP');
    await d.until('the third SIGHUP line', () => msgs(d).filter((m) => m.startsWith('SIGHUP: ')).length > hups, 20_000);
    const third = d.json().filter((l) => String(l.msg).startsWith('SIGHUP: '))[hups];
    assert.deepEqual(third.changes, [RUNTIME]);
    assert.equal((await unit(d, 'a'))?.pid, a2.pid);
    assert.equal((await unit(d, 'b'))?.pid, b2.pid);
    await stopClean(d);
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
  }
  const f = finals(d);
  assert.ok(f.some((m) => /^final: a: /.test(m)) && f.some((m) => /^final: b: /.test(m)), f.join('\n'));
});

test('sigflow check: defaults filled in and the token redacted; a wrong type exits 2 naming file, line and key path', () => {
  const dir = tempDir('check');
  const [cmd, ...pre] = cliArgv();
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TOKEN: 's3cr3t' };
  const good = join(dir, 'good.yaml');
  writeFileSync(
    good,
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db }
  - type: influx
    url: http://127.0.0.1:8086
    api: v2
    org: acme
    bucket: can
    token: \${TOKEN}
pipelines:
  - name: truck
    source: { type: replay, paths: [${MF4}] }
    decode: { dbc: ${DBC} }
`,
  );
  const r = spawnSync(cmd, [...pre, 'check', '-c', good], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stdout.includes('s3cr3t'), r.stdout);
  assert.ok(!r.stderr.includes('s3cr3t'), r.stderr);
  const c = parseYaml(r.stdout);
  assert.equal(c.sinks[1].token, '<redacted>');
  assert.equal(c.sinks[1].url, 'http://127.0.0.1:8086');
  // defaults, in ms and bytes
  assert.deepEqual(c.runtime, {
    restart_initial: 1000,
    restart_max: 60_000,
    crash_loop_count: 5,
    crash_loop_window: 300_000,
    stop_timeout: 10_000,
    drain_timeout: 30_000,
  });
  assert.deepEqual(c.server, { listen: '127.0.0.1:9464', console: true });
  assert.equal(c.logging.stats_interval, 10_000);
  assert.equal(c.pipelines[0].source.speed, 1);
  assert.equal(c.pipelines[0].source.loop, false);
  assert.deepEqual(c.pipelines[0].decode.dbc, [DBC]);
  assert.equal(c.sinks[0].name, 'store');
  assert.equal(c.sinks[1].name, 'influx');
  assert.match(r.stderr, /is valid/);
  assert.ok(!existsSync(join(dir, 'data')), 'check created the data directory');

  const bad = join(dir, 'bad.yaml');
  const text = `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db }
pipelines:
  - name: can0
    source:
      type: serial
      path: /dev/ttyUSB9
      baud: fast
    decode: { dbc: ${DBC} }
`;
  writeFileSync(bad, text);
  const line = text.split('\n').findIndex((l) => l.includes('baud: fast')) + 1;
  const b = spawnSync(cmd, [...pre, 'check', '-c', bad], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(b.status, 2, b.stderr);
  assert.equal(b.stdout, '');
  assert.ok(b.stderr.includes(`${bad}:${line}: pipelines[0].source.baud:`), b.stderr);
  assert.match(b.stderr, /SF_ERR_CONFIG_INVALID/);
  assert.ok(b.stderr.includes(basename(bad)));
  // `run` refuses the same file the same way, before opening anything
  const run = spawnSync(cmd, [...pre, 'run', '-c', bad, '--log-format', 'json'], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 2, run.stderr);
  assert.ok(run.stderr.includes(`${bad}:${line}: pipelines[0].source.baud:`), run.stderr);
  assert.ok(!existsSync(join(dir, 'data')), 'run created the data directory for an invalid config');
});

test('one sigflow per data directory: a second run is refused naming the lock holder; the first runs on', async () => {
  const dir = tempDir('lock');
  const file = join(dir, 'sigflow.yaml');
  writeFileSync(file, config(dir, [{ name: 'a', speed: 20 }]));
  const first = Daemon.start(file, {});
  let second: Daemon | null = null;
  try {
    await first.until('the endpoint', () => first.http !== null);
    const a0 = await running(first, 'a');
    second = Daemon.start(file, {});
    const killer = setTimeout(() => second?.proc.kill('SIGKILL'), 60_000);
    const { code, signal } = await second.exit;
    clearTimeout(killer);
    assert.equal(signal, null, second.tail());
    assert.equal(code, 1, second.tail());
    const out = second.lines.join('\n');
    assert.ok(out.includes(`is in use by process ${first.proc.pid}`), out);
    assert.ok(out.includes(join(dir, 'data', 'outbox.lock')), out);
    assert.match(out, /SF_ERR_OUTBOX_LOCKED/);
    assert.ok(!out.includes('"http"'), 'the second one never started serving');
    // the first is undisturbed: same unit process, records still coming
    await recordsPass(first, 'a', (await unit(first, 'a'))?.counters.records ?? 0);
    const a1 = await unit(first, 'a');
    assert.equal(a1?.pid, a0.pid);
    assert.equal(a1?.restarts, 0);
    assert.equal((await get(first, '/healthz')).code, 200);
    await stopClean(first);
  } finally {
    if (first.proc.exitCode === null) await first.stop('SIGKILL');
    if (second && second.proc.exitCode === null) await second.stop('SIGKILL');
  }
  assert.ok(
    finals(first).some((m) => /^final: outbox: pending 0 records; store delivered=\d+ pending=0$/.test(m)),
    finals(first).join('\n'),
  );
});
