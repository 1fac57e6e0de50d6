/**
 * `sigflow status`: what a running `sigflow run` is doing — its version, units (state, restarts, connected),
 * the outbox's depth per sink (pending, oldest, dead letters, alarm), the last remote config revision — read from
 * its HTTP endpoint's /status (the address from the config file, or --url).
 */
import type { Command } from 'commander';
import { httpAuthOf } from '../config/index.js';
import { SigflowError } from '../errors/index.js';
import { authorizationFor } from '../io/index.js';
import type { RunStatus } from '../supervisor/index.js';
import { checkConfigFile, parseListen } from '../supervisor/index.js';

/** Where to ask, and the Authorization header the config's server.auth calls for (null: none). */
function endpoint(opts: { config?: string; url?: string }): { base: string; authorization: string | null } {
  const authorization = process.env.SIGFLOW_STATUS_AUTH ?? null;
  if (opts.url) return { base: opts.url.replace(/\/+$/, ''), authorization };
  if (!opts.config)
    throw new SigflowError('SF_ERR_USAGE', 'give -c <config file> (its server.listen) or --url http://host:port');
  const server = checkConfigFile(opts.config).config.server;
  if (server === false)
    throw new SigflowError('SF_ERR_USAGE', `${opts.config}: server: false — sigflow run has no HTTP endpoint to ask`);
  const { host, port } = parseListen(server.listen);
  if (port === 0)
    throw new SigflowError(
      'SF_ERR_USAGE',
      `${opts.config}: server.listen ${server.listen} is a port chosen at start: give --url with the address sigflow run logged at start ("metrics and health on http://…")`,
    );
  // a wildcard listen address is asked on loopback
  const h =
    host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return {
    base: `http://${h}:${port}`,
    authorization: authorization ?? authorizationFor(httpAuthOf(server.auth)),
  };
}

/** 3723456 ms → 1h2m3s (whole seconds; below a second: ms). */
function ms(n: number | null): string {
  if (n === null) return '-';
  if (n < 1000) return `${Math.round(n)}ms`;
  let s = Math.round(n / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  if (s || parts.length === 0) parts.push(`${s}s`);
  return parts.join('');
}

export function registerStatusCommands(program: Command): void {
  program
    .command('status')
    .description(
      'what a running sigflow run is doing: version, units and restarts, outbox depth per sink, config revision',
    )
    .option('-c, --config <file>', 'the configuration sigflow run was started with (its server.listen is asked)')
    .option('--url <url>', 'the HTTP endpoint instead, e.g. http://127.0.0.1:9464')
    .option('--json', 'print the /status JSON as it is')
    .addHelpText(
      'after',
      `
Exit status 0 when sigflow answered; 1 when it did not (not running, another address); 2 for bad arguments or
refused credentials (with -c, the config's server.auth is sent; with --url, $SIGFLOW_STATUS_AUTH as the
Authorization header, e.g. "Bearer s3cret").

Examples:
  sigflow status -c /etc/sigflow/agent.yaml
  sigflow status --url http://127.0.0.1:9464 --json`,
    )
    .action(async (opts: { config?: string; url?: string; json?: boolean }) => {
      const { base, authorization } = endpoint(opts);
      const url = `${base}/status`;
      const noAnswer = (why: string) =>
        new SigflowError('SF_ERR_RUN_STATUS', `${url}: no answer (${why}) — is sigflow run running there?`);
      let r: Response;
      let s: RunStatus;
      try {
        r = await fetch(url, {
          signal: AbortSignal.timeout(5000),
          headers: authorization ? { authorization } : {},
        });
        s = (await r.json()) as RunStatus;
      } catch (e) {
        throw noAnswer((e as Error).message);
      }
      if (r.status === 401)
        throw new SigflowError(
          'SF_ERR_SERVE_UNAUTHORIZED',
          `${url}: credentials refused (server.auth of the config given with -c, or $SIGFLOW_STATUS_AUTH as an Authorization header value)`,
        );
      if (!r.ok) throw noAnswer(`HTTP ${r.status}`);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        return;
      }
      const lines = [
        `sigflow ${s.version}, up ${ms(s.uptimeMs)}${s.remoteConfig ? `, config revision ${s.remoteConfig.revision < 0 ? 'none pushed yet' : s.remoteConfig.revision}` : ''}`,
        'units:',
        ...s.units.map(
          (u) =>
            `  ${u.name.padEnd(16)} ${u.source.padEnd(14)} ${(u.isolation ?? 'process').padEnd(7)} ${u.state.padEnd(9)} ${u.connected ? 'connected' : 'not connected'}, ${u.restarts} restart(s)${u.lastError ? `; last error: ${u.lastError}` : ''}`,
        ),
        `outbox: ${s.outbox.pendingRecords} records pending, ${s.outbox.deadLetters.records} dead-lettered`,
        ...s.outbox.sinks
          .filter((k) => k.active)
          .map(
            (k) =>
              `  ${k.name.padEnd(16)} pending ${k.pendingRecords} (oldest ${ms(k.oldestPendingAgeMs)}), dead letters ${k.deadLettersStored.records}${k.consecutiveFailures ? `, ${k.consecutiveFailures} failures in a row` : ''}${k.alarm ? `; ALARM: ${k.alarmReason ?? 'see the log'}` : ''}`,
          ),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
