/** The reusable "log files → frames → DBC decode → values" pipeline and its output jobs. See README.md. */
export {
  type BuildOptions,
  buildDecoderConfig,
  type ChannelSpec,
  type DecodeDb,
  type DecoderConfig,
  type DecoderSpec,
  decoderConfigFrom,
  parseChannelSpec,
  parseSignalFilter,
} from './dbcset.js';
export {
  type DecodeErrorEntry,
  type DecodeErrorReason,
  DecodeErrorTally,
  describeDecodeErrors,
  explainNoValues,
  type RunCounts,
} from './diagnosis.js';
export {
  decodeFrameLines,
  type FrameDecodeOptions,
  type FrameDecodeStats,
  type FrameLine,
  type InputLine,
  noFrameDecoded,
  parseFrameLine,
  splitLines,
} from './frame-json.js';
export { expandInputs, type InputProblem, type LogInput } from './inputs.js';
export {
  type DecodeFormat,
  type DecodeHooks,
  type DecodeJob,
  type DecodeResult,
  type DecodeTarget,
  type FramesJob,
  type JobHooks,
  type JobWarning,
  type LogSelection,
  runDecodeJob,
  runFramesJob,
  selectionOptions,
} from './jobs.js';
export { ByteWriter } from './output/byte-writer.js';
export { csvField, csvNumber, jsonNumber } from './output/format.js';
export { FRAMES_CSV_HEADER, type FramesFormat, formatFrames } from './output/frames.js';
export { LongParquetTable, writeWideParquet } from './output/parquet.js';
export { type DeviceText, deviceText, formatValues, longCsvHeader } from './output/values.js';
export { type WideCell, type WideRow, type WideSource, WideTable, writeWideCsv } from './output/wide.js';
export {
  addStats,
  type BatchView,
  emptyStats,
  forEachDecodedFrame,
  forEachValue,
  j1939Sa,
  type LogStats,
  type OpenedFile,
  openInput,
  type PipelineOptions,
  runLogPipeline,
} from './pipeline.js';
export { NsFormatter } from './time.js';
export {
  BatchReassembly,
  parseTransportChoices,
  type ReassembledBatch,
  type TransportChoice,
  type TransportChoices,
} from './transport.js';
