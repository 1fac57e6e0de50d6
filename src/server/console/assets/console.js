// sigflow console: one page, four views (status, signals, logs, iof), each at its own URL. Plain ES module, no
// build step; uPlot draws the plots. The server's routes are in src/server/console/api.ts and infinity.ts.
// uPlot: the package's minified build, loaded by the page before this module (a global, as that build defines it)
const uPlot = globalThis.uPlot;

// ── small helpers ─────────────────────────────────────────────────────────────────────────────────────────
/** An element: h('td', {class: 'num'}, 'text', child…); `on…` attributes are listeners, false/null are skipped. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const fmtNum = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'));
const fmtTime = (ms) =>
  ms === null || ms === undefined ? '–' : `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
const fmtTimeMs = (ms) => new Date(ms).toISOString().replace('T', ' ');
function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
function fmtAge(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}
const badge = (cls, text) => h('span', { class: `badge ${cls}`, text });
const table = (label, head, rows) =>
  h(
    'div',
    { class: 'scroll', role: 'region', 'aria-label': label, tabindex: 0 },
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          head.map(([text, cls]) => h('th', { scope: 'col', class: cls, text })),
        ),
      ),
      h('tbody', {}, rows),
    ),
  );

async function api(path, init = {}) {
  const r = await fetch(path, { ...init, headers: { accept: 'application/json', ...(init.headers ?? {}) } });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    throw new Error(`${body.code ?? `HTTP ${r.status}`}: ${body.message ?? r.statusText}`);
  }
  return { body: await r.json(), headers: r.headers };
}

// ── the status stream (one per page, whatever the view) ───────────────────────────────────────────────────
const live = { last: null, prev: null, listeners: new Set() };
function connect() {
  const conn = document.getElementById('conn');
  const es = new EventSource('/api/console/events');
  es.addEventListener('status', (ev) => {
    live.prev = live.last;
    live.last = JSON.parse(ev.data);
    conn.textContent = `live · ${live.last.kind} ${live.last.version}`;
    document.getElementById('nav-iof').hidden = !live.last.iof;
    for (const l of live.listeners) l();
  });
  es.addEventListener('error', () => {
    conn.textContent = 'reconnecting…';
  });
}

// ── router ────────────────────────────────────────────────────────────────────────────────────────────────
const VIEWS = { status: viewStatus, signals: viewSignals, logs: viewLogs, iof: viewIof };
const TITLES = { status: 'Status', signals: 'Signals', logs: 'Logs', iof: 'IoF' };
let leave = null;

function route(focus) {
  const main = document.getElementById('main');
  const name = location.pathname.replace(/^\/console\/?/, '').split('/')[0] || 'status';
  const view = VIEWS[name] ? name : 'status';
  leave?.();
  leave = null;
  main.replaceChildren();
  for (const a of document.querySelectorAll('nav a[data-view]')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${TITLES[view]} · sigflow console`;
  leave = VIEWS[view](main, new URLSearchParams(location.search)) ?? null;
  if (focus) main.focus();
}

/** Goes to a console URL without reloading the page (`replace`: without a new history entry). */
function go(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route(!replace);
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-nav]');
  if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', () => route(true));

/** The badge of a unit state. */
const UNIT_STATE = {
  running: 'ok',
  starting: 'warn',
  stopping: 'warn',
  stopped: 'warn',
  backoff: 'bad',
  failed: 'bad',
};

