/**
 * HD comment (MD XML) → device metadata. CANedge writes `<tree name="Device Information">` and
 * `<tree name="File Information">` with `<e name="…">value</e>` entries; FW 01.03.01 writes TWO Device
 * Information trees (identity in the first, storage in the second): all trees of a name are merged.
 */
export interface HeaderMetadata {
  serial_number?: string;
  firmware?: string;
  hardware?: string;
  device_type?: string;
  session?: number;
  split?: number;
  comment?: string;
  config_crc?: string;
  storage_total?: number;
  storage_free?: number;
  storage_id?: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function xmlUnescape(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => {
    if (e[0] === '#') {
      const n = e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
      return Number.isFinite(n) && n <= 0x10ffff ? String.fromCodePoint(n) : m;
    }
    return ENTITIES[e] ?? m;
  });
}

export function parseHeaderComment(xml: string | null): {
  metadata: HeaderMetadata;
  fields: Record<string, Record<string, string>>;
} {
  const fields: Record<string, Record<string, string>> = {};
  if (xml) {
    const treeRe = /<tree\b[^>]*\bname="([^"]*)"[^>]*>([\s\S]*?)<\/tree>/g;
    for (let m = treeRe.exec(xml); m; m = treeRe.exec(xml)) {
      const tree = xmlUnescape(m[1]);
      const into = (fields[tree] ??= {});
      const eRe = /<e\b[^>]*\bname="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/e>)/g;
      for (let e = eRe.exec(m[2]); e; e = eRe.exec(m[2])) into[xmlUnescape(e[1])] = xmlUnescape(e[2] ?? '');
    }
  }
  const dev = fields['Device Information'] ?? {};
  const file = fields['File Information'] ?? {};
  const md: HeaderMetadata = {};
  const str = (v: string | undefined) => (v === undefined ? undefined : v.trim());
  const int = (v: string | undefined) => {
    if (v === undefined) return undefined;
    const t = v.trim();
    return /^-?\d+$/.test(t) ? Number(t) : undefined;
  };
  const set = <K extends keyof HeaderMetadata>(k: K, v: HeaderMetadata[K] | undefined) => {
    if (v !== undefined) md[k] = v;
  };
  set('serial_number', str(dev['serial number']));
  set('firmware', str(dev['firmware version']));
  set('hardware', str(dev['hardware version']));
  set('device_type', str(dev['device type']));
  set('session', int(file.session));
  set('split', int(file.split));
  set('comment', str(file.comment));
  set('config_crc', str(dev['config crc32 checksum']));
  set('storage_total', int(dev['storage total']));
  set('storage_free', int(dev['storage free']));
  set('storage_id', str(dev['storage id']));
  return { metadata: md, fields };
}
