/**
 * The IoF project file: everything the Internet of Fish runtime needs to know about one project — its TBR
 * receivers, the sea cages positioned by TDOA, the tags (protocol, conversion factor, depth tags) and the MQTT
 * topics — as one YAML file with snake_case keys. `sigflow iof init` generates it from the metadata workbook
 * (src/apps/iof/workbook.ts); after that this file, not the workbook, is what the runtime reads, and it may be
 * edited by hand.
 *
 *   name: salmon-2019                  # default: the workbook's file stem
 *   time_zone: Europe/Oslo             # IANA zone of the local date/hour columns
 *   date_range: { start: 2019-05-10T00:00:00+02:00, end: 2020-07-01T00:00:00+02:00 }   # optional
 *   tbrs: [{ tbr_serial_id: 320, frequency: 69, include: true, cage_name: Cage 3 }]
 *   positioning: { enabled: true, active_cages: [cage_1_config_2, cage_2], sound_speed: 1500, cage_margin: 1.1,
 *                  max_pdop: 7, window: 5s }
 *   cages: [{ name: cage_2, cagename: Cage 2, tbrs: [450, 470, 490], tbr_depth: 3, lines_depth: [0, 12.5, 25],
 *             circles_depth: [0, 12.5], radius: 25, center_x: 21.19, center_y: 13.27, lat_a: …, lon_a: … lon_c: … }]
 *   tags: [{ tag_id: 1, frequency: 69, protocol: S256, conversion_factor: 0.2, data_type: Depth [m], depth: true,
 *            cage_name: Cage 1, include: true, serial_number: "1820001", … }]
 *   mqtt_topics: [{ topic: lora/dev/ui/800, qos: 1 }]
 *
 * Besides each value's type and range, the schema checks what refers to what: an active cage must be one of
 * `cages` (by `name`), a cage has exactly 3 distinct TBRs (A, B, C), a (tag_id, frequency) pair and a TBR serial
 * are listed once, a tag_id fits its protocol's id bytes. Problems name the file, line and key path
 * (SF_ERR_IOF_PROJECT); `checkProject` gives them as key paths, so the workbook importer can name cells instead.
 *
 * ProjectIndex holds the lookups the runtime makes per detection (conversion factor, depth tag, a depth tag's
 * cage), computed once per project.
 */

import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Document, isMap, isScalar, isSeq, LineCounter, parseDocument, type YAMLMap } from 'yaml';
import { z } from 'zod';
import {
  IOF_PROTOCOL_NAMES,
  IOF_PROTOCOLS as IOF_SPEC_PROTOCOLS,
  type IofProtocolName,
} from '../../codecs/bitfield/index.js';
import { SigflowError } from '../../errors/index.js';
import { makeDirectory, systemReason } from '../../io/index.js';
import { configIssues, formatKeyPath } from '../../schema/index.js';
import { parseDuration, parseTime } from '../../units/index.js';

// ── vocabulary ────────────────────────────────────────────────────────────────────────────────────────

/** The tag protocols, in the order of their index p in comm_code = 16·k + p (the packet spec's list). */
export const IOF_PROTOCOLS = IOF_PROTOCOL_NAMES;
export type IofProtocol = IofProtocolName;

/** How many bytes each protocol gives the tag id in a detection (so the largest tag_id it can carry). */
export const IOF_TAG_ID_BYTES: Readonly<Record<IofProtocol, number>> = Object.fromEntries(
  IOF_SPEC_PROTOCOLS.map((p) => [p.name, (p.fields.find((f) => f.name === 'tag_id')?.bits ?? 0) / 8]),
) as Record<IofProtocol, number>;

/** The data_type that marks a depth tag (compared trimmed and case-insensitively). */
export const DEPTH_DATA_TYPE = 'Depth [m]';

/** True when `data_type` marks a depth tag (`Depth [m]`, any case, surrounding spaces ignored). */
export function isDepthDataType(dataType: string | null | undefined): boolean {
  return typeof dataType === 'string' && dataType.trim().toLowerCase() === DEPTH_DATA_TYPE.toLowerCase();
}

