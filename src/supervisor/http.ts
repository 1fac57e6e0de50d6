/**
 * The HTTP endpoint of `sigflow run` (127.0.0.1 unless told otherwise): Prometheus `/metrics` (prom-client, read
 * from the supervisor at each scrape), `/healthz` (200 unless a unit is marked failed) and `/readyz` (200 when every
 * unit runs with its source connected and no sink is alarmed; 503 with the reasons otherwise) and `/status` (the
 * units and the outbox as JSON: what `sigflow outbox status` and the console show). Anything else: 404.
 * `server.auth` guards every route but /healthz and /readyz (bearer tokens, basic auth: src/io/http-auth.ts).
 * With a fallback (the `server.dashboards` section, wired by the CLI) every other path goes to the Grafana routes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ERRORS, SigflowError } from '../errors/index.js';
import { authChallenge, credentialCheck, type HttpAuth, localHostGuard } from '../io/index.js';
import { parseListen } from './listen.js';
import type { RunStatus } from './supervisor.js';

export interface MetricsSource {
  status(): RunStatus;
  readiness(): string[];
  health(): string[];
  /** The running version (said by /healthz, which the update guard asks without credentials). */
  readonly version: string;
}

export interface MetricsServer {
  address: string;
  close(): Promise<void>;
}

/** Unit counters with a metric of their own; the others are `sigflow_unit_events_total{event=…}`. */
const NAMED: Record<string, string> = {
  frames_seen: 'Frames read by the unit’s source',
  decoded: 'Frames decoded by the unit’s DBC',
  unknown_ids: 'Frames whose id is in no message of the DBC',
  decode_errors: 'Frames of a known id that did not decode (too short, no multiplexer branch)',
  records: 'Records handed to the outbox',
};

/** The registry of `/metrics`; prom-client is loaded by the first scrape (an agent nobody scrapes never pays for it). */
export async function metricsRegistry(src: MetricsSource): Promise<Registry> {
  const { Counter, Gauge, Registry } = await import('prom-client');
  const reg = new Registry();
  // one status per scrape (it reads the outbox's counters), not one per metric family
  let cached: { at: number; status: RunStatus } | null = null;
  const status = () => {
    const now = Date.now();
    if (!cached || now - cached.at > 100) cached = { at: now, status: src.status() };
    return cached.status;
  };
  const units = () => status().units;
  type Setter = { set(labels: Record<string, string>, v: number): void };
  /** A family read from the supervisor at each scrape: a counter when its name ends in _total, else a gauge. */
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Setter) => void) => {
    if (name.endsWith('_total'))
      return new Counter({
        name,
        help,
        labelNames,
        registers: [reg],
        collect() {
          this.reset();
          collect({ set: (labels, v) => this.inc(labels, v) });
        },
      });
    return new Gauge({
      name,
      help,
      labelNames,
      registers: [reg],
      collect() {
        this.reset();
        collect({ set: (labels, v) => this.set(labels, v) });
      },
    });
  };
  gauge('sigflow_unit_up', 'The unit runs (1) or not (0)', ['unit', 'state'], (g) => {
    for (const u of units()) g.set({ unit: u.name, state: u.state }, u.state === 'running' ? 1 : 0);
  });
  gauge('sigflow_unit_restarts_total', 'Restarts after a crash', ['unit'], (g) => {
    for (const u of units()) g.set({ unit: u.name }, u.restarts);
  });
  gauge('sigflow_source_connected', 'The unit’s source is connected (1) or not (0)', ['unit', 'source'], (g) => {
    for (const u of units()) g.set({ unit: u.name, source: u.source }, u.connected ? 1 : 0);
  });
  for (const [key, help] of Object.entries(NAMED))
    gauge(`sigflow_${key}_total`, help, ['unit'], (g) => {
      for (const u of units()) g.set({ unit: u.name }, u.counters[key] ?? 0);
    });
  gauge(
    'sigflow_unit_events_total',
    'Other counters of the unit (reconnects, framer resyncs …)',
    ['unit', 'event'],
    (g) => {
      for (const u of units())
        for (const [k, v] of Object.entries(u.counters)) if (!(k in NAMED)) g.set({ unit: u.name, event: k }, v);
    },
  );
  const sinks = () => status().outbox.sinks.filter((s) => s.active);
  const sinkGauge = (name: string, help: string, pick: (s: ReturnType<typeof sinks>[number]) => number) =>
    gauge(name, help, ['sink'], (g) => {
      for (const s of sinks()) g.set({ sink: s.name }, pick(s));
    });
  sinkGauge('sigflow_outbox_pending_records', 'Records waiting for the sink', (s) => s.pendingRecords);
  sinkGauge('sigflow_outbox_pending_bytes', 'Encoded bytes waiting for the sink', (s) => s.pendingBytes);
  sinkGauge('sigflow_outbox_oldest_pending_seconds', 'Age of the oldest pending batch', (s) =>
    s.oldestPendingAgeMs === null ? 0 : s.oldestPendingAgeMs / 1000,
  );
  sinkGauge('sigflow_sink_delivered_records_total', 'Records the sink took', (s) => s.deliveredRecords);
  sinkGauge(
    'sigflow_sink_dead_lettered_records_total',
    'Records dead-lettered for the sink',
    (s) => s.deadLetteredRecords,
  );
  sinkGauge(
    'sigflow_sink_dropped_records_total',
    'Records dropped by a policy',
    (s) => s.droppedRecords + s.expiredRecords,
  );
  sinkGauge('sigflow_sink_retries_total', 'Failed writes retried', (s) => s.retries);
  sinkGauge('sigflow_sink_alarm', 'The sink is alarmed (1): auth refused, misconfigured server…', (s) =>
    s.alarm ? 1 : 0,
  );
  gauge('sigflow_uptime_seconds', 'Seconds since sigflow run started', [], (g) => g.set({}, status().uptimeMs / 1000));
  return reg;
}

