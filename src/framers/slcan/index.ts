/** SLCAN (Lawicel ASCII) framer for CANable, USBtin, CANUSB and similar serial adapters. See README.md. */
export { createSlcanFramer, SLCAN_MAX_LINE, type SlcanFramer, type SlcanOptions } from './slcan.js';
