/**
 * MDF4 reader/writer and CAN/LIN bus-logging extraction. See README.md in this folder.
 */

export type { Channel, ChannelGroup, Conversion, DataGroup, FileHistory, IdBlock, SourceInfo } from './blocks.js';
export { flattenChannels } from './blocks.js';
export {
  activeBusGroups,
  BUS_CAN,
  BUS_LIN,
  type BusFrame,
  type BusGroupLayout,
  busFrames,
  busGroups,
  EV_CAN_DATA,
  EV_CAN_ERROR,
  EV_CAN_REMOTE,
  EV_LIN_CHECKSUM_ERROR,
  EV_LIN_FRAME,
  EV_LIN_RECEIVE_ERROR,
  EV_LIN_SYNC_ERROR,
  EV_LIN_TRANSMISSION_ERROR,
  EVENT_NAMES,
  type EventName,
  FD_LENGTH,
  FLAG_BRS,
  FLAG_EDL,
  FLAG_ESI,
  FLAG_EXT,
  FLAG_TX,
  type FrameBatch,
  type FrameKind,
  frameAt,
  type KeepFrame,
  kindOf,
  type ReadBusOptions,
  readBusFrames,
} from './bus.js';
export { type ChannelValues, convert, readChannel } from './channels.js';
export { Mdf4Error, type Mdf4ErrorCode, type Mdf4Warning, type Mdf4WarningCode } from './errors.js';
export { Mdf4File, type Mdf4Header, type OpenOptions, openMdf4 } from './file.js';
export type { HeaderMetadata } from './header.js';
export { parseHeaderComment } from './header.js';
export { countRecords, type RecordChunk, RecordCursor } from './records.js';
export { buildBusLog, type WriteEvent, type WriteFrame, type WriterOptions, writeBusLog } from './writer.js';
