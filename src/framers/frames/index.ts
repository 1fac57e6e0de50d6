/** The framers' shared contract: frames in columns (CanFrameBatch) and the Framer interface. */
export { CanFrameBatch, FRAME_BRS, FRAME_ERROR, FRAME_FD, FRAME_RTR, type Framer } from './frames.js';
