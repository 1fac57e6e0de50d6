/**
 * A small HTTP/1.1 POST client on node:http(s) with keep-alive, a per-request timeout, an abort signal and a cap on
 * the response body kept (servers' error bodies are short; a huge one must not grow memory). Never throws for
 * network trouble: it resolves with `{ status: 0, error }` instead, so the sink can classify it.
 */
import http from 'node:http';
import https from 'node:https';
import { formatDuration } from '../../units/index.js';

export interface HttpResponse {
  /** 0 when no HTTP response arrived (network error, timeout, abort). */
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  error?: string;
}

const MAX_BODY = 256 * 1024;

export class HttpClient {
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;

  constructor(
    readonly base: URL,
    readonly timeoutMs: number,
  ) {
    const secure = base.protocol === 'https:';
    this.mod = secure ? https : http;
    this.agent = new (secure ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: 8 });
  }

  request(
    method: 'GET' | 'POST',
    url: URL,
    body: Buffer | string | null,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: HttpResponse) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(r);
      };
      // resolve directly: finish() would touch `timer` and `onAbort` before they exist
      if (signal?.aborted) return resolve({ status: 0, headers: {}, body: '', error: 'aborted' });
      // insecureHTTPParser: InfluxDB copies the rejected line into an X-Influxdb-Error header; control characters
      // there must not turn a clear 400 into an endless "Parse Error" retry.
      const req = this.mod.request(url, { method, agent: this.agent, headers, insecureHTTPParser: true });
      // A timeout or an abort answers at once with its reason, then tears the request down (the 'error' events
      // that follow find the promise settled).
      const giveUp = (why: string) => {
        finish({ status: 0, headers: {}, body: '', error: `${url.host}: ${why}` });
        req.destroy();
      };
      const timer = setTimeout(
        () => giveUp(`no answer within ${formatDuration(BigInt(this.timeoutMs) * 1_000_000n)}`),
        this.timeoutMs,
      );
      const onAbort = () => giveUp('aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (e) => finish({ status: 0, headers: {}, body: '', error: `${url.host}: ${e.message}` }));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_BODY) chunks.push(c);
          size += c.length;
        });
        res.on('error', (e) => finish({ status: 0, headers: {}, body: '', error: `${url.host}: ${e.message}` }));
        res.on('end', () => {
          let text = Buffer.concat(chunks).toString('utf8');
          if (size > MAX_BODY) text = `${text.slice(0, MAX_BODY)}… (${size} bytes)`;
          finish({ status: res.statusCode ?? 0, headers: res.headers, body: text });
        });
      });
      req.end(body ?? undefined);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Retry-After: delta-seconds or an HTTP date → ms from now (≥ 0), or undefined. */
export function parseRetryAfter(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const d = Date.parse(t);
  if (Number.isNaN(d)) return undefined;
  return Math.max(0, d - now);
}
