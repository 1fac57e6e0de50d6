/**
 * sigflow's command line. Each area registers its own subcommands from its module under src/cli/; program.ts
 * assembles them (this file loads only the command being run when it can: programFor); this file is the one place
 * that turns an error into a line on stderr and an exit status:
 * - a SigflowError prints `sigflow: <message>` and exits with its catalogue status (2: the input or the invocation
 *   is wrong; 1: it could not be done) — commands never pick exit statuses themselves;
 * - a usage error found by commander (unknown option, missing argument) exits 2 after commander's own message;
 * - an ordinary condition of the machine that reached here without a SigflowError (EACCES, EROFS, ENOSPC, ENOENT,
 *   EBUSY…, SQLITE_CORRUPT/NOTADB/BUSY…) prints one line saying what it means (SF_ERR_CLI_SYSTEM/DATABASE), exit 1;
 * - anything else is a bug: one line naming SF_ERR_INTERNAL, exit 1.
 * Every line ends with the error's code in parentheses.
 * The stack trace (and the chain of causes) is printed only with SIGFLOW_DEBUG=1.
 */
import { type Command, CommanderError } from 'commander';
import { ERRORS, SigflowError } from '../errors/index.js';
import { exitWhenWritten, writeError } from '../io/index.js';
import { VERSION } from '../version/index.js';
import { COMMANDS, indexProgram } from './commands.js';
import { rootProgram } from './root.js';

export { VERSION };

/**
 * The program for `argv`: for a command of COMMANDS (or `help <command>`) the root with that command's module only, for `--version` the
 * root alone, for the index (`sigflow`, `sigflow --help`, `sigflow help`) the root with COMMANDS' placeholders,
 * else (an unknown name: commander's suggestions) every command.
 */
async function programFor(argv: string[]): Promise<Command> {
  const args = argv.slice(2);
  // `sigflow --version`: the root alone (it holds the version), not every command's libraries
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) return rootProgram();
  if (args.length === 0 || (args.length === 1 && ['--help', '-h', 'help'].includes(args[0]))) return indexProgram();
  // `sigflow help <command>` is `<command> --help`: that command's module alone
  const name = args[0] === 'help' && args.length === 2 ? args[1] : args[0];
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) return (await import('./program.js')).buildProgram();
  const program = rootProgram();
  (await entry.load())(program);
  return program;
}

/** A failed write to stdout was reported already (by the command's error), so the stream's 'error' stays quiet. */
let stdoutFailureReported = false;

export async function main(argv: string[]): Promise<void> {
  // Output piped into `head` & co.: a closed pipe ends the command quietly instead of crashing it.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    // stdout on a full disk or a failing device (`> /dev/full`): one line and exit 1, not a stack trace (the
    // command's writer may have reported it already: SF_ERR_IO_WRITE on stdout)
    if (!stdoutFailureReported) reportError(writeError('stdout', e));
    process.exit(ERRORS.SF_ERR_IO_WRITE.exit);
  });
  // An error thrown outside the command's promise (an event handler, a stray rejection) still gets one line and
  // an exit status here, not Node's stack dump.
  const fatal = (err: unknown) => process.exit(reportError(err));
  process.once('uncaughtException', fatal);
  process.once('unhandledRejection', fatal);
  try {
    const program = await programFor(argv);
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof SigflowError && err.code === 'SF_ERR_IO_WRITE' && err.where === 'stdout')
      stdoutFailureReported = true;
    process.exitCode = reportError(err);
  }
}

/**
 * Runs the command line, then ends the process once standard output and error have taken everything written to
 * them (exitWhenWritten: not by letting the event loop run dry, where Node 20 can deadlock). The daemons (`run`,
 * `serve`) return from main() only once stopped; a command's files are closed before it returns.
 */
export async function runAndExit(argv: string[]): Promise<void> {
  await main(argv);
  await exitWhenWritten();
}

