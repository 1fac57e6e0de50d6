/**
 * Framers: bytes read from a device or a stream → CAN frames in columns (frames/: CanFrameBatch and the Framer
 * contract). One folder per wire format, each with its README.
 */

export { CANDUMP_MAX_LINE, type CandumpFramer, type CandumpOptions, createCandumpFramer } from './candump/index.js';
export { CanFrameBatch, FRAME_BRS, FRAME_ERROR, FRAME_FD, FRAME_RTR, type Framer } from './frames/index.js';
export {
  createRecords21Framer,
  RECORD_BYTES,
  type Records21Framer,
  type Records21Layout,
  type Records21Options,
  type Records21Timestamp,
} from './records21/index.js';
export { createSlcanFramer, SLCAN_MAX_LINE, type SlcanFramer, type SlcanOptions } from './slcan/index.js';
