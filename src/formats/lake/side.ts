/**
 * The lake's side tables, as CSS writes them: a device's `messages` table (one row per message folder,
 * `MessageName`, feeding Grafana's message drop-downs) and `devicemeta` (`MetaName` "log_meta (ID)", `DeviceId`).
 */
import { ParquetFileWriter, StringColumn } from '../parquet/index.js';

async function writeStrings(
  path: string,
  names: readonly string[],
  rows: readonly (readonly string[])[],
): Promise<void> {
  const w = await ParquetFileWriter.open(path);
  try {
    const cols = names.map((n) => new StringColumn(n, false));
    w.begin(cols);
    for (const row of rows) {
      row.forEach((v, i) => {
        cols[i].push(v);
      });
      w.endRow();
    }
    await w.close();
  } catch (e) {
    await w.abort();
    throw e;
  }
}

/** `messages.parquet`: the device's message folders, sorted. */
export function writeMessagesTable(path: string, folders: readonly string[]): Promise<void> {
  return writeStrings(
    path,
    ['MessageName'],
    [...folders].sort().map((f) => [f]),
  );
}

/** `devicemeta.parquet`: one row per device; `meta` is the device's `log_meta` when known. */
export function writeDeviceMetaTable(
  path: string,
  devices: readonly { id: string; meta: string | null }[],
): Promise<void> {
  return writeStrings(
    path,
    ['MetaName', 'DeviceId'],
    [...devices]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((d) => [d.meta ? `${d.meta} (${d.id})` : d.id, d.id]),
  );
}