/** Prints `err` on stderr as described in the module comment and returns the exit status. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end with status 0; every other commander error is a usage error, already printed
    return err.exitCode === 0 ? 0 : ERRORS.SF_ERR_USAGE.exit;
  }
  const debug = process.env.SIGFLOW_DEBUG === '1';
  const known = err instanceof SigflowError ? err : ordinaryCondition(err);
  if (known) {
    // a config file's problems one per line (file:line: key.path: what), each with the code; anything else on one
    if (known.code === 'SF_ERR_CONFIG_INVALID' && known.message.includes('\n'))
      for (const line of known.message.split('\n')) process.stderr.write(`sigflow: ${line.trim()} (${known.code})\n`);
    else process.stderr.write(`sigflow: ${oneLine(known.message)} (${known.code})\n`);
  } else {
    const message = err instanceof Error ? err.message : String(err);
    const hint = debug ? '' : '; set SIGFLOW_DEBUG=1 for the stack';
    process.stderr.write(`sigflow: internal error: ${oneLine(message)} (SF_ERR_INTERNAL${hint})\n`);
  }
  if (debug) process.stderr.write(`${stackOf(err)}\n`);
  return known ? known.exitCode : ERRORS.SF_ERR_INTERNAL.exit;
}

/** A message on one line (an error text with newlines would look like several errors). */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, '; ');
}

/** What each ordinary operating-system condition means for the person running the command. */
const OS_CONDITIONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied (run as a user who may access it, or choose another location)',
  EPERM: 'operation not permitted (run as a user who may do it, or choose another location)',
  EROFS: 'read-only file system (choose a writable location, e.g. --data-dir)',
  ENOSPC: 'no space left on the device (free space or choose another location)',
  EDQUOT: 'disk quota exceeded (free space or choose another location)',
  ENOENT: 'no such file or folder (check the path; its parent folder must exist and be reachable)',
  ENOTDIR: 'a part of the path is a file, not a folder (check the path)',
  EISDIR: 'is a folder, not a file (give a file name)',
  EBUSY: 'busy: another process is using it (try again when it is done)',
  EMFILE: 'too many open files (raise the limit with ulimit -n)',
  EIO: 'input/output error (the device may be failing)',
};

const SQLITE_CONDITIONS: Readonly<Record<string, string>> = {
  SQLITE_CORRUPT: 'the database file is damaged (move it aside; a new one is created on the next run)',
  SQLITE_NOTADB: 'the file is not an SQLite database (check the path; move the file aside)',
  SQLITE_BUSY: 'the database is busy in another process (wait for it to finish)',
  SQLITE_LOCKED: 'the database is locked by another process (wait for it to finish)',
  SQLITE_READONLY: 'the database is read-only (check the permissions of the file and its folder)',
  SQLITE_FULL: 'the disk is full (free space or choose another location)',
  SQLITE_CANTOPEN: 'the database file cannot be opened (check the path and the permissions of its folder)',
};

/**
 * The safety net under the raising sites: an exception that is an ordinary condition of the machine (an OS
 * error code, an SQLite error code, a string too long to build) rather than a bug, turned into a one-line
 * SigflowError. The sites that can raise these should throw a SigflowError themselves, with more context.
 */
function ordinaryCondition(err: unknown): SigflowError | null {
  if (!(err instanceof Error)) return null;
  const e = err as NodeJS.ErrnoException & { dest?: string };
  const code = typeof e.code === 'string' ? e.code : '';
  const os = OS_CONDITIONS[code];
  if (os) {
    const what = [e.syscall, e.path, e.dest ? `→ ${e.dest}` : ''].filter(Boolean).join(' ');
    return new SigflowError('SF_ERR_CLI_SYSTEM', `${what ? `${what}: ` : ''}${os} [${code}]`, {
      where: e.path,
      cause: err,
    });
  }
  const sqlite = code.startsWith('SQLITE_')
    ? (SQLITE_CONDITIONS[code] ?? SQLITE_CONDITIONS[code.replace(/_[A-Z]+$/, '')])
    : undefined;
  if (sqlite || code.startsWith('SQLITE_IOERR')) {
    const why = sqlite ?? 'an input/output error in the database file (the disk may be full or failing)';
    return new SigflowError('SF_ERR_CLI_DATABASE', `${err.message}: ${why} [${code}]`, { cause: err });
  }
  if (err instanceof RangeError && /Invalid string length/.test(err.message)) {
    return new SigflowError('SF_ERR_CLI_TOO_LARGE', 'the output is too large to build in memory', { cause: err });
  }
  return null;
}

/** The stack of an error and of its causes. */
function stackOf(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 10; depth++) {
    const code = e instanceof SigflowError ? ` [${e.code}${e.where ? ` at ${e.where}` : ''}]` : '';
    parts.push(`${depth === 0 ? '' : 'caused by: '}${e instanceof Error ? (e.stack ?? e.message) : String(e)}${code}`);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join('\n');
}
