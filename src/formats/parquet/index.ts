/** Parquet files: a streaming writer (typed columns, row groups, temp file + rename) and a one-shape encoder for time
 * series tables (the lake's). See README.md in this folder. */
export { encodeSeriesParquet, type SeriesColumn, type SeriesTable, writeSeriesParquet } from './series.js';
export {
  Column,
  type ColumnOptions,
  DEFAULT_MAX_CELLS_PER_ROW_GROUP,
  DEFAULT_ROW_GROUP_SIZE,
  DoubleColumn,
  fitsInt64,
  Int32Column,
  Int64Column,
  type ParquetErrorCode,
  type ParquetFileOptions,
  ParquetFileWriter,
  ParquetWriteError,
  StringColumn,
  TimestampNsColumn,
  TimestampUsColumn,
  writeParquetRows,
} from './writer.js';
