/**
 * MDF4 reader/writer and CAN/LIN bus-logging extraction. See README.md in this folder.
 */
export { type ByteSource, BufferSource, FileSource, Mdf4Error, type Mdf4Warning } from './source.js';
export { openMdf4, Mdf4File, type Mdf4Header, type OpenOptions } from './file.js';
export type { Channel, ChannelGroup, Conversion, DataGroup, IdBlock, SourceInfo, FileHistory } from './blocks.js';
export { flattenChannels } from './blocks.js';
export type { HeaderMetadata } from './header.js';
export { parseHeaderComment } from './header.js';
export { readChannel, convert, type ChannelValues } from './channels.js';
export { RecordCursor, type RecordChunk, countRecords } from './records.js';
export {
  readBusFrames,
  busFrames,
  frameAt,
  busGroups,
  activeBusGroups,
  kindOf,
  type FrameBatch,
  type BusFrame,
  type ReadBusOptions,
  type BusGroupLayout,
  type FrameKind,
  type EventName,
  BUS_CAN,
  BUS_LIN,
  EV_CAN_DATA,
  EV_CAN_REMOTE,
  EV_CAN_ERROR,
  EV_LIN_FRAME,
  EV_LIN_CHECKSUM_ERROR,
  EV_LIN_RECEIVE_ERROR,
  EV_LIN_SYNC_ERROR,
  EV_LIN_TRANSMISSION_ERROR,
  EVENT_NAMES,
  FLAG_EXT,
  FLAG_TX,
  FLAG_EDL,
  FLAG_BRS,
  FLAG_ESI,
  FD_LENGTH,
} from './bus.js';
