/**
 * A compiled packet spec: decodes messages into rows. The hot path (`decode`) writes values into one reused
 * Float64Array and calls back per row with its kind — callers read the columns they need; `rows` is the
 * convenience form that makes an object per row. A message that stops early (unknown discriminator, cut short)
 * keeps the rows before the stop and says where it stopped: `packet 3 at byte 17: unknown comm_code 0x57`.
 */

import { MAX_RECORD_TIME_MS } from '../../records/index.js';
import {
  compileSpec,
  ERR_NO_VARIANT,
  ERR_TRAILING,
  ERR_TRUNCATED,
  type Generated,
  type PacketError,
  type RowKind,
} from './compile.js';
import { type PacketSpec, type PacketSpecInput, parseSpec, readSpecText } from './spec.js';

/** A row as an object: column name → number or text (a column without a value in this row is left out). */
export type RowValues = Record<string, number | string>;

export interface PacketRow {
  readonly kind: string;
  /**
   * ms since the UNIX epoch, when the spec says how (`rows.<kind>.time`) and the row's fields give a time a record
   * can hold (finite, within the int64 ns range: ±292 years around 1970); else absent.
   */
  readonly timeMs?: number;
  readonly values: RowValues;
}

export interface DecodeResult {
  readonly rows: number;
  readonly error?: PacketError;
}

export class PacketDecoder {
  readonly spec: PacketSpec;
  readonly kinds: readonly RowKind[];
  /** The value slots of the row being emitted (valid inside the onRow callback). */
  readonly values: Float64Array;
  /** The generated source (for tests and `sigflow packets spec --source`). */
  readonly source: string;
  private readonly fn: Generated;
  private readonly lookups: readonly (readonly (number | undefined)[])[];
  private readonly sections: readonly string[];
  private readonly discriminator: { readonly name: string; readonly slot: number } | undefined;
  private readonly st = new Float64Array(5);
  private count = 0;
  private sink: (kind: number) => void = () => {};
  private readonly emit = (kind: number) => {
    this.count++;
    this.sink(kind);
  };

  /** The spec as written (YAML text is kept as its parsed object): what `sigflow packets spec` prints. */
  readonly written: unknown;

  constructor(spec: PacketSpec | PacketSpecInput | string, where?: string) {
    this.written = typeof spec === 'string' ? readSpecText(spec, where ?? 'spec') : spec;
    this.spec = parseSpec(this.written, where ?? 'spec');
    const c = compileSpec(this.spec, where ?? this.spec.name);
    this.kinds = c.kinds;
    this.values = new Float64Array(c.slotCount);
    this.source = c.source;
    this.fn = c.fn;
    this.lookups = c.lookups;
    this.sections = c.sections;
    this.discriminator = c.discriminator;
  }

  /** The row kind with this name, if the spec makes it. */
  kind(name: string): RowKind | undefined {
    return this.kinds.find((k) => k.name === name);
  }

  /** Decodes one message; `onRow(kind)` for each row, in message order, with its values in `this.values`. */
  decode(bytes: Uint8Array, onRow: (kind: number) => void): DecodeResult {
    const st = this.st;
    st[0] = 0;
    this.count = 0;
    this.sink = onRow;
    this.fn(bytes, bytes.length, this.values, this.emit, st, this.lookups);
    const rows = this.count;
    return st[0] === 0 ? { rows } : { rows, error: this.describe(bytes.length) };
  }

  /** Decodes one message into row objects (and the error that stopped it, if any). */
  rows(bytes: Uint8Array): { rows: PacketRow[]; error?: PacketError } {
    const out: PacketRow[] = [];
    const r = this.decode(bytes, (k) => out.push(this.row(k)));
    return r.error ? { rows: out, error: r.error } : { rows: out };
  }

  /** The current row (inside onRow) as an object. */
  row(kindIndex: number): PacketRow {
    const kind = this.kinds[kindIndex];
    const v = this.values;
    const values: RowValues = {};
    const cols = kind.columns;
    for (let i = 0; i < cols.length; i++) {
      const c = cols[i];
      const x = v[c.slot];
      if (Number.isNaN(x)) continue; // no value in this row
      if (c.texts === undefined) values[c.name] = x;
      else {
        const t = c.texts[x];
        if (t !== undefined) values[c.name] = t;
      }
    }
    const t = kind.time;
    if (!t) return { kind: kind.name, values };
    const ms = v[t.seconds] * 1000 + (t.milliseconds === undefined ? 0 : v[t.milliseconds]);
    // NaN (a field missing), ±Infinity or beyond int64 ns (an absurd scale in the spec): no time
    return Math.abs(ms) < MAX_RECORD_TIME_MS ? { kind: kind.name, timeMs: ms, values } : { kind: kind.name, values };
  }

  private describe(length: number): PacketError {
    const [code, packet, byte, detail, section] = this.st;
    const part = packet === 0 ? this.sections[section] : `packet ${packet}`;
    const at = `${part} at byte ${byte}`;
    if (code === ERR_TRUNCATED)
      return { packet, byte, message: `${at}: cut short (needs ${detail} bytes, ${length - byte} left)` };
    if (code === ERR_NO_VARIANT) {
      const d = this.discriminator;
      const value =
        Number.isInteger(detail) && detail >= 0 ? `0x${detail.toString(16).padStart(2, '0')}` : String(detail);
      return { packet, byte, message: `${at}: unknown ${d?.name ?? 'packet type'} ${value}` };
    }
    if (code === ERR_TRAILING)
      return {
        packet,
        byte,
        message: `${detail} byte(s) after the last ${this.sections[section]} at byte ${byte} (the spec has no packets to read them)`,
      };
    return { packet, byte, message: `${at}: stopped (code ${code})` };
  }
}
