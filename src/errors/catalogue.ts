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
    'Fix the named key; every component documents its keys in its README, with a working sample.yaml beside it.',
  ),

  // ── io ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_IO_OPEN: failure(
    'A file could not be opened for reading: it is missing, not a regular file, or not readable by this user.',
    'Check the path and its permissions; the message names the file and the system’s reason (ENOENT, EACCES …).',
  ),
  SF_ERR_IO_READ: failure(
    'Reading a file failed in the operating system (an I/O error, a file removed from a network share).',
    'Check the disk or share named in the message and run again; the system’s reason is in the message.',
  ),
  SF_ERR_IO_CLOSED: failure(
    'A byte source was read after it was closed: a bug in sigflow, not in your input.',
    'Run again with SIGFLOW_DEBUG=1 and report the stack with the command that caused it.',
  ),
  SF_ERR_IO_RANGE: failure(
    'A read was asked for a negative, fractional or too large offset or length (damaged offsets in a file, or a bug).',
    'If the message names a damaged file, re-copy it; otherwise report it with SIGFLOW_DEBUG=1 output.',
  ),
  SF_ERR_IO_TRUNCATED: failure(
    'A file ended before the bytes a reader needed: it is truncated (an interrupted copy or upload, a log still being written).',
    'Copy the file again from the device, card or bucket; the message names the file, the offset and its size.',
    422,
  ),
  SF_ERR_IO_WRITE: failure(
    'Output could not be written (no space left, an I/O error, a closed stream); the message names the file or stdout and the system’s reason.',
    'Free space or choose another place; a partial output file is removed, or named in the message when it cannot be.',
  ),
  SF_ERR_IO_MKDIR: failure(
    'A folder could not be created (a parent is missing or not a folder, no permission, a read-only or special file system such as /proc).',
    'Check the path named in the message (and the level named after it) and its permissions, or choose another folder.',
  ),

  // ── dbc ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_DBC_SYNTAX: usage(
    'A DBC file does not fit the DBC grammar, or describes a signal that cannot exist; the message names file:line:column and what was expected.',
    'Fix the file at the named position (the statement there, or the one before it if a ; or " is missing).',
  ),
  SF_ERR_DBC_STRICT: usage(
    'Strict mode is on and the DBC file has a quirk that lenient loading accepts with a warning; the message names the quirk code.',
    'Fix the file at the named position, or load it without --strict to get the quirk as a warning.',
  ),
  SF_ERR_DBC_READ: usage(
    'A DBC file could not be read (missing, unreadable, a directory).',
    'Check the path and its permissions.',
  ),
  SF_ERR_DBC_ID_CLASH: usage(
    'Two different DBC files loaded together (one set) define the same frame id; the message names both places. A frame decodes with one message only.',
    'Give one of the files (a later version usually contains the earlier one), remove the duplicate message from one of them, or (decode, import) give each file to its own channel with --channel CAN<n>=file.dbc.',
  ),
  SF_ERR_DBC_NAME_CLASH: usage(
    'Two different DBC files loaded together define a message with the same name (at different ids): their values would share one output name (measurement).',
    'Rename the message in one file, give one of the files, or (decode, import) give each file to its own channel with --channel CAN<n>=file.dbc.',
  ),
  SF_ERR_DBC_UNKNOWN_MESSAGE: usage(
    'No message of the loaded DBC files has the name asked for.',
    'Check the name (`sigflow dbc inspect FILE` lists the messages); long names from SystemMessageLongSymbol count.',
  ),
  SF_ERR_DBC_ENCODE: usage(
    'Signal values cannot be encoded into the message: a label that is not a value description, a value out of range, a missing value or multiplexer.',
    'Give every signal (and the multiplexer) a value that fits its length, factor and offset, or one of its VAL_ labels.',
  ),
  SF_ERR_DBC_HOST_BYTE_ORDER: failure(
    'The compiled DBC decoder reinterprets float bits in host byte order and runs only on little-endian hosts.',
    'Run sigflow on a little-endian machine (x86-64, ARM64, ppc64le).',
  ),

  // ── mdf4 ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_MDF4_NOT_MDF4: usage(
    'The file is not an MDF4 file (its first 64 bytes are not an MDF identification block).',
    'Check that you gave the right file; CANedge containers (MFC/MFE/MFM) are opened through `sigflow frames`/`decode`.',
  ),
  SF_ERR_MDF4_CORRUPT: failure(
    'The MDF4 file’s block structure is damaged (a link outside the file, a wrong block type, a cycle, a bad length).',
    'The message names the byte offset; re-copy the file from the device or card. Data before damage in the data blocks is still read.',
    422,
  ),
  SF_ERR_MDF4_UNSUPPORTED: failure(
    'The MDF4 file uses something this reader does not support (an MDF version other than 4.x, an unknown DZ zip type).',
    'Convert the file with the logger vendor’s tools (e.g. asammdf) to plain MDF 4.1, or report the file.',
    422,
  ),
  SF_ERR_MDF4_TOO_LARGE: failure(
    'A compressed (##DZ) data block would inflate beyond the reader’s limit (256 MB by default).',
    'The block is most likely damaged; if it is genuine, raise maxDzBytes where the caller offers it.',
    413,
  ),
  SF_ERR_MDF4_WRITE_INPUT: usage(
    'Frames given to the MDF4 writer cannot be stored in the chosen layout (a time before the start time, or not whole µs for canedge-v2).',
    'Give frames at or after the start time, and whole-microsecond times for the canedge-v2 layout.',
  ),

  // ── canedge ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_CANEDGE_NOT_A_LOG: usage(
    'The file is neither MDF4 nor a CANedge Generic File container (MFC, MFE, MFM).',
    'Check that you gave a log file; the message shows how the file starts.',
  ),
  SF_ERR_CANEDGE_UNKNOWN_CONTAINER: failure(
    'A Generic File container of a type, subtype or layer order this reader does not know.',
    'The message names the type and subtype; update sigflow, or convert the file with the vendor’s tools.',
    422,
  ),
  SF_ERR_CANEDGE_TRUNCATED: failure(
    'A container or its compressed stream ends before the format requires: the file is truncated.',
    'Copy the file again from the device, card or bucket.',
    422,
  ),
  SF_ERR_CANEDGE_CORRUPT: failure(
    'A container header has invalid parameters, or its payload does not decode (heatshrink, or the MDF inside).',
    'Copy the file again; if the copy is the same, the file was damaged on the device.',
    422,
  ),
  SF_ERR_CANEDGE_MISSING_PASSWORD: usage(
    'An encrypted log (MFE/MFM) was read without a password for its device.',
    'Give a passwords.json ({"<DEVICEID>": "password", "default": "password"}) that has the device named in the message.',
  ),
  SF_ERR_CANEDGE_WRONG_PASSWORD: usage(
    'An encrypted log did not authenticate: the password is wrong (or the file is truncated or tampered with).',
    'Check the password for the device named in the message in your passwords.json.',
  ),
  SF_ERR_CANEDGE_TOO_LARGE: failure(
    'A container, or what it decodes to, exceeds the reader’s limit (1 GiB by default).',
    'The file is most likely damaged; genuine device splits are a few MB.',
    413,
  ),
  SF_ERR_CANEDGE_PASSWORDS_FILE: usage(
    'The passwords file cannot be read, is not valid JSON, or has an entry that is not "<8 hex digits>" or "default" → string.',
    'Fix the file at the line:column the message names.',
  ),
  SF_ERR_CANEDGE_TREE_UNREADABLE: usage(
    'The folder of a log tree could not be listed (missing, not a folder, no permission).',
    'Check the path given as the log tree.',
  ),
  SF_ERR_CANEDGE_BUILD_OPTIONS: usage(
    'Options for building a CANedge container are invalid (device id not 1–8 hex digits, salt/IV size, iteration count).',
    'Give a device id of 1–8 hex digits, a 16-byte salt, a 12-byte IV and 1…10,000,000 iterations.',
  ),

  // ── zip ──────────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_ZIP_FORMAT: usage(
    'A zip archive (an .xlsx workbook is one) cannot be read: no central directory, a damaged entry, an unknown compression method.',
    'Save the file again from the program that made it; the message names the archive and the entry.',
  ),
  SF_ERR_ZIP_BOUND: usage(
    'A zip archive inflates to more than the limit (or has more entries): a zip bomb, or a file far larger than its kind should be.',
    'Check the file; the message names the archive, the entry and the limit.',
  ),

  // ── parquet ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_PARQUET_WRITE: failure(
    'A Parquet file could not be created, encoded, written, synced or renamed into place (disk full, no permission, missing folder).',
    'Check the output path and free space; nothing is left under the file’s name (the temporary file is removed).',
  ),
  SF_ERR_PARQUET_VALUE: failure(
    'A value does not fit its Parquet column (a null in a required column, an integer or a time outside INT64).',
    'The message names the column and the value; times must lie in 1677…2262.',
  ),
  SF_ERR_PARQUET_SCHEMA: failure(
    'The Parquet writer was used with an invalid schema or out of order (a column defined twice, rows not matching the columns, a write after close).',
    'A bug in sigflow unless you call the writer yourself; report it with SIGFLOW_DEBUG=1 output.',
  ),

  // ── store ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_STORE_OPEN: usage(
    'A store file could not be opened or created (missing when opened read-only, no permission, locked, not SQLite).',
    'Check the path; the message gives SQLite’s reason.',
  ),
  SF_ERR_STORE_NOT_A_STORE: usage(
    'The file is an SQLite database but not a sigflow store, or a store of a schema version this build does not know.',
    'Give the path of a sigflow store (or a new file to create one); a newer store needs a newer sigflow.',
  ),
  SF_ERR_STORE_CLOSED: failure(
    'The store was used after it was closed: a bug in sigflow, not in your input.',
    'Run again with SIGFLOW_DEBUG=1 and report the stack with the command that caused it.',
  ),
  SF_ERR_STORE_WRITE: failure(
    'A batch could not be written to the store (disk full, I/O error, database locked); nothing of the batch was stored.',
    'Free disk space or stop the other writer; the outbox keeps the batch and retries.',
    503,
  ),
  SF_ERR_STORE_CORRUPT: failure(
    'The store file is damaged: SQLite cannot read it or it fails its integrity check (PRAGMA quick_check). Nothing is written into it; what the outbox holds for the store stays there.',
    'Move the file (and its -wal/-shm) aside and run the import again (`--force` re-reads files already imported); keep the damaged copy for inspection.',
  ),
  SF_ERR_STORE_UNKNOWN_NAME: usage(
    'A store query names a measurement, field, tag key or tag value the store does not have; the message lists the known names, nearest first.',
    'Use one of the names listed (`sigflow store list FILE` shows them all); names are case-sensitive.',
  ),
  SF_ERR_STORE_QUERY: usage(
    'A store query or retention request is out of range (an empty or non-int64 time range, points outside 1…100000, a negative age).',
    'Give --from before --to, --points between 1 and 100000, and a non-negative --max-age.',
  ),

  // ── outbox ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_OUTBOX_INPUT: usage(
    'A record handed to the outbox is not a valid record; the message names its index and the field. Nothing of the batch was stored.',
    'Fix the producer: time is a bigint of ns, measurement a non-empty string, tags strings, at least one field.',
  ),
  SF_ERR_OUTBOX_BATCH_DECODE: failure(
    'An encoded outbox batch is malformed (checksum, truncation, bad tag); the message names the byte offset.',
    'Delivery quarantines such batches by itself (counted as corrupt); if a command reports it, keep the file and report it.',
  ),
  SF_ERR_OUTBOX_FULL: failure(
    'The outbox stayed full (its max_bytes budget) for longer than block_timeout; the batch was not stored.',
    'Find out why the sinks do not keep up (`sigflow outbox status`), raise max_bytes, or choose when_full: drop_oldest.',
    503,
  ),
  SF_ERR_OUTBOX_BATCH_TOO_LARGE: failure(
    'A single batch encodes to more bytes than the whole outbox budget, so no policy can make room for it.',
    'Send smaller batches, or raise the outbox max_bytes.',
    413,
  ),
  SF_ERR_OUTBOX_OPEN: failure(
    'The outbox could not be opened: the data directory holds an SQLite file that is not a sigflow outbox, one of a newer schema, or it could not be locked.',
    'Point data_dir at a directory of its own; an outbox from a newer sigflow needs that version.',
  ),
  SF_ERR_OUTBOX_MISSING: usage(
    'There is no outbox in the data directory named (commands that read an outbox never create one).',
    'Check the data directory (--data-dir); the outbox is created by the first sigflow that writes to it.',
  ),
  SF_ERR_OUTBOX_LOCKED: failure(
    'Another sigflow process (or this one) owns the outbox’s data directory; one process per data directory.',
    'Stop that process (its pid is in the message), or give this one a data directory of its own.',
    409,
  ),
  SF_ERR_OUTBOX_CORRUPT: failure(
    'The outbox file is damaged (SQLite cannot read it or it fails its integrity check).',
    'Start sigflow: it moves the file aside and recovers every readable row; commands only report the damage.',
  ),
  SF_ERR_OUTBOX_CLOSED: failure(
    'The outbox was used after it was closed (or closed while a call was waiting); that batch was not stored.',
    'Send the batch again after the next start; during shutdown this is expected.',
    503,
  ),
  SF_ERR_OUTBOX_NO_SINKS: usage(
    'A batch was enqueued into an outbox that has no sink configured, so nothing would ever deliver it.',
    'Configure at least one sink.',
  ),
  SF_ERR_OUTBOX_UNKNOWN_SINK: usage(
    'No sink of that name has a cursor in this outbox.',
    '`sigflow outbox status` lists the sinks the outbox knows.',
  ),
  SF_ERR_OUTBOX_NO_SUCH_DEAD_LETTER: usage(
    'An --id names no dead letter in this outbox (or none of the --sink given); nothing was done.',
    '`sigflow outbox dead-letters --data-dir DIR` lists the dead letters and their ids.',
  ),
  SF_ERR_OUTBOX_NOT_IDLE: usage(
    'A single delivery step was asked of an outbox whose delivery loops are running.',
    'Call deliverOnce only on an outbox that was not started (tests, tools).',
  ),
  SF_ERR_OUTBOX_DRAIN_TIMEOUT: failure(
    'Waiting for every sink to catch up took longer than allowed; the message names what is still pending and the last error.',
    'Nothing is lost: the pending records stay in the outbox. Check the named sinks, or wait longer.',
    504,
  ),
  SF_ERR_OUTBOX_WRITE_TIMEOUT: failure(
    'A sink write took longer than write_timeout and was aborted (the AbortSignal’s reason); the batch is written again.',
    'Check the sink’s server; raise the sink’s delivery write_timeout if its writes are legitimately slow.',
    504,
  ),

  // ── sink ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_SINK_ARCHIVE_LINE: usage(
    'A line of an archive file (archive sink, NDJSON per UTC day) is not a record in the archive format.',
    'The message names file:line. A torn last line is normal after a crash (it is cut at the next open); any other bad line means the file was edited or damaged: fix or remove that line.',
  ),

  // ── logdecode ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_LOGDECODE_NO_DBC: usage(
    'Decoding was asked for without any DBC file.',
    'Give one with --dbc file.dbc (every CAN channel) or --channel CAN<n>=file.dbc (one channel).',
  ),
  SF_ERR_LOGDECODE_TRANSPORT: usage(
    'A --transport choice is not auto, off, or a list of isotp, j1939 and nmea2000 (optionally for one channel).',
    'Write it like --transport off, --transport isotp,j1939 or --transport CAN2=nmea2000.',
  ),
  SF_ERR_LOGDECODE_CHANNEL_SPEC: usage(
    'A per-channel DBC assignment is not of the form CAN<n>=<file.dbc> with n in 1…255.',
    'Write it like --channel CAN2=powertrain.dbc.',
  ),
  SF_ERR_LOGDECODE_SIGNAL_FILTER: usage(
    'The signal filter is not a valid regular expression.',
    'Fix the pattern given with --signals (JavaScript regular expression syntax).',
  ),
  SF_ERR_LOGDECODE_EMPTY_DBC: usage(
    'The DBC files given for a set (--dbc, or one --channel) define no message with signals: nothing could be decoded.',
    'Check that you gave the right file (`sigflow dbc inspect FILE` lists its messages).',
  ),
  SF_ERR_LOGDECODE_SIGNALS_UNMATCHED: usage(
    'The --signals pattern matches no signal of the DBC files, so no value could ever be written; the message lists some of the names it is matched against.',
    'Match "message.signal" or "signal" names as `sigflow dbc inspect FILE` shows them (the pattern is a regular expression, case-sensitive).',
  ),
  SF_ERR_LOGDECODE_NO_FRAME_DECODED: failure(
    'Frame lines were decoded (`dbc decode`) but no line decoded and at least one was not a valid frame line; every line still got its output line saying why.',
    'Read the "error":"input" output lines: each names its line number and the problem (write frames as `sigflow frames` does: "id", "ext", "data").',
  ),
  SF_ERR_LOGDECODE_INPUT: failure(
    'A log file or folder cannot be opened or read; the other files are still read.',
    'Check the path and its permissions; the run exits 1 after reading the other files.',
  ),
  SF_ERR_LOGDECODE_FAIL_FAST: failure(
    'The run stopped at the first log file that could not be read, as asked (--fail-fast).',
    'Fix or remove the file named in the line before, or run without --fail-fast to skip it.',
  ),
  SF_ERR_LAKE_NAME_CLASH: usage(
    'Two logs would get the same table file names in the lake (same device and `<session>_<split>`, or the same file name outside a CANedge tree): one would overwrite the other.',
    "Write logs from different trees to different lakes, or keep each device's logs in its CANedge tree (`<ID>/<session>/<split>.MF4`).",
  ),
  SF_ERR_LAKE_COMPACT: failure(
    'Compacting a day of a message folder failed (the merged file could not be written, or its rows did not add up); the parts it would have replaced are kept.',
    "Check the lake's free space and permissions and run `sigflow lake compact` again: it finishes or drops what was left pending.",
  ),
  SF_ERR_LAKE_CLAIMS: failure(
    'The claims database (--claims postgres://…) cannot be reached or set up; no log was decoded.',
    "Check the URL, the server and the user's right to create the table sigflow_lake_claims (once).",
  ),
  SF_ERR_LAKE_COMPACTED: usage(
    'A log must be decoded again (it changed, or the DBC files did) but its rows share a compacted file with other logs that are not among the inputs of this run.',
    'Give the whole tree (or bucket) as the input, so every log of that compacted file is decoded again with it.',
  ),
  SF_ERR_LAKE_EVENTS_CONFIG: usage(
    "An events.json or aggregations.json (CSS's formats) does not fit: the message names the file and the key path.",
    'Fix the key named; the formats are described in src/pipelines/lake/EVENTS.md.',
  ),
  SF_ERR_LAKE_QUERY: failure(
    "A lake query failed: DuckDB refused the SQL or could not read the lake; the message is DuckDB's.",
    'Check the SQL against the views `sigflow lake query --list` shows; table names are the message folders (`CAN1_EEC1`), `<ID>_<folder>` per device.',
  ),
  SF_ERR_LOGDECODE_RESAMPLE_LIMIT: failure(
    'The resampled (wide) table needs more cells than the memory bound allows.',
    'Use a longer --resample interval, fewer signals (--signals), a shorter --from/--to window, or raise --max-cells.',
  ),
  SF_ERR_LOGDECODE_TIME_RANGE: failure(
    'A log holds a time outside the Parquet nanosecond timestamp range (years 1677–2262).',
    'The log file named in the message has a broken clock; write NDJSON or CSV instead, or leave the file out.',
  ),

  // ── logimport ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_LOGIMPORT_DATA_DIR: usage(
    'The data directory of an import cannot be created or written (permissions, read-only file system).',
    'Give a writable folder with --data-dir.',
  ),
  SF_ERR_LOGIMPORT_LEDGER: usage(
    'The import ledger (<data-dir>/imports.json) cannot be read or is not valid JSON.',
    'Move the file aside: every log is then imported again (the sinks are idempotent, nothing is duplicated).',
  ),
  SF_ERR_LOGIMPORT_LEDGER_WRITE: failure(
    'The import ledger (<data-dir>/imports.json) cannot be written.',
    'Check free space and permissions of the data directory; files not marked are imported again next run.',
  ),
  SF_ERR_LOGIMPORT_DROPPED: failure(
    'The outbox refused a batch of an import (its drop policy), which an import never expects.',
    'Check the outbox settings of the data directory (`sigflow outbox status`); imports block when the outbox is full.',
  ),

  // ── run (the supervisor and its units) ───────────────────────────────────────────────────────────────
  SF_ERR_RUN_ENQUEUE: failure(
    'A unit handed records to the outbox and they could not be stored (the outbox is full beyond block_timeout, closed or damaged); nothing was acknowledged upstream.',
    'Read the reason; `sigflow outbox status` shows whether the sinks keep up. The unit restarts and its source sends again what was not acknowledged (MQTT) or is read anew.',
  ),
  SF_ERR_RUN_NO_PIPELINES: usage(
    'The configuration given to `sigflow run` has no pipelines.',
    'Add a `pipelines:` entry (a source and a decode section); examples/ holds working configs.',
  ),
  SF_ERR_RUN_LISTEN: failure(
    'The HTTP endpoint (server.listen) cannot listen on its address (in use, not a local address, or not permitted).',
    'Choose another port (`server: { listen: 127.0.0.1:0 }` takes any free one) or `server: false`.',
  ),
  SF_ERR_RUN_STATUS: failure(
    '`sigflow status` got no answer from the HTTP endpoint of sigflow run (not running, another address, or server: false).',
    'Check that sigflow run is running (systemctl status sigflow-run) and give the config it was started with (-c) or its --url.',
  ),

  // ── serve (the query engine and the Grafana server) ─────────────────────────────────────────────────
  SF_ERR_SERVE_CONFIG: usage(
    'The server cannot start as configured: a data root that is not a folder or bucket, two DBC files with one key, a TLS file that cannot be read, an auth setting that is incomplete.',
    'Read the message; `sigflow serve --help` lists the options and working examples.',
  ),
  SF_ERR_SERVE_BAD_REQUEST: usage(
    'A request body or query string does not fit the protocol: not JSON, a missing or mistyped field, a target that is not the JSON the dashboards send, a time range that cannot be read.',
    'The message names the field. The routes and their bodies are listed in src/server/README.md.',
  ),
  SF_ERR_SERVE_UNKNOWN_DB: {
    exit: 2,
    http: 404,
    means: 'A query names a DBC the server has not loaded.',
    action:
      'Use one of the keys the message lists (the lower-case file names of the .dbc files in the data root or given with --dbc).',
  },
  SF_ERR_SERVE_LIMIT: failure(
    'A query needs more log bytes decoded than the per-query limit (--limit) allows; nothing was left out silently.',
    'Narrow the time range or the signals, raise --limit, or start the server with --on-limit partial to get what fits with a notice.',
    413,
  ),
  SF_ERR_SERVE_UNAUTHORIZED: {
    exit: 2,
    http: 401,
    means:
      'The request carries no credentials or wrong ones (bearer token or basic auth, as the server is configured).',
    action:
      'Set the token or user/password in the Grafana data source (Authorization header or Basic auth) as given to the server.',
  },
  SF_ERR_SERVE_FOREIGN_HOST: {
    exit: 2,
    http: 421,
    means:
      'A server on 127.0.0.1 without credentials was asked under another host name (the Host header): a page on another site whose name now points at this machine (DNS rebinding) would otherwise read it and act on it.',
    action:
      'Use http://127.0.0.1:<port> or http://localhost:<port>; to serve other hosts, listen on their address and configure tokens or basic auth.',
  },
  SF_ERR_SERVE_CANCELLED: {
    exit: 1,
    http: 499,
    means:
      'The client went away before its answer was ready; the decoding done for it was stopped (logged, never sent).',
    action: 'Nothing to do: Grafana cancels the requests of panels that were refreshed or closed.',
  },
  SF_ERR_SERVE_LISTEN: failure(
    'The server cannot listen on its address (in use, not a local address, or not permitted).',
    'Choose another --port (0 takes any free one) or --bind address.',
  ),
  SF_ERR_SERVE_NOT_FOUND: {
    exit: 2,
    http: 404,
    means:
      'The console asked for something this server does not have: a page or asset that does not exist, the outbox of `sigflow run` on `sigflow serve`, the IoF tables where no iof sink is configured.',
    action: 'Open the console from its start page (/console/); the views this server has are in its menu.',
  },

  // ── packets (bit-field packet specs) and the IoF application ─────────────────────────────────────────
  SF_ERR_PACKETS_SPEC: usage(
    'A bit-field packet spec does not fit the spec language: a missing or mistyped key, a field past the end of its block, an unknown field referenced by a selector or a derived value.',
    'The message names the key path; src/codecs/bitfield/README.md describes the language and the built-in `iof` spec is a working example.',
  ),
  SF_ERR_PACKETS_DECODE: usage(
    'A message could not be decoded to its end: an unknown discriminator value, a packet cut short, or a payload that is not the expected base64, hex or JSON envelope. The rows before the error are kept.',
    'The message names the packet and byte offset; check the sender or the spec. The raw message is kept in the backup.',
  ),
  SF_ERR_IOF_WORKBOOK: usage(
    'The IoF metadata workbook cannot be read: a missing sheet or column, or a cell of the wrong type; the message names sheet, row and column.',
    'Fix the workbook (metadata_example.xlsx shows the format) and run `sigflow iof init` again; it is safe to re-run.',
  ),
  SF_ERR_IOF_PROJECT: usage(
    'An IoF project folder or project file is missing or invalid.',
    'Create it with `sigflow iof init <dir> --workbook metadata.xlsx`; the message names the file and key.',
  ),

  // ── procedures (sigflow run units that measure: system-checks, external programs) ──────────────────────
  SF_ERR_PROCEDURE_START: failure(
    'An external procedure could not be started: its program is missing, not executable, or its folder does not exist.',
    "Check `command` (an absolute path, or a program on PATH) and `cwd` in the procedure's source settings.",
  ),
  SF_ERR_PROCEDURE_EXIT: failure(
    'A long-running external procedure (exec source, mode: long_running) ended: its unit is restarted with backoff, and marked failed at the crash-loop cap.',
    "Read the program's stderr lines logged before it ended; run the command by hand in its cwd to see why it stops.",
  ),

  // ── uplinks (thingsboard, tenta, mqtt sinks) ──────────────────────────────────────────────────────────────
  SF_ERR_UPLINK_CONFIG: usage(
    'An uplink cannot work as configured: a topic template with an unknown placeholder, a rate limit that allows nothing, a TLS file that cannot be read.',
    "Read the message; the sink's README lists every key with a working sample.yaml.",
  ),

  // ── update (software updates over the air: src/update) ─────────────────────────────────────────────
  SF_ERR_UPDATE_VERSION: usage(
    'An update names a version that cannot be used: not a plain version string (letters, digits, . + - _), the version already running, or one that is not staged under <root>/versions.',
    'Give the version as in the package.json of the release (e.g. 1.4.2); stage it before switching to it.',
  ),
  SF_ERR_UPDATE_SPOOL: usage(
    'The update was refused because the queue (outbox.data_dir) lies inside a version directory: it would stay behind with the old version and be deleted when that version is pruned.',
    'Move outbox.data_dir outside <root>/versions and the running package (e.g. /var/lib/sigflow), then update.',
  ),
  SF_ERR_UPDATE_DOWNLOAD: failure(
    'The release tarball could not be downloaded: not an http(s) URL, the server answered with an error, the connection failed or timed out, or it is larger than the size cap.',
    'Check the URL in the message (with {version} filled in) from the device, e.g. with curl -I; the update can be pushed again.',
  ),
  SF_ERR_UPDATE_CHECKSUM: failure(
    'The downloaded tarball’s sha256 is not the one the update named: a damaged download, a wrong URL or a tampered file. Nothing was installed.',
    'Compare the expected and actual digests in the message with `sha256sum` of the release file; push the update with the right digest.',
  ),
  SF_ERR_UPDATE_PACKAGE: failure(
    'The tarball is not an installable sigflow package: an entry outside package/, an absolute or .. path, a link or device entry, another package name or version, or tar failed.',
    'Build the release with `npm pack` from the sigflow folder (after `npm run build`) and check its version; the message names the entry.',
  ),
  SF_ERR_UPDATE_INSTALL: failure(
    'The dependencies of the new version could not be installed (copying the running version’s node_modules, or npm without network or cache).',
    'Read npm’s output in the message; a release whose dependencies differ needs npm’s cache or registry on the device (see src/update/README.md).',
  ),
  SF_ERR_UPDATE_SELFTEST: failure(
    'A version failed its self-test: a native module does not load, the config or the outbox cannot be read by it, or the codecs decode wrongly.',
    'Read the failed check in the message (run `node <root>/versions/<v>/bin/sigflow selftest -c <config>` by hand); the running version is kept.',
  ),
  SF_ERR_UPDATE_LAYOUT: failure(
    'The install root is not as an update needs it: no `current` link, no `previous` version to roll back to, or a state file that cannot be read.',
    'Look at <root> (`ls -l <root> <root>/versions`, <root>/state/update.json); src/update/README.md describes the layout.',
  ),

  // ── cli ──────────────────────────────────────────────────────────────────────────────────────────
  SF_ERR_CLI_OUTPUT: failure(
    'The output file given with -o cannot be written.',
    'Check that its folder exists, is writable and has free space.',
  ),
  SF_ERR_CLI_CONFIRM: usage(
    'The command deletes data for good and was not confirmed.',
    'Read what the message says would be deleted, then run it again with --yes.',
  ),
  SF_ERR_CLI_SYSTEM: failure(
    'The operating system refused a file operation (permission denied, read-only file system, disk full, no such file or folder, busy) where sigflow had no more specific message.',
    'Read the path and the reason in the message: fix the permissions, free space, create the folder or choose another location, then run again.',
  ),
  SF_ERR_CLI_DATABASE: failure(
    'An SQLite file (store or outbox) is damaged, not a database, busy in another process, or read-only.',
    'For a damaged file: move it aside (a new one is created); for a busy one: wait for the other process to end.',
  ),
  SF_ERR_CLI_TOO_LARGE: failure(
    'An output is too large to be built in memory (JavaScript string limit).',
    'Narrow the selection (e.g. one message or measurement) or use the line-by-line output instead of --json.',
  ),
} as const satisfies Record<string, ErrorSpec>;

