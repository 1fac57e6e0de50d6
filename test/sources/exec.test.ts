/**
 * The `exec` source run in-process with real programs (small node and sh scripts written into a temp folder):
 * Ivy's data and log lines become records with their own time or the time they were read; bad lines are archived
 * with the reason and counted, never a crash; an over-long line is cut and skipped; stderr is logged, limited; a
 * line's records are durable before the next line is read; on a schedule, runs are on wall-clock multiples, a run
 * still going at a tick makes it skipped (overruns), a timeout ends a hung program (SIGTERM; SIGKILL after the
 * grace for one that ignores it); long-running: a stop ends the whole process group (a grandchild too), an exit
 * fails run() with SF_ERR_PROCEDURE_EXIT; a program that cannot be started fails at once; the schema.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { SigflowError } from '../../src/errors/index.js';
import { ExecSource, execSourceConfigSchema, parseLine } from '../../src/sources/exec/index.js';
import { delay, until } from './fake-context.js';
import { RecordsContext } from './records-context.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sigflow-exec-'));
  dirs.push(d);
  return d;
}

/** An executable script in a temp folder: node (body is JavaScript) or sh. */
function script(body: string, kind: 'node' | 'sh' = 'node'): string {
  const path = join(tmp(), kind === 'node' ? 'probe.mjs' : 'probe.sh');
  writeFileSync(path, `#!${kind === 'node' ? process.execPath : '/bin/sh'}\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function source(config: Record<string, unknown>, pipeline = 'probe') {
  return new ExecSource(execSourceConfigSchema.parse({ type: 'exec', ...config }), pipeline);
}

/** Is a process there (signal 0) — and not a zombie waiting for init (its new parent) to reap it. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test('schema: defaults; timeout only on a schedule; env values as text', () => {
  assert.deepEqual(execSourceConfigSchema.parse({ type: 'exec', command: ['probe'] }), {
    type: 'exec',
    command: ['probe'],
    env: {},
    mode: 'schedule',
    every: 60_000,
    grace: 5_000,
    log_measurement: 'log',
    tags: {},
    max_line_bytes: 1024 * 1024,
  });
  const o = execSourceConfigSchema.parse({
    type: 'exec',
    command: ['probe'],
    env: { PORT: 1234, VERBOSE: true, NAME: 'x' },
    timeout: '8s',
  });
  assert.deepEqual(o.env, { PORT: '1234', VERBOSE: 'true', NAME: 'x' });
  assert.equal(o.timeout, 8000);
  const bad = [
    { command: [] },
    { command: ['probe'], mode: 'long_running', timeout: '1s' },
    { command: ['probe'], mode: 'daemon' },
    { command: ['probe'], every: '10ms' },
    { command: ['probe'], env: { 'NOT-A-NAME': 'x' } },
    { command: ['probe'], every_seconds: 10 },
  ];
  for (const b of bad)
    assert.equal(execSourceConfigSchema.safeParse({ type: 'exec', ...b }).success, false, JSON.stringify(b));
});

test('parseLine: Ivy data and log lines, timestamps in seconds or RFC 3339, and why a line is bad', () => {
  assert.deepEqual(parseLine('{"variant":"data","data":{"a":1.5,"b":"x","c":true}}'), {
    kind: 'data',
    time: null,
    measurement: null,
    fields: { a: 1.5, b: 'x', c: true },
  });
  const d = parseLine('{"variant":"data","data":{"a":1},"timestamp":1717171717.25,"measurement":"m"}');
  assert.equal(d.kind === 'data' && d.time, 1_717_171_717_250_000_000n);
  assert.equal(d.kind === 'data' && d.measurement, 'm');
  const l = parseLine(
    '{"variant":"log","level":"warning","subject":"s","body":"b","timestamp":"2024-05-31T16:08:37.5Z"}',
  );
  assert.deepEqual(l, {
    kind: 'log',
    time: BigInt(Date.UTC(2024, 4, 31, 16, 8, 37, 500)) * 1_000_000n,
    level: 'WARNING',
    logLevel: 'warn',
    subject: 's',
    body: 'b',
  });
  assert.equal(parseLine('{"variant":"log","level":"EXCEPTION","subject":"s"}').kind, 'log');
  assert.deepEqual(parseLine('   '), { kind: 'blank' });
  const reasons: [string, RegExp][] = [
    ['hello', /^not JSON/],
    ['[1,2]', /not a JSON object/],
    ['{"variant":"config","config":{}}', /variant: expected "data" or "log", got "config"/],
    ['{"data":{"a":1}}', /got none/],
    ['{"variant":"data","data":{}}', /no values/],
    ['{"variant":"data","data":{"a":null}}', /data\.a: .* got null/],
    ['{"variant":"data","data":{"a":{"b":1}}}', /data\.a: .* got object/],
    ['{"variant":"data","data":[1]}', /data: expected an object/],
    ['{"variant":"data","data":{"a":1},"timestamp":1717171717250}', /not a time in seconds/],
    ['{"variant":"data","data":{"a":1},"timestamp":"yesterday"}', /timestamp: "yesterday" is not a time/],
    ['{"variant":"log","subject":"s"}', /level: expected a string/],
    ['{"variant":"log","level":"INFO"}', /subject: expected a string/],
  ];
  for (const [line, re] of reasons) {
    const r = parseLine(line);
    assert.equal(r.kind, 'bad', line);
    assert.match(r.kind === 'bad' ? r.reason : '', re, line);
  }
});

test('schedule: data and log lines become records (own time or read time); bad lines archived; env and tick given', async () => {
  const prog = script(`
const w = (o) => process.stdout.write((typeof o === 'string' ? o : JSON.stringify(o)) + '\\n');
w({ variant: 'data', data: { co2_ppm: 415.5, ok: true, mode: 'auto' }, timestamp: 1717171717.25 });
w({ variant: 'data', data: { tick: Number(process.env.SIGFLOW_TICK_MS), token_len: process.env.PROBE_TOKEN.length } });
w({ variant: 'log', level: 'WARNING', subject: 'warming up', body: '12 s left' });
w({ variant: 'data', data: { x: 1 }, measurement: 'co2_raw', timestamp: '2024-05-31T16:08:37Z' });
w('this is not json');
w({ variant: 'config', config: {} });
process.stdout.write(JSON.stringify({ variant: 'log', level: 'INFO', subject: 'done' }) + '\\r\\n');
`);
  const f = new RecordsContext();
  const secret = 's3cr3t-t0ken-value';
  const run = source(
    { command: [prog], every: '500ms', env: { PROBE_TOKEN: secret }, tags: { site: 'fjord' } },
    'co2',
  ).run(f.ctx);
  await until('one run', () => (f.counts.runs ?? 0) >= 1 && f.records.length >= 5, 10_000);
  await until('the run to end', () => f.counts.bad_lines === 2, 5_000);
  f.ac.abort();
  await run;
  const firstRun = f.records.slice(0, 5).map((h) => h.record);
  const [a, b, log, raw, done] = firstRun;
  assert.deepEqual(a, {
    time: 1_717_171_717_250_000_000n,
    measurement: 'co2',
    tags: { site: 'fjord' },
    fields: { co2_ppm: 415.5, ok: true, mode: 'auto' },
  });
  // the tick the run was started for is a multiple of the interval; the line without a timestamp is timed when
  // it was read (after the tick, before it was handed over)
  const tick = b.fields.tick as number;
  assert.equal(tick % 500, 0);
  assert.equal(b.fields.token_len, secret.length, 'env reached the program');
  const readMs = Number(b.time / 1_000_000n);
  assert.ok(readMs >= tick && readMs <= f.records[1].atMs, `read at ${readMs}, tick ${tick}`);
  assert.deepEqual(log, {
    time: log.time,
    measurement: 'log',
    tags: { site: 'fjord', procedure: 'co2' },
    fields: { level: 'WARNING', subject: 'warming up', body: '12 s left' },
  });
  assert.ok(log.time > b.time, 'read times increase');
  assert.equal(raw.measurement, 'co2_raw');
  assert.equal(raw.time, BigInt(Date.UTC(2024, 4, 31, 16, 8, 37)) * 1_000_000n);
  assert.deepEqual(done.fields, { level: 'INFO', subject: 'done' }, 'a CRLF line');
  // the log line was logged at its level; the bad lines archived with their reasons, not crashes
  assert.ok(f.logs.some((l) => l.level === 40 && l.msg === `${prog}: warming up` && l.body === '12 s left'));
  assert.ok(f.logs.some((l) => l.level === 30 && l.msg === `${prog}: done`));
  assert.deepEqual(
    f.rejects.slice(0, 2).map((r) => [r.topic, r.payload.toString(), r.reason.replace(/:.*/, '')]),
    [
      [prog, 'this is not json', 'not JSON'],
      [prog, '{"variant":"config","config":{}}', 'variant'],
    ],
  );
  assert.equal(f.counts.data_lines, 3);
  assert.equal(f.counts.log_lines, 2);
  assert.equal(f.counts.failures, undefined);
  // the secret is in no log line
  assert.equal(f.logs.filter((l) => JSON.stringify(l).includes(secret)).length, 0);
  // one line at a time: the next line is read only after the previous one's records were handed over
  assert.equal(f.maxOutstanding, 1);
});

test('schedule: runs on wall-clock multiples; a failing run makes the source not connected, said once', async () => {
  const prog = script(`
const t = Number(process.env.SIGFLOW_TICK_MS);
console.log(JSON.stringify({ variant: 'data', data: { started_ms: Date.now(), tick_ms: t } }));
process.exit(Math.floor(t / 500) % 2 === 0 ? 0 : 3);`);
  const f = new RecordsContext();
  const run = source({ command: [prog], every: '500ms' }).run(f.ctx);
  await until('6 runs', () => f.records.length >= 6, 15_000);
  f.ac.abort();
  await run;
  const ticks = f.records.map((h) => h.record.fields.tick_ms as number);
  for (let i = 0; i < ticks.length; i++) {
    assert.equal(ticks[i] % 500, 0);
    if (i > 0) assert.ok(ticks[i] > ticks[i - 1] && (ticks[i] - ticks[i - 1]) % 500 === 0, 'on the next multiples');
    const late = (f.records[i].record.fields.started_ms as number) - ticks[i];
    assert.ok(late >= 0 && late < 500, `started ${late} ms after its tick`);
  }
  // every tick between the first run and the last had its run, or was counted as skipped (none on a quiet machine)
  assert.equal(
    (f.counts.overruns ?? 0) + (f.counts.missed_ticks ?? 0),
    ((ticks.at(-1) as number) - ticks[0]) / 500 + 1 - ticks.length,
  );
  assert.ok((f.counts.failures ?? 0) >= 1);
  const down = f.states.filter((s) => !s.connected);
  assert.ok(down.length >= 1 && down.length <= (f.counts.failures ?? 0), 'said at each change, not at each run');
  assert.equal(down[0].detail, `${prog} exited with code 3 (said once until it changes)`);
  assert.ok(f.states.filter((s) => s.connected).length >= 2, 'connected again after a good run');
});

test('schedule: a run still going at the next tick makes that tick skipped (overruns), said once per run', async () => {
  const prog = script(`
console.log(JSON.stringify({ variant: 'data', data: { tick_ms: Number(process.env.SIGFLOW_TICK_MS) } }));
setTimeout(() => {}, 900);`);
  const f = new RecordsContext();
  const run = source({ command: [prog], every: '400ms' }).run(f.ctx);
  await until('3 runs', () => (f.counts.runs ?? 0) >= 3, 10_000);
  f.ac.abort();
  await run;
  assert.ok((f.counts.overruns ?? 0) >= 4, `overruns ${f.counts.overruns}`);
  const ticks = f.records.map((h) => h.record.fields.tick_ms as number);
  for (let i = 1; i < ticks.length; i++) {
    const gap = ticks[i] - ticks[i - 1];
    assert.ok(gap >= 1200 && gap % 400 === 0, `runs ${gap} ms apart: the ticks during a run are skipped`);
  }
  assert.equal(f.said(/still running at the next tick: tick skipped/).length, f.counts.runs - 1 || 1);
});

test('schedule: a timeout ends a hung run with SIGTERM, and one that ignores SIGTERM with SIGKILL after the grace', async () => {
  for (const [body, killed] of [
    ['console.log(JSON.stringify({variant:"data",data:{pid:process.pid}})); setTimeout(() => {}, 60000);', false],
    [
      'process.on("SIGTERM", () => {}); console.log(JSON.stringify({variant:"data",data:{pid:process.pid}})); setInterval(() => {}, 1000);',
      true,
    ],
  ] as const) {
    const prog = script(body);
    const f = new RecordsContext();
    const run = source({ command: [prog], every: '1s', timeout: '300ms', grace: '400ms' }).run(f.ctx);
    await until('a run to time out and end', () => f.counts.timeouts >= 1 && f.counts.failures >= 1, 12_000);
    f.ac.abort();
    await run;
    const pid = f.records[0].record.fields.pid as number;
    await until('the program to be gone', () => !alive(pid), 2000);
    assert.equal(f.counts.kills, killed ? f.counts.timeouts : undefined);
    assert.ok(f.said(/still running after timeout 300ms: SIGTERM \(SIGKILL after 400ms\)/).length >= 1);
    assert.equal(
      f.said(/did not end within grace 400ms of SIGTERM: killed \(SIGKILL\)/).length,
      killed ? f.counts.timeouts : 0,
    );
    assert.match(f.states.find((x) => !x.connected)?.detail ?? '', /timed out after 300ms/);
  }
});

test('long_running: a stop ends the whole process group — a grandchild too, SIGKILL for one that ignores SIGTERM', async () => {
  const prog = script(
    `trap '' TERM
sleep 1000 &
echo "{\\"variant\\":\\"data\\",\\"data\\":{\\"shell\\":$$,\\"grandchild\\":$!}}"
while true; do sleep 0.1; done`,
    'sh',
  );
  const f = new RecordsContext();
  const run = source({ command: [prog], mode: 'long_running', grace: '500ms' }).run(f.ctx);
  await until('the pids', () => f.records.length === 1, 10_000);
  const { shell, grandchild } = f.records[0].record.fields as { shell: number; grandchild: number };
  assert.ok(alive(shell) && alive(grandchild));
  assert.match(f.states[0].detail, new RegExp(`running \\(pid ${shell}\\)`));
  const t0 = Date.now();
  f.ac.abort();
  await run; // a stop is not a failure
  const took = Date.now() - t0;
  // (a process killed is gone a moment after its pipes close: the kernel finishes its exit asynchronously)
  await until('the shell (it ignored SIGTERM) to be killed', () => !alive(shell), 2000);
  await until('its child (it ignored SIGTERM too) to be killed', () => !alive(grandchild), 2000);
  assert.ok(took >= 450 && took < 3000, `stopped in ${took} ms`);
  assert.equal(f.counts.kills, 1);
  assert.equal(f.counts.exits, undefined, 'a stop is not an exit');
});

test('long_running: the program exits → its lines are stored, then run() fails with SF_ERR_PROCEDURE_EXIT', async () => {
  const prog = script(`
for (let i = 0; i < 3; i++) console.log(JSON.stringify({ variant: 'data', data: { i } }));
console.error('giving up: no sensor');
process.exit(4);`);
  const f = new RecordsContext();
  const err = (await source({ command: [prog], mode: 'long_running' })
    .run(f.ctx)
    .then(
      () => null,
      (e: SigflowError) => e,
    )) as SigflowError | null;
  assert.equal(err?.code, 'SF_ERR_PROCEDURE_EXIT');
  assert.equal(err?.message, `${prog} exited with code 4`);
  assert.deepEqual(
    f.records.map((h) => h.record.fields.i),
    [0, 1, 2],
  );
  assert.equal(f.counts.exits, 1);
  assert.equal(f.counts.stderr_lines, 1);
  assert.ok(f.logs.some((l) => l.level === 40 && l.msg === `${prog}: giving up: no sensor`));
  // killed by a signal
  const killer = script('process.kill(process.pid, "SIGSEGV");');
  const e2 = await source({ command: [killer], mode: 'long_running' })
    .run(new RecordsContext().ctx)
    .catch((e) => e);
  assert.equal(e2.message, `${killer} was killed by SIGSEGV`);
});

test('a program that cannot be started fails at once with SF_ERR_PROCEDURE_START (both modes)', async () => {
  const notExec = join(tmp(), 'plain.txt');
  writeFileSync(notExec, 'echo hi\n');
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ command: ['/nonexistent/probe'] }, /cannot start \/nonexistent\/probe: .*ENOENT/],
    [{ command: ['sigflow-no-such-program'], mode: 'long_running' }, /not found on PATH/],
    [{ command: [notExec] }, /EACCES/],
    [{ command: ['sh'], cwd: '/nonexistent/dir' }, /cwd \/nonexistent\/dir: ENOENT/],
    [{ command: ['sh'], cwd: notExec }, /not a directory/],
  ];
  for (const [config, re] of cases) {
    const t0 = Date.now();
    const e = (await source(config)
      .run(new RecordsContext().ctx)
      .catch((x) => x)) as SigflowError;
    assert.equal(e?.code, 'SF_ERR_PROCEDURE_START', JSON.stringify(config));
    assert.match(e.message, re);
    assert.ok(Date.now() - t0 < 1000, 'at once, not at the first tick');
  }
  // a relative program is found from cwd; a bare name on env.PATH
  const prog = script('console.log(JSON.stringify({variant:"data",data:{ok:true}}))');
  const dir = join(prog, '..');
  for (const config of [
    { command: ['./probe.mjs'], cwd: dir },
    { command: ['probe.mjs'], env: { PATH: dir } },
  ]) {
    const f = new RecordsContext();
    const run = source({ ...config, every: '200ms' }).run(f.ctx);
    await until('a record', () => f.records.length >= 1, 5_000);
    f.ac.abort();
    await run;
  }
});

test('backpressure: the next line is read only after the previous one is durable; stderr logged, limited', async () => {
  const prog = script(`
for (let i = 0; i < 60; i++) console.error('noise ' + i);
const lines = [];
for (let i = 0; i < 8; i++) lines.push(JSON.stringify({ variant: 'data', data: { i, written_ms: Date.now() } }));
process.stdout.write(lines.join('\\n') + '\\n');
console.log(JSON.stringify({ variant: 'data', data: { i: 8, written_ms: Date.now() } }));`);
  const f = new RecordsContext();
  f.holdMs = 100;
  const run = source({ command: [prog], every: '2s' }).run(f.ctx);
  await until('9 records', () => f.records.length === 9, 10_000);
  f.ac.abort();
  await run;
  assert.equal(f.maxOutstanding, 1);
  assert.deepEqual(
    f.records.map((h) => h.record.fields.i),
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
  );
  for (let i = 1; i < 9; i++) assert.ok(f.records[i].atMs - f.records[i - 1].atMs >= 95, 'one at a time');
  assert.equal(f.counts.stderr_lines, 60);
  const noise = f.logs.filter((l) => /: noise \d+/.test(l.msg));
  assert.equal(noise.length, 20, 'at most 20 a minute');
  assert.match(noise[19].msg, /the next stderr lines of .* this minute are counted, not logged/);
  assert.equal(f.said(/^40 more stderr lines of .* not logged \(at most 20 a minute are\)$/).length, 1);
});

test('an over-long line is archived (its head) and skipped; the next line is read', async () => {
  const prog = script(`
process.stdout.write('{"variant":"data","data":{"blob":"' + 'x'.repeat(300000) + '"}}\\n');
console.log(JSON.stringify({ variant: 'data', data: { after: 1 } }));`);
  const f = new RecordsContext();
  const run = source({ command: [prog], every: '2s', max_line_bytes: '64KiB' }).run(f.ctx);
  await until('the line after', () => f.records.length === 1, 10_000);
  f.ac.abort();
  await run;
  assert.deepEqual(f.records[0].record.fields, { after: 1 });
  assert.equal(f.rejects.length, 1);
  assert.equal(f.rejects[0].payload.length, 4096);
  assert.ok(f.rejects[0].payload.toString().startsWith('{"variant":"data","data":{"blob":"xxx'));
  assert.match(f.rejects[0].reason, /longer than max_line_bytes \(65536\)/);
  assert.equal(f.counts.bad_lines, 1);
});

test('a line that is not UTF-8, and a timestamp given as a string of digits, are bad lines (archived), not stored altered', async () => {
  const prog = script(`
process.stdout.write(Buffer.from('{"variant":"data","data":{"name":"caf\\xe9"}}\\n', 'latin1'));
console.log(JSON.stringify({ variant: 'data', data: { v: 1 }, timestamp: '1717171717' }));
console.log(JSON.stringify({ variant: 'data', data: { after: 1 }, timestamp: 1717171717 }));`);
  const f = new RecordsContext();
  const run = source({ command: [prog], every: '2s' }).run(f.ctx);
  await until('the line after', () => f.records.length === 1, 10_000);
  f.ac.abort();
  await run;
  assert.deepEqual(f.records[0].record.fields, { after: 1 });
  assert.equal(f.records[0].record.time, 1_717_171_717_000_000_000n);
  assert.deepEqual(
    f.rejects.map((r) => r.reason.replace(/;.*/, '')),
    ['not valid UTF-8', 'timestamp: "1717171717" is a number in a string'],
  );
  // archived as read: the byte that is no UTF-8 kept (not U+FFFD)
  assert.ok(f.rejects[0].payload.includes(Buffer.from([0xe9])), f.rejects[0].payload.toString('hex'));
  assert.equal(f.counts.bad_lines, 2);
});

test('records that cannot be stored: the program is stopped and run() fails with the outbox error', async () => {
  const prog = script(`
setInterval(() => console.log(JSON.stringify({ variant: 'data', data: { pid: process.pid } })), 50);`);
  const f = new RecordsContext();
  f.refuse = Object.assign(new Error('outbox full'), { code: 'SF_ERR_RUN_ENQUEUE' });
  const t0 = Date.now();
  const e = await source({ command: [prog], mode: 'long_running', grace: '500ms' })
    .run(f.ctx)
    .catch((x) => x);
  assert.equal(e?.message, 'outbox full');
  assert.ok(Date.now() - t0 < 5000);
  await delay(100);
});
