/** SocketCAN candump log framer (`candump -L` lines). See README.md. */
export { CANDUMP_MAX_LINE, type CandumpFramer, type CandumpOptions, createCandumpFramer } from './candump.js';
