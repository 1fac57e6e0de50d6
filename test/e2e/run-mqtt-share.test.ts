/**
 * Scaling out on the broker: three `sigflow run` instances (each its own data dir, store and client id) on one
 * `$share/sigflow/sensors/#` subscription of a real mosquitto split 100,000 QoS 1 messages, while one of them is
 * SIGKILLed after 30 % and started again with the same config after 40 % (publishing goes on meanwhile). Its
 * persistent session keeps what the broker had for it (in flight unacknowledged, and — mosquitto keeps a
 * disconnected member in the round robin — its share of what was published while it was away); its outbox keeps
 * what it had acknowledged. Asserted: the union of the three stores holds every message; each instance stored a real share;
 * the copies stored by more than one instance (allowed: at least once) are counted and printed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Daemon } from '../harness/daemon.js';
import { publishSeq, storedSeqs } from '../harness/mqtt.js';
import { startMosquitto } from '../harness/services.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sigflow-run-mqtt-share-'));
  dirs.push(d);
  return d;
}

const SHARE = '$share/sigflow/sensors/#';

function config(dir: string, url: string, clientId: string): string {
  const file = join(dir, 'sigflow.yaml');
  writeFileSync(
    file,
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db }
pipelines:
  - name: env
    source:
      type: mqtt
      url: ${url}
      client_id: ${clientId}
      topics: [{ topic: "${SHARE}", qos: 1 }]
      payload: { format: json, measurement: env, time: t, time_unit: ms, tags: { device: "topic:1" } }
server: { listen: "127.0.0.1:0" }
logging: { stats_interval: 0 }
runtime: { drain_timeout: 30s }
`,
  );
  return file;
}

/** Publishes n QoS 1 messages (test/harness/mqtt.ts). */
function publish(url: string, n: number, t0: number, onProgress?: (i: number) => Promise<void> | void) {
  return publishSeq(url, `pub-share-${process.pid}`, n, t0, onProgress);
}

const subscribed = (d: Daemon) => d.lines.some((l) => l.includes(`subscribed to ${SHARE}`));

test('three instances on one $share subscription split 100,000 QoS 1 messages, none lost, one SIGKILLed and restarted', async (t) => {
  const broker = await startMosquitto();
  if (!broker) return t.skip('mosquitto is not installed');
  const N = 100_000;
  const KILL_AT = 30_000;
  const RESTART_AT = 40_000;
  const t0 = Date.UTC(2025, 0, 1);
  const names = ['a', 'b', 'c'] as const;
  const inst = names.map((n) => {
    const dir = tempDir();
    return { name: n, dir, file: config(dir, broker.url, `sigflow-${n}`) };
  });
  const daemons = inst.map((i) => Daemon.start(i.file, {}));
  const started = Date.now();
  let killedAt = -1;
  let restartedAt = -1;
  let storedByKilled = -1;
  let resumed = false;
  let union = new Set<number>();
  let per: number[][] = [];
  try {
    await Promise.all(daemons.map((d) => d.until(`the subscription to ${SHARE}`, () => subscribed(d), 30_000)));
    await publish(broker.url, N, t0, async (i) => {
      if (i === KILL_AT) {
        // crash of b: nothing said, nothing drained; publishing goes on while it is away
        await daemons[1].stop('SIGKILL');
        killedAt = i;
        storedByKilled = storedSeqs(inst[1].dir).length;
      }
      if (i === RESTART_AT) {
        // the restart resumes its session (what the broker queued for it meanwhile) and its outbox
        const d = Daemon.start(inst[1].file, {});
        daemons[1] = d;
        await d.until('the restart', () => d.http !== null, 30_000);
        restartedAt = i;
      }
    });
    const published = Date.now();
    // everything published was taken by the broker; wait until the three stores together hold all of it
    const deadline = Date.now() + 180_000;
    for (;;) {
      per = inst.map((i) => storedSeqs(i.dir));
      union = new Set(per.flat());
      if (union.size >= N) break;
      for (const [k, d] of daemons.entries())
        if (d.proc.exitCode !== null) throw new Error(`sigflow-${names[k]} exited:\n${d.tail()}`);
      if (Date.now() > deadline)
        throw new Error(
          `timed out: ${union.size} of ${N} stored (per instance ${per.map((p) => p.length).join(', ')}); ` +
            `mosquitto log:\n${readFileSync(broker.logFile, 'utf8').split('\n').slice(-30).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 500));
    }
    const stored = Date.now();
    const exits = await Promise.all(daemons.map((d) => d.stop('SIGTERM')));
    for (const [k, e] of exits.entries())
      assert.equal(e.code, 0, `sigflow-${names[k]}: ${JSON.stringify(e)}\n${daemons[k].tail()}`);
    per = inst.map((i) => storedSeqs(i.dir));
    union = new Set(per.flat());
    const total = per.reduce((s, p) => s + p.length, 0);
    resumed = daemons[1].lines.some((l) => l.includes('(session resumed)'));
    t.diagnostic(
      `per instance ${per.map((p, k) => `${names[k]}=${p.length}`).join(' ')}; union ${union.size}; ` +
        `duplicates across stores ${total - union.size}; b killed at ${killedAt} (had stored ${storedByKilled}), ` +
        `restarted at ${restartedAt}, session resumed: ${resumed}; ` +
        `publish ${((published - started) / 1000).toFixed(1)} s, all stored ${((stored - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    for (const d of daemons) if (d.proc.exitCode === null) await d.stop('SIGKILL');
    await broker.dispose();
  }
  assert.equal(killedAt, KILL_AT, 'b was killed');
  assert.equal(restartedAt, RESTART_AT, 'b was restarted');
  assert.ok(resumed, 'the restarted b resumed its persistent session');
  assert.equal(union.size, N, `${union.size} distinct of ${N}`);
  for (let k = 0; k < N; k++) assert.ok(union.has(k), `seq ${k} is missing`);
  // each store holds a message at most once (idempotent on series and time), and a real share of them
  for (const [k, p] of per.entries()) {
    assert.equal(new Set(p).size, p.length, `sigflow-${names[k]} holds a message twice`);
    // the split really happened: every instance took a substantial share
    assert.ok(p.length >= N / 10, `sigflow-${names[k]} stored only ${p.length} of ${N}`);
  }
});
