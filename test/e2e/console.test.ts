/**
 * The web console in a real browser (Debian's Chromium through playwright-core), on `sigflow run` with a replay
 * source, the store sink and a real InfluxDB, and on `sigflow serve` over a log tree. What a person would see:
 * the unit list with counters that increase, a plot whose drawn points are stored values, the live tail moving, the
 * downloads, an alarm when InfluxDB is stopped, its dead letters replayed from the page once it is back, the log
 * index with a plot one click away, keyboard navigation, a phone-sized page, and no serious axe-core violations.
 * Screenshots of each view go to the artefacts folder (test/harness/browser.ts) and are named in the output.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parquetReadObjects } from 'hyparquet';
import type { Browser, Page } from 'playwright-core';
import { startServe } from '../../src/server/index.js';
import { TimeSeriesStore } from '../../src/store/index.js';
import { accessibilityProblems, artefactsDir, launchBrowser, screenshot } from '../harness/browser.js';
import { runCli } from '../harness/cli.js';
import { Daemon } from '../harness/daemon.js';
import { fixturesDir } from '../harness/paths.js';
import { freePort, startInfluxDB } from '../harness/services.js';

const MF4 = join(fixturesDir, 'canedge', '00000001-60B621D9.MF4');
const DBC = join(
  fixturesDir,
  'canedge/dbc/api-examples/examples/data-processing/dbc_files/CSS-Electronics-SAE-J1939-DEMO.dbc',
);
const LOG = join(fixturesDir, 'canedge', 'serve', 'LOG');
const dir = mkdtempSync(join(tmpdir(), 'sigflow-console-'));
let browser: Browser | null = null;
after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The number in a table cell ("12,345" → 12345). */
async function cellNumber(page: Page, selector: string): Promise<number> {
  const text = (await page.locator(selector).first().textContent()) ?? '';
  return Number(text.replace(/[^0-9.-]/g, '')) || 0;
}

/** Where a test is (said when it fails or hangs: SIGFLOW_TEST_STEPS=1 prints each step as it starts). */
let at = '';
function step(what: string): void {
  at = what;
  if (process.env.SIGFLOW_TEST_STEPS === '1') process.stderr.write(`console test: ${what}\n`);
}

