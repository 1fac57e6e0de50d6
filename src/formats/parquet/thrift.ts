/**
 * The byte level of a Parquet file: a growable little-endian byte buffer, and the thrift compact protocol that
 * page headers and the footer are written in (field by field, no generic structs). Shared by the streaming writer
 * (writer.ts) and the time-series encoder (series.ts).
 */

/** A growable byte buffer with the little writers Parquet needs. */
export class Bytes {
  buf: Uint8Array;
  n = 0;
  constructor(size = 1024) {
    this.buf = new Uint8Array(size);
  }

  ensure(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    let c = this.buf.length * 2;
    while (c < this.n + extra) c *= 2;
    const b = new Uint8Array(c);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  byte(x: number): void {
    this.ensure(1);
    this.buf[this.n++] = x;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  /** Unsigned LEB128 of a non-negative integer (< 2^53). */
  uvarint(x: number): void {
    this.ensure(8);
    while (x >= 0x80) {
      this.buf[this.n++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.n++] = x;
  }
  /** Zigzag LEB128 of an integer (|x| < 2^52). */
  zigzag(x: number): void {
    this.uvarint(x >= 0 ? 2 * x : -2 * x - 1);
  }
  /** Zigzag LEB128 of a signed 64-bit integer. */
  zigzagBig(x: bigint): void {
    let z = BigInt.asUintN(64, (x << 1n) ^ (x < 0n ? -1n : 0n));
    this.ensure(10);
    while (z >= 0x80n) {
      this.buf[this.n++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.buf[this.n++] = Number(z);
  }
  u32le(x: number): void {
    this.ensure(4);
    const b = this.buf;
    const n = this.n;
    b[n] = x & 0xff;
    b[n + 1] = (x >>> 8) & 0xff;
    b[n + 2] = (x >>> 16) & 0xff;
    b[n + 3] = (x >>> 24) & 0xff;
    this.n = n + 4;
  }
  /** Writes the u32 `x` at `at` (a length prefix filled in afterwards). */
  u32leAt(at: number, x: number): void {
    const b = this.buf;
    b[at] = x & 0xff;
    b[at + 1] = (x >>> 8) & 0xff;
    b[at + 2] = (x >>> 16) & 0xff;
    b[at + 3] = (x >>> 24) & 0xff;
  }
  /** An integral double (|x| < 2^53) as 8 little-endian bytes of an INT64. */
  i64le(x: number): void {
    const lo = x >= 0 ? x % 0x100000000 : (0x100000000 - (-x % 0x100000000)) % 0x100000000;
    const hi = Math.floor(x / 0x100000000);
    this.u32le(lo);
    this.u32le(hi | 0);
  }
  take(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

// thrift compact types
export const T_TRUE = 1;
export const T_FALSE = 2;
export const T_I32 = 5;
export const T_I64 = 6;
export const T_BINARY = 8;
export const T_LIST = 9;
export const T_STRUCT = 12;

export const utf8 = new TextEncoder();

/** Thrift compact protocol, field by field (ids ascending within a struct; the writer keeps the last id). */
export class Thrift {
  private last: number[] = [0];
  constructor(readonly out: Bytes) {}
  private field(id: number, type: number): void {
    const d = id - this.last[this.last.length - 1];
    if (d > 0 && d <= 15) this.out.byte((d << 4) | type);
    else {
      this.out.byte(type);
      this.out.zigzag(id);
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.field(id, T_I32);
    this.out.zigzag(v);
  }
  i64(id: number, v: number): void {
    this.field(id, T_I64);
    this.out.zigzag(v);
  }
  bool(id: number, v: boolean): void {
    this.field(id, v ? T_TRUE : T_FALSE);
  }
  binary(id: number, b: Uint8Array): void {
    this.field(id, T_BINARY);
    this.out.uvarint(b.length);
    this.out.bytes(b);
  }
  string(id: number, s: string): void {
    this.binary(id, utf8.encode(s));
  }
  begin(id: number): void {
    this.field(id, T_STRUCT);
    this.last.push(0);
  }
  end(): void {
    this.out.byte(0);
    this.last.pop();
  }
  list(id: number, type: number, size: number): void {
    this.field(id, T_LIST);
    if (size < 15) this.out.byte((size << 4) | type);
    else {
      this.out.byte(0xf0 | type);
      this.out.uvarint(size);
    }
  }
  /** A struct as a list element (no field header). */
  beginElement(): void {
    this.last.push(0);
  }
  i32Element(v: number): void {
    this.out.zigzag(v);
  }
  stringElement(s: string): void {
    const b = utf8.encode(s);
    this.out.uvarint(b.length);
    this.out.bytes(b);
  }
}
