/**
 * The Internet-of-Fish application (README.md): `sigflow iof init` (metadata workbook → project folder),
 * `status`, `position --all`; it runs on `sigflow run` with the MQTT source (payload format packets) and the iof
 * sink (src/sinks/iof).
 */

export { type IofConsoleData, iofConsoleOf, iofConsoleView } from './console.js';
export {
  type BrokerSettings,
  type InitOptions,
  type InitResult,
  initProject,
  PASSWORD_VARIABLE,
  projectPaths,
  runConfig,
} from './init.js';
export { type PositionAllResult, positionAll } from './position.js';
export { type IofStatus, iofStatus } from './status.js';
export { IofWorkbookError, type ReadWorkbookOptions, readWorkbook } from './workbook.js';
