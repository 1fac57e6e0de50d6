/** The reusable "log files → frames → DBC decode → values" pipeline. See README.md in this folder. */
export {
  type BuildOptions,
  buildDecoderConfig,
  type ChannelSpec,
  DbcConfigError,
  type DecodeDb,
  type DecoderConfig,
  parseChannelSpec,
  parseSignalFilter,
} from './dbcset.js';
export { expandInputs, type InputProblem, type LogInput } from './inputs.js';
export {
  addStats,
  type BatchView,
  emptyStats,
  forEachValue,
  type LogStats,
  type OpenedFile,
  openInput,
  type PipelineOptions,
  runLogPipeline,
} from './pipeline.js';
export { NsFormatter, parseDuration, parseTimeArg, TimeArgError } from './time.js';
