/** The serial CAN logger's 21-byte records (README.md). */
export {
  createRecords21Framer,
  RECORD_BYTES,
  type Records21Framer,
  type Records21Layout,
  type Records21Options,
  type Records21Timestamp,
} from './records21.js';
