/**
 * The IoF application end to end: mosquitto from Debian, `sigflow run` on the configuration `sigflow iof init`
 * writes (runConfig), the gateway's envelopes published with QoS 1.
 * - Synthetic fish at a Norwegian and a Chilean cage: positions within 1 cm of the independent reference on the
 *   same timestamps, their distance to the truth within what 1 ms of timing allows; none for detections that
 *   must not give one; `sigflow iof position --all` gives the same rows as live positioning.
 * - 50,000 messages published while sigflow is SIGKILLed once: each stored exactly once, the backup complete.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext, test } from 'node:test';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { projectPaths, runConfig } from '../../src/apps/iof/index.js';
import { IofDatabase, parseProjectText, saveProject } from '../../src/sinks/iof/index.js';
import { checkPositions, envelope, fishProject, messages, spread, transmissions } from '../apps/iof/fish.js';
import { encodeIof, expectedRows, prng, randomMessage } from '../codecs/bitfield/iof-encoder.js';
import { accessibilityProblems, launchBrowser, screenshot } from '../harness/browser.js';
import { Daemon } from '../harness/daemon.js';
import { repoRoot } from '../harness/paths.js';
import { startMosquitto } from '../harness/services.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A project folder as `sigflow iof init` makes it, for the fish project and this broker. */
async function projectFolder(url: string): Promise<{ dir: string; config: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-iof-e2e-'));
  dirs.push(dir);
  const p = projectPaths(dir);
  await saveProject(p.project, fishProject());
  const project = parseProjectText(stringify(fishProject()), 'fish');
  const config = {
    ...runConfig(project, dir, { url }),
    server: { listen: '127.0.0.1:0' },
    logging: { stats_interval: 0 },
    runtime: { drain_timeout: '30s' },
  };
  writeFileSync(p.config, stringify(config));
  return { dir, config: p.config };
}

/** Publishes QoS 1 messages 500 at a time (its own persistent session); `onProgress` after each 500. */
async function publish(url: string, payloads: string[], onProgress?: (i: number) => Promise<void> | void) {
  const pub = mqtt.connect(url, { clientId: `gateway-${process.pid}`, clean: false, reconnectPeriod: 200 });
  await new Promise<void>((r) => pub.once('connect', () => r()));
  for (let i = 0; i < payloads.length; i += 500) {
    await Promise.all(
      payloads.slice(i, i + 500).map((p, k) => pub.publishAsync(`lora/dev/ui/${(i + k) % 3}`, p, { qos: 1 })),
    );
    await onProgress?.(i + 500);
  }
  await pub.endAsync();
}

/**
 * The console's IoF view in a real browser: one figure per cage with its three receivers and one marker per tag
 * positioned in it, the receivers' table; no serious accessibility violation.
 */