/** True when `zone` is an IANA time zone this runtime knows (Intl.DateTimeFormat accepts it). */
export function isTimeZone(zone: string): boolean {
  if (zone.trim() === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** A cage or tag's cage name as compared: trimmed, inner spaces collapsed, lower case ("cage 2" = "Cage 2"). */
export function cageKey(name: string): string {
  return name.trim().replace(/\s+/g, ' ').toLowerCase();
}

// ── schema ────────────────────────────────────────────────────────────────────────────────────────────

function integer(min: number, max: number, what: string) {
  return z.number().superRefine((n, ctx) => {
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `expected ${what} (an integer ${min}–${max}), got ${n}` });
    }
  });
}

function finite(what = 'a number') {
  return z.number().superRefine((n, ctx) => {
    if (!Number.isFinite(n)) ctx.addIssue({ code: 'custom', message: `expected ${what}, got ${n}` });
  });
}

function inRange(min: number, max: number, what: string) {
  return z.number().superRefine((n, ctx) => {
    if (!(n >= min && n <= max))
      ctx.addIssue({ code: 'custom', message: `expected ${what} (${min} to ${max}), got ${n}` });
  });
}

function positive(what: string) {
  return z.number().superRefine((n, ctx) => {
    if (!(Number.isFinite(n) && n > 0)) ctx.addIssue({ code: 'custom', message: `expected ${what} > 0, got ${n}` });
  });
}

/** Free text that may have been written as a number (`serial_number: 1820001`); null when absent. */
function text() {
  return z
    .union([z.string(), z.number()])
    .transform((v) => String(v))
    .nullable()
    .default(null);
}

const nonEmpty = z.string().refine((s) => s.trim() !== '', { message: 'must not be empty' });

const tbrSerialId = integer(0, 16383, 'a TBR serial id (14 bits in the message header)');
const frequency = integer(1, 255, 'a frequency in kHz');

const protocolSchema = z.string().transform((s, ctx): IofProtocol => {
  const p = s.trim().toUpperCase();
  if ((IOF_PROTOCOLS as readonly string[]).includes(p)) return p as IofProtocol;
  ctx.addIssue({ code: 'custom', message: `expected one of ${IOF_PROTOCOLS.join(', ')}, got ${JSON.stringify(s)}` });
  return z.NEVER;
});

const instant = z.string().superRefine((s, ctx) => {
  try {
    parseTime(s, 'time');
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^time: /, '') });
  }
});

const durationText = z.string().superRefine((s, ctx) => {
  try {
    parseDuration(s, 'duration');
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^duration: /, '') });
  }
});

const tbrSchema = z
  .object({
    tbr_serial_id: tbrSerialId,
    frequency,
    /** Offered in the dashboards' selections and filters. */
    include: z.boolean().default(true),
    cage_name: text(),
  })
  .strict();

const positioningSchema = z
  .object({
    /** 3D positioning (TDOA) of depth tags in the active cages. */
    enabled: z.boolean().default(false),
    /** Names (`cages[].name`) of the cages whose depth tags are positioned. */
    active_cages: z.array(nonEmpty).default([]),
    /** Speed of sound in water, m/s. */
    sound_speed: positive('a speed of sound in m/s').default(1500),
    /** A position counts when within cage_margin × radius of the cage centre. */
    cage_margin: positive('a factor').default(1.1),
    /** A TBR's GPS fix counts when it is a 3D fix and its pdop < max_pdop. */
    max_pdop: positive('a pdop').default(7),
    /** ± window around a detection in which the cage's three TBRs must have heard the same tag. */
    window: durationText.default('5s'),
  })
  .strict();

const latitude = inRange(-90, 90, 'a latitude in degrees');
const longitude = inRange(-180, 180, 'a longitude in degrees');