/** Handles the requests the endpoint's own routes do not (the Grafana routes of src/server, wired by the CLI). */
export type HttpFallback = (req: IncomingMessage, res: ServerResponse) => void;

const OWN = new Set(['/metrics', '/healthz', '/readyz', '/status']);

/** Routes anyone may ask (service managers, load balancers, the update guard): no credentials. */
const OPEN = new Set(['/healthz', '/readyz']);

/**
 * Listens on `listen` (host:port); SF_ERR_RUN_LISTEN when it cannot. With `auth`, every route but /healthz and
 * /readyz answers 401 without the credentials.
 */
export async function startMetricsServer(
  listen: string,
  src: MetricsSource,
  fallback?: HttpFallback,
  auth?: HttpAuth,
): Promise<MetricsServer> {
  const { host, port } = parseListen(listen);
  let reg: Promise<Registry> | null = null;
  const check = credentialCheck(auth);
  const localOnly = localHostGuard(host, auth);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const foreign = localOnly?.(req.headers.host);
    if (foreign) {
      res.writeHead(ERRORS.SF_ERR_SERVE_FOREIGN_HOST.http, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ code: 'SF_ERR_SERVE_FOREIGN_HOST', message: foreign })}\n`);
      return;
    }
    if (check && !OPEN.has(path) && !check(req.headers.authorization)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': authChallenge(auth) });
      res.end(`${JSON.stringify({ code: 'SF_ERR_SERVE_UNAUTHORIZED', message: 'missing or wrong credentials' })}\n`);
      return;
    }
    // the endpoint's own routes are GET/HEAD; another method on them is the fallback's (simPod's POST /metrics)
    if (fallback && (!OWN.has(path) || (req.method !== 'GET' && req.method !== 'HEAD'))) {
      fallback(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    };
    if (path === '/metrics') {
      reg ??= metricsRegistry(src);
      reg
        .then(async (r) => ({ text: await r.metrics(), type: r.contentType }))
        .then(
          ({ text, type }) => res.writeHead(200, { 'content-type': type }).end(text),
          (e: Error) => json(500, { error: e.message }),
        );
    } else if (path === '/healthz') {
      const why = src.health();
      json(why.length ? 503 : 200, { status: why.length ? 'failing' : 'ok', reasons: why, version: src.version });
    } else if (path === '/readyz') {
      const why = src.readiness();
      json(why.length ? 503 : 200, { status: why.length ? 'not ready' : 'ready', reasons: why });
    } else if (path === '/status') {
      json(200, src.status());
    } else json(404, { error: 'not found', routes: ['/metrics', '/healthz', '/readyz', '/status'] });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new SigflowError('SF_ERR_RUN_LISTEN', `cannot listen on ${listen}: ${e.code ?? e.message}`, {
          where: 'server.listen',
          cause: e,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