async function consoleShowsCages(t: TestContext, http: string, dbPath: string): Promise<void> {
  const browser = await launchBrowser();
  if (!browser) return;
  try {
    const db = IofDatabase.open(dbPath, { readonly: true });
    const tags = db.db
      .prepare('SELECT cage_name, COUNT(DISTINCT tag_id) AS n FROM positions GROUP BY cage_name ORDER BY cage_name')
      .all() as { cage_name: string; n: number }[];
    const receivers = (db.db.prepare('SELECT COUNT(DISTINCT tbr_serial_id) AS n FROM tag').get() as { n: number }).n;
    db.close();
    const ctx = await browser.newContext({ bypassCSP: true, viewport: { width: 1200, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(`${http}/console/`);
    // the IoF view is in the menu when an iof sink is configured
    await page.getByRole('link', { name: 'IoF' }).click();
    await page.locator('figure svg.cage').first().waitFor();
    for (const c of tags) {
      const fig = page.locator('figure').filter({ hasText: new RegExp(`^${c.cage_name}:`) });
      assert.equal(await fig.locator('[data-tag]').count(), c.n, `tags drawn in cage ${c.cage_name}`);
      assert.equal(await fig.locator('[data-tbr]').count(), 3, `receivers drawn in cage ${c.cage_name}`);
    }
    assert.ok(receivers > 0);
    assert.equal(
      await page.locator('table[aria-label], section table, .scroll table').locator('tbody tr').count(),
      receivers,
    );
    assert.deepEqual(await accessibilityProblems(page), []);
    t.diagnostic(`screenshot: ${await screenshot(page, 'iof')}`);
    await ctx.close();
  } finally {
    await browser.close();
  }
}

const countOf = (dbPath: string, table: string) => {
  const db = IofDatabase.open(dbPath, { readonly: true });
  try {
    return (db.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

test('synthetic fish over mosquitto: positions match the reference within 1 cm; batch positioning gives the same rows', async (t) => {
  const broker = await startMosquitto();
  if (!broker) return t.skip('mosquitto is not installed');
  const { dir, config } = await projectFolder(broker.url);
  const txs = transmissions(30, 11);
  const msgs = messages(txs);
  const d = Daemon.start(config, {});
  const dbPath = projectPaths(dir).database;
  try {
    await d.until('the subscription', () => d.lines.some((l) => l.includes('subscribed to lora/#')), 30_000);
    await publish(
      broker.url,
      msgs.map((m) => envelope(m)),
    );
    await d.until('every message stored', () => countOf(dbPath, 'backup') === msgs.length, 60_000);
    await consoleShowsCages(t, d.http as string, dbPath);
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0, d.tail());
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
    await broker.dispose();
  }
  const db = IofDatabase.open(dbPath);
  const rows = db.db.prepare('SELECT * FROM positions ORDER BY timestamp, tag_id').all() as Record<string, number>[];
  db.close();
  const { errors, bounds } = checkPositions(rows, txs);
  for (let i = 0; i < errors.length; i++)
    assert.ok(
      errors[i] <= 1.05 * bounds[i] + 0.001,
      `error ${errors[i].toFixed(3)} m beyond the ±0.5 ms corner bound ${bounds[i].toFixed(3)} m`,
    );

  t.diagnostic(`${rows.length} positions; distance to truth ${spread(errors)}`);
  // batch over the whole database: the same rows
  const cli = spawnSync(process.execPath, [join(repoRoot, 'bin', 'sigflow'), 'iof', 'position', dir, '--all'], {
    encoding: 'utf8',
  });
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`→ ${rows.length} positions`));
  const again = IofDatabase.open(dbPath);
  assert.deepEqual(again.db.prepare('SELECT * FROM positions ORDER BY timestamp, tag_id').all(), rows);
  again.close();
  const status = spawnSync(process.execPath, [join(repoRoot, 'bin', 'sigflow'), 'iof', 'status', dir, '--json'], {
    encoding: 'utf8',
  });
  assert.equal(status.status, 0, status.stderr);
  const s = JSON.parse(status.stdout);
  assert.equal(s.messages, msgs.length);
  assert.deepEqual(
    s.positionsPerCage.map((c: { cage_name: string }) => c.cage_name),
    ['chile', 'norway'],
  );
});

test('50,000 messages while sigflow is SIGKILLed once: each stored exactly once, the backup complete', async (t) => {
  const broker = await startMosquitto();
  if (!broker) return t.skip('mosquitto is not installed');
  const { dir, config } = await projectFolder(broker.url);
  const N = 50_000;
  const rnd = prng(2024);
  let rows = 0;
  const payloads: string[] = [];
  for (let i = 0; i < N; i++) {
    const m = randomMessage(rnd, 1 + (i % 6));
    m.refTimestamp = 1_600_000_000 + i; // distinct bytes: every message is a message of its own
    rows += expectedRows(m).length;
    payloads.push(envelope(encodeIof(m)));
  }
  const dbPath = projectPaths(dir).database;
  let d = Daemon.start(config, {});
  let killed = 0;
  try {
    await d.until('the subscription', () => d.lines.some((l) => l.includes('subscribed to lora/#')), 30_000);
    await publish(broker.url, payloads, async (i) => {
      if (i === 20_000) {
        await d.stop('SIGKILL');
        killed++;
        d = Daemon.start(config, {});
        await d.until('the restart', () => d.http !== null, 30_000);
      }
    });
    await d.until('all messages stored', () => countOf(dbPath, 'backup') >= N, 180_000);
    const { code } = await d.stop('SIGTERM');
    assert.equal(code, 0, d.tail());
  } finally {
    if (d.proc.exitCode === null) await d.stop('SIGKILL');
    await broker.dispose();
  }
  assert.equal(killed, 1);
  assert.equal(countOf(dbPath, 'backup'), N, 'the raw backup holds every message once');
  const stored = ['gps', 'tag', 'tbr'].reduce((s, x) => s + countOf(dbPath, x), 0);
  assert.equal(stored, rows, 'every decoded row once');
  const db = IofDatabase.open(dbPath, { readonly: true });
  assert.equal((db.db.prepare('SELECT COUNT(*) AS n FROM backup WHERE error IS NOT NULL').get() as { n: number }).n, 0);
  db.close();
});
