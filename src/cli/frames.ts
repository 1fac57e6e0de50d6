/**
 * `sigflow frames <files or folders…>`: the raw bus events of CANedge/MDF4 logs as NDJSON or CSV — a shell over
 * runFramesJob (src/pipelines/logdecode).
 */
import type { Command } from 'commander';
import { SigflowError } from '../errors/index.js';
import { FRAMES_CSV_HEADER, type LogStats, runFramesJob } from '../pipelines/logdecode/index.js';
import { addCommonOptions, type CommonOptions, prepare } from './log-args.js';
import { reportHooks, summarise } from './log-report.js';
import { openOutput } from './output.js';

export function registerFramesCommands(program: Command): void {
  const cmd = program
    .command('frames')
    .description('raw bus frames of CANedge / MDF4 logs (MF4, MFC, MFE, MFM; folders are read recursively)')
    .argument('<inputs...>', 'log files or folders, or s3://bucket/prefix');
  addCommonOptions(cmd)
    .option('--format <format>', 'ndjson or csv', 'ndjson')
    .addHelpText(
      'after',
      `
NDJSON lines (t = ns since the epoch, as a string; device = the log's serial number; data = hex of the first
len bytes; ext = 29-bit id; dir 0 Rx, 1 Tx) — the frame lines \`sigflow dbc decode\` reads:
  {"t":"1641469577108050000","device":"2F6913DB","bus":"CAN","chn":1,"id":291,"ext":false,"dir":0,"dlc":8,"len":8,"edl":false,"brs":false,"data":"0a1b…"}
Remote and error events carry "kind":"remote"|"error" before "data"; data frames (CAN and LIN) have no kind.
  sigflow frames LOG/ | sigflow dbc decode --dbc vehicle.dbc    (the values of sigflow decode LOG/ --dbc vehicle.dbc)
CSV columns: ${FRAMES_CSV_HEADER.trim()}
--from/--to: e.g. 2024-01-02T03:04:05Z; a time without an offset is UTC (2024-01-02T03:04:05 = …05Z).
Files are read in CANedge tree order (device, session, split); a file that cannot be read is reported on
stderr and skipped (exit status 1 at the end). A summary line goes to stderr. Bad arguments: exit status 2.

Examples:
  sigflow frames LOG/ --from 2024-01-02T03:00:00Z --to 2024-01-02T04:00:00Z
  sigflow frames LOG/2F6913DB/00000001/00000001.MF4 --format csv -o frames.csv
  sigflow frames LOG/ --passwords passwords.json | head`,
    )
    .action(async (paths: string[], opts: CommonOptions) => {
      const format = opts.format.toLowerCase();
      if (format !== 'ndjson' && format !== 'csv') {
        throw new SigflowError('SF_ERR_USAGE', `--format ${opts.format}: frames supports ndjson or csv`);
      }
      const prep = await prepare(paths, opts);
      const t0 = performance.now();
      const out = openOutput(opts.output);
      const { hooks, stop } = reportHooks('frames', prep, opts);
      let stats: LogStats;
      try {
        stats = await runFramesJob({ ...prep, format }, out.stream, hooks);
      } catch (e) {
        stop();
        return out.fail(e); // a failed write removes the partial -o file and says so
      }
      stop();
      await out.finish();
      summarise('frames', stats, prep, (performance.now() - t0) / 1000, false);
    });
}
