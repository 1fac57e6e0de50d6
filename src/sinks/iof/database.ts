/**
 * The IoF database (SQLite, WAL): the seed's tables with what they lacked — every row keyed by (message, row) so
 * that a message delivered again is stored once; the raw `backup` of every message keyed by the digest of its
 * bytes; DS256's second value; raw values beside converted ones; local date and hour in the project's zone.
 *
 *   backup(message_id, digest UNIQUE, received_at, topic, data, snr, rows, error)
 *   gps(message_id, row, timestamp, date, hour, tbr_serial_id, slim_status, latitude, longitude, pdop, fix, fix_code, num_sat_tracked)
 *   tag(message_id, row, timestamp, millisecond, date, hour, tbr_serial_id, comm_protocol, frequency, tag_id,
 *       tag_data, tag_data_raw, tag_data_2, snr)
 *   tbr(message_id, row, timestamp, date, hour, tbr_serial_id, temperature, temperature_data_raw, noise_avg, noise_peak, frequency)
 *   positions(timestamp, millisecond, date, hour, tag_id, frequency, cage_name, x, y, z, latitude, longitude,
 *             tbr_a, tbr_b, tbr_c, UNIQUE(timestamp, tag_id, frequency))
 *   metadata(key PRIMARY KEY, value)   — the project file (JSON) the rows were made with
 */
import Database from 'better-sqlite3';
import { SigflowError } from '../../errors/index.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS backup (
  message_id INTEGER PRIMARY KEY,
  digest TEXT NOT NULL UNIQUE,
  received_at TEXT NOT NULL,
  topic TEXT,
  data TEXT NOT NULL,
  snr REAL,
  rows INTEGER NOT NULL DEFAULT 0,
  error TEXT
);
CREATE TABLE IF NOT EXISTS gps (
  message_id INTEGER NOT NULL, row INTEGER NOT NULL,
  timestamp INTEGER NOT NULL, date TEXT NOT NULL, hour INTEGER NOT NULL,
  tbr_serial_id INTEGER NOT NULL, slim_status INTEGER, latitude REAL, longitude REAL, pdop REAL,
  fix TEXT, fix_code INTEGER, num_sat_tracked INTEGER,
  PRIMARY KEY (message_id, row)
);
CREATE INDEX IF NOT EXISTS gps_tbr_time ON gps (tbr_serial_id, timestamp);
CREATE TABLE IF NOT EXISTS tag (
  message_id INTEGER NOT NULL, row INTEGER NOT NULL,
  timestamp INTEGER NOT NULL, millisecond INTEGER NOT NULL, date TEXT NOT NULL, hour INTEGER NOT NULL,
  tbr_serial_id INTEGER NOT NULL, comm_protocol TEXT NOT NULL, frequency INTEGER NOT NULL, tag_id INTEGER NOT NULL,
  tag_data REAL, tag_data_raw INTEGER, tag_data_2 REAL, snr INTEGER,
  PRIMARY KEY (message_id, row)
);
CREATE INDEX IF NOT EXISTS tag_by_tag ON tag (tag_id, frequency, timestamp);
CREATE TABLE IF NOT EXISTS tbr (
  message_id INTEGER NOT NULL, row INTEGER NOT NULL,
  timestamp INTEGER NOT NULL, date TEXT NOT NULL, hour INTEGER NOT NULL,
  tbr_serial_id INTEGER NOT NULL, temperature REAL, temperature_data_raw INTEGER,
  noise_avg INTEGER, noise_peak INTEGER, frequency INTEGER,
  PRIMARY KEY (message_id, row)
);
CREATE TABLE IF NOT EXISTS positions (
  timestamp INTEGER NOT NULL, millisecond INTEGER NOT NULL, date TEXT NOT NULL, hour INTEGER NOT NULL,
  tag_id INTEGER NOT NULL, frequency INTEGER NOT NULL, cage_name TEXT NOT NULL,
  x REAL NOT NULL, y REAL NOT NULL, z REAL NOT NULL, latitude REAL NOT NULL, longitude REAL NOT NULL,
  tbr_a INTEGER NOT NULL, tbr_b INTEGER NOT NULL, tbr_c INTEGER NOT NULL,
  UNIQUE (timestamp, tag_id, frequency)
);
CREATE TABLE IF NOT EXISTS metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

export interface BackupRow {
  digest: string;
  received_at: string;
  topic: string | null;
  data: string;
  snr: number | null;
  rows: number;
  error: string | null;
}

/** A tag detection as positioning reads it. */
export interface Detection {
  tbr_serial_id: number;
  timestamp: number;
  millisecond: number;
  tag_id: number;
  frequency: number;
  tag_data: number | null;
}

export interface PositionRow {
  timestamp: number;
  millisecond: number;
  date: string;
  hour: number;
  tag_id: number;
  frequency: number;
  cage_name: string;
  x: number;
  y: number;
  z: number;
  latitude: number;
  longitude: number;
  tbr_a: number;
  tbr_b: number;
  tbr_c: number;
}

type Stmt = Database.Statement;

