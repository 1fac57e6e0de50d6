/**
 * A simulated serial CAN adapter speaking the serial logger's 21-byte records (src/framers/records21): records
 * encoded as the device writes them, lines of 1–4 records ended by CR LF, with damage mixed in (noise runs,
 * truncated records) at a given rate. Deterministic for a seed. Used by the framer tests, the serial end-to-end
 * test and the `run` benchmark.
 */

export interface SimRecord {
  /** Timestamp, µs since the epoch. */
  us: number;
  id: number;
  ext: boolean;
  data: Uint8Array;
}

/** xorshift32: a small deterministic generator. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4_294_967_296;
  };
}

/** One 21-byte record: f64 BE seconds, [filler], BE u32 id (bit 31 for extended ids), 8 data bytes. */
export function encodeRecord(r: SimRecord, filler = true): Uint8Array {
  const b = new Uint8Array(21);
  const v = new DataView(b.buffer);
  v.setFloat64(0, r.us / 1e6);
  const at = filler ? 9 : 8;
  v.setUint32(at, (r.ext ? 0x80000000 : 0) | r.id);
  b.set(r.data, at + 4);
  if (filler) b[8] = 0;
  return b;
}

export interface StreamOptions {
  records: number;
  seed?: number;
  /** Fraction of lines followed by damage (noise bytes or a truncated record, then CR LF); default 0.01. */
  garbage?: number;
  /** Ids to draw from (with their extended flag) for random payloads. */
  ids?: { id: number; ext: boolean }[];
  /** Or: these frames, in turn (cycling), instead of random ids and payloads (no CR LF forced into them). */
  frames?: { id: number; ext: boolean; data: Uint8Array }[];
  /** Time between records, µs (default 1000 plus up to 99 of jitter). */
  stepUs?: number;
  /** First timestamp (µs); records are 1 ms apart plus jitter. */
  startUs?: number;
  /** Fraction of records forced to hold 0d 0a in their payload; default 0.01. */
  crlf?: number;
  /** Fraction of records whose timestamp is moved (by at most ~4 s) to hold 0d 0a in its low bytes; default 0. */
  crlfTimes?: number;
  /** Damage after a line: 1 to this many pieces (noise or a cut record, each with its CR LF); default 1. */
  damagePieces?: number;
  filler?: boolean;
}

/** A time near `us` whose double (seconds) holds 0d 0a at bytes `at`, `at + 1` (when µs rounding keeps them). */
function withCrlf(us: number, at: number): number {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, us / 1e6);
  b.setUint8(at, 13);
  b.setUint8(at + 1, 10);
  return Math.round(b.getFloat64(0) * 1e6);
}

function hasCrlf(b: Uint8Array): boolean {
  for (let i = 0; i + 1 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10) return true;
  return false;
}

