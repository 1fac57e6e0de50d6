/**
 * Wall clocks in IANA time zones (Europe/Oslo, America/Santiago): offsets, wall time ↔ instant, RFC 3339 with the
 * zone's offset, and the local date/hour columns of tables. Intl.DateTimeFormat per zone, made once.
 */

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC at the instant `utcMs`, in ms (Europe/Oslo in summer: +7 200 000). */
export function zoneOffsetMs(zone: string, utcMs: number): number {
  // Offsets change on quarter-hour marks only (DST, zone rule changes): one Intl call per zone and quarter hour.
  const quarter = Math.floor(utcMs / 900_000);
  const cached = lastOffset.get(zone);
  if (cached && cached.quarter === quarter) return cached.offset;
  const offset = computeOffset(zone, utcMs);
  lastOffset.set(zone, { quarter, offset });
  return offset;
}

const lastOffset = new Map<string, { quarter: number; offset: number }>();

function computeOffset(zone: string, utcMs: number): number {
  let f = zoneFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    zoneFormats.set(zone, f);
  }
  const parts: Record<string, number> = {};
  for (const p of f.formatToParts(new Date(utcMs))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wall - Math.floor(utcMs / 1000) * 1000;
}

/** A wall-clock time (its fields read as UTC) in `zone` → the instant, ms since the epoch. */
export function wallClockToInstant(wallMs: number, zone: string): number {
  const first = wallMs - zoneOffsetMs(zone, wallMs);
  return wallMs - zoneOffsetMs(zone, first);
}

/** The instant as RFC 3339 in `zone`: `2019-05-10T00:00:00+02:00` (`Z` when the offset is 0). */
export function rfc3339InZone(ms: number, zone: string): string {
  const offset = zoneOffsetMs(zone, ms);
  const local = new Date(ms + offset).toISOString();
  const clock = local.endsWith('.000Z') ? local.slice(0, 19) : local.slice(0, 23);
  if (offset === 0) return `${clock}Z`;
  const abs = Math.abs(offset) / 60_000;
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${clock}${offset < 0 ? '-' : '+'}${hh}:${mm}`;
}

/** The local calendar date (`2019-04-29`) and hour (0–23) of an instant in `zone`. */
export function localDateHour(ms: number, zone: string): { date: string; hour: number } {
  const offset = zoneOffsetMs(zone, ms);
  const local = new Date(Math.floor(ms / 1000) * 1000 + offset).toISOString();
  return { date: local.slice(0, 10), hour: Number(local.slice(11, 13)) };
}
