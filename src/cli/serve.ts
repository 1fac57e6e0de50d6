/**
 * `sigflow serve <data>`: Grafana dashboards over a CANedge log tree — the drop-in for the CANedge Grafana
 * backend (`canedge_datasource_cli.py file:///$PWD/LOG --port 8080 --limit 100`). Parses arguments and prints;
 * the server is src/server (startServe).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import { parseSize, parseTimerMs } from '../units/index.js';
import { VERSION } from '../version/index.js';
import { collect } from './log-args.js';

interface ServeArgs {
  port: string;
  bind: string;
  limit: string;
  onLimit: string;
  cache: string;
  dbc: string[];
  passwords?: string;
  poll: string;
  tokenFile?: string;
  workers?: string;
  store?: string;
  lake?: string;
  lakeCacheMax: string;
  basicUser?: string;
  tlsCert?: string;
  tlsKey?: string;
  cors: string[];
  loglevel: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3_ak?: string;
  s3_sk?: string;
  s3_bucket?: string;
  s3_cert?: string;
  console: boolean;
}

export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('serve CANedge log trees to Grafana (SimpleJson, simPod JSON, Infinity), decoded on demand')
    .argument(
      '[data]',
      'the data root: a folder or file:// URL holding <device>/<session>/<split>.MF4 and the .dbc files (default $CANEDGE_DATA_URL)',
    )
    .option('--port <n>', 'TCP port (0: any free one)', '8080')
    .option(
      '--bind <address>',
      'address to listen on (0.0.0.0: every interface — set up auth and TLS first)',
      '127.0.0.1',
    )
    .option(
      '--limit <size>',
      "log bytes one request may decode: MB as a plain number (the old backend's --limit), or a size like 2GiB",
      '100',
    )
    .option(
      '--on-limit <mode>',
      'over the limit: error (the request fails with the reason) or partial (what fits, with a notice)',
      'error',
    )
    .option('--cache <size>', 'memory for decoded columns, shared by all requests', '256MiB')
    .option(
      '--store <file>',
      'also serve this embedded store (what sigflow run / import wrote): measurements, tags, fields',
    )
    .option(
      '--lake <folder|s3://bucket/prefix>',
      'also serve this Parquet lake (sigflow lake write): measurement = message folder, tag device, fields = signals',
    )
    .option(
      '--lake-cache-max <size>',
      'size bound of an s3:// lake’s local copy (least recently used go first)',
      '10GiB',
    )
    .option('--dbc <file>', "another DBC file (repeatable; the root's *.dbc files are always loaded)", collect, [])
    .option('--passwords <file>', 'passwords.json for encrypted logs (default: the one in the data root)')
    .option(
      '--workers <n>',
      'threads that decode log files (default: the cores, at most 4; 0: decode on the main thread)',
    )
    .option('--poll <duration>', 'how often the tree is listed for new and changed files (0: only at start)', '10s')
    .option(
      '--token-file <file>',
      'require "Authorization: Bearer <token>", one accepted token per line (also $SIGFLOW_SERVE_TOKENS, comma-separated)',
    )
    .option('--basic-user <user>', 'require basic auth with this user and the password in $SIGFLOW_SERVE_PASSWORD')
    .option('--tls-cert <pem>', 'serve HTTPS with this certificate (with --tls-key)')
    .option('--tls-key <pem>', "the certificate's private key")
    .option(
      '--cors <origin>',
      'allow browser calls from this origin (repeatable; * for any); off by default',
      collect,
      [],
    )
    .option('--no-console', 'no web console at /console/ (on by default, behind the same auth and TLS)')
    .option('--loglevel <level>', 'debug, info, warn or error', 'info')
    .option('--s3-endpoint <url>', 'S3-compatible server (MinIO …) of an s3:// data root or lake; omit for AWS')
    .option('--s3-region <region>', 'S3 region (default $AWS_REGION or us-east-1)')
    .option('--s3_ak <key>', "S3 access key (the old backend's flag; also $CANEDGE_S3_AK)")
    .option('--s3_sk <secret>', 'S3 secret key (also $CANEDGE_S3_SK)')
    .option('--s3_bucket <bucket>', 'S3 bucket, when the data root is the endpoint URL (also $CANEDGE_S3_BUCKET)')
    .option('--s3_cert <pem>', 'CA certificate of the S3 server (also $CANEDGE_S3_CERT)')
    .addHelpText(
      'after',
      `
Decodes log files when a dashboard asks, like the CANedge Grafana backend, and keeps the decoded columns in
memory (--cache) for the next panel and user. The tree is indexed once (the index is kept in the cache folder,
$SIGFLOW_CACHE_DIR or ~/.cache/sigflow) and listed again every --poll, so new uploads show up in the dashboards.
DBC files in the data root are keyed by their lower-case file name (canmod-gps.dbc → "canmod-gps");
passwords.json in the root opens encrypted logs.

Routes: SimpleJson (GET /, POST /search, /query, /annotations, /tag-keys, /tag-values — the CANedge dashboard
templates work unchanged), simPod JSON (POST /metrics, /metric-payload-options, /variable, /query), Infinity
rows (GET /api/rows, also as CSV or Parquet), GET /healthz, GET /api/stats. See src/server/README.md.
The web console: open http://127.0.0.1:8080/console/ in a browser (the status of the server, signals plotted
from the logs or the store, the log index; basic auth works in a browser, bearer tokens do not).
With --store, targets {"measurement":"EEC1","field":"EngineSpeed","tags":{"device":"truck"}} (SimpleJson), the
simPod metric "Stored series" and /api/rows?measurement=… serve the store too. With --lake the same targets read
the lake: measurement = message folder (CAN2_gnss_speed), tag device, fields = signals; only the days of the
range are read. An s3:// lake is read through a local copy in the cache folder that holds the days dashboards
asked for (each month folder listed at most every 30 s; only new and changed files downloaded; at most
--lake-cache-max, the least recently used files deleted first).

S3: s3://bucket/prefix (AWS, or any S3-compatible server with --s3-endpoint), or the old backend's form — the
endpoint URL with --s3_bucket. Files are read with ranged GETs; DBC files and passwords.json are read from the
root of the prefix. Credentials: --s3_ak/--s3_sk, $CANEDGE_S3_AK/$CANEDGE_S3_SK, else the AWS default chain.

Examples:
  sigflow serve file:///$PWD/LOG --port 8080 --limit 100
  sigflow serve http://192.168.0.100:9000 --s3_bucket canedge --s3_ak KEY --s3_sk SECRET
  AWS_PROFILE=fleet sigflow serve s3://my-bucket/LOG --s3-region eu-central-1
  sigflow serve LOG --dbc extra/j1939.dbc --cache 1GiB
  sigflow serve --store .sigflow/store.db          # what sigflow run / import stored
  sigflow serve --lake lake/                        # what sigflow lake write wrote
  sigflow serve --lake s3://fleet-lake/ --s3-endpoint http://127.0.0.1:9000
  SIGFLOW_SERVE_TOKENS=s3cret sigflow serve /data/LOG --bind 0.0.0.0 --tls-cert cert.pem --tls-key key.pem`,
    )
    .action(serveAction);
}

function readTokens(file: string | undefined): string[] {
  const tokens = (process.env.SIGFLOW_SERVE_TOKENS ?? '').split(',').map((t) => t.trim());
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new SigflowError('SF_ERR_USAGE', `--token-file ${file}: ${(e as Error).message}`);
    }
    tokens.push(...text.split('\n').map((t) => t.trim()));
  }
  return tokens.filter((t) => t.length > 0 && !t.startsWith('#'));
}

async function serveAction(data: string | undefined, a: ServeArgs): Promise<void> {
  const root = data ?? process.env.CANEDGE_DATA_URL;
  if (!root && !a.store && !a.lake)
    throw new SigflowError(
      'SF_ERR_USAGE',
      'nothing to serve: give a log tree (a folder, file:// or s3:// URL; or set CANEDGE_DATA_URL), --store FILE or --lake FOLDER|S3-URL',
    );
  const env = process.env;
  const s3 = {
    endpoint: a.s3Endpoint,
    region: a.s3Region,
    bucket: a.s3_bucket ?? env.CANEDGE_S3_BUCKET,
    accessKeyId: a.s3_ak ?? env.CANEDGE_S3_AK,
    secretAccessKey: a.s3_sk ?? env.CANEDGE_S3_SK,
    caFile: a.s3_cert ?? env.CANEDGE_S3_CERT,
  };
  if (Boolean(s3.accessKeyId) !== Boolean(s3.secretAccessKey)) {
    throw new SigflowError(
      'SF_ERR_USAGE',
      'the S3 access key and secret key go together (--s3_ak/--s3_sk or $CANEDGE_S3_AK/$CANEDGE_S3_SK)',
    );
  }
  const port = Number(a.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new SigflowError('SF_ERR_USAGE', `--port ${a.port}: not a port number`);
  if (a.onLimit !== 'error' && a.onLimit !== 'partial')
    throw new SigflowError('SF_ERR_USAGE', `--on-limit ${a.onLimit}: use error or partial`);
  if (!['debug', 'info', 'warn', 'error'].includes(a.loglevel))
    throw new SigflowError('SF_ERR_USAGE', `--loglevel ${a.loglevel}: use debug, info, warn or error`);
  if (Boolean(a.tlsCert) !== Boolean(a.tlsKey))
    throw new SigflowError('SF_ERR_USAGE', '--tls-cert and --tls-key go together');
  const limitBytes = /^\d+(\.\d+)?$/.test(a.limit) ? Number(a.limit) * 1024 * 1024 : parseSize(a.limit, '--limit');
  const cacheBytes = parseSize(a.cache, '--cache');
  const lakeCacheMaxBytes = parseSize(a.lakeCacheMax, '--lake-cache-max');
  const pollMs = a.poll === '0' ? 0 : parseTimerMs(a.poll, '--poll');
  const tokens = readTokens(a.tokenFile);
  const workers = a.workers === undefined ? undefined : Number(a.workers);
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 0 || workers > 64)) {
    throw new SigflowError('SF_ERR_USAGE', `--workers ${a.workers}: a whole number from 0 to 64`);
  }
  let basic: { user: string; password: string } | undefined;
  if (a.basicUser) {
    const password = process.env.SIGFLOW_SERVE_PASSWORD;
    if (!password) throw new SigflowError('SF_ERR_USAGE', '--basic-user needs the password in $SIGFLOW_SERVE_PASSWORD');
    basic = { user: a.basicUser, password };
  }
  if (a.bind !== '127.0.0.1' && a.bind !== '::1' && a.bind !== 'localhost' && tokens.length === 0 && !basic) {
    process.stderr.write(
      `sigflow serve: warning: listening on ${a.bind} without auth: anyone who can reach it reads your data\n`,
    );
  }
  const [{ default: pino }, { startServe }] = await Promise.all([import('pino'), import('../server/index.js')]);
  const logger = pino({ name: 'sigflow-serve', level: a.loglevel }, pino.destination({ fd: 2, sync: true }));
  const server = await startServe({
    data: root,
    store: a.store,
    lake: a.lake,
    lakeCacheMaxBytes,
    s3,
    dbc: a.dbc,
    passwords: a.passwords,
    host: a.bind,
    port,
    limitBytes,
    onLimit: a.onLimit,
    cacheBytes,
    pollMs,
    workers,
    auth: { tokens, basic },
    tls: a.tlsCert && a.tlsKey ? { cert: a.tlsCert, key: a.tlsKey } : undefined,
    corsOrigins: a.cors,
    logger,
    console: a.console ? { version: VERSION } : undefined,
  });
  const cat = server.engine.catalog;
  const files = cat.lastRefresh.stats?.total ?? 0;
  const bad = cat.unreadable().length;
  process.stderr.write(
    `sigflow serve: ${cat.devices().length} device(s), ${files} log file(s)${bad ? ` (${bad} unreadable: see /api/stats and the log)` : ''}, DBC: ${server.engine.dbcKeys().join(', ') || 'none'}\n`,
  );
  for (const e of cat.unreadable()) logger.warn(`${e.path}: ${e.error?.message} (${e.error?.code})`);
  // bound beyond this machine: say so (Fastify's URL names 127.0.0.1 for a 0.0.0.0 bind)
  const bound = new URL(server.url);
  const where =
    bound.hostname === a.bind || bound.hostname === `[${a.bind}]`
      ? server.url
      : `${a.bind}:${bound.port} (from this machine: ${server.url})`;
  process.stderr.write(
    `sigflow serve: listening on ${where}${a.console ? `, console at ${server.url}/console/` : ''} (Ctrl-C stops)\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  process.stderr.write('sigflow serve: stopped\n');
}