export class IofDatabase {
  readonly db: Database.Database;
  private readonly s: Record<
    | 'backup'
    | 'outcome'
    | 'gps'
    | 'tag'
    | 'tbr'
    | 'position'
    | 'near'
    | 'fixBefore'
    | 'fixAfter'
    | 'setMeta'
    | 'getMeta',
    Stmt
  >;

  private constructor(
    readonly path: string,
    db: Database.Database,
  ) {
    this.db = db;
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      backup: p(
        'INSERT OR IGNORE INTO backup (digest, received_at, topic, data, snr, rows, error) VALUES (@digest, @received_at, @topic, @data, @snr, @rows, @error)',
      ),
      outcome: p('UPDATE backup SET rows = ?, error = ? WHERE message_id = ?'),
      gps: p(
        'INSERT OR IGNORE INTO gps VALUES (@message_id, @row, @timestamp, @date, @hour, @tbr_serial_id, @slim_status, @latitude, @longitude, @pdop, @fix, @fix_code, @num_sat_tracked)',
      ),
      tag: p(
        'INSERT OR IGNORE INTO tag VALUES (@message_id, @row, @timestamp, @millisecond, @date, @hour, @tbr_serial_id, @comm_protocol, @frequency, @tag_id, @tag_data, @tag_data_raw, @tag_data_2, @snr)',
      ),
      tbr: p(
        'INSERT OR IGNORE INTO tbr VALUES (@message_id, @row, @timestamp, @date, @hour, @tbr_serial_id, @temperature, @temperature_data_raw, @noise_avg, @noise_peak, @frequency)',
      ),
      position: p(
        'INSERT OR IGNORE INTO positions VALUES (@timestamp, @millisecond, @date, @hour, @tag_id, @frequency, @cage_name, @x, @y, @z, @latitude, @longitude, @tbr_a, @tbr_b, @tbr_c)',
      ),
      near: p(
        'SELECT tbr_serial_id, timestamp, millisecond, tag_id, frequency, tag_data FROM tag WHERE tag_id = ? AND frequency = ? AND timestamp BETWEEN ? AND ? ORDER BY timestamp, millisecond, message_id, row',
      ),
      fixBefore: p(
        'SELECT latitude, longitude, pdop, timestamp FROM gps WHERE tbr_serial_id = ? AND timestamp <= ? AND fix_code = 3 AND pdop < ? AND latitude IS NOT NULL ORDER BY timestamp DESC, pdop ASC LIMIT 1',
      ),
      fixAfter: p(
        'SELECT latitude, longitude, pdop, timestamp FROM gps WHERE tbr_serial_id = ? AND timestamp > ? AND fix_code = 3 AND pdop < ? AND latitude IS NOT NULL ORDER BY timestamp ASC, pdop ASC LIMIT 1',
      ),
      setMeta: p(
        'INSERT INTO metadata (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      getMeta: p('SELECT value FROM metadata WHERE key = ?'),
    };
  }

  /** Opens (creating) the database file; `synchronous: full` fsyncs every commit. */
  static open(path: string, options: { synchronous?: 'normal' | 'full'; readonly?: boolean } = {}): IofDatabase {
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
        db.exec(SCHEMA);
      }
      db.pragma('busy_timeout = 5000');
    } catch (err) {
      throw new SigflowError('SF_ERR_IOF_PROJECT', `IoF database ${path}: ${(err as Error).message}`, {
        where: path,
        cause: err,
      });
    }
    return new IofDatabase(path, db);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** The new message's id, or undefined when a message with these bytes is already stored. */
  insertBackup(row: BackupRow): number | undefined {
    const r = this.s.backup.run(row);
    return r.changes === 0 ? undefined : Number(r.lastInsertRowid);
  }

  /** What decoding the message gave: its row count and the error that stopped it, if any. */
  setBackupOutcome(messageId: number, rows: number, error: string | null): void {
    this.s.outcome.run(rows, error, messageId);
  }

  insertGps(row: Record<string, unknown>): void {
    this.s.gps.run(row);
  }
  insertTag(row: Record<string, unknown>): void {
    this.s.tag.run(row);
  }
  insertTbr(row: Record<string, unknown>): void {
    this.s.tbr.run(row);
  }
  /** True when the position is new (its timestamp, tag and frequency not yet positioned). */
  insertPosition(row: PositionRow): boolean {
    return this.s.position.run(row).changes > 0;
  }

  /** Detections of one tag on one frequency with timestamp in [from, to] seconds, in time order. */
  detections(tagId: number, frequency: number, from: number, to: number): Detection[] {
    return this.s.near.all(tagId, frequency, from, to) as Detection[];
  }

  /**
   * A TBR's station position for a time: its latest good fix (3D, pdop below `maxPdop`) at or before `at`
   * (seconds), else its first one after.
   */
  stationFix(tbr: number, at: number, maxPdop: number): { latitude: number; longitude: number } | undefined {
    return (this.s.fixBefore.get(tbr, at, maxPdop) ?? this.s.fixAfter.get(tbr, at, maxPdop)) as
      | { latitude: number; longitude: number }
      | undefined;
  }

  setMeta(key: string, value: string): void {
    this.s.setMeta.run(key, value);
  }
  meta(key: string): string | undefined {
    return (this.s.getMeta.get(key) as { value: string } | undefined)?.value;
  }

  close(): void {
    this.db.close();
  }
}
