/**
 * Transport protocols: multi-frame messages (ISO-TP/UDS, J1939-21 BAM and RTS/CTS, NMEA 2000 fast packets)
 * reassembled from the frames of one bus, streaming and pure. See README.md for the conventions.
 */
export { ISOTP_MAX_LENGTH, ISOTP_TIMEOUT_MS, type IsoTpOptions, IsoTpReassembler } from './isotp.js';
export { J1939_MAX_LENGTH, J1939_TIMEOUT_MS, J1939Reassembler } from './j1939.js';
export { type FastPacketOptions, FastPacketReassembler, NMEA2000_MAX_LENGTH, NMEA2000_TIMEOUT_MS } from './nmea2000.js';
export { planTransport, protocolFor, type TransportPlan, type TransportProtocol, TransportStage } from './plan.js';
export { type SegmentedFrame, segmentFastPacket, segmentIsoTp, segmentJ1939 } from './segment.js';
export {
  addStats,
  DROP_REASONS,
  type DropReason,
  describeStats,
  emptyStats,
  NOT_TRANSPORT,
  type PushResult,
  type Reassembler,
  type ReassemblerOptions,
  TAKEN,
  type TransportMessage,
  type TransportStats,
} from './types.js';
