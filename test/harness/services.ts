/**
 * Real servers for tests and benchmarks, started from their installed binaries on 127.0.0.1 with an ephemeral port
 * and a temp dir, stopped by pid:
 *   - InfluxDB 1.x   (`influxd`, Debian `influxdb`)
 *   - VictoriaMetrics (`victoria-metrics`, Debian `victoria-metrics`)
 *   - PostgreSQL      (`/usr/lib/postgresql/<v>/bin/{initdb,postgres}`, Debian `postgresql`); run as the
 *                     `postgres` user when we are root (postgres refuses to run as root)
 *   - Mosquitto       (`mosquitto`, Debian `mosquitto`): persistence on, `max_queued_messages 0` (its default of
 *                     1000 drops QoS 1 messages in bursts), anonymous clients on 127.0.0.1
 *
 * Each start function returns a ServiceHandle, or null when the binary is missing — after a LOUD stderr note —
 * unless SIGFLOW_REQUIRE_SERVICES=1 (CI), in which case it throws. Handles expose stop()/start() (same port,
 * same data) for outage tests, kill() for crash tests and dispose() (stop + delete the temp dir). Every
 * process still running when the test process exits is SIGKILLed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ServiceKind = 'influxdb' | 'victoriametrics' | 'postgres' | 'mosquitto';

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

const live = new Set<ChildProcess>();
/** Temp dirs of handles not disposed yet: removed when the process exits. */
const dirs = new Set<string>();
function killAll(): void {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', killAll);
// Interrupted test runs must not leave servers behind: kill them, then die of the same signal.
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    killAll();
    process.kill(process.pid, sig);
  });

/** True when CI demands that every service test runs. */
export const servicesRequired = process.env.SIGFLOW_REQUIRE_SERVICES === '1';

const warned = new Set<string>();
/** A missing service: loud note and null, or (CI) an error. */
function missing(kind: ServiceKind, why: string): null {
  const msg = `${kind} is not available (${why}); install the Debian packages in .ci/apt-packages`;
  if (servicesRequired) throw new Error(`SIGFLOW_REQUIRE_SERVICES=1 but ${msg}`);
  if (!warned.has(kind)) {
    warned.add(kind);
    process.stderr.write(`\n*** ${msg}: tests that need it are SKIPPED ***\n\n`);
  }
  return null;
}

function which(bin: string): string | null {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = join(d, bin);
    if (d && existsSync(p)) return p;
  }
  for (const d of ['/usr/bin', '/usr/sbin', '/usr/local/bin']) if (existsSync(join(d, bin))) return join(d, bin);
  return null;
}

/**
 * The kernel's ephemeral port range. Outgoing connections take their local port from it, so a port picked there,
 * released and bound again a moment later (or after a restart) can already be some client's local port.
 */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch {}
  return [32768, 60999];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on 127.0.0.1 for a server started a moment later: chosen at random below the kernel's ephemeral
 * range (so no outgoing connection can be holding it when the server binds it, or binds it again after a restart)
 * and checked by binding it. Parallel test files can still race for the same port; the service starters retry
 * with fresh ports when the server reports the address in use.
 */
export async function freePort(): Promise<number> {
  const [ephemeralLo] = ephemeralRange();
  const lo = 15000;
  const hi = Math.min(ephemeralLo - 1, 32767);
  if (hi - lo >= 1000) {
    for (let i = 0; i < 50; i++) {
      const port = lo + Math.floor(Math.random() * (hi - lo + 1));
      if (await canBind(port)) return port;
    }
  }
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const BIND_ATTEMPTS = 4;
/** Runs a starter (which picks its own ports) again when the server could not bind them. */
async function withFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt >= BIND_ATTEMPTS || !/address already in use|could not bind/i.test((e as Error).message)) throw e;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, n = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

interface Spec {
  kind: ServiceKind;
  cmd: string;
  args: string[];
  uid?: number;
  gid?: number;
  /** Signal for a clean, fast shutdown. */
  stopSignal: NodeJS.Signals;
  ready: () => Promise<boolean>;
}

