/**
 * Dictionary building for number columns: an open-addressing hash of 32- or 64-bit keys by their bits (so -0 and 0,
 * and NaNs of different payloads, are different entries — what PLAIN would have kept), to dense indexes in the
 * order first seen. No allocation per value (a Map would box every double).
 */

const EMPTY = -1;

export class BitsDictionary {
  private slots = new Int32Array(1024).fill(EMPTY);
  private mask = 1023;
  /** The entries' low and high 32 bits, in index order. */
  lo = new Uint32Array(256);
  hi = new Uint32Array(256);
  size = 0;

  /** Empties the dictionary (its capacity stays). */
  reset(): void {
    this.slots.fill(EMPTY);
    this.size = 0;
  }

  /** The index of the key (lo, hi), added if new; -1 when it is new and `limit` entries exist already. */
  index(lo: number, hi: number, limit: number): number {
    let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    const slots = this.slots;
    const mask = this.mask;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const e = slots[s];
      if (e === EMPTY) {
        if (this.size >= limit) return -1;
        return this.add(s, lo, hi);
      }
      if (this.lo[e] === lo && this.hi[e] === hi) return e;
    }
  }

  private add(slot: number, lo: number, hi: number): number {
    const e = this.size++;
    if (e === this.lo.length) {
      const l = new Uint32Array(e * 2);
      l.set(this.lo);
      this.lo = l;
      const h = new Uint32Array(e * 2);
      h.set(this.hi);
      this.hi = h;
    }
    this.lo[e] = lo;
    this.hi[e] = hi;
    this.slots[slot] = e;
    if (this.size * 2 > this.slots.length) this.rehash();
    return e;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(EMPTY);
    const mask = slots.length - 1;
    for (let e = 0; e < this.size; e++) {
      let h = Math.imul(this.lo[e] ^ Math.imul(this.hi[e], 0x9e3779b1), 0x85ebca6b);
      h ^= h >>> 15;
      let s = h & mask;
      while (slots[s] !== EMPTY) s = (s + 1) & mask;
      slots[s] = e;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
