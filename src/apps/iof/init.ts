/**
 * `sigflow iof init`: a project folder from the metadata workbook — the project file (iof.yaml), a `sigflow run`
 * configuration (sigflow.yaml: the MQTT source with a persistent session and the packets payload, the iof sink,
 * the store sink for dashboards) and the broker password in .env (mode 0600, never in the config). Safe to run
 * again: the project file is rewritten from the workbook; the configuration is rewritten only when broker
 * settings are given (or it does not exist yet); the databases and the outbox are never touched.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { SigflowError } from '../../errors/index.js';
import { writeFileAtomicSync } from '../../io/index.js';
import { type IofProject, saveProject } from '../../sinks/iof/index.js';
import { readWorkbook } from './workbook.js';

/** The broker the backend subscribes to (asked interactively by the CLI, or given as flags / environment). */
export interface BrokerSettings {
  /** mqtt://host:port (or mqtts://). */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
}

export interface InitOptions {
  /** The project folder (created if missing). */
  readonly dir: string;
  readonly workbook: string;
  /** IANA zone of the local date/hour columns (default UTC). */
  readonly timeZone?: string;
  /** Broker settings; absent: keep the existing configuration (an error if there is none). */
  readonly broker?: BrokerSettings;
  /** Keep the tables in PostgreSQL too (a connection string; its password may be a ${VAR}). */
  readonly postgres?: string;
}

export interface InitResult {
  readonly project: IofProject;
  readonly projectFile: string;
  readonly configFile: string;
  /** Whether sigflow.yaml was (re)written. */
  readonly configWritten: boolean;
  readonly envFile?: string;
}

/** The files of a project folder. */
export function projectPaths(dir: string) {
  const d = resolve(dir);
  return {
    dir: d,
    project: join(d, 'iof.yaml'),
    config: join(d, 'sigflow.yaml'),
    env: join(d, '.env'),
    database: join(d, 'iof.db'),
    store: join(d, 'store.db'),
    data: join(d, 'data'),
  };
}

/** The environment variable sigflow.yaml reads the broker password from (kept in the folder's .env). */
export const PASSWORD_VARIABLE = 'IOF_MQTT_PASSWORD';

/** The run configuration of a project folder. */
export function runConfig(
  project: IofProject,
  dir: string,
  broker: BrokerSettings,
  postgres?: string,
): Record<string, unknown> {
  const p = projectPaths(dir);
  return {
    outbox: { data_dir: p.data },
    pipelines: [
      {
        name: 'iof',
        source: {
          type: 'mqtt',
          url: broker.url,
          // fixed, so the broker keeps the session (and the uplinks sent while sigflow is down)
          client_id: `sigflow-iof-${project.name}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64),
          ...(broker.username ? { username: broker.username } : {}),
          ...(broker.password ? { password: `\${${PASSWORD_VARIABLE}}` } : {}),
          clean: false,
          topics: project.mqtt_topics.map((t) => ({ topic: t.topic, qos: t.qos })),
          payload: {
            format: 'packets',
            spec: 'iof',
            envelope: true,
            measurement_prefix: 'iof_',
            tags: ['tbr_serial_id', 'tag_id', 'frequency'],
          },
        },
      },
    ],
    sinks: [
      {
        type: 'iof',
        project: p.project,
        path: p.database,
        ...(postgres ? { postgres: { connection_string: postgres } } : {}),
      },
      // the decoded rows for dashboards (Grafana through `sigflow serve --store`, the console)
      { type: 'store', path: p.store, measurements: { exclude: ['iof_message'] } },
    ],
  };
}

function writeAtomic(path: string, text: string, mode?: number): void {
  try {
    writeFileAtomicSync(path, text, mode);
  } catch (e) {
    throw new SigflowError('SF_ERR_IOF_PROJECT', `cannot write ${path}: ${(e as Error).message}`, {
      where: path,
      cause: e,
    });
  }
}

/** .env with the password set (other lines kept). */
function withPassword(existing: string | undefined, password: string): string {
  const lines = (existing ?? '').split('\n').filter((l) => l.length > 0 && !l.startsWith(`${PASSWORD_VARIABLE}=`));
  // single-quoted: the .env reader takes the value literally
  lines.push(`${PASSWORD_VARIABLE}='${password}'`);
  return `${lines.join('\n')}\n`;
}

export async function initProject(o: InitOptions): Promise<InitResult> {
  const p = projectPaths(o.dir);
  // what would fail is said before anything is written (a project file without a config was left behind)
  if (!o.broker && !existsSync(p.config))
    throw new SigflowError(
      'SF_ERR_USAGE',
      `${p.config} does not exist yet: give the broker (--broker mqtt://host:1883, --username, and the password in $${PASSWORD_VARIABLE}) or run init in a terminal to be asked`,
    );
  if (o.broker?.password?.includes("'"))
    throw new SigflowError('SF_ERR_USAGE', 'the broker password may not contain a single quote (it is kept in .env)');
  const project = await readWorkbook(o.workbook, {
    timeZone: o.timeZone ?? 'UTC',
    name: basename(p.dir),
  });
  try {
    mkdirSync(p.dir, { recursive: true });
  } catch (e) {
    throw new SigflowError('SF_ERR_IOF_PROJECT', `cannot create ${p.dir}: ${(e as Error).message}`, { where: p.dir });
  }
  await saveProject(p.project, project, { workbook: o.workbook });
  let configWritten = false;
  let envFile: string | undefined;
  if (o.broker) {
    const secret = o.broker.password !== undefined ? ' The broker password is in .env beside this file.' : '';
    const header = `# sigflow run -c ${p.config}\n# The IoF backend of ${project.name}, written by \`sigflow iof init\` (edit freely; re-running init with\n# broker settings rewrites it).${secret}\n`;
    writeAtomic(p.config, header + stringify(runConfig(project, p.dir, o.broker, o.postgres), { lineWidth: 120 }));
    configWritten = true;
    if (o.broker.password !== undefined) {
      writeAtomic(
        p.env,
        withPassword(existsSync(p.env) ? readFileSync(p.env, 'utf8') : undefined, o.broker.password),
        0o600,
      );
      envFile = p.env;
    }
  }
  return { project, projectFile: p.project, configFile: p.config, configWritten, envFile };
}