export const WARNINGS = {
  // ── dbc (the DBC parser's quirks) ───────────────────────────────────────────────────────────────────
  // One per entry of QUIRKS (src/codecs/dbc/quirks.ts); each Diagnostic carries both codes. --strict makes them errors.
  SF_WARN_DBC_EXTENDED_ID_WITHOUT_FLAG: {
    means: 'A frame id above 0x7FF lacks the 0x80000000 extended flag; it is read as an extended (29-bit) id.',
    action: 'Add the flag to the BO_ id (id | 0x80000000) if the message is extended; nothing to do otherwise.',
  },
  SF_WARN_DBC_ID_TOO_WIDE: {
    means: 'A frame id is wider than 29 bits; it is masked to 29 bits.',
    action: 'Correct the BO_ id in the file.',
  },
  SF_WARN_DBC_DIGIT_IDENTIFIER: {
    means: 'An identifier starts with a digit, which the DBC grammar does not allow; it is read as a name.',
    action: 'Rename it if other tools must read the file; sigflow reads it as written.',
  },
  SF_WARN_DBC_LEADING_DOT_NUMBER: {
    means: 'A number is written without its leading zero (.25); it is read as 0.25.',
    action: 'Write 0.25 if other tools must read the file.',
  },
  SF_WARN_DBC_COMMENT_WITHOUT_SIGNAL: {
    means: 'A CM_ SG_ comment has no signal name; the comment is ignored.',
    action: 'Add the signal name after the message id, or remove the comment.',
  },
  SF_WARN_DBC_COMMENT_WITHOUT_KIND: {
    means: 'A CM_ comment has an id but no object kind (BU_/BO_/SG_/EV_); the comment is ignored.',
    action: 'Add the object kind (usually BO_) before the id.',
  },
  SF_WARN_DBC_MISSING_SEMICOLON: {
    means: 'A statement has no closing ; before the next statement or the end of the file; it is applied anyway.',
    action: 'Add the ; (cantools silently drops such a statement at the end of a file).',
  },
  SF_WARN_DBC_OVERLAPPING_SIGNALS: {
    means: 'Two signals that can be in the same frame share bits; each still decodes on its own.',
    action: 'Check the start bits and lengths of the named signals.',
  },
  SF_WARN_DBC_BARE_MULTIPLEXED_MARKER: {
    means:
      'A signal is marked m without a multiplexer value; it is read as the multiplexer its author meant, or as a plain signal.',
    action: 'Write M for a multiplexer or m<n> for a multiplexed signal.',
  },
  SF_WARN_DBC_SIGNAL_OUTSIDE_MESSAGE: {
    means: 'A signal extends beyond the message length; it decodes only from frames that carry those bytes.',
    action: 'Correct the message length or the signal’s start bit and length.',
  },
  SF_WARN_DBC_UNKNOWN_REFERENCE: {
    means: 'A statement refers to a message, signal, node or attribute that does not exist; that part is ignored.',
    action: 'Correct the name or id, or remove the statement.',
  },
  SF_WARN_DBC_DUPLICATE_MESSAGE_ID: {
    means: 'Two messages of one file have the same frame id; the later one decodes the frames.',
    action: 'Remove or renumber one of them.',
  },
  SF_WARN_DBC_DUPLICATE_SIGNAL: {
    means: 'Two signals of one message have the same name.',
    action: 'Rename one of them; decoded values are keyed by name, so one hides the other.',
  },
  SF_WARN_DBC_UNKNOWN_STATEMENT: {
    means: 'A statement sigflow does not interpret (SGTYPE_, CAT_ …) is kept verbatim and written back as it was.',
    action: 'Nothing to do unless you expected it to change decoding.',
  },
  SF_WARN_DBC_MESSAGE_TOO_LONG: {
    means: 'A message is declared longer than 64 bytes (the CAN FD maximum).',
    action: 'Correct the message length.',
  },
  SF_WARN_DBC_DUPLICATE_FILE: {
    means:
      'A DBC file given has the same contents as one given before it (the same file twice, or a copy): it is loaded once.',
    action: 'None needed; give each file once to silence the note.',
  },
  SF_WARN_DBC_ATTRIBUTE_VALUE_MISMATCH: {
    means:
      'An attribute value does not match its definition (text where the BA_DEF_ says a number); it is kept as written.',
    action: 'Correct the value or the attribute definition.',
  },
  // ── mdf4 ──────────────────────────────────────────────────────────────────────────────────────────────
  SF_WARN_MDF4_DATA_DAMAGED: {
    means:
      'Damaged or truncated data blocks or records: the reader stopped (or skipped records) at the damage and returned what came before it.',
    action: 'What was returned is correct; re-copy the file from the device or card if you need the rest.',
  },
  SF_WARN_MDF4_GROUP_SKIPPED: {
    means:
      'A channel group’s channel layout cannot be read (damaged or unsupported); its records are skipped, the other groups are read.',
    action: 'Check the file with the vendor’s tools; report it if the group looks valid there.',
  },
  SF_WARN_MDF4_OUT_OF_ORDER: {
    means:
      'A channel group is not in time order, or holds more records than its cycle count: the merged frame stream may be out of order.',
    action: 'Sort downstream by time if order matters; the frames themselves are complete.',
  },
  SF_WARN_MDF4_VLSD: {
    means:
      'Variable-length signal data a record points at (e.g. a CAN FD payload) is missing or was dropped; the records concerned are dropped.',
    action: 'The file is most likely damaged; re-copy it from the device or card.',
  },
  SF_WARN_MDF4_UNSUPPORTED: {
    means:
      'A feature this reader does not support: array compositions are read as raw bytes; data in a DZ block of an unknown zip type ends the stream there.',
    action: 'None for bus logging with CANedge files; report the file if you need that data.',
  },
  SF_WARN_MDF4_LOCAL_TIME: {
    means: 'The file’s start time is local time of an unknown time zone; times are reported as if it were UTC.',
    action: 'Shift the times by the logger’s UTC offset, or configure the logger to record UTC.',
  },
  SF_WARN_MDF4_HISTORY: {
    means: 'The file history (##FH blocks) is damaged and was skipped; the data is not affected.',
    action: 'None needed.',
  },
  // ── canedge ───────────────────────────────────────────────────────────────────────────────────────────
  SF_WARN_CANEDGE_DATA_DAMAGED: {
    means:
      'A log in the index was read with damage reports from the MDF4 reader: its time range covers only the records before the damage.',
    action: '`sigflow logs` lists the file and the first warning; re-copy it from the device or card.',
  },
  SF_WARN_CANEDGE_INDEX_REBUILT: {
    means:
      'The stored log index could not be used (unreadable, corrupt, another format version or another tree) and is rebuilt.',
    action: 'None needed: the next refresh probes every file again.',
  },
  // ── outbox ────────────────────────────────────────────────────────────────────────────────────────────
  // ── sink ──────────────────────────────────────────────────────────────────────────────────────────────
  // ── logdecode ─────────────────────────────────────────────────────────────────────────────────────────
  SF_WARN_LOGDECODE_TRANSPORT: {
    means:
      'A DBC message is longer than its bus frame, so its frames are reassembled (ISO-TP, J1939 transport protocol or NMEA 2000 fast packet) before decoding.',
    action:
      'Nothing, if that is what the DBC is for; --transport off decodes frames only (see src/transport/README.md).',
  },
  SF_WARN_LOGDECODE_EMPTY_DBC: {
    means:
      'One of the DBC files of a set defines no message with signals: it decodes nothing (the other files of the set do).',
    action: 'Check that you gave the right file (`sigflow dbc inspect FILE` lists its messages), or leave it out.',
  },
  SF_WARN_LOGDECODE_BEYOND_INT64: {
    means: 'Integer values outside the INT64 range went to a long Parquet table: value_int is null for them.',
    action: 'Nothing is lost in `value` beyond double precision; use NDJSON or CSV for the exact decimal values.',
  },
  SF_WARN_LOGDECODE_ROUNDED: {
    means: 'Integer values wider than 2^53 went to DOUBLE columns of a wide Parquet table and were rounded.',
    action: 'Use the long layout (no --resample), whose value_int column holds them exactly.',
  },
} as const satisfies Record<string, WarningSpec>;

export type ErrorCode = keyof typeof ERRORS;
export type WarningCode = keyof typeof WARNINGS;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}
