/**
 * The HTTP server of `sigflow serve` (fastify): the Grafana protocols (SimpleJson, simPod JSON, Infinity rows)
 * over one query engine, plus `/healthz`, `/api/stats` and the web console (console/). Security: 127.0.0.1 unless told otherwise (the CLI),
 * bearer-token and/or basic auth on every route but `/healthz`, TLS from a certificate and key, CORS off unless
 * origins are listed, JSON bodies only and at most `bodyLimit` bytes (nested at most 64 deep, sent within 30 s),
 * every body validated (requests.ts).
 * Errors answer `{code, message}` with the catalogue's HTTP status (400 bad request, 401, 404 unknown DBC, 413
 * over the limit); Grafana shows the message. Credentials are compared in constant time and never logged (the
 * request log has method, URL, status and time only).
 */
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { ERRORS, errorCode, SigflowError } from '../errors/index.js';
import { authChallenge, credentialCheck, type HttpAuth, localHostGuard } from '../io/index.js';
import type { QueryEngine } from '../query/index.js';
import { type ConsoleOptions, registerConsoleApi } from './console/api.js';
import { registerConsolePages } from './console/pages.js';
import { registerInfinity } from './infinity.js';
import { badRequest, MAX_BODY_DEPTH, nestedDeeperThan } from './requests.js';
import { registerSimpleJson } from './simplejson.js';
import { registerSimpod } from './simpod.js';

/** Bearer tokens and/or basic auth (src/io/http-auth.ts). */
export type AuthOptions = HttpAuth;

export interface ServerOptions {
  auth?: AuthOptions;
  /** PEM certificate and key: HTTPS instead of HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Origins allowed to call from a browser (CORS); none by default. `*` allows any. */
  corsOrigins?: string[];
  /** Largest request body (default 1 MiB). */
  bodyLimit?: number;
  logger?: FastifyBaseLogger;
  /** The web console (/console/ and /api/console/), off when absent. */
  console?: ConsoleOptions;
  /** The Grafana routes (default true; off: the console alone, e.g. `sigflow run` without server.dashboards). */
  grafana?: boolean;
  /** A log line per request (default true; off inside `sigflow run`, where an open console asks every second). */
  requestLog?: boolean;
  /** How long a client has to send a request's body (default 30 s; then 408 and the connection closed). */
  bodyTimeoutMs?: number;
  /**
   * The address the server listens on: a loopback one without credentials answers only the Host names of this
   * machine (localHostGuard: DNS rebinding). Absent: no such guard (`sigflow run`'s endpoint guards its own).
   */
  bindHost?: string;
}

/** How long a client has to send a request's body (default). */
const REQUEST_BODY_MS = 30_000;

/** The body deadline of each request being received (cleared once the body is in). */
const bodyTimers = new WeakMap<IncomingMessage, NodeJS.Timeout>();

