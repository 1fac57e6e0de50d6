/**
 * The IoF tables in PostgreSQL too (`postgres:` on the iof sink): after each batch is committed to SQLite — which
 * stays the working copy positioning reads — the rows added since the last copy are written to the same tables
 * in PostgreSQL, table by table in rowid order, with ON CONFLICT on their keys. How far each table was copied is
 * kept in SQLite (`metadata`), and advanced only after PostgreSQL committed: when PostgreSQL is down the batch is
 * answered `retry`, the outbox sends it again, SQLite finds it already stored, and the copy resumes where it
 * stopped — every row reaches PostgreSQL once. `sigflow iof position --all` rebuilds positions; the copy then
 * replaces PostgreSQL's positions at the next batch.
 */
import { createRequire } from 'node:module';
import type pg from 'pg';
import type { WriteResult } from '../../outbox/index.js';
import type { IofDatabase } from './database.js';

/** pg is loaded when a PostgreSQL sink is made, not by every process that could make one. */
const require = createRequire(import.meta.url);
const loadPg = () => require('pg') as typeof pg;

export interface IofPostgresOptions {
  readonly connection_string: string;
  readonly schema: string;
  readonly connect_timeout: number;
  readonly statement_timeout: number;
}

/** Table → its columns (as in SQLite) and its key; PostgreSQL types beside. */
const TABLES: readonly { name: string; key: string; columns: readonly [string, string][] }[] = [
  {
    name: 'backup',
    key: 'message_id',
    columns: [
      ['message_id', 'bigint PRIMARY KEY'],
      ['digest', 'text NOT NULL UNIQUE'],
      ['received_at', 'timestamptz NOT NULL'],
      ['topic', 'text'],
      ['data', 'text NOT NULL'],
      ['snr', 'double precision'],
      ['rows', 'integer NOT NULL'],
      ['error', 'text'],
    ],
  },
  {
    name: 'gps',
    key: 'message_id, row',
    columns: [
      ['message_id', 'bigint NOT NULL'],
      ['row', 'integer NOT NULL'],
      ['timestamp', 'bigint NOT NULL'],
      ['date', 'date NOT NULL'],
      ['hour', 'smallint NOT NULL'],
      ['tbr_serial_id', 'integer NOT NULL'],
      ['slim_status', 'integer'],
      ['latitude', 'double precision'],
      ['longitude', 'double precision'],
      ['pdop', 'double precision'],
      ['fix', 'text'],
      ['fix_code', 'smallint'],
      ['num_sat_tracked', 'smallint'],
    ],
  },
  {
    name: 'tag',
    key: 'message_id, row',
    columns: [
      ['message_id', 'bigint NOT NULL'],
      ['row', 'integer NOT NULL'],
      ['timestamp', 'bigint NOT NULL'],
      ['millisecond', 'smallint NOT NULL'],
      ['date', 'date NOT NULL'],
      ['hour', 'smallint NOT NULL'],
      ['tbr_serial_id', 'integer NOT NULL'],
      ['comm_protocol', 'text NOT NULL'],
      ['frequency', 'smallint NOT NULL'],
      ['tag_id', 'integer NOT NULL'],
      ['tag_data', 'double precision'],
      ['tag_data_raw', 'integer'],
      ['tag_data_2', 'double precision'],
      ['snr', 'smallint'],
    ],
  },
  {
    name: 'tbr',
    key: 'message_id, row',
    columns: [
      ['message_id', 'bigint NOT NULL'],
      ['row', 'integer NOT NULL'],
      ['timestamp', 'bigint NOT NULL'],
      ['date', 'date NOT NULL'],
      ['hour', 'smallint NOT NULL'],
      ['tbr_serial_id', 'integer NOT NULL'],
      ['temperature', 'double precision'],
      ['temperature_data_raw', 'integer'],
      ['noise_avg', 'smallint'],
      ['noise_peak', 'smallint'],
      ['frequency', 'smallint'],
    ],
  },
  {
    name: 'positions',
    key: 'timestamp, tag_id, frequency',
    columns: [
      ['timestamp', 'bigint NOT NULL'],
      ['millisecond', 'smallint NOT NULL'],
      ['date', 'date NOT NULL'],
      ['hour', 'smallint NOT NULL'],
      ['tag_id', 'integer NOT NULL'],
      ['frequency', 'smallint NOT NULL'],
      ['cage_name', 'text NOT NULL'],
      ['x', 'double precision NOT NULL'],
      ['y', 'double precision NOT NULL'],
      ['z', 'double precision NOT NULL'],
      ['latitude', 'double precision NOT NULL'],
      ['longitude', 'double precision NOT NULL'],
      ['tbr_a', 'integer NOT NULL'],
      ['tbr_b', 'integer NOT NULL'],
      ['tbr_c', 'integer NOT NULL'],
    ],
  },
];

