/**
 * The console's IoF view (src/server/console): per cage of the project, its circle and three TBRs in the cage's
 * local frame (A at the origin, B on the x axis: the frame positions are computed in, from the project's station
 * coordinates; positions were computed in the frame of the stations' GPS fixes at the time, which moves with the
 * cage by a few metres at most) and the latest position of each tag positioned in it; per TBR, its detections, latest temperature
 * and noise. Read from the iof sink's database (read-only, while `sigflow run` writes it); before the sink has
 * created it, the view is empty.
 */
import { existsSync } from 'node:fs';
import type { SigflowConfig } from '../../config/index.js';
import { cageOf } from '../../geo/index.js';
import { IofDatabase, type IofProject, loadProject } from '../../sinks/iof/index.js';

export interface IofConsoleCage {
  name: string;
  /** The circle through the three stations (what positions are judged against), local frame, m. */
  circle: { x: number; y: number; r: number } | null;
  radius: number;
  /** Depth of the TBRs, m (a position's z is the tag's depth minus this). */
  tbrDepth: number;
  tbrs: { serial: number; x: number; y: number }[];
  /** The latest position of each tag (local frame, m; depth = the tag's depth reading). */
  positions: { tag_id: number; frequency: number; x: number; y: number; depth: number | null; timestamp: number }[];
}

export interface IofConsoleData {
  messages: number;
  messagesWithErrors: number;
  cages: IofConsoleCage[];
  tbrs: {
    tbr_serial_id: number;
    detections: number;
    last_detection: number | null;
    temperature: number | null;
    noise_avg: number | null;
    noise_peak: number | null;
    last_report: number | null;
    last_received: string | null;
  }[];
}

/** The geometry of a project's cages (stations in the local frame), computed once. */
function geometry(project: IofProject): Omit<IofConsoleCage, 'positions'>[] {
  return project.cages.map((c) => {
    const g = cageOf(
      { lat: c.lat_a, lon: c.lon_a },
      { lat: c.lat_b, lon: c.lon_b },
      { lat: c.lat_c, lon: c.lon_c },
      c.tbr_depth,
    );
    const xy = g ? [[0, 0] as const, [g.frame.b, 0] as const, [g.frame.cx, g.frame.cy] as const] : [];
    return {
      name: c.name,
      circle: g ? { x: g.circle.x, y: g.circle.y, r: g.circle.r } : null,
      radius: c.radius,
      tbrDepth: c.tbr_depth,
      tbrs: c.tbrs.map((serial, i) => ({ serial, x: xy[i]?.[0] ?? 0, y: xy[i]?.[1] ?? 0 })),
    };
  });
}

/** The view of a run config's iof sink (its database and project), or undefined when the config has none. */
export async function iofConsoleOf(config: SigflowConfig): Promise<(() => IofConsoleData) | undefined> {
  const sink = config.sinks.find((s) => s.type === 'iof') as { path?: string; project?: string } | undefined;
  return sink?.path ? iofConsoleView(sink.path, sink.project) : undefined;
}

/** A function answering the view's data from `database` (project: the iof sink's project file). */
export async function iofConsoleView(database: string, projectPath: string | undefined): Promise<() => IofConsoleData> {
  const cages = projectPath ? geometry(await loadProject(projectPath)) : [];
  let db: IofDatabase | null = null;
  return () => {
    if (!db) {
      if (!existsSync(database))
        return { messages: 0, messagesWithErrors: 0, cages: cages.map((c) => ({ ...c, positions: [] })), tbrs: [] };
      db = IofDatabase.open(database, { readonly: true });
    }
    const q = db.db;
    const one = (sql: string) => (q.prepare(sql).get() as { n: number }).n;
    const latest = q.prepare(
      `SELECT tag_id, frequency, x, y, z, MAX(timestamp) AS timestamp FROM positions WHERE cage_name = ?
       GROUP BY tag_id, frequency ORDER BY tag_id, frequency LIMIT 500`,
    );
    const tbrs = q
      .prepare(
        `WITH s AS (SELECT tbr_serial_id FROM tag UNION SELECT tbr_serial_id FROM tbr),
              d AS (SELECT tbr_serial_id, COUNT(*) AS detections, MAX(timestamp) AS last_detection FROM tag GROUP BY 1),
              r AS (SELECT tbr_serial_id, temperature, noise_avg, noise_peak, MAX(timestamp) AS last_report FROM tbr GROUP BY 1),
              m AS (SELECT tbr_serial_id, MAX(received_at) AS last_received FROM (
                      SELECT t.tbr_serial_id, b.received_at FROM tag t JOIN backup b USING (message_id)
                      UNION ALL SELECT r.tbr_serial_id, b.received_at FROM tbr r JOIN backup b USING (message_id)) GROUP BY 1)
         SELECT s.tbr_serial_id, COALESCE(d.detections, 0) AS detections, d.last_detection, r.temperature, r.noise_avg,
                r.noise_peak, r.last_report, m.last_received
         FROM s LEFT JOIN d USING (tbr_serial_id) LEFT JOIN r USING (tbr_serial_id) LEFT JOIN m USING (tbr_serial_id)
         ORDER BY s.tbr_serial_id`,
      )
      .all() as IofConsoleData['tbrs'];
    return {
      messages: one('SELECT COUNT(*) AS n FROM backup'),
      messagesWithErrors: one('SELECT COUNT(*) AS n FROM backup WHERE error IS NOT NULL'),
      cages: cages.map((c) => ({
        ...c,
        positions: (
          latest.all(c.name) as {
            tag_id: number;
            frequency: number;
            x: number;
            y: number;
            z: number;
            timestamp: number;
          }[]
        ).map((p) => ({
          tag_id: p.tag_id,
          frequency: p.frequency,
          x: p.x,
          y: p.y,
          depth: p.z + c.tbrDepth,
          timestamp: p.timestamp,
        })),
      })),
      tbrs,
    };
  };
}