const cageSchema = z
  .object({
    /** The key active_cages refers to (the workbook's first column: underscores, no spaces). */
    name: nonEmpty,
    /** The name shown in dashboards and matched against tags' cage_name. */
    cagename: nonEmpty,
    /** TBRs A, B and C: A is the local origin, B lies on the x axis. */
    tbrs: z.array(tbrSerialId),
    /** Depth of the TBRs, m. */
    tbr_depth: finite(),
    /** For 3D rendering: depths of the top circle, bottom circle and bottom of the net, m. */
    lines_depth: z.array(finite()).default([]),
    /** For 3D rendering: depths at which circles of the cage are drawn, m. */
    circles_depth: z.array(finite()).default([]),
    radius: positive('a radius in m'),
    /** Cage centre in the local frame (A at the origin), m. */
    center_x: finite(),
    center_y: finite(),
    lat_a: latitude,
    lon_a: longitude,
    lat_b: latitude,
    lon_b: longitude,
    lat_c: latitude,
    lon_c: longitude,
  })
  .strict();

const tagSchema = z
  .object({
    tag_id: integer(0, 0xffffff, 'a tag id'),
    frequency,
    protocol: protocolSchema,
    /** tag_data × conversion_factor is the converted value; null: the raw value only. */
    conversion_factor: finite().nullable().default(null),
    data_type: text(),
    /** A depth tag (positioned in its cage); by default data_type is `Depth [m]`. */
    depth: z.boolean().optional(),
    cage_name: text(),
    include: z.boolean().default(true),
    serial_number: text(),
    transmitter_type: text(),
    duty_sec: text(),
    auto_off_after_start: text(),
    lifetime: text(),
    comment: text(),
  })
  .strict()
  .transform((t) => {
    const { depth, ...rest } = t;
    // key order as in the file: depth right after data_type
    const { tag_id, frequency, protocol, conversion_factor, data_type, ...tail } = rest;
    return {
      tag_id,
      frequency,
      protocol,
      conversion_factor,
      data_type,
      depth: depth ?? isDepthDataType(data_type),
      ...tail,
    };
  });

const mqttTopicSchema = z
  .object({
    topic: nonEmpty,
    qos: z.number().superRefine((n, ctx) => {
      if (n !== 0 && n !== 1 && n !== 2) ctx.addIssue({ code: 'custom', message: `expected QoS 0, 1 or 2, got ${n}` });
    }),
  })
  .strict()
  .transform((t) => ({ topic: t.topic, qos: t.qos as 0 | 1 | 2 }));

/** Subscribed when the project lists no topic: everything the broker has. */
export const DEFAULT_MQTT_TOPICS: readonly { topic: string; qos: 0 | 1 | 2 }[] = [{ topic: '#', qos: 1 }];

type Path = (string | number)[];
type Issue = { path: Path; message: string };