export class ServiceHandle {
  readonly kind: ServiceKind;
  readonly port: number;
  /** Base URL (http services) or connection string (postgres). */
  readonly url: string;
  /** Temp dir holding data, config and log. */
  readonly dir: string;
  readonly logFile: string;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly spec: Spec;

  constructor(spec: Spec, port: number, url: string, dir: string) {
    this.spec = spec;
    this.kind = spec.kind;
    this.port = port;
    this.url = url;
    this.dir = dir;
    this.logFile = join(dir, 'server.log');
    dirs.add(dir);
  }

  get running(): boolean {
    return this.proc !== null;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts (or restarts) the server and waits, bounded, until it answers. */
  async start(): Promise<void> {
    if (this.proc) return;
    const fd = openSync(this.logFile, 'a');
    const p = spawn(this.spec.cmd, this.spec.args, {
      stdio: ['ignore', fd, fd],
      uid: this.spec.uid,
      gid: this.spec.gid,
      cwd: this.dir,
    });
    closeSync(fd);
    live.add(p);
    this.proc = p;
    let exitedEarly = false;
    this.exited = new Promise((resolve) => {
      p.once('exit', () => {
        exitedEarly = true;
        live.delete(p);
        if (this.proc === p) this.proc = null;
        resolve();
      });
      p.once('error', () => {
        exitedEarly = true;
        live.delete(p);
        if (this.proc === p) this.proc = null;
        resolve();
      });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exitedEarly)
        throw new Error(`${this.kind} exited during startup; log ${this.logFile}:\n${tail(this.logFile)}`);
      if (await this.spec.ready().catch(() => false)) {
        // The answer may have come from another test file's server that won the port: ours then dies on its bind
        // ("address already in use") a moment later, which the caller's fresh-port retry handles.
        await sleep(300);
        if (exitedEarly)
          throw new Error(`${this.kind} exited during startup; log ${this.logFile}:\n${tail(this.logFile)}`);
        return;
      }
      await sleep(100);
    }
    await this.kill();
    throw new Error(
      `${this.kind} not ready within ${READY_TIMEOUT_MS} ms; log ${this.logFile}:\n${tail(this.logFile)}`,
    );
  }

  /** Clean shutdown by pid (the server's fast-shutdown signal), SIGKILL after a grace period. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    p.kill(this.spec.stopSignal);
    const t = setTimeout(() => p.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(t);
  }

  /** SIGKILL by pid (crash). */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    p.kill('SIGKILL');
    await this.exited;
  }

  /** Stops the server and deletes its temp dir. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
    dirs.delete(this.dir);
  }
}

async function httpOk(url: string, want: (status: number) => boolean): Promise<boolean> {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), 1000);
  try {
    const r = await fetch(url, { signal: ctl.signal });
    await r.arrayBuffer();
    return want(r.status);
  } catch {
    return false;
  } finally {
    clearTimeout(t);
  }
}

export interface InfluxOptions {
  /** [http] max-body-size in bytes (InfluxDB answers 413 above it); default InfluxDB's 25 MB. */
  maxBodySize?: number;
}

/** InfluxDB 1.x from `influxd`, with reporting, monitoring and every listener but HTTP (and RPC on loopback) off. */
export function startInfluxDB(opts: InfluxOptions = {}): Promise<ServiceHandle | null> {
  return withFreshPorts(() => launchInfluxDB(opts));
}

async function launchInfluxDB(opts: InfluxOptions = {}): Promise<ServiceHandle | null> {
  const bin = which('influxd');
  if (!bin) return missing('influxdb', 'influxd not found on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-influxdb-'));
  const port = await freePort();
  const rpc = await freePort();
  const conf = join(dir, 'influxdb.conf');
  writeFileSync(
    conf,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${dir}/meta"
  logging-enabled = false
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
  trace-logging-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  auth-enabled = false
  log-enabled = false
  flux-enabled = false
  max-body-size = ${opts.maxBodySize ?? 25_000_000}
[logging]
  level = "warn"
`,
  );
  const url = `http://127.0.0.1:${port}`;
  const h = new ServiceHandle(
    {
      kind: 'influxdb',
      cmd: bin,
      args: ['-config', conf],
      stopSignal: 'SIGTERM',
      ready: () => httpOk(`${url}/ping`, (s) => s === 204),
    },
    port,
    url,
    dir,
  );
  await startOrClean(h);
  return h;
}

