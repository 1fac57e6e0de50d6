/**
 * `sigflow run` and `sigflow check` as library calls: read and validate a config file (with its .env files),
 * check what the units will need before starting any (DBC files load, sinks can be built), run the supervisor
 * until SIGINT/SIGTERM, re-read the file on SIGHUP (a valid config is applied to the units it changes, an invalid
 * one is reported and the running config kept).
 */
import type { Logger } from 'pino';
import { Database } from '../codecs/dbc/index.js';
import { type LoadedConfig, loadAndValidateConfig, redactSecrets, type SigflowConfig } from '../config/index.js';
import { SigflowError } from '../errors/index.js';
import type { HttpFallback } from './http.js';
import { Supervisor } from './supervisor.js';

export interface CheckedConfig {
  config: SigflowConfig;
  loaded: LoadedConfig;
  /** The validated config (every default filled in; durations in ms, sizes in bytes), secrets `<redacted>`. */
  redacted: unknown;
  /** What was checked beyond the schema, one line each (DBC files and their messages, sinks). */
  notes: string[];
}

/**
 * Loads and validates the file, then checks what the schema cannot: every pipeline's DBC files load (with their
 * message count). Creates nothing. Throws the first problem (ConfigError, DbcSyntaxError … exit 2).
 */
export function checkConfigFile(path: string, env?: NodeJS.ProcessEnv): CheckedConfig {
  const { config, loaded } = loadAndValidateConfig(path, env ? { env } : {});
  const notes: string[] = [];
  config.pipelines.forEach((p, i) => {
    if (!p.decode) {
      notes.push(`pipeline ${p.name}: ${p.source.type} source`);
      return;
    }
    let db: Database;
    try {
      db = Database.load(p.decode.dbc);
    } catch (e) {
      const err = e as SigflowError;
      throw new SigflowError(err.code ?? 'SF_ERR_INTERNAL', `${path}: pipelines[${i}].decode.dbc: ${err.message}`, {
        where: `pipelines[${i}].decode.dbc`,
        cause: e,
      });
    }
    notes.push(
      `pipeline ${p.name}: ${p.source.type} source; ${p.decode.dbc.length} DBC file(s), ${db.messages.length} messages, mapping ${p.decode.mapping}`,
    );
  });
  // (sinks are not built here: a store sink would create its file)
  for (const s of config.sinks) notes.push(`sink ${s.name}: ${s.type}`);
  return { config, loaded, redacted: redactSecrets(config, loaded.secrets), notes };
}

export interface RunServiceOptions {
  logger: Logger;
  writeLogLine: (line: string) => void;
  /** Stats and final lines. */
  print: (line: string) => void;
  /** Called once everything started (tests, the CLI's "running" line). */
  onStarted?: (sup: Supervisor) => void;
  /** Stop when this aborts too (tests; the CLI uses signals). */
  signal?: AbortSignal;
  /** Install SIGINT/SIGTERM/SIGHUP handlers (default true). */
  handleSignals?: boolean;
  /** The Grafana routes on the HTTP endpoint (the CLI builds them from `server.dashboards`; see http.ts). */
  httpFallback?: HttpFallback;
}

/**
 * Runs until SIGINT/SIGTERM (or `signal`); resolves with the final stats lines after an orderly stop. `checked` is
 * the file already checked by the caller (its logging settings chose the logger), so it is not read twice.
 */
export async function runService(
  path: string,
  o: RunServiceOptions,
  checked: CheckedConfig = checkConfigFile(path),
): Promise<string[]> {
  const { config } = checked;
  if (config.pipelines.length === 0)
    throw new SigflowError('SF_ERR_RUN_NO_PIPELINES', `${path}: no pipelines to run`, { where: path });
  const sup = await Supervisor.start(config, {
    logger: o.logger,
    writeLogLine: o.writeLogLine,
    print: o.print,
    httpFallback: o.httpFallback,
  });
  o.logger.info(
    { pipelines: config.pipelines.map((p) => p.name), http: sup.address },
    `running ${config.pipelines.length} pipeline(s)${sup.address ? `; metrics and health on http://${sup.address}` : ''}`,
  );
  o.onStarted?.(sup);
  let reloading = Promise.resolve();
  return new Promise<string[]>((resolve, reject) => {
    const handlers: [NodeJS.Signals, () => void][] = [];
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      o.logger.info(`${why}: stopping the units, then draining the sinks`);
      for (const [s, h] of handlers) process.off(s, h);
      reloading.then(() => sup.stop()).then(resolve, reject);
    };
    const reload = () => {
      reloading = reloading
        .then(async () => {
          let next: SigflowConfig;
          try {
            next = checkConfigFile(path).config;
          } catch (e) {
            o.logger.error(
              { err: { message: (e as Error).message, code: (e as SigflowError).code } },
              `SIGHUP: ${path} is not valid; the running config is kept`,
            );
            return;
          }
          const done = await sup.reload(next);
          o.logger.info(
            { changes: done },
            `SIGHUP: ${path} re-read; ${done.length ? done.join('; ') : 'nothing changed'}`,
          );
        })
        .catch((e: Error) => {
          // a reload that failed half-way (a unit that would not stop): said, and the next signal still works
          o.logger.error({ err: { message: e.message } }, `SIGHUP: applying ${path} failed`);
        });
    };
    if (o.handleSignals !== false) {
      handlers.push(['SIGINT', () => stop('SIGINT')], ['SIGTERM', () => stop('SIGTERM')], ['SIGHUP', reload]);
      for (const [s, h] of handlers) process.on(s, h);
    }
    o.signal?.addEventListener('abort', () => stop('stopped'), { once: true });
  });
}