/** Cross-references: what `checkProject` checks once every value has its type. */
function crossCheck(p: z.output<typeof projectShape>): Issue[] {
  const issues: Issue[] = [];
  const add = (path: Path, message: string) => issues.push({ path, message });

  const tbrSeen = new Map<number, number>();
  p.tbrs.forEach((t, i) => {
    const first = tbrSeen.get(t.tbr_serial_id);
    if (first !== undefined)
      add(['tbrs', i, 'tbr_serial_id'], `TBR ${t.tbr_serial_id} is listed twice (also tbrs[${first}])`);
    else tbrSeen.set(t.tbr_serial_id, i);
  });

  const cageByKey = new Map<string, number>();
  p.cages.forEach((c, i) => {
    const key = cageKey(c.name);
    const first = cageByKey.get(key);
    if (first !== undefined)
      add(['cages', i, 'name'], `cage ${JSON.stringify(c.name)} is listed twice (also cages[${first}])`);
    else cageByKey.set(key, i);
    if (c.tbrs.length !== 3) {
      add(
        ['cages', i, 'tbrs'],
        `a cage needs exactly 3 TBRs (A, B, C), got ${c.tbrs.length}: ${c.tbrs.join(', ') || 'none'}`,
      );
    } else if (new Set(c.tbrs).size !== 3) {
      add(['cages', i, 'tbrs'], `a cage needs 3 different TBRs (A, B, C), got ${c.tbrs.join(', ')}`);
    }
  });

  const tagSeen = new Map<string, number>();
  p.tags.forEach((t, i) => {
    const key = `${t.tag_id}@${t.frequency}`;
    const first = tagSeen.get(key);
    if (first !== undefined) {
      add(['tags', i, 'tag_id'], `tag ${t.tag_id} at ${t.frequency} kHz is listed twice (also tags[${first}])`);
    } else tagSeen.set(key, i);
    const bytes = IOF_TAG_ID_BYTES[t.protocol];
    if (t.tag_id >= 2 ** (8 * bytes)) {
      add(
        ['tags', i, 'tag_id'],
        `tag id ${t.tag_id} does not fit ${t.protocol} (${bytes} byte${bytes > 1 ? 's' : ''}: 0–${2 ** (8 * bytes) - 1})`,
      );
    }
  });

  if (p.positioning.enabled) {
    const known = p.cages.map((c) => c.name);
    const activeSeen = new Map<string, number>();
    const keyOwner = new Map<string, string>(); // name/cagename key → active cage name
    const tbrOwner = new Map<number, string>();
    p.positioning.active_cages.forEach((name, j) => {
      const path = ['positioning', 'active_cages', j];
      const idx = cageByKey.get(cageKey(name));
      if (idx === undefined) {
        add(path, `no cage named ${JSON.stringify(name)} (cages: ${known.length ? known.join(', ') : 'none'})`);
        return;
      }
      if (activeSeen.has(cageKey(name))) {
        add(path, `cage ${JSON.stringify(name)} is listed twice`);
        return;
      }
      activeSeen.set(cageKey(name), j);
      const cage = p.cages[idx];
      for (const k of new Set([cageKey(cage.name), cageKey(cage.cagename)])) {
        const other = keyOwner.get(k);
        if (other !== undefined) {
          add(
            path,
            `active cages ${JSON.stringify(other)} and ${JSON.stringify(cage.name)} are both called ${JSON.stringify(k)}: a tag's cage_name would be ambiguous`,
          );
        } else keyOwner.set(k, cage.name);
      }
      for (const tbr of new Set(cage.tbrs)) {
        const other = tbrOwner.get(tbr);
        if (other !== undefined) {
          add(
            path,
            `active cages ${JSON.stringify(other)} and ${JSON.stringify(cage.name)} share TBR ${tbr}: only one of them can be active`,
          );
        } else tbrOwner.set(tbr, cage.name);
      }
    });
  }

  if (p.date_range) {
    const start = parseTime(p.date_range.start, 'start');
    const end = parseTime(p.date_range.end, 'end');
    if (end < start)
      add(['date_range', 'end'], `the end (${p.date_range.end}) is before the start (${p.date_range.start})`);
  }
  return issues;
}

const projectShape = z
  .object({
    name: nonEmpty,
    /** IANA zone of the local `date` and `hour` columns. */
    time_zone: z
      .string()
      .default('UTC')
      .refine(isTimeZone, { message: 'expected an IANA time zone like Europe/Oslo or UTC' }),
    date_range: z.object({ start: instant, end: instant }).strict().optional(),
    tbrs: z.array(tbrSchema).default([]),
    positioning: positioningSchema.prefault({}),
    cages: z.array(cageSchema).default([]),
    tags: z.array(tagSchema).default([]),
    mqtt_topics: z
      .array(mqttTopicSchema)
      .default(() => DEFAULT_MQTT_TOPICS.map((t) => ({ ...t })))
      .transform((list) => (list.length ? list : DEFAULT_MQTT_TOPICS.map((t) => ({ ...t })))),
  })
  .strict();

