/**
 * `sigflow iof status`: what the IoF database holds — messages (decoded, with errors), rows per table, the last
 * message per TBR, positions per cage — read-only, while `sigflow run` keeps writing.
 */
import { IofDatabase } from '../../sinks/iof/index.js';

export interface IofStatus {
  readonly database: string;
  readonly messages: number;
  readonly messagesWithErrors: number;
  readonly rows: Readonly<Record<'gps' | 'tag' | 'tbr' | 'positions', number>>;
  /** The latest rows per TBR (by their own timestamp) and when sigflow last received a message from it. */
  readonly tbrs: readonly {
    tbr_serial_id: number;
    last_timestamp: number;
    last_received: string | null;
    rows: number;
  }[];
  readonly positionsPerCage: readonly { cage_name: string; positions: number; last_timestamp: number }[];
  /** The latest errors (up to 10). */
  readonly recentErrors: readonly { message_id: number; received_at: string; error: string }[];
}

export function iofStatus(path: string): IofStatus {
  const db = IofDatabase.open(path, { readonly: true });
  try {
    const one = (sql: string) => (db.db.prepare(sql).get() as { n: number }).n;
    const tbrs = db.db
      .prepare(
        `SELECT tbr_serial_id, MAX(timestamp) AS last_timestamp, COUNT(*) AS rows, MAX(received_at) AS last_received FROM (
           SELECT g.tbr_serial_id, g.timestamp, b.received_at FROM gps g JOIN backup b USING (message_id)
           UNION ALL SELECT t.tbr_serial_id, t.timestamp, b.received_at FROM tag t JOIN backup b USING (message_id)
           UNION ALL SELECT r.tbr_serial_id, r.timestamp, b.received_at FROM tbr r JOIN backup b USING (message_id))
         GROUP BY tbr_serial_id ORDER BY tbr_serial_id`,
      )
      .all() as IofStatus['tbrs'];
    return {
      database: path,
      messages: one('SELECT COUNT(*) AS n FROM backup'),
      messagesWithErrors: one('SELECT COUNT(*) AS n FROM backup WHERE error IS NOT NULL'),
      rows: {
        gps: one('SELECT COUNT(*) AS n FROM gps'),
        tag: one('SELECT COUNT(*) AS n FROM tag'),
        tbr: one('SELECT COUNT(*) AS n FROM tbr'),
        positions: one('SELECT COUNT(*) AS n FROM positions'),
      },
      tbrs,
      positionsPerCage: db.db
        .prepare(
          'SELECT cage_name, COUNT(*) AS positions, MAX(timestamp) AS last_timestamp FROM positions GROUP BY cage_name ORDER BY cage_name',
        )
        .all() as IofStatus['positionsPerCage'],
      recentErrors: db.db
        .prepare(
          'SELECT message_id, received_at, error FROM backup WHERE error IS NOT NULL ORDER BY message_id DESC LIMIT 10',
        )
        .all() as IofStatus['recentErrors'],
    };
  } finally {
    db.close();
  }
}
