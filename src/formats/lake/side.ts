/**
 * The lake's side tables, as CSS writes them: a device's `messages` table (one row per message folder,
 * `MessageName`, feeding Grafana's message drop-downs) and `devicemeta` (`MetaName` "log_meta (ID)", `DeviceId`).
 */
import { StringColumn, writeParquetRows } from '../parquet/index.js';
import { DEVICEMETA_KEY, isDeviceFolder, LAKE_META, messagesKey } from './layout.js';
import type { LakeStore } from './store.js';

function writeStrings(path: string, names: readonly string[], rows: readonly (readonly string[])[]): Promise<void> {
  const cols = names.map((n) => new StringColumn(n, false));
  return writeParquetRows(path, cols, rows.length, (i) => {
    rows[i].forEach((v, c) => {
      cols[c].push(v);
    });
  });
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

/**
 * Rewrites the `messages` table of each touched device (its message folders, from a listing) and `devicemeta`
 * (every device folder of the lake; `log_meta` from device.json where this run saw one, else kept from before).
 */
export async function writeSideTables(lake: LakeStore, touched: Map<string, string | null>): Promise<void> {
  const folders = new Map<string, Set<string>>();
  const devices = new Set<string>();
  for await (const o of lake.list('')) {
    const parts = o.key.split('/');
    if (parts.length < 3 || parts[0] === LAKE_META || parts[0] === 'aggregations') continue;
    devices.add(parts[0]);
    if (!touched.has(parts[0]) || parts[1] === 'messages') continue;
    let set = folders.get(parts[0]);
    if (!set) folders.set(parts[0], (set = new Set()));
    set.add(parts[1]);
  }
  for (const [device, set] of folders)
    await lake.writeFile(messagesKey(device), (path) => writeMessagesTable(path, [...set]));
  const previous = await lake.getText(`${LAKE_META}/devicemeta.json`);
  const meta = new Map<string, string | null>(previous ? (JSON.parse(previous) as [string, string | null][]) : []);
  for (const [d, m] of touched) if (m !== null || !meta.has(d)) meta.set(d, m);
  const rows = [...devices]
    .filter((d) => isDeviceFolder(d) || touched.has(d))
    .map((id) => ({ id, meta: meta.get(id) ?? null }));
  await lake.putText(`${LAKE_META}/devicemeta.json`, JSON.stringify([...meta]));
  await lake.writeFile(DEVICEMETA_KEY, (path) => writeDeviceMetaTable(path, rows));
}
