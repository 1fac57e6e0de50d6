/**
 * Payload building for the uplink sinks: JSON text of field values (integers as JSON integers, exact), and
 * packers that put items into as few payloads as fit under `max_payload_bytes` — a JSON array
 * (`[a,b,…]`), lines (`a\nb\n`), or ThingsBoard's gateway object of arrays (`{"dev A":[a,b],"dev B":[c]}`).
 * Sizes are UTF-8 bytes. An item that cannot fit even alone is the caller's to reject beforehand (`fitsAlone`).
 */
import type { FieldValue } from '../records/index.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A field value as JSON text, or why it has none (NaN, ±Infinity; integers beyond int64). */
export function jsonValue(v: FieldValue): string | { problem: string } {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) return { problem: `${v} is not representable in JSON` };
      return Object.is(v, -0) ? '0' : JSON.stringify(v);
    case 'bigint':
      if (v < INT64_MIN || v > INT64_MAX) return { problem: `integer ${v} is outside int64` };
      return v.toString();
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return JSON.stringify(v);
    default:
      return { problem: `unsupported type ${typeof v}` };
  }
}

/** A float as JSON text that a strict reader takes as a float (`20.0`, not `20`). Finite numbers only. */
export function jsonFloat(v: number): string {
  const t = Object.is(v, -0) ? '0' : JSON.stringify(v);
  return /[.eE]/.test(t) ? t : `${t}.0`;
}

export const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

/** How items are joined into one payload. */
export interface PackFormat {
  readonly open: string;
  readonly close: string;
  readonly sep: string;
}

export const JSON_ARRAY: PackFormat = { open: '[', close: ']', sep: ',' };
/** Lines, each ending with a newline (line protocol). */
export const LINES: PackFormat = { open: '', close: '\n', sep: '\n' };

/** Items into payloads of at most `max` bytes, in order. */
export class Packer {
  private items: string[] = [];
  private size = 0;
  private readonly out: string[] = [];
  private readonly frame: number;

  constructor(
    private readonly fmt: PackFormat,
    private readonly max: number,
  ) {
    this.frame = byteLength(fmt.open) + byteLength(fmt.close);
  }

  /** Whether an item of `bytes` fits in a payload of its own. */
  fitsAlone(bytes: number): boolean {
    return this.frame + bytes <= this.max;
  }

  add(item: string, bytes = byteLength(item)): void {
    const cost = (this.items.length > 0 ? byteLength(this.fmt.sep) : 0) + bytes;
    if (this.items.length > 0 && this.frame + this.size + cost > this.max) this.flush();
    this.size += (this.items.length > 0 ? byteLength(this.fmt.sep) : 0) + bytes;
    this.items.push(item);
  }

  private flush(): void {
    if (this.items.length === 0) return;
    this.out.push(this.fmt.open + this.items.join(this.fmt.sep) + this.fmt.close);
    this.items = [];
    this.size = 0;
  }

  /** The payloads. */
  finish(): string[] {
    this.flush();
    return this.out;
  }
}

/** `{"<group>":[item,…],…}` payloads of at most `max` bytes (a group may continue in the next payload). */
export class GroupedPacker {
  private groups = new Map<string, string[]>();
  private size = 2; // {}
  private readonly out: string[] = [];

  constructor(private readonly max: number) {}

  /** The bytes a group's key and brackets take: `"<group>":[]`. */
  static groupOverhead(group: string): number {
    return byteLength(JSON.stringify(group)) + 3;
  }

  /** Whether an item of `bytes` fits in a payload of its own under `group`. */
  fitsAlone(group: string, bytes: number): boolean {
    return 2 + GroupedPacker.groupOverhead(group) + bytes <= this.max;
  }

  private cost(group: string, bytes: number): number {
    const items = this.groups.get(group);
    if (items) return 1 + bytes;
    return (this.groups.size > 0 ? 1 : 0) + GroupedPacker.groupOverhead(group) + bytes;
  }

  add(group: string, item: string, bytes = byteLength(item)): void {
    if (this.groups.size > 0 && this.size + this.cost(group, bytes) > this.max) this.flush();
    this.size += this.cost(group, bytes);
    const items = this.groups.get(group);
    if (items) items.push(item);
    else this.groups.set(group, [item]);
  }

  private flush(): void {
    if (this.groups.size === 0) return;
    const parts: string[] = [];
    for (const [g, items] of this.groups) parts.push(`${JSON.stringify(g)}:[${items.join(',')}]`);
    this.out.push(`{${parts.join(',')}}`);
    this.groups = new Map();
    this.size = 2;
  }

  finish(): string[] {
    this.flush();
    return this.out;
  }
}

/** Characters a PUBLISH topic must not contain (wildcards, NUL), or null when it is usable. */
export function topicProblem(topic: string): string | null {
  if (topic.length === 0) return 'empty topic';
  if (/[+#\u0000]/.test(topic)) return `topic ${JSON.stringify(topic)} contains +, # or NUL`;
  if (!(topic as string & { isWellFormed(): boolean }).isWellFormed())
    return `topic ${JSON.stringify(topic)} has a lone UTF-16 surrogate`;
  if (byteLength(topic) > 65_535) return 'topic longer than 65535 bytes';
  return null;
}