/** The project file's schema: values, ranges and cross-references. */
export const iofProjectSchema = projectShape.superRefine((p, ctx) => {
  for (const issue of crossCheck(p)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
});

/** A validated project (defaults filled in, protocols in upper case, `depth` decided). */
export type IofProject = z.output<typeof iofProjectSchema>;
/** A project as written (defaults optional). */
export type IofProjectInput = z.input<typeof iofProjectSchema>;
export type IofTbr = IofProject['tbrs'][number];
export type IofCage = IofProject['cages'][number];
export type IofTag = IofProject['tags'][number];
export type IofMqttTopic = IofProject['mqtt_topics'][number];
export type IofPositioning = IofProject['positioning'];

// ── problems ──────────────────────────────────────────────────────────────────────────────────────────

/** One problem of a project value: the key path (`['tags', 3, 'protocol']`) and what is wrong. */
export interface ProjectIssue {
  path: (string | number)[];
  message: string;
}

/** `tags[3].protocol` (`(root)` for the whole file). */
function keyPath(path: readonly (string | number)[]): string {
  return formatKeyPath(path) || '(root)';
}

/** Validates a project value: the project, or every problem with its key path (nothing thrown). */
export function checkProject(
  value: unknown,
): { ok: true; project: IofProject; issues?: undefined } | { ok: false; issues: ProjectIssue[]; project?: undefined } {
  const r = iofProjectSchema.safeParse(value);
  if (r.success) return { ok: true, project: r.data };
  return {
    ok: false,
    issues: configIssues(r.error, value).map((i) => ({
      path: i.path.filter((k): k is string | number => typeof k !== 'symbol'),
      message: i.message,
    })),
  };
}

/**
 * A project file is missing, unreadable or invalid (SF_ERR_IOF_PROJECT). `problems` holds every line,
 * `file:line: key.path: what is wrong`; the message is the same lines, the first problem first.
 */
export class IofProjectError extends SigflowError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
    where?: string,
  ) {
    super('SF_ERR_IOF_PROJECT', problems.join('\n'), { where: where ?? file });
  }
}

// ── load and save ─────────────────────────────────────────────────────────────────────────────────────

/** The 1-based line of the deepest node along `path` that exists in the document. */
function lineOf(doc: Document.Parsed, counter: LineCounter, path: Path): number | null {
  let node: unknown = doc.contents;
  let offset: number | undefined = doc.contents?.range?.[0];
  for (const k of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(k));
      if (!pair || !isScalar(pair.key)) break;
      offset = pair.key.range?.[0];
      node = pair.value;
    } else if (isSeq(node) && typeof k === 'number' && k < node.items.length) {
      node = node.items[k];
      offset = (node as { range?: [number, number, number] } | null)?.range?.[0] ?? offset;
    } else break;
  }
  return offset === undefined ? null : counter.linePos(offset).line;
}

/**
 * Parses and validates project-file text; `file` names it in the messages. Throws IofProjectError with
 * `file:line: key.path: problem` for each problem (YAML syntax errors `file:line:column: …`).
 */
export function parseProjectText(text: string, file: string): IofProject {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    const lines = doc.errors.map((e) => {
      const { line, col } = counter.linePos(e.pos[0]);
      return `${file}:${line}:${col}: ${e.message.split('\n')[0]}`;
    });
    throw new IofProjectError(file, lines, lines[0].slice(0, lines[0].indexOf(': ')));
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (e) {
    throw new IofProjectError(file, [`${file}: ${(e as Error).message}`]);
  }
  const r = checkProject(value);
  if (r.ok) return r.project;
  const places = r.issues.map((i) => {
    const line = lineOf(doc, counter, i.path);
    return line === null ? file : `${file}:${line}`;
  });
  throw new IofProjectError(
    file,
    r.issues.map((i, n) => `${places[n]}: ${keyPath(i.path)}: ${i.message}`),
    places[0],
  );
}

/** Reads and validates the project file at `path` (YAML). Throws IofProjectError (SF_ERR_IOF_PROJECT). */
export async function loadProject(path: string): Promise<IofProject> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a project file' : systemReason(e);
    throw new IofProjectError(path, [`${path}: cannot read the project file (${why})`]);
  }
  return parseProjectText(text, path);
}

export interface FormatProjectOptions {
  /** The workbook the project was generated from, named in the header comment. */
  workbook?: string;
}

const KEY_COMMENTS: Readonly<Record<string, string>> = {
  time_zone: ' IANA time zone of the local date and hour columns',
  date_range: ' the project period (RFC 3339)',
  tbrs: ' TBR receivers; include: offered in the dashboards’ selections',
  positioning: ' 3D positioning (TDOA) of depth tags in the active cages',
  cages: ' tbrs: A, B, C (A at the local origin, B on the x axis); depths, radius and center_x/y in m',
  tags: ' tag_data × conversion_factor is the converted value (null: raw only); depth: positioned in its cage',
  mqtt_topics: ' qos: 0, 1 or 2',
};

