/**
 * One log of any container (MF4, MFC, MFE, MFM) opened for the MDF4 reader: the container layer first, then the
 * MDF4 metadata. What every reader of bus frames does (the log pipeline, the server's decode passes and raw-frame
 * tables). The source is closed on every error path; on success `mdf.close()` closes it.
 */
import type { ByteSource } from '../../io/index.js';
import { type Mdf4File, type Mdf4Warning, openMdf4 } from '../mdf4/index.js';
import { type OpenedLog, openLog } from './container.js';
import type { PasswordBook } from './passwords.js';

export async function openLogMdf4(
  src: ByteSource,
  opts: { passwords?: PasswordBook; onWarning?: (w: Mdf4Warning) => void } = {},
): Promise<{ log: OpenedLog; mdf: Mdf4File }> {
  const log = await openLog(src, { passwords: opts.passwords }); // closes src when it fails
  try {
    return { log, mdf: await openMdf4(log.source, { onWarning: opts.onWarning }) };
  } catch (e) {
    await log.source.close?.();
    throw e;
  }
}
