/**
 * The CSS Electronics Parquet data lake's layout (../shared/docs/data-lake.md), so that Athena/Glue, BigQuery and
 * Synapse setups built for that lake — and the Grafana dashboards over them — work on sigflow's:
 *
 *   <ID>/<ITF><CHN>_<Message>[_<Mux>_M<sw>][_S<SA>]/<YYYY>/<MM>/<DD>/<session>_<split>.parquet
 *   <ID>/messages/2024/01/01/messages.parquet                    (MessageName: the device's message folders)
 *   aggregations/devicemeta/2024/01/01/devicemeta.parquet        (MetaName "log_meta (ID)", DeviceId)
 *
 * The date is the UTC day of the rows' `t`: a log spanning midnight gives one file per day. sigflow's own
 * bookkeeping lives under `_sigflow/` (the ledger), which no table mapping looks at (device folders match
 * `^[0-9A-F]{8}$`, and CSS's mapping jobs only see those).
 */

/** The folder of sigflow's own files in a lake (the ledger); never a table. */
export const LAKE_META = '_sigflow';

/** CSS's fixed date for the side tables. */
const SIDE_DATE = '2024/01/01';

/** Microseconds in a day. */
export const US_PER_DAY = 86_400_000_000;

/** What names a message's folder. */
export interface MessageFolderSpec {
  /** The bus interface: CAN (LIN later). */
  itf: 'CAN' | 'LIN';
  /** The bus channel, 1-based as the logger names it (CAN1, CAN2). */
  channel: number;
  /** The DBC message name. */
  message: string;
  /** A multiplexed message: its multiplexer signal and the switch value of the rows in this folder. */
  mux?: { signal: string; value: number };
  /** A J1939 message: the source address of the rows in this folder. */
  sa?: number;
}

/** A name usable as one path segment in a folder, an S3 key and a Glue table name: letters, digits, `_` `-` `.`. */
export function safeSegment(s: string): string {
  const out = s.replace(/[^A-Za-z0-9_.-]/g, '_');
  return /^\.+$/.test(out) || out === '' ? `_${out}` : out;
}

/** The longest folder name written (file systems allow 255 bytes; the names are ASCII). */
export const MAX_SEGMENT = 200;

/** A short stable hash of a name (FNV-1a, 32 bits, 8 hex digits): tells apart names shortened or replaced alike. */
function nameHash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * `safeSegment`, and distinct for distinct names: a name the replacement changed gets its hash appended
 * ("Température moteur" and "Temp_rature_moteur" were one folder, their rows mixed), and one longer than
 * MAX_SEGMENT is cut and given its hash (a folder no file system can name stopped the whole run).
 */
export function uniqueSegment(s: string): string {
  const safe = safeSegment(s);
  const named = safe === s ? safe : `${safe}_${nameHash(s)}`;
  return named.length <= MAX_SEGMENT ? named : `${named.slice(0, MAX_SEGMENT - 9)}_${nameHash(s)}`;
}

/** `CAN2_GnssSpeed`, `CAN1_Mode_Mux_M3`, `CAN1_EEC1_S00` (the SA in two upper-case hex digits). */
export function messageFolder(m: MessageFolderSpec): string {
  let name = `${m.itf}${m.channel}_${safeSegment(m.message)}`;
  if (m.mux) name += `_${safeSegment(m.mux.signal)}_M${m.mux.value}`;
  if (m.sa !== undefined) name += `_S${m.sa.toString(16).toUpperCase().padStart(2, '0')}`;
  return name.length <= MAX_SEGMENT ? name : `${name.slice(0, MAX_SEGMENT - 9)}_${nameHash(name)}`;
}

/** Column names every lake view adds or has: a table column of one of these names (any case) is renamed. */
const RESERVED_COLUMNS = ['t', 'device', 'date_created', 'filename'];

/**
 * A table's column names for its signals or fields: distinct ignoring case, and none of `t`, `device`,
 * `date_created` (which the time and the views' columns are) — Athena, Spark and DuckDB fold case, so `Speed` and
 * `SPEED` were one column twice, and a signal named `t` a second time column. A clash gets `_2`, `_3` … .
 */
export function columnNames(names: readonly string[]): string[] {
  const taken = new Set(RESERVED_COLUMNS);
  return names.map((n) => {
    let c = n;
    for (let k = 2; taken.has(c.toLowerCase()); k++) c = `${n}_${k}`;
    taken.add(c.toLowerCase());
    return c;
  });
}

/** Whether a top-level folder is a device's (CANedge ids: 8 upper-case hex digits), as CSS's mapping jobs test. */
export function isDeviceFolder(name: string): boolean {
  return /^[0-9A-F]{8}$/.test(name);
}

/** The UTC day of a time in µs since the epoch: days since the epoch. */
export function dayOf(tUs: number): number {
  return Math.floor(tUs / US_PER_DAY);
}

/** `YYYY/MM/DD` of a day number (days since the epoch, UTC). */
export function datePath(day: number): string {
  const d = new Date(day * 86_400_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}`;
}

/** The day number of a `YYYY/MM/DD` path (null when it is not one). */
export function dayOfPath(path: string): number | null {
  const m = /^(\d{4})\/(\d{2})\/(\d{2})$/.exec(path);
  if (!m) return null;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (Number.isNaN(ms)) return null;
  // a real day only (Date.UTC rolls 2026/13/01 over into the next year)
  return datePath(ms / 86_400_000) === path ? ms / 86_400_000 : null;
}

/**
 * The file name of one log's rows: `<session>_<split>` as 8 digits each, CSS's naming; a log outside the CANedge
 * tree layout keeps its own base name.
 */
export function logStem(log: { session: number | null; split: number | null; path: string }): string {
  if (log.session !== null && log.split !== null)
    return `${String(log.session).padStart(8, '0')}_${String(log.split).padStart(8, '0')}`;
  const base = log.path.replace(/^.*[/\\]/, '').replace(/\.[^.]*$/, '');
  return safeSegment(base);
}

/** The object key of one log's rows of one message folder on one day. */
export function tableKey(device: string, folder: string, day: number, stem: string): string {
  return `${device}/${folder}/${datePath(day)}/${stem}.parquet`;
}

/** Whether a table file is a compacted one (several logs' rows of one message folder and day). */
export function isCompactedFile(file: string): boolean {
  return /^c_[0-9a-f]{16}\.parquet$/.test(file);
}

/** The name of a compacted file: `c_<16 hex>.parquet`, from the logs it holds (a new set, a new name). */
export function compactedFile(hash: string): string {
  return `c_${hash.slice(0, 16)}.parquet`;
}

/** The key of a device's `messages` side table. */
export function messagesKey(device: string): string {
  return `${device}/messages/${SIDE_DATE}/messages.parquet`;
}

/** The key of the `devicemeta` side table. */
export const DEVICEMETA_KEY = `aggregations/devicemeta/${SIDE_DATE}/devicemeta.parquet`;

/**
 * What a key of the lake is: a message table's file (device, folder, day), a side table, or something else.
 * The inverse of tableKey.
 */
export function parseTableKey(key: string): { device: string; folder: string; day: number; file: string } | null {
  const m = /^([^/]+)\/([^/]+)\/(\d{4}\/\d{2}\/\d{2})\/([^/]+\.parquet)$/.exec(key);
  if (!m || m[2] === 'messages' || m[1] === 'aggregations' || m[1] === LAKE_META) return null;
  const day = dayOfPath(m[3]);
  return day === null ? null : { device: m[1], folder: m[2], day, file: m[4] };
}