export async function buildServer(engine: QueryEngine, opts: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.logger,
    // (through a LogController: the top-level option is deprecated, and printed a warning at every start)
    logController: new LogController({ disableRequestLogging: opts.requestLog === false }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
    // requests arriving while the server closes get 503, not a reset
    return503OnClosing: true,
    // headers and a body sent at once: 30 s (the body's own deadline is the hook below)
    requestTimeout: REQUEST_BODY_MS,
  }) as unknown as FastifyInstance;

  const bodyMs = opts.bodyTimeoutMs ?? REQUEST_BODY_MS;
  // A client has bodyMs to send its body: one trickling a byte every few seconds kept its connection and
  // its buffers for ever (Node's requestTimeout did not end it). Validation starts once the body is in.
  app.addHook('onRequest', (req, reply, done) => {
    if (req.method === 'POST' || req.method === 'PUT') {
      const timer = setTimeout(() => {
        if (reply.sent || reply.raw.headersSent) return;
        req.log.warn('the request body did not arrive in time');
        reply.raw.writeHead(408, { 'content-type': 'application/json', connection: 'close' });
        reply.raw.end(
          `${JSON.stringify({ code: 'SF_ERR_SERVE_BAD_REQUEST', message: `the request body did not arrive within ${bodyMs / 1000} s` })}\n`,
        );
        req.raw.socket?.destroy();
      }, bodyMs);
      timer.unref();
      bodyTimers.set(req.raw, timer);
      req.raw.once('close', () => clearTimeout(timer));
    }
    done();
  });

  // JSON only: a text/plain body is refused (415) rather than read as a string
  app.removeContentTypeParser('text/plain');
  const check = credentialCheck(opts.auth);
  const localOnly = opts.bindHost === undefined ? null : localHostGuard(opts.bindHost, opts.auth);
  const origins = new Set(opts.corsOrigins ?? []);
  app.addHook('onRequest', async (req, reply) => {
    const foreign = localOnly?.(req.headers.host);
    if (foreign) throw new SigflowError('SF_ERR_SERVE_FOREIGN_HOST', foreign);
    const origin = req.headers.origin;
    if (origin && (origins.has('*') || origins.has(origin))) {
      reply.header('access-control-allow-origin', origins.has('*') ? '*' : origin);
      reply.header('vary', 'Origin');
      if (req.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET, POST, OPTIONS');
        reply.header('access-control-allow-headers', 'authorization, content-type');
        reply.header('access-control-max-age', '600');
        return reply.code(204).send();
      }
    }
    if (check && req.url !== '/healthz' && !check(req.headers.authorization)) {
      reply.header('www-authenticate', authChallenge(opts.auth));
      throw new SigflowError('SF_ERR_SERVE_UNAUTHORIZED', 'missing or wrong credentials');
    }
  });

  app.addHook('preValidation', async (req) => {
    clearTimeout(bodyTimers.get(req.raw));
    if (req.body !== null && typeof req.body === 'object' && nestedDeeperThan(req.body, MAX_BODY_DEPTH))
      throw badRequest(`the body nests deeper than ${MAX_BODY_DEPTH} levels`);
  });

  app.setErrorHandler((err, req, reply) => {
    const e = err as Error & { statusCode?: number; code?: string };
    if (reply.raw.destroyed) return; // the client went away: nothing to answer
    if (e instanceof SigflowError) {
      if (e.code === 'SF_ERR_INTERNAL') req.log.error({ err: e }, 'request failed');
      return reply.code(ERRORS[e.code].http).send({ code: e.code, message: e.message });
    }
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      // fastify's own refusals: body not JSON, too large, wrong media type
      return reply.code(e.statusCode).send({ code: 'SF_ERR_SERVE_BAD_REQUEST', message: e.message });
    }
    req.log.error({ err: e }, 'request failed');
    const code = errorCode(e);
    return reply.code(ERRORS[code].http).send({ code, message: e.message });
  });

  app.get('/healthz', async () => ({ ok: true }));
  // the connection test of the SimpleJson and simPod plugins; a browser is taken to the console
  app.get('/', async (req, reply) =>
    opts.console && (req.headers.accept ?? '').includes('text/html') ? reply.redirect('/console/') : 'OK',
  );
  app.get('/api/stats', async () => {
    const m = process.memoryUsage();
    const mb = (n: number) => +(n / 1048576).toFixed(1);
    return {
      engine: engine.stats(),
      index: engine.catalog.lastRefresh,
      memory_mb: {
        rss: mb(m.rss),
        heap_used: mb(m.heapUsed),
        external: mb(m.external),
        array_buffers: mb(m.arrayBuffers),
      },
    };
  });
  if (opts.grafana !== false) {
    registerSimpleJson(app, engine);
    registerSimpod(app, engine);
  }
  // the rows route also feeds the console's plots and downloads
  registerInfinity(app, engine);
  if (opts.console) {
    registerConsolePages(app);
    registerConsoleApi(app, engine, opts.console);
  }
  return app;
}
