/**
 * Claims: how several `sigflow lake write` workers over the same inputs share the logs without decoding one twice.
 * A worker claims a log before decoding it, checks the ledger again (another may have finished it meanwhile),
 * and lets the claim go once the ledger entry is written (or the log failed). A claim is a lease: a worker that
 * dies holds its logs until the lease ends, then another takes them over.
 *
 * Two places to keep them, both atomic:
 * - **PostgreSQL** (`--claims postgres://…`): one row per log, taken by a single `INSERT … ON CONFLICT DO UPDATE
 *   … WHERE expired` — the database decides; works with any object store, including servers without conditional
 *   writes (s3rver, older MinIO). The choice for a fleet on S3: the database is usually there already (the
 *   PostgreSQL sink) and its answer does not depend on the storage's consistency features.
 * - **The lake itself** (default): a create-only object per claim and attempt, `_sigflow/claims/<ID>/<stem>/<n>`
 *   (a folder: O_EXCL; S3: `If-None-Match: *`, supported by AWS S3 since 2024 and current MinIO). Taking over an
 *   expired claim creates attempt n+1, so two workers can never both win it.
 */
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type pg from 'pg';
import { SigflowError } from '../../errors/index.js';
import { LAKE_META, type LakeStore } from '../../formats/lake/index.js';

export interface LakeClaims {
  /** Who claims: `host:pid`. */
  readonly worker: string;
  /** Takes the log if nobody holds a live claim on it; false when another worker does. */
  claim(device: string, stem: string): Promise<boolean>;
  /** Lets the log go (after its ledger entry, or its failure). */
  release(device: string, stem: string): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_LEASE_MS = 10 * 60_000;

const workerName = () => `${hostname()}:${process.pid}`;

/** Claims kept in the lake's store: create-only objects, one per attempt. */
export class StoreClaims implements LakeClaims {
  readonly worker = workerName();
  private readonly held = new Map<string, string>();

  constructor(
    private readonly store: LakeStore,
    private readonly leaseMs = DEFAULT_LEASE_MS,
  ) {}

  private dir(device: string, stem: string): string {
    return `${LAKE_META}/claims/${device}/${stem}/`;
  }

  async claim(device: string, stem: string): Promise<boolean> {
    const dir = this.dir(device, stem);
    let last = -1;
    let lastMtimeMs = 0;
    for await (const o of this.store.list(dir)) {
      const n = Number(o.key.slice(dir.length));
      if (Number.isSafeInteger(n) && n > last) {
        last = n;
        lastMtimeMs = o.mtimeMs;
      }
    }
    if (last >= 0) {
      const text = await this.store.getText(`${dir}${last}`);
      if (text !== null && heldUntil(text, lastMtimeMs + this.leaseMs) > Date.now()) return false;
    }
    const key = `${dir}${last + 1}`;
    const won = await this.store.putText(
      key,
      JSON.stringify({ worker: this.worker, expires: Date.now() + this.leaseMs }),
      {
        ifAbsent: true,
      },
    );
    if (won) this.held.set(`${device}/${stem}`, dir);
    return won;
  }

  async release(device: string, stem: string): Promise<void> {
    const dir = this.held.get(`${device}/${stem}`);
    if (!dir) return;
    this.held.delete(`${device}/${stem}`);
    const keys: string[] = [];
    for await (const o of this.store.list(dir)) keys.push(o.key);
    for (const k of keys) await this.store.delete(k);
  }

  async close(): Promise<void> {}
}

/**
 * When a claim record's lease ends. A record another worker is still writing (a folder lake creates the file, then
 * writes it: read in between, it is empty) or one left unreadable by a crash is taken as held until `fallback` (its
 * modification time + the lease), not as an error: it was a JSON.parse failure that stopped the worker.
 */
function heldUntil(text: string, fallback: number): number {
  try {
    const expires = (JSON.parse(text) as { expires?: unknown }).expires;
    return typeof expires === 'number' ? expires : fallback;
  } catch {
    return fallback;
  }
}

const require = createRequire(import.meta.url);

/** Claims in a PostgreSQL table (`sigflow_lake_claims`, made when missing). */
export class PgClaims implements LakeClaims {
  readonly worker = workerName();

  private constructor(
    private readonly client: pg.Client,
    private readonly lake: string,
    private readonly leaseMs: number,
  ) {}

  static async open(url: string, lake: string, leaseMs = DEFAULT_LEASE_MS): Promise<PgClaims> {
    const { Client } = require('pg') as typeof pg;
    const client = new Client({ connectionString: url });
    try {
      await client.connect();
      await client.query(
        `CREATE TABLE IF NOT EXISTS sigflow_lake_claims (
           lake text NOT NULL, log text NOT NULL, worker text NOT NULL, expires timestamptz NOT NULL,
           PRIMARY KEY (lake, log))`,
      );
    } catch (e) {
      await client.end().catch(() => {});
      const safe = url.replace(/\/\/[^@/]*@/, '//…@');
      throw new SigflowError('SF_ERR_LAKE_CLAIMS', `claims database ${safe}: ${(e as Error).message}`, {
        where: '--claims',
        cause: e,
      });
    }
    return new PgClaims(client, lake, leaseMs);
  }

  async claim(device: string, stem: string): Promise<boolean> {
    // one statement: a new row, or an expired one taken over; a live claim of another worker stays
    const r = await this.client.query(
      `INSERT INTO sigflow_lake_claims (lake, log, worker, expires)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4))
       ON CONFLICT (lake, log) DO UPDATE SET worker = excluded.worker, expires = excluded.expires
       WHERE sigflow_lake_claims.expires < now()
       RETURNING worker`,
      [this.lake, `${device}/${stem}`, this.worker, this.leaseMs / 1000],
    );
    return r.rowCount === 1;
  }

  async release(device: string, stem: string): Promise<void> {
    await this.client.query('DELETE FROM sigflow_lake_claims WHERE lake = $1 AND log = $2 AND worker = $3', [
      this.lake,
      `${device}/${stem}`,
      this.worker,
    ]);
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}