// ── status ────────────────────────────────────────────────────────────────────────────────────────────────
function viewStatus(main) {
  const summary = h('dl', { class: 'summary' });
  const alerts = h('div', { class: 'alerts' });
  const units = h('section', { 'aria-labelledby': 'h-units' });
  const sinks = h('section', { 'aria-labelledby': 'h-sinks' });
  const dead = h('section', { 'aria-labelledby': 'h-dead', hidden: true });
  const serve = h('section', { 'aria-labelledby': 'h-serve' });
  main.append(h('h1', { text: 'Status' }), summary, alerts, units, sinks, dead, serve);
  const shownAlerts = new Map();

  const setAlerts = (list) => {
    // an alert is added once and kept while it holds: screen readers announce new ones, not every refresh
    const keep = new Set(list.map((a) => a.text));
    for (const [text, el] of shownAlerts)
      if (!keep.has(text)) {
        el.remove();
        shownAlerts.delete(text);
      }
    for (const a of list) {
      if (shownAlerts.has(a.text)) continue;
      const el = h('div', { class: `alert ${a.cls}`, role: 'alert', text: a.text });
      shownAlerts.set(a.text, el);
      alerts.append(el);
    }
  };

  const rate = (unit, key) => {
    const s = live.last;
    const p = live.prev?.run?.units.find((u) => u.name === unit.name);
    if (!p || !s || !live.prev) return null;
    const dt = (s.at - live.prev.at) / 1000;
    return dt > 0 ? Math.max(0, ((unit.counters[key] ?? 0) - (p.counters[key] ?? 0)) / dt) : null;
  };

  const render = () => {
    const s = live.last;
    if (!s) return;
    const items = [
      ['Running', s.kind === 'run' ? 'sigflow run' : 'sigflow serve'],
      ['Version', s.version],
      ['Up for', fmtAge(s.run?.uptimeMs ?? s.uptimeMs)],
      ['Memory (RSS)', `${s.memoryMb.rss} MB`],
    ];
    if (s.run) {
      items.push(['Config revision', s.run.remoteConfig ? String(s.run.remoteConfig.revision) : 'local file']);
      items.push(['Outbox pending', `${fmtNum(s.run.outbox.pendingRecords)} records`]);
    }
    summary.replaceChildren(...items.map(([k, v]) => h('div', {}, h('dt', { text: k }), h('dd', { text: v }))));
    const list = [];
    if (s.run) {
      for (const u of s.run.units) {
        if (u.state === 'failed' || u.state === 'backoff')
          list.push({
            cls: 'bad',
            text: `Unit ${u.name} ${u.state === 'failed' ? 'failed' : 'crashed and restarts'}${u.lastError ? `: ${u.lastError}` : ''}`,
          });
        else if (u.state === 'running' && !u.connected)
          list.push({ cls: 'warn', text: `Unit ${u.name}: its ${u.source} source is not connected` });
      }
      for (const k of s.run.outbox.sinks.filter((x) => x.active)) {
        if (k.alarm)
          list.push({ cls: 'bad', text: `ALARM sink ${k.name}: ${k.alarmReason ?? k.lastError ?? 'refused'}` });
        else if (k.consecutiveFailures > 0)
          list.push({
            cls: 'bad',
            text: `Sink ${k.name}: writes failing (${k.consecutiveFailures} in a row), retrying: ${k.lastError ?? ''}`,
          });
      }
    }
    setAlerts(list);
    if (s.run) renderRun(s.run);
    else {
      units.replaceChildren();
      sinks.replaceChildren();
    }
    // a run shows the queries when it serves a log tree too
    if (s.kind === 'serve' || s.serve.devices > 0) renderServe(s.serve);
    else serve.replaceChildren();
  };

  const renderRun = (run) => {
    units.replaceChildren(
      h('h2', { id: 'h-units', text: `Units (${run.units.length})` }),
      table(
        'Units',
        [
          ['Unit'],
          ['State'],
          ['Source'],
          ['Connected'],
          ['Records/s', 'num'],
          ['Frames/s', 'num'],
          ['Records', 'num'],
          ['Restarts', 'num'],
          ['Reconnects', 'num'],
          ['Last error'],
        ],
        run.units.map((u) => {
          const rs = rate(u, 'records');
          const fs = rate(u, 'frames_seen');
          return h(
            'tr',
            { 'data-unit': u.name },
            h('th', { scope: 'row', text: u.name }),
            h('td', {}, badge(UNIT_STATE[u.state] ?? 'warn', u.state)),
            h('td', { text: `${u.source}${u.isolation === 'process' ? ` (pid ${u.pid ?? '–'})` : ''}` }),
            h('td', {}, badge(u.connected ? 'ok' : 'warn', u.connected ? 'yes' : 'no')),
            h('td', { class: 'num', 'data-counter': 'records-rate', text: rs === null ? '–' : fmtNum(Math.round(rs)) }),
            h('td', { class: 'num', text: fs === null ? '–' : fmtNum(Math.round(fs)) }),
            h('td', { class: 'num', 'data-counter': 'records', text: fmtNum(u.counters.records ?? 0) }),
            h('td', { class: 'num', text: fmtNum(u.restarts) }),
            h('td', { class: 'num', text: fmtNum(u.counters.reconnects ?? 0) }),
            h('td', { class: u.lastError && u.state !== 'running' ? 'error' : 'muted', text: u.lastError ?? '–' }),
          );
        }),
      ),
    );
    const active = run.outbox.sinks;
    sinks.replaceChildren(
      h('h2', { id: 'h-sinks', text: `Outbox and sinks (${active.filter((k) => k.active).length})` }),
      table(
        'Sinks',
        [
          ['Sink'],
          ['State'],
          ['Pending', 'num'],
          ['Pending bytes', 'num'],
          ['Oldest', 'num'],
          ['Delivered', 'num'],
          ['Retries', 'num'],
          ['Dropped', 'num'],
          ['Dead letters', 'num'],
          ['Last error'],
        ],
        active.map((k) => {
          const state = !k.active
            ? badge('warn', 'not configured')
            : k.alarm
              ? badge('bad', 'ALARM')
              : k.consecutiveFailures > 0
                ? badge('bad', 'failing')
                : badge('ok', 'ok');
          const dl = k.deadLettersStored;
          return h(
            'tr',
            { 'data-sink': k.name },
            h('th', { scope: 'row', text: k.name }),
            h('td', {}, state),
            h('td', { class: 'num', 'data-counter': 'pending', text: fmtNum(k.pendingRecords) }),
            h('td', { class: 'num', text: fmtBytes(k.pendingBytes) }),
            h('td', { class: 'num', text: fmtAge(k.oldestPendingAgeMs) }),
            h('td', { class: 'num', 'data-counter': 'delivered', text: fmtNum(k.deliveredRecords) }),
            h('td', { class: 'num', text: fmtNum(k.retries) }),
            h('td', { class: 'num', text: fmtNum(k.droppedRecords + k.expiredRecords) }),
            h(
              'td',
              { class: 'num' },
              dl.count === 0
                ? '0'
                : h('button', {
                    type: 'button',
                    'aria-label': `Show the ${dl.count} dead letters of sink ${k.name}`,
                    text: `${fmtNum(dl.records)} records (${dl.count})`,
                    onclick: () => showDead(k.name),
                  }),
            ),
            // a past error stays listed, with its age, but is red only while the sink fails
            h('td', {
              class: k.alarm || k.consecutiveFailures > 0 ? 'error' : 'muted',
              text: k.lastError
                ? `${k.lastError}${k.lastErrorMs ? ` (${fmtAge(Date.now() - k.lastErrorMs)} ago)` : ''}`
                : '–',
            }),
          );
        }),
      ),
    );
  };

  const renderServe = (sv) => {
    const e = sv.engine;
    serve.replaceChildren(
      h('h2', { id: 'h-serve', text: 'Queries' }),
      h(
        'dl',
        { class: 'summary' },
        [
          ['Records from', sv.records ?? 'none'],
          ['Log devices', fmtNum(sv.devices)],
          ['Requests', fmtNum(e.requests)],
          ['Decode passes', `${fmtNum(e.passes)} (${fmtNum(e.passesShared)} shared)`],
          ['Bytes decoded', fmtBytes(e.bytesDecoded)],
          ['Column cache', `${fmtBytes(e.cache.bytes)} · ${fmtNum(e.cache.hits)} hits`],
          ['Index listed', sv.index.at ? fmtTime(sv.index.at) : '–'],
        ].map(([k, v]) => h('div', {}, h('dt', { text: k }), h('dd', { text: v }))),
      ),
    );
  };

  const showDead = async (sink) => {
    dead.hidden = false;
    const msg = h('p', { role: 'status' });
    dead.replaceChildren(h('h2', { id: 'h-dead', text: `Dead letters of sink ${sink}` }), msg);
    let list;
    try {
      list = (await api(`/api/console/dead-letters?sink=${encodeURIComponent(sink)}`)).body;
    } catch (e) {
      msg.textContent = e.message;
      msg.className = 'error';
      return;
    }
    const records = list.reduce((n, d) => n + d.records, 0);
    const act = async (what) => {
      const text =
        what === 'replay'
          ? `Replay ${list.length} dead letters (${records} records) of sink ${sink}? They go back into the outbox and are delivered again.`
          : `Purge ${list.length} dead letters (${records} records) of sink ${sink}? They are deleted for good.`;
      if (!window.confirm(text)) return;
      try {
        const r = await api(`/api/console/dead-letters/${what}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-sigflow-console': '1' },
          body: JSON.stringify({ sink, ids: list.map((d) => d.id), confirm: what === 'purge' }),
        });
        await showDead(sink);
        dead.querySelector('[role=status]').textContent =
          what === 'replay'
            ? `Replayed ${r.body.replayed} dead letters (${r.body.records} records)${r.body.skipped.length ? `; ${r.body.skipped.length} skipped` : ''}.`
            : `Purged ${r.body.purged} dead letters (${r.body.records} records).`;
      } catch (e) {
        msg.textContent = e.message;
        msg.className = 'error';
      }
    };
    if (list.length === 0) {
      msg.textContent = `Sink ${sink} has no dead letters.`;
      return;
    }
    dead.append(
      table(
        `Dead letters of ${sink}`,
        [['Id', 'num'], ['When'], ['Kind'], ['Records', 'num'], ['Bytes', 'num'], ['Reason']],
        list.map((d) =>
          h(
            'tr',
            {},
            h('td', { class: 'num', text: String(d.id) }),
            h('td', { text: fmtTime(d.createdMs) }),
            h('td', { text: d.kind }),
            h('td', { class: 'num', text: fmtNum(d.records) }),
            h('td', { class: 'num', text: fmtBytes(d.bytes) }),
            h('td', { class: 'error', text: d.reason }),
          ),
        ),
      ),
      h(
        'p',
        { class: 'actions' },
        h('button', { type: 'button', text: 'Replay all', onclick: () => act('replay') }),
        h('button', { type: 'button', class: 'danger', text: 'Purge all…', onclick: () => act('purge') }),
        h('button', {
          type: 'button',
          text: 'Close',
          onclick: () => {
            dead.hidden = true;
          },
        }),
      ),
    );
  };

  live.listeners.add(render);
  render();
  return () => live.listeners.delete(render);
}

// ── signals ───────────────────────────────────────────────────────────────────────────────────────────────
const RANGES = [
  ['5m', 'Last 5 minutes', 300_000],
  ['1h', 'Last hour', 3_600_000],
  ['6h', 'Last 6 hours', 21_600_000],
  ['24h', 'Last 24 hours', 86_400_000],
  ['7d', 'Last 7 days', 604_800_000],
  ['30d', 'Last 30 days', 2_592_000_000],
  ['all', 'All of the device’s logs', -1],
  ['custom', 'From … to …', 0],
];

/** The buses of a CANedge log (what `chn` takes). */
const CHANNELS = ['CAN1', 'CAN2', 'CAN3', 'CAN4', 'LIN1', 'LIN2'];

function viewSignals(main, params) {
  main.append(h('h1', { text: 'Signals' }));
  const msg = h('p', { role: 'status', class: 'muted', text: 'Loading what can be plotted…' });
  main.append(msg);
  let stop = false;
  let timer = null;
  let plot = null;
  let onResize = null;
  api('/api/console/catalog').then(
    ({ body }) => {
      if (!stop) build(body);
    },
    (e) => {
      msg.textContent = e.message;
      msg.className = 'error';
    },
  );

  const build = (cat) => {
    const hasRecords = cat.measurements.length > 0;
    const hasLogs = cat.logs.devices.length > 0 && cat.logs.dbs.length > 0;
    if (!hasRecords && !hasLogs) {
      msg.textContent = 'Nothing to plot yet: the store holds no records and there is no log tree.';
      return;
    }
    msg.textContent = '';
    const src = params.get('src') === 'logs' && hasLogs ? 'logs' : hasRecords ? 'records' : 'logs';
    const form = h('form', { class: 'pick', 'aria-label': 'What to plot' });
    const sel = (name, label, options, value) => {
      const s = h(
        'select',
        { name },
        options.map((o) => {
          const [v, t] = Array.isArray(o) ? o : [o, o];
          return h('option', { value: v, selected: v === value, text: t });
        }),
      );
      return { el: h('label', {}, label, s), input: s };
    };
    // source
    const srcSel = sel(
      'src',
      'Source',
      [hasRecords && ['records', `Records (${cat.records})`], hasLogs && ['logs', 'Log files']].filter(Boolean),
      src,
    );
    srcSel.input.addEventListener('change', () => go(`/console/signals?src=${srcSel.input.value}`, true));
    const what = h('fieldset', {}, h('legend', { text: src === 'records' ? 'Series' : 'Signal' }));
    const picks = {};
    if (src === 'records') {
      const m = cat.measurements.find((x) => x.name === params.get('m')) ?? cat.measurements[0];
      const mSel = sel(
        'm',
        'Measurement',
        cat.measurements.map((x) => x.name),
        m.name,
      );
      mSel.input.addEventListener('change', () =>
        go(`/console/signals?src=records&m=${encodeURIComponent(mSel.input.value)}`, true),
      );
      what.append(mSel.el);
      picks.tags = {};
      for (const [key, values] of Object.entries(m.tags)) {
        // "(any)": no filter on this key — a series without it (or with several values) can be picked too
        const want = params.get(`tag.${key}`);
        const t = sel(
          `tag.${key}`,
          key,
          [['', '(any)'], ...values],
          want === '' || values.includes(want) ? want : values[0],
        );
        picks.tags[key] = t.input;
        what.append(t.el);
      }
      const f = sel('f', 'Field', m.fields, m.fields.includes(params.get('f')) ? params.get('f') : m.fields[0]);
      picks.field = f.input;
      what.append(f.el);
      picks.m = mSel.input;
    } else {
      const devices = cat.logs.devices;
      const d = sel(
        'device',
        'Device',
        devices.map((x) => [x.id, x.label]),
        params.get('device') ?? devices[0].id,
      );
      const dbs = cat.logs.dbs;
      const db = dbs.find((x) => x.key === params.get('db')) ?? dbs[0];
      const dbSel = sel(
        'db',
        'DBC',
        dbs.map((x) => x.key),
        db.key,
      );
      dbSel.input.addEventListener('change', () => {
        const q = new URLSearchParams(location.search);
        q.set('src', 'logs');
        q.set('db', dbSel.input.value);
        q.delete('signal');
        go(`/console/signals?${q}`, true);
      });
      const sg = sel(
        'signal',
        'Signal',
        db.signals,
        db.signals.includes(params.get('signal')) ? params.get('signal') : db.signals[0],
      );
      const ch = sel('chn', 'Bus', CHANNELS, CHANNELS.includes(params.get('chn')) ? params.get('chn') : 'CAN1');
      picks.device = d.input;
      picks.db = dbSel.input;
      picks.signal = sg.input;
      picks.chn = ch.input;
      // no bus in the URL: the first one with points is looked for (a DBC does not say which bus it is for)
      picks.findBus = !params.has('chn');
      what.append(d.el, dbSel.el, sg.el, ch.el);
    }
    // range
    const preset = RANGES.some((r) => r[0] === params.get('range'))
      ? params.get('range')
      : params.has('from')
        ? 'custom'
        : src === 'logs'
          ? 'all'
          : '1h';
    const ranges = RANGES.filter((r) => src === 'logs' || r[0] !== 'all');
    const rSel = sel(
      'range',
      'Time range',
      ranges.map(([v, t]) => [v, t]),
      preset,
    );
    const iso = (ms) => new Date(ms).toISOString();
    const fromIn = h('input', {
      name: 'from',
      value: params.get('from') ?? '',
      placeholder: '2026-01-31T12:00:00Z',
      size: 24,
    });
    const toIn = h('input', { name: 'to', value: params.get('to') ?? '', placeholder: 'now', size: 24 });
    const fromL = h('label', {}, 'From (UTC)', fromIn);
    const toL = h('label', {}, 'To (UTC)', toIn);
    const showCustom = () => {
      const c = rSel.input.value === 'custom';
      fromL.hidden = !c;
      toL.hidden = !c;
    };
    rSel.input.addEventListener('change', showCustom);
    showCustom();
    const when = h('fieldset', {}, h('legend', { text: 'When' }), rSel.el, fromL, toL);
    const liveBtn = h('button', {
      type: 'button',
      'aria-pressed': params.get('live') === '1' ? 'true' : 'false',
      text: 'Live',
    });
    const csv = h('a', { href: '#', download: true, text: 'Download CSV' });
    const parquet = h('a', { href: '#', download: true, text: 'Download Parquet' });
    form.append(
      srcSel.el,
      what,
      when,
      h('div', { class: 'actions' }, h('button', { type: 'submit', text: 'Plot' }), liveBtn, csv, parquet),
    );
    const title = h('p', { class: 'plot-title', id: 'plot-title' });
    const box = h('div', { class: 'plot', role: 'img', 'aria-labelledby': 'plot-title' });
    const notices = h('ul', { class: 'notices', 'aria-live': 'polite' });
    const data = h('details', {}, h('summary', { text: 'Data table' }));
    const status = h('p', { role: 'status', class: 'muted' });
    main.append(
      form,
      status,
      title,
      notices,
      box,
      data,
      h('p', {
        class: 'muted',
        text: 'Drag across the plot to zoom in (the range is then fetched again at full detail); double-click to see the whole range.',
      }),
    );

    const range = () => {
      const now = Date.now();
      const r = RANGES.find((x) => x[0] === rSel.input.value);
      if (r && r[2] > 0) return { from: now - r[2], to: now };
      if (r && r[2] < 0) {
        const d = cat.logs.devices.find((x) => x.id === picks.device.value);
        if (!d || d.firstMs === null) return { from: now - 86_400_000, to: now };
        return { from: d.firstMs, to: Math.max(d.lastMs, d.firstMs + 1000) };
      }
      const from = Date.parse(fromIn.value);
      const to = toIn.value.trim() === '' || toIn.value.trim() === 'now' ? now : Date.parse(toIn.value);
      if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) return null;
      return { from, to };
    };
    /** The query string of the page (what is bookmarked) and of /api/rows. */
    const state = () => {
      const q = new URLSearchParams({ src });
      const rows = new URLSearchParams();
      let name;
      if (src === 'records') {
        q.set('m', picks.m.value);
        rows.set('measurement', picks.m.value);
        for (const [k, s] of Object.entries(picks.tags)) {
          q.set(`tag.${k}`, s.value);
          if (s.value !== '') rows.set(`tag.${k}`, s.value);
        }
        q.set('f', picks.field.value);
        rows.set('fields', picks.field.value);
        name = picks.field.value;
        const tags = Object.entries(picks.tags)
          .filter(([, s]) => s.value !== '')
          .map(([k, s]) => `${k}=${s.value}`);
        title.textContent = `${picks.m.value}${tags.length ? ` {${tags.join(', ')}}` : ''} · ${picks.field.value}`;
      } else {
        for (const k of ['device', 'db', 'signal', 'chn']) q.set(k, picks[k].value);
        rows.set('chn', picks.chn.value);
        rows.set('device', picks.device.value);
        rows.set('db', picks.db.value);
        rows.set('signals', picks.signal.value);
        name = picks.signal.value;
        title.textContent = `${picks.device.value} · ${picks.db.value} · ${picks.signal.value}`;
      }
      q.set('range', rSel.input.value);
      if (rSel.input.value === 'custom') {
        q.set('from', fromIn.value);
        q.set('to', toIn.value);
      }
      if (liveBtn.getAttribute('aria-pressed') === 'true') q.set('live', '1');
      return { q, rows, name };
    };

    /** The answer of /api/rows, or null when it failed (said on the page) or a newer request was made meanwhile. */
    let seq = 0;
    const rowsOf = async (rows) => {
      const mine = ++seq;
      try {
        const res = await api(`/api/rows?${rows}`);
        return mine === seq && !stop ? res : null;
      } catch (e) {
        if (mine === seq) {
          status.textContent = e.message;
          status.className = 'error';
        }
        return null;
      }
    };

    const draw = async (push) => {
      const r = range();
      if (!r) {
        status.textContent =
          'The time range cannot be read: write times like 2026-01-31T12:00:00Z, "from" before "to".';
        status.className = 'error';
        return;
      }
      const { q, rows, name } = state();
      if (push !== undefined) {
        const url = `/console/signals?${q}`;
        if (push) history.pushState(null, '', url);
        else history.replaceState(null, '', url);
      }
      rows.set('from', String(Math.floor(r.from)));
      rows.set('to', String(Math.ceil(r.to)));
      rows.set('max_points', String(Math.max(200, Math.min(4000, Math.round(box.clientWidth || 800)))));
      for (const [a, fmt] of [
        [csv, 'csv'],
        [parquet, 'parquet'],
      ])
        a.href = `/api/rows?${rows}&format=${fmt}`;
      status.className = 'muted';
      status.textContent = 'Loading…';
      const res = await rowsOf(rows);
      if (!res) return;
      if (src === 'logs' && picks.findBus && res.body.length === 0) {
        const next = CHANNELS[CHANNELS.indexOf(picks.chn.value) + 1];
        if (next) {
          picks.chn.value = next;
          return draw(push === undefined ? undefined : false);
        }
        picks.chn.value = 'CAN1';
      }
      picks.findBus = false;
      const noticeText = res.headers.get('x-sigflow-notices');
      notices.replaceChildren(
        ...(noticeText
          ? decodeURIComponent(noticeText)
              .split(' | ')
              .map((n) => h('li', { text: n }))
          : []),
      );
      const col = columnOf(res.body, name);
      const points = res.body.filter((x) => x[col] !== null && x[col] !== undefined);
      shown = { key: seriesKey(rows), max: Number(rows.get('max_points')), points, col };
      show(points, col, r);
      if (col !== name)
        status.textContent += ` ${name} is a signal of several messages: this is ${col} (the others are in the list).`;
    };

    /**
     * The column of the answer to plot: the name asked for, or — a DBC signal of several messages is answered as
     * one column per message (`gnss_status.Satellites`, `dup_msg.Satellites`) — the first of those.
     */
    const columnOf = (body, name) => {
      if (body.length === 0 || name in body[0]) return name;
      const cols = Object.keys(body[0]).filter((k) => k !== 'time' && k !== 'latitude' && k !== 'longitude');
      return cols.find((k) => k.endsWith(`.${name}`)) ?? cols[0] ?? name;
    };

    /** What identifies the plotted series (the rows query without its time range). */
    const seriesKey = (rows) => {
      const k = new URLSearchParams(rows);
      for (const x of ['from', 'to', 'max_points']) k.delete(x);
      return String(k);
    };
    /** The last full draw: its series, point budget and points (the live tail appends to them). */
    let shown = null;

    const show = (points, name, r) => {
      const xs = points.map((x) => x.time / 1000);
      const ys = points.map((x) => x[name]);
      status.textContent = `${points.length} points from ${fmtTime(r.from)} to ${fmtTime(r.to)}${points.length ? `; last ${ys[ys.length - 1]} at ${fmtTimeMs(points[points.length - 1].time)}` : ''}.`;
      box.setAttribute('data-points', String(points.length));
      box.setAttribute('aria-label', `${title.textContent}: ${status.textContent}`);
      drawPlot(xs, ys, name, r);
      renderTable(points, name);
    };

    /**
     * The live tail: only what arrived since the last point is asked for and appended, points older than the
     * window dropped; the window is fetched whole again (downsampled to the plot's width) when the series changed
     * or the appended points grew past 8× the width — so an open page costs the server one small query a second.
     */
    const tail = async () => {
      const r = range();
      const { rows } = state();
      if (!r || !shown || shown.key !== seriesKey(rows) || shown.points.length > 8 * shown.max) return draw();
      const last = shown.points.length ? shown.points[shown.points.length - 1].time : r.from;
      rows.set('from', String(Math.floor(last)));
      rows.set('to', String(Math.ceil(r.to)));
      rows.set('max_points', String(shown.max));
      const res = await rowsOf(rows);
      if (!res || !shown) return;
      const col = shown.col;
      const fresh = res.body.filter((x) => x.time > last && x[col] !== null && x[col] !== undefined);
      const kept = shown.points.filter((x) => x.time >= r.from);
      shown.points = kept.concat(fresh);
      show(shown.points, col, r);
    };

    const drawPlot = (xs, ys, name, r) => {
      const width = Math.max(280, box.clientWidth);
      if (!plot) {
        plot = new uPlot(
          {
            width,
            height: 320,
            scales: { x: { time: true } },
            // the axis in UTC, as every time on these pages
            tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
            series: [{}, { label: name, stroke: '#1d4ed8', width: 1.5, points: { show: xs.length < 300 } }],
            cursor: { drag: { x: true, y: false } },
            hooks: {
              setSelect: [
                (u) => {
                  if (u.select.width < 3) return;
                  const a = u.posToVal(u.select.left, 'x') * 1000;
                  const b = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
                  u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
                  rSel.input.value = 'custom';
                  fromIn.value = iso(a);
                  toIn.value = iso(b);
                  showCustom();
                  setLive(false);
                  void draw(true);
                },
              ],
            },
          },
          [xs, ys],
          box,
        );
        window.__sigflowPlot = plot;
        onResize = () => plot?.setSize({ width: Math.max(280, box.clientWidth), height: 320 });
        window.addEventListener('resize', onResize);
      } else {
        plot.series[1].label = name;
        plot.setData([xs, ys], false);
        plot.setScale('x', { min: r.from / 1000, max: r.to / 1000 });
      }
      if (xs.length) plot.setScale('x', { min: r.from / 1000, max: r.to / 1000 });
    };

    /** The data table: its summary always, its rows only while it is open (a closed table costs nothing live). */
    let tableOf = null;
    const renderTable = (points, name) => {
      tableOf = { points, name };
      const last = points.slice(-1000);
      const summary = h('summary', {
        text: `Data table (${points.length > 1000 ? `last 1,000 of ${fmtNum(points.length)}` : fmtNum(points.length)} points)`,
      });
      if (!data.open) {
        data.replaceChildren(summary);
        return;
      }
      data.replaceChildren(
        summary,
        table(
          'Plotted points',
          [['Time (UTC)'], [name, 'num']],
          last.map((p) =>
            h('tr', {}, h('td', { text: fmtTimeMs(p.time) }), h('td', { class: 'num', text: String(p[name]) })),
          ),
        ),
      );
    };
    data.addEventListener('toggle', () => {
      if (data.open && tableOf && !data.querySelector('table')) renderTable(tableOf.points, tableOf.name);
    });

    const setLive = (on) => {
      liveBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
      clearInterval(timer);
      timer = null;
      if (on) {
        if (rSel.input.value === 'custom' || rSel.input.value === 'all') {
          rSel.input.value = '5m';
          showCustom();
        }
        timer = setInterval(() => void tail(), 1000);
      }
    };
    liveBtn.addEventListener('click', () => {
      setLive(liveBtn.getAttribute('aria-pressed') !== 'true');
      void draw(false);
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void draw(true);
    });
    for (const s of form.querySelectorAll('fieldset select'))
      if (s.name !== 'm' && s.name !== 'db')
        s.addEventListener('change', () => {
          if (s.name === 'device') picks.findBus = true;
          void draw(false);
        });
    if (params.get('live') === '1') setLive(true);
    void draw(false);
  };

  return () => {
    stop = true;
    clearInterval(timer);
    if (onResize) window.removeEventListener('resize', onResize);
    plot?.destroy();
    if (window.__sigflowPlot === plot) window.__sigflowPlot = null;
  };
}

// ── logs ──────────────────────────────────────────────────────────────────────────────────────────────────
function viewLogs(main, params) {
  const device = params.get('device');
  main.append(h('h1', { text: device ? `Logs of ${device}` : 'Logs' }));
  const msg = h('p', { role: 'status', class: 'muted', text: 'Reading the log index…' });
  main.append(msg);
  const q = device ? `?device=${encodeURIComponent(device)}` : '';
  api(`/api/console/logs${q}`).then(
    ({ body }) => {
      msg.textContent = body.index?.at ? `Index listed ${fmtTime(body.index.at)}.` : '';
      if (body.cut) msg.textContent += ' Only the first 5,000 files are shown.';
      if (body.devices.length === 0) {
        msg.textContent =
          'No log files: serve a log tree (sigflow serve LOG/, or server.dashboards.logs in a run config).';
        return;
      }
      if (!device) main.append(deviceTable(body.devices));
      else for (const d of body.devices) main.append(...fileTables(d));
    },
    (e) => {
      msg.textContent = e.message;
      msg.className = 'error';
    },
  );

  function deviceTable(devices) {
    return table(
      'Devices',
      [['Device'], ['Files', 'num'], ['From'], ['To'], ['Size', 'num'], ['Damaged', 'num'], ['Unreadable', 'num']],
      devices.map((d) => {
        const first = Math.min(...d.files.map((f) => f.firstMs ?? f.startMs ?? Infinity));
        const last = Math.max(...d.files.map((f) => f.lastMs ?? f.startMs ?? -Infinity));
        const damaged = d.files.filter((f) => f.damage).length;
        return h(
          'tr',
          {},
          h(
            'th',
            { scope: 'row' },
            h('a', { href: `/console/logs?device=${encodeURIComponent(d.device)}`, 'data-nav': true, text: d.label }),
          ),
          h('td', { class: 'num', text: fmtNum(d.files.length) }),
          h('td', { text: Number.isFinite(first) ? fmtTime(first) : '–' }),
          h('td', { text: Number.isFinite(last) ? fmtTime(last) : '–' }),
          h('td', { class: 'num', text: fmtBytes(d.files.reduce((n, f) => n + f.size, 0)) }),
          h('td', { class: 'num' }, damaged ? badge('warn', String(damaged)) : '0'),
          h('td', { class: 'num' }, d.unreadable.length ? badge('bad', String(d.unreadable.length)) : '0'),
        );
      }),
    );
  }

  function fileTables(d) {
    const plotLink = (f) => {
      const from = f.firstMs ?? f.startMs;
      const to = f.lastMs ?? from;
      if (from === null || from === undefined) return '–';
      const q = new URLSearchParams({
        src: 'logs',
        device: d.device,
        range: 'custom',
        from: new Date(from).toISOString(),
        to: new Date(Math.max(to, from + 1000)).toISOString(),
      });
      return h('a', {
        href: `/console/signals?${q}`,
        'data-nav': true,
        'aria-label': `Plot session ${f.session} split ${f.split}`,
        text: 'Plot',
      });
    };
    const out = [
      h('p', {}, h('a', { href: '/console/logs', 'data-nav': true, text: '← all devices' })),
      h('h2', { text: `${d.label}: ${d.files.length} files` }),
      table(
        `Files of ${d.device}`,
        [['Session', 'num'], ['Split', 'num'], ['From'], ['To'], ['Size', 'num'], ['Damage'], ['File'], ['']],
        d.files.map((f) =>
          h(
            'tr',
            {},
            h('td', { class: 'num', text: String(f.session) }),
            h('td', { class: 'num', text: String(f.split) }),
            h('td', { text: fmtTime(f.firstMs ?? f.startMs) }),
            h('td', { text: fmtTime(f.lastMs) }),
            h('td', { class: 'num', text: fmtBytes(f.size) }),
            h(
              'td',
              {},
              f.damage
                ? h('span', {
                    class: 'badge warn',
                    title: f.damage.messages.join('\n'),
                    text: `${f.damage.count} damaged`,
                  })
                : f.mismatches.length
                  ? h('span', { class: 'muted', text: f.mismatches.join('; ') })
                  : '–',
            ),
            h('td', { text: f.path }),
            h('td', {}, plotLink(f)),
          ),
        ),
      ),
    ];
    const damaged = d.files.filter((f) => f.damage);
    if (damaged.length)
      out.push(
        h('h2', { text: 'Damage found' }),
        h(
          'ul',
          {},
          damaged.map((f) => h('li', {}, h('strong', { text: f.path }), `: ${f.damage.messages.join('; ')}`)),
        ),
      );
    if (d.unreadable.length)
      out.push(
        h('h2', { text: 'Unreadable files' }),
        h(
          'ul',
          {},
          d.unreadable.map((u) => h('li', {}, h('strong', { text: u.path }), ` (${u.code ?? 'error'}): ${u.error}`)),
        ),
      );
    return out;
  }
}

// ── IoF ───────────────────────────────────────────────────────────────────────────────────────────────────
function viewIof(main) {
  main.append(h('h1', { text: 'Internet of Fish' }));
  const msg = h('p', { role: 'status', class: 'muted', text: 'Reading the IoF tables…' });
  const body = h('div');
  main.append(msg, body);
  let stop = false;
  const load = () =>
    api('/api/console/iof').then(
      ({ body: d }) => {
        if (stop) return;
        msg.textContent = `${fmtNum(d.messages)} messages (${fmtNum(d.messagesWithErrors)} with errors) · refreshed ${fmtTime(Date.now())}`;
        body.replaceChildren(...iofParts(d));
      },
      (e) => {
        msg.textContent = e.message;
        msg.className = 'error';
      },
    );
  void load();
  const timer = setInterval(load, 5000);
  return () => {
    stop = true;
    clearInterval(timer);
  };
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/**
 * A cage in its local frame (metres; A at the origin, B on the x axis): the circle through its three receivers,
 * the receivers, and the latest position of each tag. SVG's y grows downwards: y is drawn negated.
 */
function cageSvg(c) {
  const cx = c.circle ? c.circle.x : 0;
  const cy = c.circle ? c.circle.y : 0;
  const r = c.circle ? c.circle.r : c.radius;
  const pts = [...c.tbrs.map((t) => [t.x, t.y]), ...c.positions.map((p) => [p.x, p.y])];
  const reach = Math.max(r, ...pts.map(([x, y]) => Math.hypot(x - cx, y - cy))) * 1.2 || 1;
  const svg = s('svg', {
    viewBox: `${cx - reach} ${-cy - reach} ${2 * reach} ${2 * reach}`,
    class: 'cage',
    role: 'img',
    'aria-label': `Cage ${c.name}: ${c.positions.length} latest tag positions and ${c.tbrs.length} receivers`,
  });
  const k = reach / 100;
  svg.append(s('circle', { cx, cy: -cy, r, fill: '#e0f2fe', stroke: '#0369a1', 'stroke-width': k * 0.8 }));
  for (const t of c.tbrs) {
    const g = s(
      'g',
      { 'data-tbr': t.serial },
      s('title', {}, `TBR ${t.serial}: x ${t.x.toFixed(1)} m, y ${t.y.toFixed(1)} m`),
    );
    g.append(s('rect', { x: t.x - 3 * k, y: -t.y - 3 * k, width: 6 * k, height: 6 * k, fill: '#111827' }));
    const label = s('text', { x: t.x + 4 * k, y: -t.y - 4 * k, 'font-size': 7 * k, fill: '#111827' });
    label.textContent = String(t.serial);
    g.append(label);
    svg.append(g);
  }
  for (const p of c.positions) {
    const depth = p.depth === null ? '' : `, ${p.depth.toFixed(1)} m deep`;
    const g = s(
      'g',
      { 'data-tag': p.tag_id },
      s(
        'title',
        {},
        `Tag ${p.tag_id}: x ${p.x.toFixed(1)} m, y ${p.y.toFixed(1)} m${depth}, ${fmtTime(p.timestamp * 1000)}`,
      ),
    );
    g.append(s('circle', { cx: p.x, cy: -p.y, r: 2.5 * k, fill: '#b91c1c' }));
    svg.append(g);
  }
  return svg;
}

function iofParts(d) {
  const out = [h('h2', { text: 'Latest positions per cage' })];
  if (d.cages.length === 0) out.push(h('p', { class: 'muted', text: 'No cages in the project.' }));
  out.push(
    h(
      'div',
      { class: 'cages' },
      d.cages.map((c) =>
        h(
          'figure',
          {},
          h('figcaption', {
            text: `${c.name}: ${c.positions.length} tags positioned (circle through the receivers, radius ${(c.circle?.r ?? c.radius).toFixed(1)} m)`,
          }),
          cageSvg(c),
        ),
      ),
    ),
  );
  out.push(
    h('h2', { text: 'Receivers (TBR)' }),
    table(
      'Receivers',
      [
        ['TBR'],
        ['Detections', 'num'],
        ['Last detection'],
        ['Temperature °C', 'num'],
        ['Noise avg', 'num'],
        ['Noise peak', 'num'],
        ['Last report'],
        ['Last message'],
      ],
      d.tbrs.map((t) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row', text: String(t.tbr_serial_id) }),
          h('td', { class: 'num', text: fmtNum(t.detections) }),
          h('td', { text: t.last_detection === null ? '–' : fmtTime(t.last_detection * 1000) }),
          h('td', { class: 'num', text: t.temperature ?? '–' }),
          h('td', { class: 'num', text: t.noise_avg ?? '–' }),
          h('td', { class: 'num', text: t.noise_peak ?? '–' }),
          h('td', { text: t.last_report === null ? '–' : fmtTime(t.last_report * 1000) }),
          h('td', { text: t.last_received ?? '–' }),
        ),
      ),
    ),
  );
  return out;
}

connect();
route(false);
