/** Where sigflow keeps what it can rebuild (log indexes, local copies of S3 lakes): one folder, one rule. */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Default cache folder: $SIGFLOW_CACHE_DIR, else $XDG_CACHE_HOME/sigflow, else ~/.cache/sigflow. */
export function defaultCacheDir(): string {
  if (process.env.SIGFLOW_CACHE_DIR) return process.env.SIGFLOW_CACHE_DIR;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg?.startsWith('/') ? xdg : join(homedir(), '.cache'), 'sigflow');
}