const POSITIONING_COMMENTS: Readonly<Record<string, string>> = {
  active_cages: ' names from cages[].name',
  sound_speed: ' m/s',
  cage_margin: ' a position counts within cage_margin × radius of the cage centre',
  max_pdop: ' a TBR’s GPS fix counts when it is a 3D fix with pdop < max_pdop',
  window: ' ± window in which the cage’s 3 TBRs must hear the same detection',
};

function commentKeys(map: YAMLMap, comments: Readonly<Record<string, string>>): void {
  for (const pair of map.items) {
    if (isScalar(pair.key) && typeof pair.key.value === 'string' && comments[pair.key.value]) {
      pair.key.commentBefore = comments[pair.key.value];
    }
  }
}

/**
 * The project as YAML text: a header comment (generated from which workbook, may be edited), short comments on
 * the sections, number lists on one line. Validates first (IofProjectError, naming `(project)`).
 */
export function formatProject(project: IofProjectInput | IofProject, options: FormatProjectOptions = {}): string {
  const r = checkProject(project);
  if (!r.ok) {
    throw new IofProjectError(
      '(project)',
      r.issues.map((i) => `(project): ${keyPath(i.path)}: ${i.message}`),
    );
  }
  const doc = new Document(r.project);
  const from = options.workbook ? ` from ${basename(options.workbook)}` : '';
  doc.commentBefore = [
    ` IoF project file, generated by sigflow${from}.`,
    ' This file, not the workbook, is what sigflow reads: edit it freely (keys: src/sinks/iof/project.ts).',
    ' Generating it again from a workbook replaces it.',
  ].join('\n');
  const root = doc.contents as YAMLMap;
  commentKeys(root, KEY_COMMENTS);
  const positioning = root.get('positioning', true);
  if (isMap(positioning)) commentKeys(positioning, POSITIONING_COMMENTS);
  const cages = root.get('cages', true);
  if (isSeq(cages)) {
    for (const cage of cages.items) {
      if (!isMap(cage)) continue;
      for (const key of ['tbrs', 'lines_depth', 'circles_depth']) {
        const list = cage.get(key, true);
        if (isSeq(list)) list.flow = true;
      }
    }
  }
  const active = isMap(positioning) ? positioning.get('active_cages', true) : undefined;
  if (isSeq(active)) active.flow = true;
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/**
 * Writes the project to `path` atomically (a temporary file beside it, synced, then renamed over it), creating
 * the folder when missing. Invalid → IofProjectError; the write failing → SF_ERR_IO_WRITE (no partial file left).
 */
export async function saveProject(
  path: string,
  project: IofProjectInput | IofProject,
  options: FormatProjectOptions = {},
): Promise<void> {
  let text: string;
  try {
    text = formatProject(project, options);
  } catch (e) {
    if (e instanceof IofProjectError) {
      throw new IofProjectError(
        path,
        e.problems.map((p) => p.replace(/^\(project\)/, path)),
      );
    }
    throw e;
  }
  const dir = dirname(path);
  makeDirectory(dir, 'project folder');
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new SigflowError('SF_ERR_IO_WRITE', `${path}: cannot write the project file (${systemReason(e)})`, {
      where: path,
      cause: e,
    });
  }
}

// ── lookups ───────────────────────────────────────────────────────────────────────────────────────────

/** (tag_id, frequency) as one number: frequency is a byte (1–255). */
function tagKey(tagId: number, frequency: number): number {
  return tagId * 256 + frequency;
}

/**
 * The lookups the runtime makes per detection, computed once from a validated project (do not change the project
 * afterwards). Active cages are those of `positioning.active_cages` when positioning is enabled, else none.
 */
export class ProjectIndex {
  /** The active cages, in the order of positioning.active_cages (empty when positioning is off). */
  readonly activeCages: readonly IofCage[];
  /** positioning.window in ns. */
  readonly windowNs: bigint;
  private readonly tags = new Map<number, IofTag>();
  private readonly tbrs = new Map<number, IofTbr>();
  private readonly cages = new Map<string, IofCage>();
  private readonly activeByTbr = new Map<number, IofCage>();
  private readonly cageOfDepthTag = new Map<number, IofCage>();

