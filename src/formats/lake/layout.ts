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

/** `CAN2_GnssSpeed`, `CAN1_Mode_Mux_M3`, `CAN1_EEC1_S00` (the SA in two upper-case hex digits). */
export function messageFolder(m: MessageFolderSpec): string {
  let name = `${m.itf}${m.channel}_${safeSegment(m.message)}`;
  if (m.mux) name += `_${safeSegment(m.mux.signal)}_M${m.mux.value}`;
  if (m.sa !== undefined) name += `_S${m.sa.toString(16).toUpperCase().padStart(2, '0')}`;
  return name;
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
