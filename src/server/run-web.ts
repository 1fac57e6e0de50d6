/**
 * The web routes of `sigflow run`'s HTTP endpoint, from its config's `server` section: the Grafana routes of
 * `server.dashboards` and the console (`server.console`, on by default) over the first store sink's file — one
 * fastify app handed to the endpoint (src/supervisor/http.ts) as its fallback. With dashboards the app is built at
 * start (a wrong log folder stops the start); the console alone is built by its first request, so an agent whose
 * console nobody opens never loads fastify and the query engine.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { httpAuthOf, type SigflowConfig } from '../config/index.js';
import type { ConsoleOptions } from './console/api.js';
import { startDashboards } from './service.js';

export interface RunWeb {
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  close(): Promise<void>;
}

export async function startRunWeb(
  config: SigflowConfig,
  o: { logger: FastifyBaseLogger; console: ConsoleOptions },
): Promise<RunWeb | null> {
  if (config.server === false) return null;
  const d = config.server.dashboards;
  const withConsole = config.server.console;
  if (!d && !withConsole) return null;
  const storeSink = config.sinks.find((s) => s.type === 'store') as { path?: string } | undefined;
  const start = () =>
    startDashboards({
      data: d?.logs,
      storePath: !d || d.store ? storeSink?.path : undefined,
      dbc: d?.dbc ?? [],
      limitBytes: d?.limit,
      onLimit: d?.on_limit,
      cacheBytes: d?.cache,
      auth: httpAuthOf(d),
      logger: o.logger,
      console: withConsole ? o.console : undefined,
      grafana: d !== undefined,
      requestLog: false,
    });
  if (d) {
    const web = await start();
    return { handler: web.handler, close: () => web.close() };
  }
  let web: ReturnType<typeof start> | null = null;
  return {
    handler(req, res) {
      web ??= start();
      web.then(
        (w) => w.handler(req, res),
        (e: Error) => {
          o.logger.error(`the console cannot start: ${e.message}`);
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(`${JSON.stringify({ code: 'SF_ERR_SERVE_CONFIG', message: e.message })}\n`);
        },
      );
    },
    async close() {
      if (web) await (await web.catch(() => null))?.close();
    },
  };
}
