/**
 * `sigflow iof init | status | position`: the Internet-of-Fish application (src/apps/iof) — a shell that asks for
 * the broker when run in a terminal, calls the library and prints.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import {
  type BrokerSettings,
  initProject,
  iofStatus,
  PASSWORD_VARIABLE,
  positionAll,
  projectPaths,
} from '../apps/iof/index.js';
import { SigflowError } from '../errors/index.js';
import { IofDatabase, loadProject } from '../sinks/iof/index.js';

/** Asks on the terminal (stderr); `secret` hides what is typed. */
async function ask(question: string, secret = false): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (secret) {
    const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WritableStream };
    out._writeToOutput = (s: string) => {
      if (s.startsWith(question)) process.stderr.write(question);
    };
  }
  try {
    return (await new Promise<string>((resolve) => rl.question(question, resolve))).trim();
  } finally {
    rl.close();
    if (secret) process.stderr.write('\n');
  }
}

async function askBroker(): Promise<BrokerSettings> {
  const host = (await ask('MQTT broker host [127.0.0.1]: ')) || '127.0.0.1';
  const port = (await ask('and port [1883]: ')) || '1883';
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535)
    throw new SigflowError('SF_ERR_USAGE', `port ${port}: expected 1–65535`);
  const username = await ask('username (empty: none): ');
  const password = username ? await ask('password: ', true) : '';
  return {
    url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`,
    username: username || undefined,
    password: password || undefined,
  };
}

export function registerIofCommands(program: Command): void {
  const iof = program
    .command('iof')
    .description('Internet of Fish: acoustic tags heard by TBRs over LoRa/MQTT → tables, backup and TDOA positions');

  iof
    .command('init')
    .description('make (or update) a project folder from the metadata workbook: iof.yaml, sigflow.yaml, .env')
    .argument('<dir>', 'the project folder (created if missing)')
    .requiredOption('--workbook <xlsx>', 'the metadata workbook (the format of metadata_example.xlsx) (required)')
    .option('--time-zone <zone>', 'IANA time zone of the local date/hour columns, e.g. Europe/Oslo', 'UTC')
    .option('--broker <url>', 'the MQTT broker, mqtt://host:1883 (without it, in a terminal, you are asked)')
    .option('--username <user>', 'broker user name')
    .option(
      '--postgres <url>',
      'keep the tables in PostgreSQL too: postgres://user@host:5432/db (with broker settings)',
    )
    .option('--no-ask', 'never ask (unattended installs): keep the existing sigflow.yaml unless --broker is given')
    .addHelpText(
      'after',
      `
Writes <dir>/iof.yaml (the project, from the workbook: TBRs, cages, tags, topics), <dir>/sigflow.yaml (the
backend: an MQTT source with a persistent session and the iof packet spec, the iof tables, the store for
dashboards) and the broker password in <dir>/.env (mode 0600; sigflow.yaml reads \${${PASSWORD_VARIABLE}}).
The password comes from $${PASSWORD_VARIABLE}, or is asked in a terminal. Running init again is safe: the project
is rewritten from the workbook, sigflow.yaml only when broker settings are given; data is never touched.
A broken workbook is reported by sheet, cell and column (exit status 2).
Then: sigflow run -c <dir>/sigflow.yaml   (and sigflow iof status <dir>)

Examples:
  sigflow iof init farm --workbook metadata.xlsx --time-zone Europe/Oslo
  ${PASSWORD_VARIABLE}=secret sigflow iof init farm --workbook metadata.xlsx --broker mqtt://10.0.0.5:1883 --username iof --no-ask
  sigflow iof init farm --workbook metadata.xlsx --no-ask     (after editing the workbook: the project only)`,
    )
    .action(
      async (
        dir: string,
        opts: {
          workbook: string;
          timeZone: string;
          broker?: string;
          username?: string;
          postgres?: string;
          ask: boolean;
        },
      ) => {
        let broker: BrokerSettings | undefined;
        if (opts.broker) {
          if (!/^mqtts?:\/\/[^\s/]+$/.test(opts.broker))
            throw new SigflowError(
              'SF_ERR_USAGE',
              `--broker ${opts.broker}: expected mqtt://host:port or mqtts://host:port`,
            );
          broker = { url: opts.broker, username: opts.username, password: process.env[PASSWORD_VARIABLE] || undefined };
        } else if (opts.ask && process.stdin.isTTY) {
          process.stderr.write('The MQTT broker the LoRa gateway publishes to:\n');
          broker = await askBroker();
        }
        if (opts.postgres && !/^postgres(ql)?:\/\//.test(opts.postgres))
          throw new SigflowError(
            'SF_ERR_USAGE',
            `--postgres ${opts.postgres}: expected postgres://user@host:5432/database`,
          );
        if (opts.postgres && !broker)
          throw new SigflowError(
            'SF_ERR_USAGE',
            '--postgres goes with the broker settings (--broker, or the questions in a terminal)',
          );
        const r = await initProject({
          dir,
          workbook: opts.workbook,
          timeZone: opts.timeZone,
          broker,
          postgres: opts.postgres,
        });
        const p = r.project;
        process.stdout.write(
          [
            `project ${p.name}: ${p.tbrs.length} TBRs, ${p.tags.length} tags (${p.tags.filter((t) => t.depth).length} depth), ${p.cages.length} cages` +
              `${p.positioning.enabled ? ` (positioning: ${p.positioning.active_cages.join(', ')})` : ' (positioning off)'}, topics ${p.mqtt_topics.map((t) => `${t.topic} QoS ${t.qos}`).join(', ')}`,
            `wrote ${r.projectFile}`,
            r.configWritten ? `wrote ${r.configFile}` : `kept ${r.configFile}`,
            ...(r.envFile ? [`wrote ${r.envFile} (the broker password, mode 0600)`] : []),
            `run it: sigflow run -c ${r.configFile}`,
            '',
          ].join('\n'),
        );
      },
    );

  iof
    .command('status')
    .description(
      'what the IoF database holds: messages, rows per table, errors, the last message per TBR, positions per cage',
    )
    .argument('<dir>', 'the project folder (or give --db)')
    .option('--db <file>', 'the IoF database (default <dir>/iof.db)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Read-only; safe while sigflow run writes. Times are UNIX seconds as the TBRs report them (received_at: UTC).

Examples:
  sigflow iof status farm
  sigflow iof status farm --json | jq .rows`,
    )
    .action((dir: string, opts: { db?: string; json?: boolean }) => {
      const s = iofStatus(opts.db ?? projectPaths(dir).database);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        return;
      }
      const lines = [
        `${s.database}: ${s.messages} messages (${s.messagesWithErrors} with errors)`,
        `rows: gps ${s.rows.gps}, tag ${s.rows.tag}, tbr ${s.rows.tbr}, positions ${s.rows.positions}`,
        'TBR    rows        last timestamp (UTC)      last received (UTC)',
        ...s.tbrs.map(
          (t) =>
            `${String(t.tbr_serial_id).padEnd(6)} ${String(t.rows).padEnd(11)} ${new Date(t.last_timestamp * 1000).toISOString().padEnd(25)} ${t.last_received ?? '-'}`,
        ),
        ...(s.positionsPerCage.length
          ? [
              'positions per cage:',
              ...s.positionsPerCage.map(
                (c) => `  ${c.cage_name}: ${c.positions} (last ${new Date(c.last_timestamp * 1000).toISOString()})`,
              ),
            ]
          : ['positions: none']),
        ...(s.recentErrors.length
          ? [
              'latest decode errors:',
              ...s.recentErrors.map((e) => `  message ${e.message_id} (${e.received_at}): ${e.error}`),
            ]
          : []),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  iof
    .command('position')
    .description('position every depth-tag detection in the database again (the same rows live positioning gives)')
    .argument('<dir>', 'the project folder')
    .requiredOption('--all', 'over the whole database: the positions table is rebuilt (required)')
    .option('--db <file>', 'the IoF database (default <dir>/iof.db)')
    .option('--project <file>', 'the project file (default <dir>/iof.yaml)')
    .addHelpText(
      'after',
      `
Use it after changing the project (cages, station depth, tags' conversion factors apply to new rows only) or to
check the live positions. The positions table is replaced in one transaction.

Examples:
  sigflow iof position farm --all`,
    )
    .action(async (dir: string, opts: { db?: string; project?: string }) => {
      const p = projectPaths(dir);
      const project = await loadProject(opts.project ?? p.project);
      const db = IofDatabase.open(opts.db ?? p.database);
      try {
        const r = positionAll(db, project);
        const why = Object.entries(r.outcomes)
          .filter(([k]) => k !== 'positioned' && k !== 'known')
          .map(([k, n]) => `${k} ${n}`)
          .join(', ');
        process.stdout.write(
          `${r.detections} depth-tag detections → ${r.positions} positions in ${r.seconds.toFixed(2)} s${why ? ` (no position: ${why})` : ''}\n`,
        );
      } finally {
        db.close();
      }
    });
}