/** Rows per INSERT (bounded by PostgreSQL's 65,535 parameters). */
const PAGE = 2000;

/** Marks the PostgreSQL copy of positions for replacement (after the SQLite table was rebuilt). */
export function resetPositionsCopy(db: IofDatabase): void {
  db.setMeta('postgres:positions', '-1');
}

export class IofPostgres {
  private client: pg.Client | undefined;
  private ready = false;

  constructor(
    private readonly o: IofPostgresOptions,
    private readonly db: IofDatabase,
  ) {}

  private q(name: string): string {
    return `"${this.o.schema}"."${name}"`;
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const c = new (loadPg().Client)({
      connectionString: this.o.connection_string,
      connectionTimeoutMillis: this.o.connect_timeout,
      statement_timeout: this.o.statement_timeout,
    });
    c.on('error', () => {
      // a dropped connection: forgotten here, reconnected by the next copy
      if (this.client === c) this.client = undefined;
    });
    await c.connect();
    this.client = c;
    if (!this.ready) {
      await c.query(`CREATE SCHEMA IF NOT EXISTS "${this.o.schema}"`);
      for (const t of TABLES) {
        const cols = t.columns.map(([n, type]) => `"${n}" ${type}`).join(', ');
        const key =
          t.name === 'backup'
            ? ''
            : `, ${t.name === 'positions' ? 'UNIQUE' : 'PRIMARY KEY'} (${t.key
                .split(', ')
                .map((k) => `"${k}"`)
                .join(', ')})`;
        await c.query(`CREATE TABLE IF NOT EXISTS ${this.q(t.name)} (${cols}${key})`);
      }
      this.ready = true;
    }
    return c;
  }

  /** Copies what SQLite has that PostgreSQL has not yet; the outcome as a sink result. */
  async sync(): Promise<WriteResult> {
    let c: pg.Client;
    try {
      c = await this.connect();
      for (const t of TABLES) await this.copy(c, t);
      return { kind: 'ok' };
    } catch (e) {
      const err = e as { code?: string; message: string };
      const client = this.client;
      this.client = undefined;
      await client?.end().catch(() => {});
      const reason = `PostgreSQL copy of the IoF tables: ${err.message}`;
      if (err.code === '28P01' || err.code === '28000' || err.code === '42501') return { kind: 'auth', reason };
      if (err.code === '3D000') return { kind: 'misconfigured', reason };
      return { kind: 'retry', reason };
    }
  }

  private async copy(c: pg.Client, t: (typeof TABLES)[number]): Promise<void> {
    const metaKey = `postgres:${t.name}`;
    let from = Number(this.db.meta(metaKey) ?? '0');
    if (from < 0) {
      await c.query(`DELETE FROM ${this.q(t.name)}`);
      this.db.setMeta(metaKey, '0');
      from = 0;
    }
    const names = t.columns.map(([n]) => n);
    const select = this.db.db.prepare(
      `SELECT rowid AS _rowid, ${names.map((n) => `"${n}"`).join(', ')} FROM ${t.name} WHERE rowid > ? ORDER BY rowid LIMIT ${PAGE}`,
    );
    const conflict =
      t.name === 'positions'
        ? `ON CONFLICT (${t.key
            .split(', ')
            .map((k) => `"${k}"`)
            .join(', ')}) DO UPDATE SET ${names.map((n) => `"${n}" = excluded."${n}"`).join(', ')}`
        : 'ON CONFLICT DO NOTHING';
    for (;;) {
      const rows = select.all(from) as Record<string, unknown>[];
      if (rows.length === 0) return;
      const params: unknown[] = [];
      const tuples = rows.map(
        (r) =>
          `(${names
            .map((n) => {
              params.push(r[n]);
              return `$${params.length}`;
            })
            .join(', ')})`,
      );
      await c.query(
        `INSERT INTO ${this.q(t.name)} (${names.map((n) => `"${n}"`).join(', ')}) VALUES ${tuples.join(', ')} ${conflict}`,
        params,
      );
      from = Number(rows[rows.length - 1]._rowid);
      this.db.setMeta(metaKey, String(from));
    }
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }
}
