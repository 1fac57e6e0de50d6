/**
 * The bit-field packet spec language (README.md): what a spec file may say, validated with zod. A spec describes
 * one binary message: a header, optional blocks chosen by header fields, then packets repeated to the end of the
 * message whose layout a discriminator chooses. `parseSpec` reads YAML or JSON text (or an object) and names the
 * key path of every problem (SF_ERR_PACKETS_SPEC).
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SigflowError } from '../../errors/index.js';

const name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a name: letters, digits and _, not starting with a digit');

/** `{ "0": "no fix", "3": "3D-fix" }` — keys are integers (YAML writes them as numbers, JSON as strings). */
/** A map keyed by integers that a double holds exactly (a 400-digit key made the lookup table's size NaN). */
const intKeyed = <T extends z.ZodType>(value: T) =>
  z.record(z.string(), value).superRefine((m, ctx) => {
    const keys = Object.keys(m);
    if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'empty map' });
    for (const k of keys)
      if (!/^-?\d+$/.test(k) || !Number.isSafeInteger(Number(k)))
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message: `expected an integer key (at most ±2^53-1), got ${JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k)}`,
        });
  });

/** One entry of a field list: a value read from bits, or one derived from values read before it. */
export const fieldSchema = z
  .object({
    name,
    /** Read: this many bits at the cursor (1–53). */
    bits: z.number().int().min(1).max(53).optional(),
    /** Two's complement of its width. */
    signed: z.boolean().default(false),
    /** Only for whole-byte fields on byte boundaries: the byte order of this one field, against the spec's. */
    endian: z.enum(['big', 'little']).optional(),
    /** Read without moving the cursor (a discriminator whose parts are read again as fields). */
    peek: z.boolean().default(false),
    /** value = raw × scale + offset (computed as (raw + offset/scale) / (1/scale) when those are integers: exact). */
    scale: z
      .number()
      .refine((x) => x !== 0 && Number.isFinite(x), 'a finite non-zero number')
      .default(1),
    offset: z.number().default(0),
    /** raw → text (or number); a raw value not in the map gives no value (null) — keep it with `raw_as`. */
    map: intKeyed(z.union([z.string(), z.number()])).optional(),
    /** Also keep the raw integer under this name. */
    raw_as: name.optional(),
    /** false: used by the layout (a selector, a base) but not a column of the rows. */
    emit: z.boolean().default(true),
    /** Derived: the value of a field read before. */
    copy: name.optional(),
    /** Derived: a constant (a number or a text). */
    value: z.union([z.number(), z.string()]).optional(),
    /** Derived: a field read before, through a map. */
    lookup: z
      .object({ from: name, map: intKeyed(z.union([z.string(), z.number()])) })
      .strict()
      .optional(),
    /**
     * Derived: base + offset, where an offset above `above` means the value belongs before the base:
     * base − (modulus − offset) (a seconds offset that wrapped).
     */
    wrap_offset: z
      .object({ base: name, offset: name, above: z.number().int(), modulus: z.number().int().positive() })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const kinds = (['bits', 'copy', 'value', 'lookup', 'wrap_offset'] as const).filter((k) => f[k] !== undefined);
    if (kinds.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message:
          kinds.length === 0
            ? 'say how the value is made: one of bits, copy, value, lookup, wrap_offset'
            : `only one of ${kinds.join(', ')}`,
      });
    if (f.bits === undefined && (f.signed || f.peek || f.endian || f.scale !== 1 || f.offset !== 0 || f.raw_as))
      ctx.addIssue({ code: 'custom', message: 'signed, peek, endian, scale, offset and raw_as apply to bits only' });
  });

/** `{ field: 255 }`, `{ field: [1, 2] }` or `{ field: { min: 0, max: 14 } }`; all must hold. */
const condition = z.record(
  name,
  z.union([
    z.number().int(),
    z.array(z.number().int()).min(1),
    z
      .object({ min: z.number().int().optional(), max: z.number().int().optional() })
      .strict()
      .refine((r) => r.min !== undefined || r.max !== undefined, 'min or max'),
  ]),
);

const section = z.object({ fields: z.array(fieldSchema).default([]) }).strict();

export const specSchema = z
  .object({
    name,
    description: z.string().optional(),
    /** big: bits MSB-first from byte 0 (network order); little: LSB-first (Intel, as DBC's little-endian). */
    endian: z.enum(['big', 'little']).default('big'),
    header: section.default({ fields: [] }),
    /** Read after the header, in order, each when its condition on header fields holds. */
    blocks: z
      .array(z.object({ when: condition.optional(), row: name, fields: z.array(fieldSchema).min(1) }).strict())
      .default([]),
    /** Repeated until the message ends: common fields, then the first variant whose `when` holds. */
    packets: z
      .object({
        /** The field named in errors ("unknown comm_code 0x57"); default: the first field a `when` tests. */
        discriminator: name.optional(),
        fields: z.array(fieldSchema).default([]),
        row: name.optional(),
        variants: z
          .array(z.object({ when: condition, row: name, fields: z.array(fieldSchema).default([]) }).strict())
          .default([]),
      })
      .strict()
      .refine((p) => (p.row === undefined) !== (p.variants.length === 0), 'either `row` or `variants`, not both')
      .optional(),
    /** Per row kind: which fields give its time (UNIX seconds, plus milliseconds). */
    rows: z
      .record(name, z.object({ time: z.object({ seconds: name, milliseconds: name.optional() }).strict() }).strict())
      .default({}),
  })
  .strict();

export type FieldSpec = z.output<typeof fieldSchema>;
export type Condition = z.output<typeof condition>;
export type PacketSpec = z.output<typeof specSchema>;
/** A spec as written (defaults optional). */
export type PacketSpecInput = z.input<typeof specSchema>;

/** YAML (or JSON) text → the object it holds. */
export function readSpecText(text: string, where: string): unknown {
  try {
    return parseYaml(text);
  } catch (err) {
    throw specError(where, `not YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
}

function specError(where: string, message: string): SigflowError {
  return new SigflowError('SF_ERR_PACKETS_SPEC', `${where}: ${message}`, { where });
}

/**
 * Validates a spec given as YAML/JSON text or as an object. `where` names its origin (a file) in messages:
 * `spec.yaml: packets.variants[2].fields[0].bits: Too big: expected number to be <=53`.
 */
export function parseSpec(input: string | unknown, where = 'spec'): PacketSpec {
  const obj = typeof input === 'string' ? readSpecText(input, where) : input;
  const r = specSchema.safeParse(obj);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue.path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
  throw specError(where, `${path || '(top)'}: ${issue.message}`);
}

export { specError };
