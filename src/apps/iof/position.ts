/**
 * `sigflow iof position --all`: positions over the whole database — every depth-tag detection, in the order the
 * messages were stored, through the same Positioner the live sink uses, so the rows are the ones live positioning
 * gives. The positions table is rebuilt in one transaction (a reader sees the old rows or the new, never half).
 */
import {
  type Detection,
  type IofDatabase,
  type IofProject,
  Positioner,
  type PositionOutcome,
  ProjectIndex,
  resetPositionsCopy,
} from '../../sinks/iof/index.js';

export interface PositionAllResult {
  readonly detections: number;
  readonly positions: number;
  readonly outcomes: Readonly<Partial<Record<PositionOutcome, number>>>;
  readonly seconds: number;
}

export function positionAll(db: IofDatabase, project: IofProject): PositionAllResult {
  const t0 = performance.now();
  const index = new ProjectIndex(project);
  const positioner = new Positioner(db, index);
  let detections = 0;
  db.transaction(() => {
    db.db.prepare('DELETE FROM positions').run();
    resetPositionsCopy(db); // a PostgreSQL copy is replaced at the sink's next batch
    // Pages of 10,000 in storage order (the connection cannot run the positioner's queries inside an iterator).
    const page = db.db.prepare(
      'SELECT message_id, row, tbr_serial_id, timestamp, millisecond, tag_id, frequency, tag_data FROM tag WHERE (message_id, row) > (?, ?) ORDER BY message_id, row LIMIT 10000',
    );
    let after = [-1, -1];
    for (;;) {
      const rows = page.all(after[0], after[1]) as (Detection & { message_id: number; row: number })[];
      if (rows.length === 0) break;
      for (const d of rows) {
        if (!index.cageOfTag(d.tag_id, d.frequency)) continue;
        detections++;
        positioner.detection(d);
      }
      const last = rows[rows.length - 1];
      after = [last.message_id, last.row];
    }
  });
  const positions = (db.db.prepare('SELECT COUNT(*) AS n FROM positions').get() as { n: number }).n;
  return {
    detections,
    positions,
    outcomes: Object.fromEntries(positioner.counts),
    seconds: (performance.now() - t0) / 1000,
  };
}
