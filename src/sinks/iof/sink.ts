/**
 * The `iof` sink: the Internet-of-Fish tables. Takes the message records the MQTT source makes (`iof_message`:
 * the raw bytes, base64) and, per batch, in one SQLite transaction: stores each message's raw backup (a message
 * whose bytes are already stored — a redelivery — is skipped whole), its decoded gps/tag/tbr rows with the
 * project's conversions, and the positions of depth tags the new detections complete. Other records are passed
 * over. Storage failures are `retry` (the outbox keeps the batch); the transaction leaves nothing half-written.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadPacketSpec, type PacketDecoder } from '../../codecs/bitfield/index.js';
import { makeDirectory, systemReason } from '../../io/index.js';
import type { Sink, WriteResult } from '../../outbox/index.js';
import { nsToMs, type TelemetryRecord } from '../../records/index.js';
import type { IofSinkOptions } from './config.js';
import { type Detection, IofDatabase } from './database.js';
import { IofIngest } from './ingest.js';
import { Positioner } from './positioning.js';
import { IofPostgres } from './postgres.js';
import { type IofProject, IofProjectError, ProjectIndex, parseProjectText } from './project.js';

/** Counters since start, for logs and `sigflow iof status`. */
export interface IofSinkCounts {
  messages: number;
  duplicates: number;
  rows: number;
  errors: number;
}

export class IofSink implements Sink {
  readonly name: string;
  readonly counts: IofSinkCounts = { messages: 0, duplicates: 0, rows: 0, errors: 0 };
  readonly db: IofDatabase;
  private readonly ingest: IofIngest;
  private readonly positioner: Positioner | undefined;
  private readonly postgres: IofPostgres | undefined;

  constructor(
    private readonly o: IofSinkOptions,
    project: IofProject,
    decoder: PacketDecoder,
  ) {
    this.name = o.name;
    makeDirectory(dirname(o.path), 'IoF database folder');
    this.db = IofDatabase.open(o.path, { synchronous: o.synchronous });
    this.db.setMeta('project', JSON.stringify(project));
    const index = new ProjectIndex(project);
    this.ingest = new IofIngest(this.db, index, decoder, project.time_zone);
    this.positioner = o.positioning && project.positioning.enabled ? new Positioner(this.db, index) : undefined;
    this.postgres = o.postgres ? new IofPostgres(o.postgres, this.db) : undefined;
  }

  async write(batch: readonly TelemetryRecord[], signal?: AbortSignal): Promise<WriteResult> {
    if (signal?.aborted) return { kind: 'retry', reason: 'aborted before writing' };
    try {
      this.db.transaction(() => {
        const detections: Detection[] = [];
        for (const r of batch) {
          if (r.measurement !== this.o.measurement) continue;
          const f = r.fields;
          const res = this.ingest.message(
            {
              receivedMs: nsToMs(r.time),
              topic: r.tags.topic ?? null,
              data: typeof f.data === 'string' ? f.data : undefined,
              payload: typeof f.payload === 'string' ? f.payload : undefined,
              snr: typeof f.snr === 'number' ? f.snr : null,
              error: typeof f.error === 'string' ? f.error : undefined,
            },
            detections,
          );
          if (!res.stored) this.counts.duplicates++;
          else {
            this.counts.messages++;
            this.counts.rows += res.rows;
            if (res.error) this.counts.errors++;
          }
        }
        if (this.positioner) for (const d of detections) this.positioner.detection(d);
      });
    } catch (e) {
      return { kind: 'retry', reason: `IoF database ${this.o.path}: ${(e as Error).message}` };
    }
    // Committed in SQLite; PostgreSQL's copy catches up (a failure here has the batch sent again: SQLite then
    // finds it stored, and the copy resumes where it stopped).
    return this.postgres ? this.postgres.sync() : { kind: 'ok' };
  }

  async close(): Promise<void> {
    await this.postgres?.close();
    this.db.close();
  }
}

/** Builds the sink: reads the project file and the spec (errors name the file), opens the database. */
export function createIofSink(o: IofSinkOptions): IofSink {
  let text: string;
  try {
    text = readFileSync(o.project, 'utf8');
  } catch (e) {
    throw new IofProjectError(o.project, [`${o.project}: cannot read the project file (${systemReason(e)})`]);
  }
  return new IofSink(o, parseProjectText(text, o.project), loadPacketSpec(o.spec));
}