  constructor(readonly project: IofProject) {
    for (const t of project.tags)
      if (!this.tags.has(tagKey(t.tag_id, t.frequency))) this.tags.set(tagKey(t.tag_id, t.frequency), t);
    for (const t of project.tbrs) if (!this.tbrs.has(t.tbr_serial_id)) this.tbrs.set(t.tbr_serial_id, t);
    for (const c of project.cages) if (!this.cages.has(cageKey(c.name))) this.cages.set(cageKey(c.name), c);
    const active: IofCage[] = [];
    if (project.positioning.enabled) {
      for (const name of project.positioning.active_cages) {
        const c = this.cages.get(cageKey(name));
        if (c && !active.includes(c)) active.push(c);
      }
    }
    this.activeCages = active;
    // a tag's cage_name matches an active cage's cagename or name; cagename first, then the first cage listed
    const byName = new Map<string, IofCage>();
    for (const c of active) if (!byName.has(cageKey(c.cagename))) byName.set(cageKey(c.cagename), c);
    for (const c of active) if (!byName.has(cageKey(c.name))) byName.set(cageKey(c.name), c);
    for (const c of active) for (const tbr of c.tbrs) if (!this.activeByTbr.has(tbr)) this.activeByTbr.set(tbr, c);
    for (const t of this.tags.values()) {
      const cage = t.depth && t.cage_name !== null ? byName.get(cageKey(t.cage_name)) : undefined;
      if (cage) this.cageOfDepthTag.set(tagKey(t.tag_id, t.frequency), cage);
    }
    this.windowNs = parseDuration(project.positioning.window, 'positioning.window');
  }

  /** The tag listed for (tag_id, frequency in kHz), or undefined. */
  tag(tagId: number, frequency: number): IofTag | undefined {
    return this.tags.get(tagKey(tagId, frequency));
  }

  /** The factor tag_data is multiplied by, or null (an unknown tag, or one without a factor). */
  conversionFactor(tagId: number, frequency: number): number | null {
    return this.tags.get(tagKey(tagId, frequency))?.conversion_factor ?? null;
  }

  /** The tag when it is a depth tag, else undefined. */
  depthTag(tagId: number, frequency: number): IofTag | undefined {
    const t = this.tags.get(tagKey(tagId, frequency));
    return t?.depth ? t : undefined;
  }

  /**
   * The active cage a depth tag is positioned in: its cage_name matched (trimmed, case-insensitively) against the
   * active cages' cagename, then name. Undefined for an unknown or non-depth tag, or no matching active cage.
   */
  cageOfTag(tagId: number, frequency: number): IofCage | undefined {
    return this.cageOfDepthTag.get(tagKey(tagId, frequency));
  }

  /** The cage of that `name` (any cage, active or not; trimmed, case-insensitive). */
  cage(name: string): IofCage | undefined {
    return this.cages.get(cageKey(name));
  }

  /** The TBR listed with that serial id, or undefined. */
  tbr(serialId: number): IofTbr | undefined {
    return this.tbrs.get(serialId);
  }

  /** The active cage whose A, B or C is this TBR, or undefined. */
  activeCageOfTbr(serialId: number): IofCage | undefined {
    return this.activeByTbr.get(serialId);
  }
}

const indexes = new WeakMap<IofProject, ProjectIndex>();

/** The project's ProjectIndex, built on first use and kept with the project object. */
export function projectIndex(project: IofProject): ProjectIndex {
  let index = indexes.get(project);
  if (!index) indexes.set(project, (index = new ProjectIndex(project)));
  return index;
}

/** The conversion factor of (tag_id, frequency), or null. See ProjectIndex. */
export function conversionFactor(project: IofProject, tagId: number, frequency: number): number | null {
  return projectIndex(project).conversionFactor(tagId, frequency);
}

/** The tag when (tag_id, frequency) is a depth tag, else undefined. See ProjectIndex. */
export function depthTag(project: IofProject, tagId: number, frequency: number): IofTag | undefined {
  return projectIndex(project).depthTag(tagId, frequency);
}

/** The active cage a depth tag is positioned in, or undefined. See ProjectIndex.cageOfTag. */
export function cageOfTag(project: IofProject, tagId: number, frequency: number): IofCage | undefined {
  return projectIndex(project).cageOfTag(tagId, frequency);
}