export interface VictoriaOptions {
  /**
   * Keep one sample per series per millisecond (`-dedup.minScrapeInterval=1ms`), which makes rewrites of the
   * same series + time idempotent on read-back. Off by default (VictoriaMetrics then keeps duplicates).
   */
  dedup?: boolean;
}

/** VictoriaMetrics single-node from `victoria-metrics`, with a 100-year retention (historical test data). */
export function startVictoriaMetrics(opts: VictoriaOptions = {}): Promise<ServiceHandle | null> {
  return withFreshPorts(() => launchVictoriaMetrics(opts));
}

async function launchVictoriaMetrics(opts: VictoriaOptions = {}): Promise<ServiceHandle | null> {
  const bin = which('victoria-metrics');
  if (!bin) return missing('victoriametrics', 'victoria-metrics not found on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-vm-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [
    `-storageDataPath=${join(dir, 'data')}`,
    `-httpListenAddr=127.0.0.1:${port}`,
    '-retentionPeriod=100y',
    '-search.latencyOffset=0s',
    '-loggerLevel=ERROR',
  ];
  if (opts.dedup) args.push('-dedup.minScrapeInterval=1ms');
  const h = new ServiceHandle(
    {
      kind: 'victoriametrics',
      cmd: bin,
      args,
      stopSignal: 'SIGTERM',
      ready: () => httpOk(`${url}/health`, (s) => s === 200),
    },
    port,
    url,
    dir,
  );
  await startOrClean(h);
  return h;
}

function postgresBin(): string | null {
  if (process.env.SIGFLOW_PG_BIN && existsSync(join(process.env.SIGFLOW_PG_BIN, 'postgres')))
    return process.env.SIGFLOW_PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')) && existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : null;
}

function postgresUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('postgres:'));
    if (!line) return null;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return null;
  }
}

/** PostgreSQL: initdb into a temp dir (trust auth, user `postgres`), listening on 127.0.0.1 and a private socket dir. */
export function startPostgres(): Promise<ServiceHandle | null> {
  return withFreshPorts(() => launchPostgres());
}

