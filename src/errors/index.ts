/** Public API of sigflow's errors: the catalogue of codes and the SigflowError base class. See docs/errors.md. */
export {
  ERRORS,
  type ErrorCode,
  type ErrorSpec,
  isErrorCode,
  WARNINGS,
  type WarningCode,
  type WarningSpec,
} from './catalogue.js';
export { renderErrorsDoc } from './doc.js';
export { errorCode, exitCodeOf, SigflowError, type SigflowErrorOptions } from './error.js';
