/**
 * The one catalogue of sigflow's error and warning codes (the model: fastify's FST_ERR_* table).
 *
 * Every error sigflow raises on purpose is a {@link SigflowError} carrying one of these codes; every warning it
 * reports carries one of the SF_WARN_* codes. A code is stable: once released it keeps its meaning, so people,
 * scripts, HTTP clients and metric labels can rely on it. `exit` is the process exit status the command line
 * gives for the error (2 = the input or the invocation is wrong, 1 = it could not be done), `http` the status a
 * server answers with. docs/errors.md is generated from this table (`npm run docs:errors`) and a test keeps the
 * two in step and checks that every code here is used in src/ and every code used in src/ is here.
 *
 * Add a code in its area's section, in the form SF_ERR_<AREA>_<WHAT>; say what it means and what to do.
 */

export interface ErrorSpec {
  /** Process exit status of the command line. */
  readonly exit: 1 | 2;
  /** HTTP status a server answers with. */
  readonly http: number;
  /** What happened, in one sentence. */
  readonly means: string;
  /** What the person reading it can do. */
  readonly action: string;
}

export interface WarningSpec {
  readonly means: string;
  readonly action: string;
}

const usage = (means: string, action: string): ErrorSpec => ({ exit: 2, http: 400, means, action });
const failure = (means: string, action: string, http = 500): ErrorSpec => ({ exit: 1, http, means, action });

export const ERRORS = {
  // ── general ────────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_USAGE: usage(
    'A command was called with missing, conflicting or malformed arguments.',
    'Read the message and the command’s --help; the examples there work as written.',
  ),
  SF_ERR_INTERNAL: failure(
    'An internal invariant did not hold: a bug in sigflow, not in your input.',
    'Run again with SIGFLOW_DEBUG=1 to see the stack and report it with the command that caused it.',
  ),

  // ── units: times, durations, sizes ─────────────────────────────────────────────────────────────────────
  SF_ERR_UNITS_TIME: usage(
    'A time could not be read: it is neither RFC 3339 / ISO 8601 (a real calendar date) nor integer nanoseconds.',
    'Write it like 2024-01-02T03:04:05Z (UTC unless an offset is given), 2024-01-02, or 1704164645000000000.',
  ),
  SF_ERR_UNITS_DURATION: usage(
    'A duration could not be read, or is out of the allowed range.',
    'Write a number and a unit: 500ms, 30s, 1.5m, 2h, 7d, 2w (units ns, us, ms, s, m, h, d, w).',
  ),
  SF_ERR_UNITS_SIZE: usage(
    'A size could not be read, or is out of the allowed range.',
    'Write a number and a unit: 512B, 64KiB, 8MiB, 1GiB, 1.5GB (or a plain number of bytes).',
  ),

  // ── config ─────────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_CONFIG_INVALID: usage(
    'A configuration value does not fit its schema; the message names the key path.',
    'Fix the named key; `sigflow check -c FILE` validates a file, and examples/ has working configurations.',
  ),

  // ── io ──────────────────────────────────────────────────────────────────────────────────────────

  // ── dbc ──────────────────────────────────────────────────────────────────────────────────────────

  // ── mdf4 ──────────────────────────────────────────────────────────────────────────────────────────

  // ── canedge ──────────────────────────────────────────────────────────────────────────────────────────

  // ── parquet ──────────────────────────────────────────────────────────────────────────────────────────

  // ── store ──────────────────────────────────────────────────────────────────────────────────────────

  // ── outbox ──────────────────────────────────────────────────────────────────────────────────────────

  // ── sink ──────────────────────────────────────────────────────────────────────────────────────────

  // ── logdecode ──────────────────────────────────────────────────────────────────────────────────────────

  // ── logimport ──────────────────────────────────────────────────────────────────────────────────────────

  // ── cli ──────────────────────────────────────────────────────────────────────────────────────────
} as const satisfies Record<string, ErrorSpec>;

export const WARNINGS = {
  // ── dbc (the DBC parser's quirks) ───────────────────────────────────────────────────────────────────
  // ── mdf4 ──────────────────────────────────────────────────────────────────────────────────────────────
  // ── canedge ───────────────────────────────────────────────────────────────────────────────────────────
  // ── outbox ────────────────────────────────────────────────────────────────────────────────────────────
  // ── sink ──────────────────────────────────────────────────────────────────────────────────────────────
  // ── logdecode ─────────────────────────────────────────────────────────────────────────────────────────
} as const satisfies Record<string, WarningSpec>;

export type ErrorCode = keyof typeof ERRORS;
export type WarningCode = keyof typeof WARNINGS;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}
