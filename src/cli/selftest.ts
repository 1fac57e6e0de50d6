/**
 * `sigflow selftest [-c FILE]`: this installation checks itself — native modules load, the config validates (as
 * `sigflow check`), the outbox of its data_dir can be read by this version, a DBC frame decodes — one line per
 * check, exit 0 when all pass, 1 when one fails. An update runs it with the new version's own bin/sigflow before
 * switching to it (src/update).
 */
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';

export function registerSelftestCommands(program: Command): void {
  program
    .command('selftest')
    .description('check this installation: native modules, the config, the outbox, the codecs (one line per check)')
    .option('-c, --config <file>', 'the configuration sigflow run uses (its outbox is opened read-only)')
    .addHelpText(
      'after',
      `
Checks, each on a line "ok   <check>: …" or "FAIL <check>: …":
  native  better-sqlite3 opens a database in memory (and serialport's addon loads, when a pipeline is serial)
  config  the file is valid as "sigflow check" finds it (schema, \${VAR}s, DBC files)     [with -c]
  outbox  the outbox in outbox.data_dir opens read-only in this version (schema known)  [with -c]
  codecs  a DBC built in memory decodes a frame to the expected value
Creates and changes nothing. Exit status 0 when every check passes, 1 otherwise (SF_ERR_UPDATE_SELFTEST).

Examples:
  sigflow selftest
  sigflow selftest -c /etc/sigflow/agent.yaml
  node /opt/sigflow/versions/1.4.2/bin/sigflow selftest -c /etc/sigflow/agent.yaml`,
    )
    .action(async (opts: { config?: string }) => {
      const [{ runSelftestChecks, formatCheck }, { checkConfigFile }] = await Promise.all([
        import('../update/index.js'),
        import('../supervisor/index.js'),
      ]);
      const checks = await runSelftestChecks({ configPath: opts.config, checkConfig: (p) => checkConfigFile(p) });
      for (const c of checks) process.stdout.write(`${formatCheck(c)}\n`);
      const failed = checks.filter((c) => !c.ok);
      if (failed.length > 0)
        throw new SigflowError(
          'SF_ERR_UPDATE_SELFTEST',
          `selftest: ${failed.length} of ${checks.length} check(s) failed: ${failed.map((c) => c.name).join(', ')}`,
        );
    });
}