async function launchPostgres(): Promise<ServiceHandle | null> {
  const bin = postgresBin();
  if (!bin) return missing('postgres', 'no /usr/lib/postgresql/<version>/bin/postgres');
  const asUser = postgresUser();
  if (process.getuid?.() === 0 && !asUser) return missing('postgres', 'running as root and there is no postgres user');
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-pg-'));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  if (asUser) for (const p of [dir, sock]) chownSync(p, asUser.uid, asUser.gid);
  try {
    execFileSync(
      join(bin, 'initdb'),
      ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'],
      { uid: asUser?.uid, gid: asUser?.gid, stdio: ['ignore', 'pipe', 'pipe'], cwd: dir },
    );
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${err.stderr?.toString() || err.message}`);
  }
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const { default: pg } = await import('pg');
  const h = new ServiceHandle(
    {
      kind: 'postgres',
      cmd: join(bin, 'postgres'),
      args: [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        sock,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'max_connections=50',
      ],
      uid: asUser?.uid,
      gid: asUser?.gid,
      stopSignal: 'SIGINT', // fast shutdown (SIGTERM would wait for clients to disconnect)
      ready: async () => {
        const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
        c.on('error', () => {});
        try {
          await c.connect();
          await c.query('SELECT 1');
          return true;
        } catch {
          return false;
        } finally {
          await c.end().catch(() => {});
        }
      },
    },
    port,
    url,
    dir,
  );
  await startOrClean(h);
  return h;
}

async function startOrClean(h: ServiceHandle): Promise<void> {
  try {
    await h.start();
  } catch (e) {
    await h.kill().catch(() => {});
    const log = tail(h.logFile);
    rmSync(h.dir, { recursive: true, force: true });
    throw new Error(`${(e as Error).message}\n${log}`);
  }
}

/** Starts a service by kind. */

/** A TCP port that accepts connections. */
function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

export interface MosquittoOptions {
  /** Forward at once (`set_tcp_nodelay`): no Nagle bunching, for tests that time arrivals. */
  noDelay?: boolean;
  /** Users and passwords (a password file made with mosquitto_passwd) instead of anonymous access. */
  users?: Record<string, string>;
}

/**
 * Mosquitto from `mosquitto` with its own config: one listener on 127.0.0.1, anonymous (or `users`), persistence
 * in the temp dir (saved on shutdown and every second), no limit on queued QoS 1/2 messages. `url` is
 * mqtt://127.0.0.1:<port>.
 */
export function startMosquitto(o: MosquittoOptions = {}): Promise<ServiceHandle | null> {
  return withFreshPorts(async () => {
    const bin = which('mosquitto');
    if (!bin) return missing('mosquitto', 'mosquitto not found on PATH');
    const passwd = o.users ? which('mosquitto_passwd') : undefined;
    if (o.users && !passwd) return missing('mosquitto', 'mosquitto_passwd not found on PATH');
    const dir = mkdtempSync(join(tmpdir(), 'sigflow-mosquitto-'));
    const port = await freePort();
    let auth = 'allow_anonymous true\n';
    if (o.users) {
      const pwfile = join(dir, 'passwd');
      Object.entries(o.users).forEach(([user, password], i) => {
        execFileSync(passwd as string, [...(i === 0 ? ['-c'] : []), '-b', pwfile, user, password], { stdio: 'ignore' });
      });
      auth = `allow_anonymous false\npassword_file ${pwfile}\n`;
    }
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      `listener ${port} 127.0.0.1
${auth}${o.noDelay ? 'set_tcp_nodelay true\n' : ''}persistence true
persistence_location ${dir}/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 0
log_dest stderr
log_type error
log_type warning
log_type notice
${process.getuid?.() === 0 ? 'user root\n' : ''}`,
    );
    const h = new ServiceHandle(
      { kind: 'mosquitto', cmd: bin, args: ['-c', conf], stopSignal: 'SIGTERM', ready: () => tcpOpen(port) },
      port,
      `mqtt://127.0.0.1:${port}`,
      dir,
    );
    await h.start();
    return h;
  });
}

export function startService(kind: ServiceKind): Promise<ServiceHandle | null> {
  if (kind === 'influxdb') return startInfluxDB();
  if (kind === 'victoriametrics') return startVictoriaMetrics();
  if (kind === 'mosquitto') return startMosquitto();
  return startPostgres();
}

/** InfluxDB 1.x: runs an InfluxQL statement (POST /query) and returns the parsed JSON. */
export async function influxQuery(h: ServiceHandle, q: string, db?: string): Promise<InfluxQueryResult> {
  const params = new URLSearchParams({ q, epoch: 'ns' });
  if (db) params.set('db', db);
  const r = await fetch(`${h.url}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: params.toString(),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`influx query ${q} → ${r.status} ${text}`);
  // epoch=ns times exceed 2^53: keep them exact by quoting the time (first column) of each row before JSON.parse;
  // rows therefore carry the time as a decimal string.
  const json = JSON.parse(text.replace(/(\[\[|\],\[)(-?\d+)(?=[,\]])/g, '$1"$2"')) as InfluxQueryResult;
  for (const res of json.results ?? []) if (res.error) throw new Error(`influx query ${q}: ${res.error}`);
  return json;
}

export interface InfluxQueryResult {
  results: {
    error?: string;
    series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[];
  }[];
}

/** VictoriaMetrics: flushes in-memory data and exports every sample whose metric name matches `re`. */
export async function vmExport(
  h: ServiceHandle,
  re: string,
): Promise<{ metric: Record<string, string>; values: number[]; timestamps: number[] }[]> {
  const f = await fetch(`${h.url}/internal/force_flush`);
  await f.arrayBuffer();
  const q = new URLSearchParams({ 'match[]': `{__name__=~${JSON.stringify(re)}}` });
  const r = await fetch(`${h.url}/api/v1/export?${q}`);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`vm export ${re} → ${r.status} ${text}`);
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}
