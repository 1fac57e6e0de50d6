/**
 * `sigflow run -c FILE`: the long-running service (live pipelines under the supervisor) and `sigflow check -c FILE`
 * (validate and print the resolved config, secrets redacted). Shells over src/supervisor's runService and
 * checkConfigFile.
 */
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import { VERSION } from '../version/index.js';
import { HumanLogLines } from './log-lines.js';

interface RunOptions {
  config: string;
  logFormat?: string;
}

export function registerRunCommands(program: Command): void {
  program
    .command('run')
    .description('run live pipelines (serial CAN adapters, MQTT, log replay) into the sinks, supervised, until stopped')
    .requiredOption(
      '-c, --config <file>',
      'configuration file (YAML or JSON; .env files beside it are read) (required)',
    )
    .option('--log-format <format>', 'auto (readable on a terminal, JSON otherwise), json or pretty')
    .addHelpText(
      'after',
      `
Each pipeline runs as a unit: a source (serial port, MQTT, log replay, a procedure), its framer and DBC decoder,
in a child process of its own (procedures: inside sigflow run; a pipeline's isolation: process|inline says). Records go into the durable outbox (<outbox.data_dir>) and from there to every sink. A unit that crashes
restarts with backoff (runtime.restart_initial … restart_max) and is marked failed after runtime.crash_loop_count
crashes within runtime.crash_loop_window; the others keep running.
Signals: SIGINT/SIGTERM stop the sources, hand the last records over, give the sinks runtime.drain_timeout to
catch up (what is left stays in the outbox for the next start), print final stats and exit 0. SIGHUP re-reads the
file: a valid config is applied to the pipelines it changes; an invalid one is reported and the old one kept.
HTTP (server.listen, 127.0.0.1:9464 by default): /metrics (Prometheus), /healthz, /readyz, /status (JSON), and
the web console at /console/ (units, sinks, dead letters, the stored signals); server.auth asks for credentials.
One sigflow per data directory (a lock). Config errors: exit 2, naming file, line and key path.

Check a file first with "sigflow check -c FILE".

Examples:
  sigflow run -c examples/replay-store.yaml
  sigflow run -c examples/serial-influx.yaml --log-format json`,
    )
    .action(runAction);
  program
    .command('check')
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the text names the ${VAR} syntax
    .description('validate a configuration file and print it resolved (defaults, ${VAR}s), secrets redacted')
    .requiredOption('-c, --config <file>', 'configuration file (YAML or JSON) (required)')
    .option('--json', 'print the resolved config as JSON instead of YAML')
    .addHelpText(
      'after',
      `
Loads the file as "sigflow run" would (its .env files, \${VAR} from the environment), validates it, loads every
pipeline's DBC files, and prints the result with every default filled in (durations in ms, sizes in bytes) and
secrets shown as <redacted>. Creates nothing. Exit status 0 when valid; 2 with every problem named by file, line
and key path.

Examples:
  sigflow check -c examples/serial-influx.yaml
  sigflow check -c sigflow.yaml --json`,
    )
    .action(checkAction);
}

async function checkAction(opts: { config: string; json?: boolean }): Promise<void> {
  const [{ checkConfigFile }, { stringify }] = await Promise.all([import('../supervisor/index.js'), import('yaml')]);
  const checked = checkConfigFile(opts.config);
  process.stdout.write(opts.json ? `${JSON.stringify(checked.redacted, null, 2)}\n` : stringify(checked.redacted));
  for (const n of checked.notes) process.stderr.write(`sigflow check: ${n}\n`);
  process.stderr.write(`sigflow check: ${opts.config} is valid\n`);
}

async function runAction(opts: RunOptions): Promise<void> {
  const format = (opts.logFormat ?? 'auto').toLowerCase();
  if (!['auto', 'json', 'pretty'].includes(format))
    throw new SigflowError('SF_ERR_USAGE', `--log-format ${opts.logFormat}: use auto, json or pretty`);
  const [{ default: pino }, { runService, checkConfigFile, adoptPendingConfig }] = await Promise.all([
    import('pino'),
    import('../supervisor/index.js'),
  ]);
  // a config pushed with an update waits beside the file until the version it was pushed for starts
  const adopted = adoptPendingConfig(opts.config, VERSION);
  if (adopted) process.stderr.write(`sigflow run: ${adopted}\n`);
  // the file's logging.format unless the flag says otherwise
  const checked = checkConfigFile(opts.config);
  const fileFormat = checked.config.logging;
  const chosen = opts.logFormat ? format : fileFormat.format;
  const pretty = chosen === 'pretty' || (chosen === 'auto' && process.stderr.isTTY === true);
  const human = pretty ? new HumanLogLines('sigflow run') : null;
  const dest = human ?? pino.destination({ fd: 2, sync: true });
  const logger = pino({ name: 'sigflow-run', level: fileFormat.level }, dest);
  const print = (line: string) => (human ? process.stderr.write(`sigflow run: ${line}\n`) : logger.info(line));
  // the console shows the supervisor once it runs (its requests before that see a run starting)
  let sup: import('../supervisor/index.js').Supervisor | null = null;
  const { startRunWeb } = await import('../server/index.js');
  const web = await startRunWeb(checked.config, {
    logger: logger.child({ part: 'web' }) as never,
    console: {
      version: VERSION,
      run: { status: () => sup?.status() ?? null, outbox: () => sup?.outbox.store ?? null },
      // (the IoF application is loaded only for a config with an iof sink)
      iof: checked.config.sinks.some((s) => s.type === 'iof')
        ? await (await import('../apps/iof/index.js')).iofConsoleOf(checked.config)
        : undefined,
    },
  });
  try {
    const final = await runService(
      opts.config,
      {
        logger,
        writeLogLine: (line) => dest.write(line.endsWith('\n') ? line : `${line}\n`),
        print,
        httpFallback: web?.handler,
        version: VERSION,
        onStarted: (s) => {
          sup = s;
        },
      },
      checked,
    );
    for (const line of final) print(`final: ${line}`);
  } finally {
    await web?.close();
    human?.end();
  }
}