/** The byte stream and the records in it (what a correct framer must give back, in order). */
export function simulateStream(o: StreamOptions): { bytes: Uint8Array; records: SimRecord[]; damaged: number } {
  const r = rng(o.seed ?? 1);
  const records: SimRecord[] = [];
  const parts: Uint8Array[] = [];
  let us = o.startUs ?? Date.UTC(2024, 4, 1) * 1000;
  let damaged = 0;
  let total = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    total += b.length;
  };
  while (records.length < o.records) {
    const n = Math.min(1 + Math.floor(r() * 4), o.records - records.length);
    for (let k = 0; k < n; k++) {
      us += o.stepUs ?? 1000 + Math.floor(r() * 100);
      if (r() < (o.crlfTimes ?? 0)) us = withCrlf(us, 5 + Math.floor(r() * 2));
      if (o.frames) {
        const f = o.frames[records.length % o.frames.length];
        const rec = { us, id: f.id, ext: f.ext, data: f.data };
        records.push(rec);
        push(encodeRecord(rec, o.filler ?? true));
        continue;
      }
      const ids = o.ids ?? [{ id: 0x100, ext: false }];
      const { id, ext } = ids[Math.floor(r() * ids.length)];
      const data = new Uint8Array(8);
      for (let j = 0; j < 8; j++) data[j] = Math.floor(r() * 256);
      if (r() < (o.crlf ?? 0.01)) {
        const at = Math.floor(r() * 7);
        data[at] = 13;
        data[at + 1] = 10;
      }
      const rec = { us, id, ext, data };
      records.push(rec);
      push(encodeRecord(rec, o.filler ?? true));
    }
    push(Uint8Array.of(13, 10));
    const many = (o.damagePieces ?? 1) > 1;
    const pieces = r() < (o.garbage ?? 0.01) ? (many ? 1 + Math.floor(r() * (o.damagePieces ?? 1)) : 1) : 0;
    // Bytes since each cut record of this damage started, while fewer than a record's 21. A piece that puts a
    // CR LF 19 or 21 bytes after such a start makes the cut, its CR LF and what follows byte for byte a whole
    // record ending in, or followed by, 0d 0a (README "limits": nothing can tell them apart): such lengths are
    // not drawn, and noise after a cut holds no CR LF of its own.
    let sinceCut: number[] = [];
    const clash = (n: number) => sinceCut.some((w) => w + n === 19 || w + n === 21);
    for (let piece = 0; piece < pieces; piece++) {
      damaged++;
      let bytes: Uint8Array;
      let cut = false;
      if (r() < 0.5) {
        // noise: random bytes (any value, CR LF included unless after a cut), then a line end
        let n = 1 + Math.floor(r() * 40);
        while (clash(n)) n++;
        bytes = new Uint8Array(n);
        for (let j = 0; j < n; j++) {
          bytes[j] = Math.floor(r() * 256);
          if (sinceCut.length > 0 && bytes[j] === 13) bytes[j] = 14;
        }
      } else {
        // a record cut short (the device reset mid-record), 1–17 bytes (19 + CR LF would be a whole record)
        let n = 1 + Math.floor(r() * 17);
        while (clash(n) || n === 19) n = (n % 17) + 1;
        // (among several pieces, one whose bytes hold no CR LF: its CR LFs at all offsets would need clash() too)
        let cutUs = us + 1;
        const cutOf = (t: number) => encodeRecord({ us: t, id: 1, ext: false, data: new Uint8Array(8) }).subarray(0, n);
        if (many) while (hasCrlf(cutOf(cutUs))) cutUs++;
        bytes = cutOf(cutUs);
        cut = true;
      }
      push(bytes);
      push(Uint8Array.of(13, 10));
      sinceCut = sinceCut.map((w) => w + bytes.length + 2).filter((w) => w < 21);
      if (cut) sinceCut.push(bytes.length + 2);
    }
  }
  const bytes = new Uint8Array(total);
  let p = 0;
  for (const b of parts) {
    bytes.set(b, p);
    p += b.length;
  }
  return { bytes, records, damaged };
}

/** Splits `bytes` into chunks of random sizes 1..max (a serial read returns whatever has arrived). */
export function randomSplits(bytes: Uint8Array, seed: number, max = 300): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  for (let p = 0; p < bytes.length; ) {
    const n = 1 + Math.floor(r() * max);
    out.push(bytes.subarray(p, p + n));
    p += n;
  }
  return out;
}

/** A DBC's cantools reference frames (dbc/reference/*.ndjson) that fit a 21-byte record (8 data bytes). */
export interface ReferenceFrame {
  id: number;
  ext: boolean;
  data: Uint8Array;
  message: string;
  phys: Record<string, number>;
}

export function referenceFrames(ndjson: string): ReferenceFrame[] {
  return ndjson
    .split('\n')
    .filter((l) => l.trim())
    .map(
      (l) =>
        JSON.parse(l) as {
          id: number;
          extended: boolean;
          data: string;
          message: string;
          phys: Record<string, unknown>;
        },
    )
    .filter((f) => f.data.length === 16 && Object.values(f.phys).every((v) => typeof v === 'number'))
    .map((f) => ({
      id: f.id,
      ext: f.extended,
      data: Uint8Array.from(Buffer.from(f.data, 'hex')),
      message: f.message,
      phys: f.phys as Record<string, number>,
    }));
}
