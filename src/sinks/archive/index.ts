/** The `archive` sink plugin: a raw message archive, NDJSON per UTC day, append-only. See README.md. */
import { type ArchiveSinkOptions, archiveRenamedKeys, archiveSinkConfigSchema } from './config.js';
import { ArchiveSink } from './sink.js';

export {
  type ArchiveSinkConfig,
  type ArchiveSinkOptions,
  archiveRenamedKeys,
  archiveSinkConfigSchema,
} from './config.js';
export {
  ArchiveFormatError,
  encodeArchiveLine,
  listArchive,
  parseArchiveLine,
  readArchiveFile,
  utcDate,
} from './format.js';
export { ArchiveSink, createArchiveSink } from './sink.js';

export const archivePlugin = {
  type: 'archive',
  description: 'a raw message archive: one NDJSON file per UTC day, appended, optionally gzipped once closed',
  schema: archiveSinkConfigSchema,
  // an append log cannot tell it already holds a record: a batch redelivered after a crash is appended twice
  idempotent: false,
  renamed: archiveRenamedKeys,
  create: (config: ArchiveSinkOptions) => new ArchiveSink(config),
} as const;
