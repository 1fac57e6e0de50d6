/**
 * Canonical tag sets: one text per set of tags, whatever the key order. Series identity in the store (its
 * catalogue key), the PostgreSQL sink (its series table) and the InfluxDB line protocol (sorted tag keys) all
 * come from here, so a sink that only writes to InfluxDB does not load the store's SQLite.
 */

const NEEDS_JSON = /["\\\u0000-\u001f\ud800-\udfff]/;
const q = (x: string) => (NEEDS_JSON.test(x) ? JSON.stringify(x) : `"${x}"`);

/**
 * Sorted tag keys, remembering the last key order seen: sources build their tag objects in a fixed key order, so
 * the sort is skipped when the keys are the same as the previous record's (property keys are internalised
 * strings, so comparing them is a pointer compare).
 */
export class TagKeyOrder {
  private lastKeys: string[] = [];
  private lastSorted: string[] = [];

  sorted(tags: Readonly<Record<string, string>>): string[] {
    const keys = Object.keys(tags);
    const last = this.lastKeys;
    if (keys.length === last.length) {
      let same = true;
      for (let i = 0; i < keys.length; i++)
        if (keys[i] !== last[i]) {
          same = false;
          break;
        }
      if (same) return this.lastSorted;
    }
    this.lastKeys = keys;
    this.lastSorted = keys.length > 1 ? [...keys].sort() : keys;
    return this.lastSorted;
  }
}

/** Canonical tag-set text: keys sorted, JSON. Same tag set → same text, whatever the key order. */
export function canonicalTags(tags: Readonly<Record<string, string>>, order?: TagKeyOrder): string {
  const keys = order ? order.sorted(tags) : Object.keys(tags).sort();
  if (keys.length === 0) return '{}';
  let s = '{';
  for (let i = 0; i < keys.length; i++) {
    if (i) s += ',';
    s += `${q(keys[i])}:${q(tags[keys[i]])}`;
  }
  return `${s}}`;
}
