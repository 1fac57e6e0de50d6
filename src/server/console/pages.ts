/**
 * The console's pages: `/console/` and its views (`/console/status`, `/console/signals`, `/console/logs`,
 * `/console/iof`) all answer the one HTML page, whose script draws the view its URL names (so every view can be
 * bookmarked and shared); `/console/assets/<file>` the script, the style sheet and uPlot (from the npm package,
 * bundled with sigflow: nothing is fetched from a CDN). Files are read once, sent with an ETag, and under a
 * Content-Security-Policy that allows this server's own scripts, styles and connections only.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SigflowError } from '../../errors/index.js';
import { runningPackageDir } from '../../update/index.js';

const require = createRequire(import.meta.url);

export const CONSOLE_VIEWS = ['status', 'signals', 'logs', 'iof'] as const;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function asset(path: string, type: string): Asset {
  const body = readFileSync(path);
  return { body, type, etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 20)}"` };
}

/** The console's files: from the package (src/server/console/assets) and the uplot package. */
function loadAssets(): Map<string, Asset> {
  const dir = join(runningPackageDir(), 'src', 'server', 'console', 'assets');
  const uplot = require.resolve('uplot/dist/uPlot.iife.min.js');
  try {
    return new Map([
      ['index.html', asset(join(dir, 'index.html'), 'text/html; charset=utf-8')],
      ['console.js', asset(join(dir, 'console.js'), 'text/javascript; charset=utf-8')],
      ['console.css', asset(join(dir, 'console.css'), 'text/css; charset=utf-8')],
      ['uPlot.iife.min.js', asset(uplot, 'text/javascript; charset=utf-8')],
      ['uPlot.min.css', asset(join(uplot, '..', 'uPlot.min.css'), 'text/css; charset=utf-8')],
    ]);
  } catch (e) {
    throw new SigflowError('SF_ERR_SERVE_CONFIG', `the console's files are missing: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset): FastifyReply {
  reply.headers(SECURITY_HEADERS).header('etag', a.etag).header('cache-control', 'no-cache');
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
  return reply.type(a.type).send(a.body);
}

export function registerConsolePages(app: FastifyInstance): void {
  const assets = loadAssets();
  const page = assets.get('index.html') as Asset;
  app.get('/console', async (_req, reply) => reply.redirect('/console/'));
  app.get('/console/', async (req, reply) => send(req, reply, page));
  for (const view of CONSOLE_VIEWS) app.get(`/console/${view}`, async (req, reply) => send(req, reply, page));
  app.get('/console/assets/:file', async (req, reply) => {
    const a = assets.get((req.params as { file: string }).file);
    if (!a)
      throw new SigflowError('SF_ERR_SERVE_NOT_FOUND', `no console asset ${(req.params as { file: string }).file}`);
    return send(req, reply, a);
  });
}
