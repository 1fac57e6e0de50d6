/**
 * The self-test a version passes before it is switched to (`sigflow selftest -c FILE`, run by the new version's
 * own bin/sigflow): its native modules load, it accepts the configuration, it can read the outbox the running
 * version leaves behind, and its codecs decode. And `selftest(dir, config)`, which runs that command of a staged
 * version in a child process with a time limit.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Database } from '../codecs/dbc/index.js';
import { loadAndValidateConfig, type SigflowConfig } from '../config/index.js';
import { SigflowError } from '../errors/index.js';
import { buildStatus, OutboxStore, outboxDirOf, outboxExists } from '../outbox/index.js';

export interface SelftestCheck {
  readonly name: 'native' | 'config' | 'outbox' | 'codecs';
  readonly ok: boolean;
  /** What was found (ok) or what failed. */
  readonly detail: string;
}

export interface SelftestChecksOptions {
  /** The configuration `sigflow run` will be started with; without it, the config and outbox checks are skipped. */
  readonly configPath?: string;
  /**
   * Checks the file as `sigflow check` does (the CLI passes src/supervisor's checkConfigFile, which loads the DBC
   * files too); default: the schema check of src/config.
   */
  readonly checkConfig?: (path: string) => { config: SigflowConfig; notes?: readonly string[] };
}

async function check(name: SelftestCheck['name'], fn: () => Promise<string> | string): Promise<SelftestCheck> {
  try {
    return { name, ok: true, detail: await fn() };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return {
      name,
      ok: false,
      detail: `${(e as Error).message ?? String(e)}${typeof code === 'string' ? ` (${code})` : ''}`,
    };
  }
}

/** A DBC of one message, one signal, built here: 0x100 "Probe", Speed = 16 bits LE × 0.1. */
const PROBE_DBC = `VERSION ""
BU_: ECU
BO_ 256 Probe: 8 ECU
 SG_ Speed : 0|16@1+ (0.1,0) [0|6553.5] "km/h" Vector__XXX
`;

/** Runs every check in this process; each reports ok or why not. */
export async function runSelftestChecks(o: SelftestChecksOptions = {}): Promise<SelftestCheck[]> {
  const out: SelftestCheck[] = [];
  let config: SigflowConfig | undefined;
  if (o.configPath) {
    const path = o.configPath;
    out.push(
      await check('config', () => {
        const checked = o.checkConfig ? o.checkConfig(path) : { config: loadAndValidateConfig(path).config };
        config = checked.config;
        return `${path} is valid: ${config.pipelines.length} pipeline(s), ${config.sinks.length} sink(s)`;
      }),
    );
  }
  out.unshift(
    await check('native', async () => {
      const { default: Sqlite } = await import('better-sqlite3');
      const db = new Sqlite(':memory:');
      let v: string;
      try {
        v = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
      } finally {
        db.close();
      }
      const parts = [`better-sqlite3 (SQLite ${v})`];
      // serialport's addon loads when the module does; needed only by serial pipelines (all when no config is given)
      if (!config || config.pipelines.some((p) => p.source.type === 'serial')) {
        await import('serialport');
        parts.push('serialport');
      }
      return `${parts.join(', ')} loaded`;
    }),
  );
  if (o.configPath && config) {
    const dataDir = config.outbox.data_dir;
    out.push(
      await check('outbox', () => {
        const dir = outboxDirOf(dataDir);
        if (!outboxExists(dir)) return `no outbox in ${dataDir} yet (it is created on the first start)`;
        const store = OutboxStore.open(dir, { readonly: true, integrityCheck: false });
        try {
          const st = buildStatus(store);
          return `${store.file} reads: ${st.pendingRecords} record(s) pending for ${st.sinks.length} sink(s)`;
        } finally {
          store.close();
        }
      }),
    );
  }
  out.push(
    await check('codecs', () => {
      const db = Database.fromText(PROBE_DBC, '<selftest>');
      const r = db.decodeFrame(0x100, false, Uint8Array.of(0x10, 0x27, 0, 0, 0, 0, 0, 0));
      if (!r.ok)
        throw new SigflowError('SF_ERR_UPDATE_SELFTEST', `the probe frame did not decode: ${r.error} ${r.detail}`);
      const speed = r.phys.Speed;
      if (typeof speed !== 'number' || Math.abs(speed - 1000) > 1e-9)
        throw new SigflowError(
          'SF_ERR_UPDATE_SELFTEST',
          `the probe frame decoded to Speed = ${String(speed)}, not 1000`,
        );
      return 'a DBC frame decodes (Speed = 1000 km/h)';
    }),
  );
  return out;
}

/** One line per check, as `sigflow selftest` prints them. */
export function formatCheck(c: SelftestCheck): string {
  return `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`;
}

export interface SelftestResult {
  readonly ok: boolean;
  /** Why not: the exit status or time-out and the end of the output. */
  readonly reason?: string;
  /** stdout and stderr of the command (their end, at most 8 KiB). */
  readonly output: string;
}

/**
 * Runs `node <dir>/bin/sigflow selftest [-c configPath]` — the staged version checking itself, in a process of its
 * own — and says whether it passed; a run longer than `timeoutMs` (default 60 s) is killed and fails.
 */
export function selftest(
  dir: string,
  configPath?: string,
  o: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<SelftestResult> {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const args = [join(dir, 'bin', 'sigflow'), 'selftest', ...(configPath ? ['-c', configPath] : [])];
  return new Promise((resolve) => {
    let output = '';
    const keep = (b: Buffer) => {
      output += b.toString('utf8');
      if (output.length > 16_384) output = output.slice(-8192);
    };
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const onAbort = () => child.kill('SIGKILL');
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const finish = (code: number | null, sig: NodeJS.Signals | null, err?: Error) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      const tail = output.length > 8192 ? output.slice(-8192) : output;
      const lastLines = tail.trim().split('\n').slice(-6).join('\n');
      if (err) resolve({ ok: false, reason: `could not start ${args[0]}: ${err.message}`, output: tail });
      else if (code === 0) resolve({ ok: true, output: tail });
      else
        resolve({
          ok: false,
          reason: `${timedOut ? `timed out after ${Math.round(timeoutMs / 1000)} s` : code !== null ? `exit ${code}` : `killed by ${sig}`}${lastLines ? `: ${lastLines}` : ''}`,
          output: tail,
        });
    };
    child.once('error', (e) => finish(null, null, e));
    child.once('close', (code, sig) => finish(code, sig));
  });
}
