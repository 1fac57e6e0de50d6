/**
 * CANedge log tree paths: `<device>/<session>/<split>[-<hex>].(MF4|MFC|MFE|MFM)`, matched case-insensitively on
 * the last three path components (anything above them — `LOG/`, a bucket prefix — is the tree's prefix).
 * device = 8 hex digits (serial number), session and split = 8 decimal digits, the optional `-<hex>` suffix is
 * epoch seconds at or after the last record (roughly the upload time).
 */
import type { ContainerKind } from './container.js';

export interface LogPath {
  /** Key relative to the store root, '/'-separated. */
  path: string;
  /** Folders above the device folder ('' when the device folder is at the root). */
  prefix: string;
  /** Device folder, upper-case hex. */
  device: string;
  session: number;
  split: number;
  /** The `-<hex>` suffix as epoch seconds, or null. */
  suffixEpochS: number | null;
  /** Container kind the extension promises (the bytes decide what it is). */
  extKind: ContainerKind;
}

const FILE_RE = /^(\d{8})(?:-([0-9A-Fa-f]{1,12}))?\.(mf4|mfc|mfe|mfm)$/i;
const DEVICE_RE = /^[0-9A-Fa-f]{8}$/;
const SESSION_RE = /^\d{8}$/;

const EXT_KIND: Record<string, ContainerKind> = { mf4: 'mdf', mfc: 'mfc', mfe: 'mfe', mfm: 'mfm' };

/** Parses a store key; null when it is not a CANedge log file path. */
export function parseLogPath(path: string): LogPath | null {
  const parts = path.split('/');
  if (parts.length < 3) return null;
  const [device, session, file] = parts.slice(-3);
  if (!DEVICE_RE.test(device) || !SESSION_RE.test(session)) return null;
  const m = FILE_RE.exec(file);
  if (!m) return null;
  return {
    path,
    prefix: parts.slice(0, -3).join('/'),
    device: device.toUpperCase(),
    session: Number(session),
    split: Number(m[1]),
    suffixEpochS: m[2] === undefined ? null : Number.parseInt(m[2], 16),
    extKind: EXT_KIND[m[3].toLowerCase()],
  };
}
