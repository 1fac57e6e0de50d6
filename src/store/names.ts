/**
 * Names a store query asks for that the store does not have: a measurement, a field, a tag key or value. An empty
 * answer for a mistyped name looks like "no data"; instead the query is refused with the names that exist, the
 * nearest to the one asked for first (edit distance, case-insensitive).
 */

/** Levenshtein distance between two strings (case-insensitive). */
function distance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    for (let j = 1; j <= t.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[t.length];
}

/**
 * `known` ordered by closeness to `wanted`: names that start with it, then names that contain it, then the rest;
 * within each, by edit distance, then alphabetically (all case-insensitive).
 */
export function nearestNames(wanted: string, known: readonly string[]): string[] {
  const w = wanted.toLowerCase();
  const tier = (k: string) => (k.toLowerCase().startsWith(w) ? 0 : k.toLowerCase().includes(w) ? 1 : 2);
  return known
    .map((k) => ({ k, t: tier(k), d: distance(wanted, k) }))
    .sort((x, y) => x.t - y.t || x.d - y.d || (x.k < y.k ? -1 : x.k > y.k ? 1 : 0))
    .map((x) => x.k);
}

/** `"wanted" does not exist …; known: a, b, c … (N in all)`: at most `limit` names, nearest first. */
export function unknownNameText(what: string, wanted: string, known: readonly string[], limit = 10): string {
  if (known.length === 0) return `no ${what} ${JSON.stringify(wanted)}: there is none`;
  const list = nearestNames(wanted, known);
  const shown = list.slice(0, limit).join(', ');
  return `no ${what} ${JSON.stringify(wanted)}; known (nearest first): ${shown}${list.length > limit ? `, … (${list.length} in all)` : ''}`;
}