async function eventually(what: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (at: ${at})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('console on sigflow run: units, counters, a plot of stored values, live tail, downloads, an alarm, dead letters replayed', async (t) => {
  browser = await launchBrowser();
  if (!browser) return t.skip('chromium is not installed');
  const influx = await startInfluxDB();
  if (!influx) return t.skip('influxd is not installed');
  const cfg = join(dir, 'run.yaml');
  writeFileSync(
    cfg,
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db, delivery: { flush_interval: 100ms } }
  - type: influx
    url: ${influx.url}
    api: v1
    database: can
    create_database: true
    timeout: 1s
    delivery: { flush_interval: 200ms, backoff_initial: 100ms, backoff_max: 300ms, max_attempts: 2, write_timeout: 2s }
pipelines:
  - name: truck
    source: { type: replay, paths: [${MF4}], speed: 1, loop: true, retime: true }
    decode: { dbc: ${DBC}, mapping: message }
server:
  listen: "127.0.0.1:${await freePort()}"
  auth: { basic_auth: { user: ops, password: "\${CONSOLE_PASSWORD}" } }
logging: { stats_interval: 0 }
`,
  );
  process.env.CONSOLE_PASSWORD = 'c0nsole';
  const d = Daemon.start(cfg, { CONSOLE_PASSWORD: 'c0nsole' });
  const authorization = `Basic ${Buffer.from('ops:c0nsole').toString('base64')}`;
  /** fetch with the console's credentials. */
  const authed = (url: string, init: RequestInit = {}) =>
    fetch(url, { ...init, headers: { authorization, ...(init.headers as Record<string, string>) } });
  const shots: string[] = [];
  try {
    await d.until('the HTTP endpoint', () => d.http !== null);
    step('auth: everything but the health routes asks for credentials; sigflow status sends the config’s');
    assert.equal((await fetch(`${d.http}/console/`)).status, 401);
    assert.equal((await fetch(`${d.http}/status`)).status, 401);
    assert.equal((await fetch(`${d.http}/metrics`)).headers.get('www-authenticate'), 'Basic realm="sigflow"');
    const health = await fetch(`${d.http}/healthz`);
    assert.equal(health.status, 200);
    // (the update guard, which has no credentials, reads the version there)
    assert.match(((await health.json()) as { version: string }).version, /^\d+\.\d+\.\d+/);
    assert.equal((await authed(`${d.http}/status`)).status, 200);
    const status = await runCli(['status', '-c', cfg]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /truck/);
    const page = await browser.newPage({
      viewport: { width: 1280, height: 900 },
      httpCredentials: { username: 'ops', password: 'c0nsole' },
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    // Status: the unit list and counters that increase, live (no reload)
    step('status: units and counters');
    await page.goto(`${d.http}/console/`);
    await page.locator('tr[data-unit="truck"]').filter({ hasText: 'running' }).waitFor();
    await eventually(
      'records counted',
      async () => (await cellNumber(page, 'tr[data-unit="truck"] [data-counter="records"]')) > 0,
    );
    const first = await cellNumber(page, 'tr[data-unit="truck"] [data-counter="records"]');
    await eventually(
      'the records counter to increase',
      async () => (await cellNumber(page, 'tr[data-unit="truck"] [data-counter="records"]')) > first,
    );
    await eventually(
      'influx to take records',
      async () => (await cellNumber(page, 'tr[data-sink="influx"] [data-counter="delivered"]')) > 0,
    );
    assert.match((await page.locator('tr[data-sink="store"]').textContent()) ?? '', /ok/);
    shots.push(await screenshot(page, 'run-status'));

    // Signals: a plot of EEC1 EngineSpeed; every drawn point is a stored sample
    step('signals: the plot of stored values');
    await page.goto(`${d.http}/console/signals?src=records&m=EEC1&f=EngineSpeed&range=1h`);
    await page.locator('.plot[data-points]').waitFor();
    await eventually('points plotted', async () => Number(await page.locator('.plot').getAttribute('data-points')) > 0);
    const drawn = (await page.evaluate(() => {
      const u = (globalThis as unknown as { __sigflowPlot: { data: number[][] } }).__sigflowPlot;
      return { xs: [...u.data[0]], ys: [...u.data[1]] };
    })) as { xs: number[]; ys: number[] };
    const tags = Object.fromEntries(
      await page.locator('form.pick select[name^="tag."]').evaluateAll((els) =>
        els.map((e) => {
          const sel = e as unknown as { name: string; value: string };
          return [sel.name.slice(4), sel.value];
        }),
      ),
    );
    const store = TimeSeriesStore.open(join(dir, 'data', 'store.db'), { readonly: true });
    try {
      const samples = store.samples({ measurement: 'EEC1', tags, fields: ['EngineSpeed'], from: 0n, to: 2n ** 62n });
      assert.equal(samples.length, 1, `one series for ${JSON.stringify(tags)}`);
      const stored = new Map(samples[0].samples.map((s) => [Number(s.time / 1000n) / 1000, s.value]));
      assert.ok(drawn.xs.length > 0 && drawn.xs.length <= 4000);
      for (let i = 0; i < drawn.xs.length; i++) {
        const ms = Math.round(drawn.xs[i] * 1e6) / 1000;
        assert.ok(stored.has(ms), `drawn point ${i} at ${new Date(ms).toISOString()} is no stored sample`);
        assert.equal(drawn.ys[i], stored.get(ms));
      }
    } finally {
      store.close();
    }
    // the choices are labelled form fields and the URL says what is shown
    step('signals: labelled choices');
    assert.equal(await page.getByLabel('Measurement').inputValue(), 'EEC1');
    assert.equal(await page.getByLabel('Field').inputValue(), 'EngineSpeed');
    // downloads of what is plotted
    step('signals: downloads');
    const csvHref = await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
    const csv = await (await authed(`${d.http}${csvHref}`)).text();
    assert.match(csv.split('\n')[0], /^time,EngineSpeed$/);
    assert.ok(csv.split('\n').length > 2);
    const pqHref = await page.getByRole('link', { name: 'Download Parquet' }).getAttribute('href');
    const pq = await (await authed(`${d.http}${pqHref}`)).arrayBuffer();
    const rows = (await parquetReadObjects({ file: pq })) as { EngineSpeed: number | null }[];
    assert.ok(rows.length > 0 && rows.every((r) => typeof r.EngineSpeed === 'number'));
    // live tail: the last point moves on while the replay ingests
    step('signals: live tail');
    await page.getByRole('button', { name: 'Live' }).click();
    assert.equal(await page.getByRole('button', { name: 'Live' }).getAttribute('aria-pressed'), 'true');
    const lastOf = async () => (await page.locator('main p[role=status]').last().textContent()) ?? '';
    const before = await lastOf();
    await eventually(
      'the live tail to move',
      async () => (await lastOf()) !== before && /last .* at /.test(await lastOf()),
    );
    assert.match(page.url(), /live=1/);
    shots.push(await screenshot(page, 'run-signals'));

    // InfluxDB stopped: the page raises the alarm; after max_attempts the batches are dead letters
    step('status: InfluxDB stopped');
    await page.goto(`${d.http}/console/status`);
    await influx.stop();
    const alert = page.getByRole('alert').filter({ hasText: /Sink influx: writes failing/ });
    await alert.waitFor({ timeout: 30_000 });
    assert.match((await page.locator('tr[data-sink="influx"]').textContent()) ?? '', /failing/);
    await page.locator('tr[data-sink="influx"] button').waitFor({ timeout: 30_000 });
    shots.push(await screenshot(page, 'run-alarm'));
    await influx.start();
    await alert.waitFor({ state: 'detached', timeout: 30_000 });
    // replay from the page, confirmed in the dialog
    step('status: dead letters replayed');
    const deliveredBefore = await cellNumber(page, 'tr[data-sink="influx"] [data-counter="delivered"]');
    await page.locator('tr[data-sink="influx"] button').click();
    await page.getByRole('heading', { name: 'Dead letters of sink influx' }).waitFor();
    const dialogs: string[] = [];
    page.on('dialog', (dg) => {
      dialogs.push(dg.message());
      void dg.accept();
    });
    shots.push(await screenshot(page, 'run-dead-letters'));
    await page.getByRole('button', { name: 'Replay all' }).click();
    await page.getByText(/^Replayed \d+ dead letters \((\d+) records\)/).waitFor();
    assert.match(dialogs[0], /^Replay \d+ dead letters .* of sink influx\?/);
    const replayed = Number(/\((\d+) records\)/.exec((await page.getByText(/^Replayed/).textContent()) ?? '')?.[1]);
    assert.ok(replayed > 0);
    await eventually(
      'the replayed records delivered',
      async () =>
        (await cellNumber(page, 'tr[data-sink="influx"] [data-counter="delivered"]')) >= deliveredBefore + replayed,
    );
    const s = (await (await authed(`${d.http}/api/console/status`)).json()) as {
      run: { outbox: { sinks: { name: string; deadLettersStored: { count: number } }[] } };
    };
    assert.equal(s.run.outbox.sinks.find((k) => k.name === 'influx')?.deadLettersStored.count, 0);
    // a purge without the confirmation is refused by the server too
    step('dead letters: refusals');
    const purge = await authed(`${d.http}/api/console/dead-letters/purge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sigflow-console': '1' },
      body: JSON.stringify({ sink: 'influx' }),
    });
    assert.equal(purge.status, 400);
    const noHeader = await authed(`${d.http}/api/console/dead-letters/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sink: 'influx' }),
    });
    assert.equal(noHeader.status, 400);
    assert.deepEqual(errors, []);

    // accessibility of the run's views
    step('run: accessibility');
    const ctx = await browser.newContext({
      bypassCSP: true,
      viewport: { width: 1280, height: 900 },
      httpCredentials: { username: 'ops', password: 'c0nsole' },
    });
    const a11y = await ctx.newPage();
    for (const view of ['status', 'signals?src=records&m=EEC1&f=EngineSpeed']) {
      step(`run: accessibility of ${view}`);
      await a11y.goto(`${d.http}/console/${view}`);
      await a11y.locator('main h1').waitFor();
      await a11y.waitForTimeout(1500);
      assert.deepEqual(await accessibilityProblems(a11y), [], view);
    }
    await ctx.close();
    step('done');
  } finally {
    t.diagnostic(`last step: ${at}; screenshots: ${shots.join(', ') || 'none'} (in ${artefactsDir})`);
    if (at !== 'done') t.diagnostic(d.tail(40));
    const { code } = await d.stop('SIGTERM');
    await influx.dispose();
    assert.equal(code, 0, d.tail());
  }
});

test('console on sigflow serve: the log index, a decoded plot one click away, keyboard use, a phone-sized page', async (t) => {
  browser ??= await launchBrowser();
  if (!browser) return t.skip('chromium is not installed');
  const serve = await startServe({
    data: LOG,
    port: 0,
    indexPath: join(dir, 'index.json'),
    pollMs: 0,
    console: { version: 'test' },
  });
  const url = serve.url;
  const shots: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // a browser opening the server's root lands on the console
    step('serve: the root');
    await page.goto(`${url}/`);
    assert.match(page.url(), /\/console\/$/);
    await page.getByRole('heading', { name: 'Queries' }).waitFor();
    shots.push(await screenshot(page, 'serve-status'));
    // keyboard: the skip link first, then the views; Enter follows a link without reloading the page
    step('serve: keyboard');
    await page.keyboard.press('Tab');
    assert.equal(await page.locator(':focus').textContent(), 'Skip to content');
    await page.getByRole('link', { name: 'Logs' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Logs', exact: true }).waitFor();
    assert.match(page.url(), /\/console\/logs$/);
    // the log index: the device, its files, time ranges
    step('serve: the log index');
    await page.getByRole('link', { name: /2F6913DB/ }).click();
    await page.getByRole('heading', { name: /2F6913DB.*3 files/ }).waitFor();
    const files = await page.locator('table tbody tr').count();
    assert.equal(files, 3);
    assert.match((await page.locator('table tbody tr').first().textContent()) ?? '', /2022-01-06 11:46:01Z/);
    shots.push(await screenshot(page, 'serve-logs'));
    // one click to the decoded plot of that file's time range (the bus is found: the GNSS messages are on CAN2)
    step('serve: a plot from the index');
    await page.getByRole('link', { name: 'Plot session 4 split 1' }).click();
    await page.getByLabel('Signal').selectOption('Speed');
    await eventually(
      'a decoded plot',
      async () => Number((await page.locator('.plot').getAttribute('data-points')) ?? 0) > 0,
    );
    assert.equal(await page.getByLabel('Bus').inputValue(), 'CAN2');
    const points = Number(await page.locator('.plot').getAttribute('data-points'));
    const direct = (await (
      await fetch(
        `${url}/api/rows?device=2F6913DB&db=canmod-gps&signals=Speed&chn=CAN2&from=2022-01-06T11:46:00Z&to=2022-01-06T11:48:00Z&max_points=4000`,
      )
    ).json()) as unknown[];
    assert.equal(points, direct.length);
    shots.push(await screenshot(page, 'serve-signals'));
    // back goes back (every view has its URL)
    step('serve: back');
    await page.goBack();
    await page.getByRole('heading', { name: /2F6913DB.*3 files/ }).waitFor();
    // a phone: nothing wider than the screen but the tables' own scrolling
    step('serve: a phone');
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    for (const view of ['status', 'logs?device=2F6913DB', 'signals?src=logs&signal=Speed']) {
      step(`serve: a phone, ${view}`);
      await phone.goto(`${url}/console/${view}`);
      await phone.locator('main h1').waitFor();
      await phone.waitForTimeout(1000);
      const overflow = (await phone.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
      assert.ok(overflow <= 1, `${view} is ${overflow} px wider than a phone`);
    }
    shots.push(await screenshot(phone, 'serve-phone-signals'));
    const ctx = await browser.newContext({ bypassCSP: true });
    const a11y = await ctx.newPage();
    if (process.env.SIGFLOW_TEST_STEPS === '1') {
      a11y.on('request', (r) => process.stderr.write(`> ${r.url()}\n`));
      a11y.on('requestfinished', (r) => process.stderr.write(`< ${r.url()}\n`));
      a11y.on('console', (m) => process.stderr.write(`console: ${m.text()}\n`));
    }
    for (const view of ['status', 'logs', 'logs?device=2F6913DB', 'signals?src=logs&signal=Speed']) {
      step(`serve: accessibility of ${view}`);
      await a11y.goto(`${url}/console/${view}`);
      await a11y.locator('main h1').waitFor();
      await a11y.waitForTimeout(1500);
      assert.deepEqual(await accessibilityProblems(a11y), [], view);
    }
    await ctx.close();
    assert.deepEqual(errors, []);
  } finally {
    t.diagnostic(`last step: ${at}; screenshots: ${shots.join(', ') || 'none'} (in ${artefactsDir})`);
    await serve.close();
  }
});

test('console: a DBC signal of two messages is plotted (the answer names it per message)', async (t) => {
  browser ??= await launchBrowser();
  if (!browser) return t.skip('chromium is not installed');
  const logs = join(dir, 'shared-signal-LOG');
  cpSync(LOG, logs, { recursive: true });
  const dbcFile = join(logs, 'canmod-gps.dbc');
  writeFileSync(
    dbcFile,
    `${readFileSync(dbcFile, 'utf8')}\nBO_ 99 dup_msg: 8 Vector__XXX\n SG_ Satellites : 0|8@1+ (1,0) [0|255] "" Vector__XXX\n`,
  );
  const serve = await startServe({
    data: logs,
    port: 0,
    indexPath: join(dir, 'index2.json'),
    pollMs: 0,
    console: { version: 'test' },
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(
      `${serve.url}/console/signals?src=logs&device=2F6913DB&db=canmod-gps&signal=Satellites&chn=CAN2&range=all`,
    );
    await eventually(
      'a plot of the shared signal',
      async () => Number((await page.locator('.plot').getAttribute('data-points')) ?? 0) > 0,
    );
    assert.match(await page.content(), /Satellites is a signal of several messages: this is gnss_status\.Satellites/);
    assert.deepEqual(errors, []);
  } finally {
    await serve.close();
  }
});

test('console: a series without one of its measurement’s tag keys is picked with "(any)" for that key', async (t) => {
  browser ??= await launchBrowser();
  if (!browser) return t.skip('chromium is not installed');
  const path = join(dir, 'tagsets.db');
  const st = TimeSeriesStore.open(path);
  const t0 = Date.UTC(2026, 0, 1);
  const recs = [];
  for (let i = 0; i < 50; i++) {
    const time = BigInt(t0 + i * 1000) * 1_000_000n;
    recs.push({ time, measurement: 'eng', tags: { device: 'truckA' }, fields: { rpm: 1000 + i } });
    recs.push({ time, measurement: 'eng', tags: { device: 'truckB', unit: 'x' }, fields: { rpm: 5000 + i } });
  }
  st.write(recs);
  st.close();
  const serve = await startServe({ store: path, port: 0, pollMs: 0, console: { version: 'test' } });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const base = `${serve.url}/console/signals?src=records&m=eng&f=rpm&range=custom&from=2026-01-01T00:00:00Z&to=2026-01-01T00:01:00Z`;
    await page.goto(`${base}&tag.device=truckA&tag.unit=`);
    await eventually(
      'truckA plotted',
      async () => Number((await page.locator('.plot').getAttribute('data-points')) ?? 0) === 50,
    );
    const ys = (await page.evaluate(
      () => (globalThis as unknown as { __sigflowPlot: { data: number[][] } }).__sigflowPlot.data[1],
    )) as number[];
    assert.equal(ys[0], 1000, 'truckA’s values');
    assert.equal(await page.locator('select[name="tag.unit"]').inputValue(), '');
  } finally {
    await serve.close();
  }
});
