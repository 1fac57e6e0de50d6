/**
 * `sigflow update-guard`: decides an update after the switch (src/update's guardUpdate). The old version starts it,
 * detached, before it exits; it waits for the new version to answer healthy with its version (→ done, old versions
 * pruned) or rolls back at the deadline and stops the new version's process (the service manager then starts the
 * restored `current`). Not for everyday use: listed in `sigflow --help` only as a pointer to src/update/README.md.
 */
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import { parseTimerMs } from '../units/index.js';

interface GuardOpts {
  root: string;
  health: string;
  status?: string;
  to: string;
  deadline: string;
  poll: string;
  keep: string;
}

export function registerUpdateCommands(program: Command): void {
  program
    .command('update-guard')
    .description('after an update switched versions: wait for the new one to answer healthy, or roll back')
    .requiredOption('--root <dir>', 'the install root (versions/, current, previous, state/) (required)')
    .requiredOption('--health <url>', 'the new version’s health URL, e.g. http://127.0.0.1:9464/healthz (required)')
    .requiredOption('--to <version>', 'the version switched to: /status must report it (required)')
    .option('--status <url>', 'its /status URL (default: /status beside --health)')
    .option('--deadline <duration>', 'how long the new version has to answer healthy', '120s')
    .option('--poll <duration>', 'time between two checks', '1s')
    .option('--keep <n>', 'versions kept after a good update (current and previous at least)', '2')
    .addHelpText(
      'after',
      `
Polls --health (200) and /status ("version" equal to --to). Healthy before the deadline: <root>/state/update.json
becomes "done" and version folders beyond --keep are removed. Not by then: <root>/current is pointed back at
<root>/previous, the state becomes "rolled_back" with the reason, and the process that recorded --to in
<root>/state/running.pid gets SIGTERM (SIGKILL 10 s later), so the service manager starts the old version again.
Exit status 0 when done (or nothing to decide), 1 when rolled back. See src/update/README.md.

Examples:
  sigflow update-guard --root /opt/sigflow --health http://127.0.0.1:9464/healthz --to 1.4.2 --deadline 60s`,
    )
    .action(async (opts: GuardOpts) => {
      const ms = (text: string, what: string) => parseTimerMs(text, what);
      const keep = Number(opts.keep);
      if (!Number.isSafeInteger(keep) || keep < 1)
        throw new SigflowError('SF_ERR_USAGE', `--keep ${opts.keep}: a whole number ≥ 1`);
      const { guardUpdate } = await import('../update/index.js');
      const r = await guardUpdate({
        root: opts.root,
        healthUrl: opts.health,
        statusUrl: opts.status,
        expectVersion: opts.to,
        deadlineMs: ms(opts.deadline, '--deadline'),
        pollMs: ms(opts.poll, '--poll'),
        keep,
        log: (line) => process.stderr.write(`sigflow update-guard: ${new Date().toISOString()} ${line}\n`),
      });
      process.stdout.write(`${r.status}${r.reason ? `: ${r.reason}` : ''}\n`);
      if (r.status === 'rolled_back') process.exitCode = 1;
    });
}
