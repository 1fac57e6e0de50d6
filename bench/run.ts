/**
 * `npm run bench -- run [--json] [--only <text>] [--records N] [--messages N] [--rounds N] [--window N]
 *                       [--no-node-red] [--soak <duration>] [--soak-rate N] [--flush-interval <duration>]
 *                       [--node-options <text>]`
 *
 * The live pipelines of `sigflow run` (issue 10), every case in a fresh process (bench/_harness.ts runCases):
 *
 * - `records21/framing`, `records21+decode/seed`, `records21+decode/message`: a simulated serial stream of 21-byte
 *   records (cantools reference frames of toyota_tss2_adas, 1 % damage, test/harness/records21.ts) split into
 *   reads of 64–4096 bytes, through `createRecords21Framer` (layout auto, asking the DBC as the serial source does)
 *   and — in the +decode cases — `LiveDecoder` into records, on one core, in this process. First pass and warm
 *   median; records/s, ns/record, and what a full 1 Mbit/s CAN bus and a 230400-baud port cost of a core.
 * - `mqtt`: QoS 1 JSON messages published to mosquitto as fast as it takes them (a minimal publisher on a socket,
 *   5,000 in flight: mqtt.js alone publishes slower than mosquitto takes them), in rounds alternating three
 *   receivers on the same broker: a do-nothing mqtt.js subscriber (QoS 1, persistent session, auto-ack: the
 *   reference), `sigflow run` (mqtt source → durable outbox → store sink: done when the store has them all), and
 *   Node-RED 4 (mqtt in → join 500 → influxdb batch into InfluxDB 1.x, nothing durable: done when InfluxDB has them
 *   all) when it can be installed into a temp dir, else its figure quoted. Round 1 is each one's first pass (a
 *   fresh process), the later rounds its warm figures (median). sigflow's peak RSS is the kernel's VmHWM of its
 *   supervisor and its unit process; the case's own peak RSS (printed by the harness) is the publisher's.
 * - `soak` (only with `--soak <duration>`): sigflow under a steady publish rate; RSS of the supervisor and the unit
 *   sampled every 10 s: start, max, end, and the slope over the second half.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from '../src/codecs/dbc/index.js';
import { CanFrameBatch, createRecords21Framer } from '../src/framers/index.js';
import { exitWhenWritten } from '../src/io/index.js';
import { LiveDecoder, type RecordMapping } from '../src/pipelines/live/index.js';
import type { TelemetryRecord } from '../src/records/index.js';
import { parseDuration } from '../src/units/index.js';
import type { Daemon } from '../test/harness/daemon.js';
import { fixturesDir, repoRoot } from '../test/harness/paths.js';
import { referenceFrames, rng, simulateStream } from '../test/harness/records21.js';
import type { ServiceHandle } from '../test/harness/services.js';
import {
  arg,
  childCase,
  fmtRate,
  median,
  note,
  quoted,
  report,
  requireNonZero,
  runCases,
  timeFirstAndWarm,
} from './_harness.js';

const DBC = join(fixturesDir, 'dbc', 'dbc', 'opendbc', 'toyota_tss2_adas.dbc');
const REF = join(fixturesDir, 'dbc', 'dbc', 'reference', 'dbc__opendbc__toyota_tss2_adas.ndjson');

/** A 1 Mbit/s CAN bus at full load carries ~8.7k frames/s; a 230400-baud port ~1k 21-byte records/s. */
const CAN_1M_FRAMES_S = 8_700;
const SERIAL_230400_RECORDS_S = 1_000;

const NODE_RED_QUOTED = {
  figure:
    'Node-RED 4.1.15, mqtt in → join 500 → InfluxDB 1.6.7: 100,000 messages in 4.2 s ≈ 24k msg/s, nothing kept on disk',
  source: '../shared/docs/sinks-and-brokers.md',
};

// The daemon and the services harness are loaded by the cases that use them only: the records21 cases' peak RSS is
// then their own, not that of modules they never call.
const services = () => import('../test/harness/services.js');
const daemon = () => import('../test/harness/daemon.js');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

/** VmRSS and VmHWM of a process, in MB (0 when it is gone). */
function procMem(pid: number | null | undefined): { rss: number; hwm: number } {
  if (!pid) return { rss: 0, hwm: 0 };
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

function loadNote(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

// ---------------------------------------------------------------------------------------------------------------
// records21 framing + DBC decode, in this process

/** Reads of 64–4096 bytes (what a serial port's read returns under load), deterministic. */
function serialReads(bytes: Uint8Array, seed: number): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  for (let p = 0; p < bytes.length; ) {
    const n = 64 + Math.floor(r() * (4096 - 64 + 1));
    out.push(bytes.subarray(p, p + n));
    p += n;
  }
  return out;
}

async function records21Case(name: string): Promise<void> {
  const nRecords = Number(arg('records', '200000'));
  const decode = name.startsWith('records21+decode/');
  const mapping = (decode ? name.split('/')[1] : 'seed') as RecordMapping;
  const frames = referenceFrames(readFileSync(REF, 'utf8')).map((f) => ({ id: f.id, ext: f.ext, data: f.data }));
  // A 20,000-record stream (its generation holds an object per record), read `repeat` times per pass: the case's
  // peak RSS is then the pipeline's, not the generator's. Each repetition ends with a whole line (CR LF).
  const repeat = Math.max(1, Math.round(nRecords / 20_000));
  const gen = simulateStream({ records: Math.round(nRecords / repeat), frames, garbage: 0.01, seed: 1 });
  const sim = { bytes: gen.bytes, records: gen.records.length * repeat, damaged: gen.damaged * repeat };
  const oneReads = serialReads(gen.bytes, 2);
  const reads: Uint8Array[] = [];
  for (let i = 0; i < repeat; i++) reads.push(...oneReads);
  (globalThis as { gc?: () => void }).gc?.();
  const baseRss = process.memoryUsage.rss() / 1048576;
  const db = Database.load([DBC]);
  const decoder = new LiveDecoder({ db, mapping, device: 'can0', useNowTime: false, j1939: true });
  let framed = 0;
  let records = 0;
  let values = 0;
  let lastCounters: Record<string, number> = {};
  // One pass = one connection: a fresh framer (layout auto asks the DBC, as src/sources/serial does), every read
  // framed and (in +decode cases) decoded into a new records array, as the unit process hands them over.
  const once = () => {
    const framer = createRecords21Framer({ known: (id, ext) => decoder.known(id, ext) });
    const batch = new CanFrameBatch();
    let f = 0;
    let n = 0;
    let v = 0;
    const v0 = decoder.counters.values;
    const hand = (nowUs: number) => {
      f += batch.count;
      if (decode && batch.count > 0) {
        const out: TelemetryRecord[] = [];
        decoder.decode(batch, nowUs, out);
        n += out.length;
      }
      batch.clear();
    };
    for (let i = 0; i < reads.length; i++) {
      const nowUs = Date.now() * 1000;
      framer.push(reads[i], nowUs, batch);
      hand(nowUs);
    }
    const nowUs = Date.now() * 1000;
    framer.flush(nowUs, batch);
    hand(nowUs);
    v = decoder.counters.values - v0;
    framed = f;
    records = n;
    values = v;
    lastCounters = framer.counters;
  };
  const t = await timeFirstAndWarm(once, 11, 5);
  requireNonZero(name, decode ? { frames: framed, records, values } : { frames: framed });
  const lost = sim.records - framed;
  const sec = median(t.warm);
  const per = decode ? records : framed;
  const rate = per / sec;
  const firstRate = per / t.first;
  const unit = decode ? 'records' : 'frames';
  const busShare = (CAN_1M_FRAMES_S / rate) * 100;
  const serialShare = (SERIAL_230400_RECORDS_S / rate) * 100;
  report(
    {
      case: name,
      input_records: sim.records,
      rss_before_first_pass_mb: +baseRss.toFixed(1),
      damaged_lines: sim.damaged,
      bytes: sim.bytes.length * repeat,
      reads: reads.length,
      frames_per_pass: framed,
      records_per_pass: decode ? records : undefined,
      values_per_pass: decode ? values : undefined,
      frames_lost: lost,
      framer_salvaged: lastCounters.salvaged,
      framer_resyncs: lastCounters.resyncs,
      [`${unit}_per_s`]: Math.round(rate),
      ns_per_record: +((sec / per) * 1e9).toFixed(1),
      first_pass_per_s: Math.round(firstRate),
      mb_per_s: +((sim.bytes.length * repeat) / sec / 1e6).toFixed(1),
      full_1mbit_bus_core_pct: +busShare.toFixed(2),
      serial_230400_core_pct: +serialShare.toFixed(3),
      target_per_s: decode ? 1_000_000 : undefined,
    },
    `${name.padEnd(26)} warm ${fmtRate(rate).padStart(7)} ${unit}/s (${((sec / per) * 1e9).toFixed(0)} ns/${unit === 'records' ? 'record' : 'frame'}, ${((sim.bytes.length * repeat) / sec / 1e6).toFixed(0)} MB/s), first pass ${fmtRate(firstRate).padStart(7)} ${unit}/s; ${sim.records} records in ${reads.length} reads, ${framed} framed (${lost} lost${decode ? `, ${values} values` : ''}); RSS ${baseRss.toFixed(0)} MB before the first pass; a full 1 Mbit/s bus (${CAN_1M_FRAMES_S}/s) = ${busShare.toFixed(2)} % of a core, a 230400-baud port = ${serialShare.toFixed(2)} %${decode ? ` (target ≥ 1M records/s: ${rate >= 1e6 ? 'met' : 'NOT met'})` : ''}`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// MQTT: publisher, and the three receivers

/** The payload of message k of a run: what test/e2e/run-mqtt.test.ts publishes. */
function payloads(n: number, tBase: number): Buffer[] {
  const out: Buffer[] = new Array(n);
  for (let k = 0; k < n; k++) out[k] = Buffer.from(JSON.stringify({ t: tBase + k, seq: k, temp: k / 2 }));
  return out;
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d |= 128;
    out.push(d);
  } while (n > 0);
  return out;
}

/**
 * A minimal MQTT 3.1.1 QoS 1 publisher on a plain socket: packets encoded before the clock starts, up to `window`
 * in flight, PUBACKs counted. mqtt.js publishes 24–30k QoS 1 msg/s on this machine (measured, no subscriber),
 * below what mosquitto takes (67–110k msg/s with this publisher): with mqtt.js the publisher, not the receiver,
 * would set every figure.
 */
class Publisher {
  private buf: Buffer = Buffer.alloc(0);
  /** PUBACKs received and PUBLISH packets written, since connect. */
  private acked = 0;
  private sent = 0;
  private nextId = 1;
  private waiters: { at: number; resolve: () => void }[] = [];
  private onAck: (() => void) | null = null;
  private error: Error | null = null;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => this.data(d));
    sock.on('error', (e) => {
      this.error = e;
    });
  }

  static async connect(port: number, clientId: string): Promise<Publisher> {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    const p = new Publisher(sock);
    const id = Buffer.from(clientId);
    // CONNECT: "MQTT", level 4, clean session, keep-alive 0 (off), the client id
    const body = Buffer.concat([Buffer.from([0, 4, 77, 81, 84, 84, 4, 2, 0, 0, id.length >> 8, id.length & 255]), id]);
    const connack = new Promise<void>((resolve) => {
      p.connacked = resolve;
    });
    sock.write(Buffer.concat([Buffer.from([0x10, ...varint(body.length)]), body]));
    await connack;
    return p;
  }

  private connacked: (() => void) | null = null;

  private data(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let p = 0;
    const b = this.buf;
    while (p + 2 <= b.length) {
      let len = 0;
      let mul = 1;
      let q = p + 1;
      for (; q < b.length; q++) {
        len += (b[q] & 127) * mul;
        mul *= 128;
        if ((b[q] & 128) === 0) break;
      }
      if (q >= b.length || q + 1 + len > b.length) break;
      const type = b[p] >> 4;
      if (type === 2) {
        if (b[q + 2] !== 0) this.error = new Error(`CONNACK refused: ${b[q + 2]}`);
        this.connacked?.();
        this.connacked = null;
      } else if (type === 4) this.acked++;
      p = q + 1 + len;
    }
    this.buf = b.subarray(p);
    if (this.waiters.length) {
      this.waiters = this.waiters.filter((w) => {
        if (this.acked < w.at) return true;
        w.resolve();
        return false;
      });
    }
    this.onAck?.();
  }

  /** A QoS 1 PUBLISH packet (its packet id the next of 1..65535). */
  packet(topic: Buffer, payload: Buffer): Buffer {
    const id = this.nextId;
    this.nextId = id === 65535 ? 1 : id + 1;
    const head = varint(2 + topic.length + 2 + payload.length);
    const out = Buffer.allocUnsafe(1 + head.length + 2 + topic.length + 2 + payload.length);
    let o = 0;
    out[o++] = 0x32;
    for (const h of head) out[o++] = h;
    out.writeUInt16BE(topic.length, o);
    o += 2;
    o += topic.copy(out, o);
    out.writeUInt16BE(id, o);
    o += 2;
    payload.copy(out, o);
    return out;
  }

  private send(packets: Buffer[]): void {
    this.sent += packets.length;
    this.sock.write(packets.length === 1 ? packets[0] : Buffer.concat(packets));
  }

  /** Writes packets; resolves when the broker acknowledged all of them. */
  private write(packets: Buffer[]): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    this.send(packets);
    const at = this.sent;
    return new Promise((resolve) => {
      if (this.acked >= at) resolve();
      else this.waiters.push({ at, resolve });
    });
  }

  /** One message, acknowledged. */
  publish(topic: string, payload: Buffer): Promise<void> {
    return this.write([this.packet(Buffer.from(topic), payload)]);
  }

  /**
   * Publishes the payloads to `<prefix>/dev<k % 10>` with up to `window` unacknowledged (as fast as the broker
   * acknowledges them); resolves with the seconds until the last PUBACK. Packets are encoded before the clock starts.
   */
  publishAll(prefix: string, msgs: Buffer[], window: number): Promise<number> {
    const topics = Array.from({ length: 10 }, (_, i) => Buffer.from(`${prefix}/dev${i}`));
    const packets = msgs.map((m, k) => this.packet(topics[k % 10], m));
    const base = this.acked;
    const t0 = now();
    return new Promise((resolve, reject) => {
      let next = 0;
      const pump = () => {
        if (this.error) return reject(this.error);
        const upto = Math.min(packets.length, this.acked - base + window);
        if (upto > next) {
          this.send(packets.slice(next, upto));
          next = upto;
        }
        if (this.acked - base >= packets.length) {
          this.onAck = null;
          resolve((now() - t0) / 1000);
        }
      };
      this.onAck = pump;
      pump();
    });
  }

  /** Publishes at `rate` messages/s (in ticks of 50 ms) for `ms`, payload times from `tBase`; returns how many. */
  async publishSteady(prefix: string, rate: number, ms: number, tBase: number): Promise<number> {
    const topics = Array.from({ length: 10 }, (_, i) => Buffer.from(`${prefix}/dev${i}`));
    const t0 = now();
    let sent = 0;
    let last: Promise<void> = Promise.resolve();
    while (now() - t0 < ms) {
      const due = Math.floor(((now() - t0) / 1000) * rate);
      const packets: Buffer[] = [];
      for (; sent < due; sent++)
        packets.push(
          this.packet(topics[sent % 10], Buffer.from(JSON.stringify({ t: tBase + sent, seq: sent, temp: sent / 2 }))),
        );
      if (packets.length) last = this.write(packets);
      if (this.error) throw this.error;
      await sleep(50);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([last, new Promise<void>((r) => (timer = setTimeout(r, 60_000)))]);
    clearTimeout(timer);
    return sent;
  }

  close(): void {
    this.sock.end(Buffer.from([0xe0, 0]));
  }
}

/** A do-nothing mqtt.js subscriber in its own process: counts, says `got <n>` every `every` messages. */
const SUBSCRIBER = `
import mqtt from 'mqtt';
const [url, filter, every] = process.argv.slice(1);
const c = mqtt.connect(url, { clientId: 'bench-reference', clean: false, reconnectPeriod: 500 });
let n = 0;
c.on('message', () => { if (++n % Number(every) === 0) process.stdout.write('got ' + n + '\\n'); });
c.on('connect', () => c.subscribe(filter, { qos: 1 }, (e) => process.stdout.write(e ? 'error ' + e.message + '\\n' : 'ready\\n')));
c.on('error', (e) => process.stderr.write(String(e) + '\\n'));
process.stdin.on('end', () => c.end(false, {}, () => process.exit(0)));
process.stdin.resume();
`;

/** Lines of a child's stdout, awaited one pattern at a time. */
class Lines {
  private buf = '';
  readonly all: string[] = [];
  private waiters: { re: RegExp; from: number; resolve: (l: string) => void }[] = [];
  constructor(p: ChildProcess) {
    const on = (b: Buffer) => {
      this.buf += b.toString('utf8');
      let i = this.buf.indexOf('\n');
      while (i >= 0) {
        this.all.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
        i = this.buf.indexOf('\n');
      }
      this.check();
    };
    p.stdout?.on('data', on);
    p.stderr?.on('data', on);
  }
  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      for (let i = w.from; i < this.all.length; i++)
        if (w.re.test(this.all[i])) {
          w.resolve(this.all[i]);
          return false;
        }
      return true;
    });
  }
  /** The first line from index `from` on matching `re` (bounded wait). */
  wait(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timed out waiting for ${re}:\n${this.all.slice(-20).join('\n')}`)),
        timeoutMs,
      );
      this.waiters.push({
        re,
        from,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
      this.check();
    });
  }
}

interface RunResult {
  /** Seconds from the first publish until all N were received (reference) / stored (sigflow, Node-RED). */
  sec: number;
  /** Seconds until the broker acknowledged the last publish. */
  publishSec: number;
  /** sigflow: seconds until all N were durable in the outbox (the unit's `records` counter). */
  outboxSec?: number;
}

interface Receiver {
  name: string;
  prefix: string;
  /** Runs one round: publishes `msgs`, resolves when all were received/stored. */
  run(pub: Publisher, msgs: Buffer[], tBase: number, window: number, timeoutMs: number): Promise<RunResult>;
  /** Peak RSS (VmHWM) of its processes, MB. */
  memory(): Record<string, number>;
  stop(): Promise<void>;
}

async function startReference(url: string, n: number): Promise<Receiver> {
  const p = spawn(process.execPath, ['--input-type=module', '-e', SUBSCRIBER, url, 'ref/#', String(n)], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines = new Lines(p);
  await lines.wait(/^(ready|error)/, 30_000).then((l) => {
    if (l.startsWith('error')) throw new Error(`reference subscriber: ${l}`);
  });
  let round = 0;
  return {
    name: 'reference',
    prefix: 'ref',
    async run(pub, msgs, _tBase, window, timeoutMs) {
      round++;
      const from = lines.all.length;
      const t0 = now();
      const got = lines.wait(new RegExp(`^got ${round * n}$`), timeoutMs, from).then(() => (now() - t0) / 1000);
      const publishSec = await pub.publishAll('ref', msgs, window);
      return { sec: await got, publishSec };
    },
    memory: () => ({ subscriber_mb: procMem(p.pid).hwm }),
    async stop() {
      p.stdin?.end();
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await new Promise((r) => p.once('exit', r));
      clearTimeout(t);
    },
  };
}

interface SigflowStatus {
  units: { pid: number | null; state: string; counters: Record<string, number> }[];
  outbox: { pendingRecords: number; sinks: { name: string; deliveredRecords: number; pendingRecords: number }[] };
}

/** `sigflow run` with an mqtt source (topics sigflow/#) and a store sink, as test/e2e/run-mqtt.test.ts runs it. */
async function startSigflow(
  url: string,
  dir: string,
  clientId: string,
): Promise<{ d: Daemon; status: () => Promise<SigflowStatus> }> {
  const file = join(dir, 'sigflow.yaml');
  // --flush-interval <duration>: the store sink's delivery.flush_interval (default: sigflow's, 1s)
  const flush = arg('flush-interval');
  writeFileSync(
    file,
    `outbox: { data_dir: ${dir}/data }
sinks:
  - { type: store, path: ${dir}/data/store.db${flush ? `, delivery: { flush_interval: ${flush} }` : ''} }
pipelines:
  - name: env
    source:
      type: mqtt
      url: ${url}
      client_id: ${clientId}
      topics: [{ topic: "sigflow/#", qos: 1 }]
      payload: { format: json, measurement: env, time: t, time_unit: ms, tags: { device: "topic:1" } }
server: { listen: "127.0.0.1:0" }
logging: { stats_interval: 0 }
runtime: { drain_timeout: 30s }
`,
  );
  const { Daemon } = await daemon();
  // --node-options <text>: NODE_OPTIONS of sigflow's processes (the forked unit inherits it), e.g. an --import that
  // profiles them (--cpu-prof itself is not allowed in NODE_OPTIONS)
  const nodeOptions = arg('node-options');
  const d = Daemon.start(file, nodeOptions ? { NODE_OPTIONS: nodeOptions } : {});
  await d.until('the subscription', () => d.lines.some((l) => l.includes('subscribed to sigflow/#')), 60_000);
  await d.until('the HTTP endpoint', () => d.http !== null, 10_000);
  const status = async () => (await (await fetch(`${d.http}/status`)).json()) as SigflowStatus;
  return { d, status };
}

function sigflowReceiver(d: Daemon, status: () => Promise<SigflowStatus>, n: number): Receiver {
  let round = 0;
  let unitPid: number | null = null;
  return {
    name: 'sigflow',
    prefix: 'sigflow',
    async run(pub, msgs, _tBase, window, timeoutMs) {
      round++;
      const want = round * n;
      const t0 = now();
      let publishSec = 0;
      let done = false;
      const published = pub.publishAll('sigflow', msgs, window).then((s) => {
        publishSec = s;
      });
      let outboxSec: number | undefined;
      let sec = 0;
      // /status polled every 100 ms (a few SQLite reads in the supervisor)
      while (!done) {
        const s = await status();
        unitPid = s.units[0]?.pid ?? unitPid;
        const durable = s.units[0]?.counters.records ?? 0;
        const delivered = s.outbox.sinks.find((x) => x.name === 'store')?.deliveredRecords ?? 0;
        const t = (now() - t0) / 1000;
        if (outboxSec === undefined && durable >= want) outboxSec = t;
        if (delivered >= want) {
          sec = t;
          done = true;
          break;
        }
        if (d.proc.exitCode !== null) throw new Error(`sigflow exited:\n${d.tail()}`);
        if (t * 1000 > timeoutMs)
          throw new Error(`sigflow: ${delivered} of ${want} delivered after ${t.toFixed(0)} s:\n${d.tail()}`);
        await sleep(100);
      }
      await published;
      return { sec, publishSec, outboxSec };
    },
    memory: () => ({ supervisor_mb: procMem(d.proc.pid).hwm, unit_mb: procMem(unitPid).hwm }),
    async stop() {
      const { code } = await d.stop('SIGTERM');
      if (code !== 0) throw new Error(`sigflow exited ${code}:\n${d.tail()}`);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Node-RED 4, installed into a temp dir (not a dependency of the repository)

const NODE_RED_DIR = join(tmpdir(), 'sigflow-bench-node-red');

/** Installs node-red@4 and node-red-contrib-influxdb (reused when already there); the reason when it cannot. */
function ensureNodeRed(): { dir: string; version: string } | { failed: string } {
  const pkg = join(NODE_RED_DIR, 'node_modules', 'node-red', 'package.json');
  const contrib = join(NODE_RED_DIR, 'node_modules', 'node-red-contrib-influxdb', 'package.json');
  if (!existsSync(pkg) || !existsSync(contrib)) {
    mkdirSync(NODE_RED_DIR, { recursive: true });
    if (!existsSync(join(NODE_RED_DIR, 'package.json')))
      writeFileSync(join(NODE_RED_DIR, 'package.json'), '{"name":"sigflow-bench-node-red","private":true}\n');
    const r = spawnSync(
      'npm',
      ['install', '--no-audit', '--no-fund', '--loglevel=error', 'node-red@4', 'node-red-contrib-influxdb'],
      { cwd: NODE_RED_DIR, encoding: 'utf8', timeout: 300_000 },
    );
    if (r.status !== 0 || !existsSync(pkg) || !existsSync(contrib))
      return {
        failed: `npm install node-red@4 node-red-contrib-influxdb failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`,
      };
  }
  return { dir: NODE_RED_DIR, version: (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version };
}

/**
 * The flow: mqtt in (QoS 1, JSON) → join 500 (1 s timeout) → function (points) → influxdb batch (InfluxDB 1.x).
 * (Node ids are not plain words: with the ids tab, broker, in, join, points, influx, out, Node-RED 4.1.15 logged
 * "Circular config node dependency detected: join" and ran nothing.)
 */
function nodeRedFlow(mqttPort: number, influxPort: number): unknown[] {
  return [
    { id: 'bench0tab', type: 'tab', label: 'bench' },
    {
      id: 'bench0broker',
      type: 'mqtt-broker',
      name: 'mosquitto',
      broker: '127.0.0.1',
      port: String(mqttPort),
      clientid: 'bench-node-red',
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
    },
    {
      id: 'bench0in',
      type: 'mqtt in',
      z: 'bench0tab',
      topic: 'nr/#',
      qos: '1',
      datatype: 'json',
      broker: 'bench0broker',
      nl: false,
      rap: true,
      rh: 0,
      inputs: 0,
      wires: [['bench0join']],
    },
    {
      id: 'bench0join',
      type: 'join',
      z: 'bench0tab',
      mode: 'custom',
      build: 'array',
      property: '',
      propertyType: 'full',
      key: 'topic',
      joiner: '\\n',
      joinerType: 'str',
      accumulate: false,
      timeout: '1',
      count: '500',
      reduceRight: false,
      wires: [['bench0points']],
    },
    {
      id: 'bench0points',
      type: 'function',
      z: 'bench0tab',
      func: "msg.payload = msg.payload.map((m) => ({ measurement: 'env', tags: { device: m.topic.split('/')[1] }, fields: { seq: m.payload.seq, temp: m.payload.temp }, timestamp: m.payload.t }));\nreturn msg;",
      outputs: 1,
      wires: [['bench0out']],
    },
    {
      id: 'bench0influx',
      type: 'influxdb',
      hostname: '127.0.0.1',
      port: String(influxPort),
      protocol: 'http',
      database: 'bench',
      influxdbVersion: '1.x',
      usetls: false,
    },
    {
      id: 'bench0out',
      type: 'influxdb batch',
      z: 'bench0tab',
      influxdb: 'bench0influx',
      precision: 'ms',
      retentionPolicy: '',
      wires: [],
    },
  ];
}

async function startNodeRed(
  install: { dir: string; version: string },
  mqttPort: number,
  influx: ServiceHandle,
  pub: Publisher,
): Promise<Receiver> {
  const { freePort, influxQuery } = await services();
  await influxQuery(influx, 'CREATE DATABASE bench');
  const run = mkdtempSync(join(tmpdir(), 'sigflow-bench-nr-run-'));
  const port = await freePort();
  writeFileSync(join(run, 'flows.json'), JSON.stringify(nodeRedFlow(mqttPort, influx.port)));
  writeFileSync(
    join(run, 'settings.js'),
    `module.exports = {
  uiHost: '127.0.0.1', uiPort: ${port}, userDir: ${JSON.stringify(run)}, flowFile: 'flows.json',
  nodesDir: ${JSON.stringify(join(install.dir, 'node_modules', 'node-red-contrib-influxdb'))},
  credentialSecret: false, httpAdminRoot: false, httpNodeRoot: false,
  logging: { console: { level: 'info', metrics: false, audit: false } },
  editorTheme: { projects: { enabled: false } }, diagnostics: { enabled: false }, runtimeState: { enabled: false },
  telemetry: { enabled: false },
};
`,
  );
  const p = spawn(
    process.execPath,
    [join(install.dir, 'node_modules', 'node-red', 'red.js'), '--settings', join(run, 'settings.js')],
    { cwd: run, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const kill = () => p.kill('SIGKILL');
  process.on('exit', kill);
  const lines = new Lines(p);
  const count = async (fromMs: number): Promise<number> => {
    const r = await influxQuery(influx, `SELECT count("seq") FROM "env" WHERE time >= ${fromMs}ms`, 'bench');
    return Number(r.results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
  };
  try {
    await lines.wait(/Started flows/, 60_000);
    await lines.wait(/Connected to broker/, 30_000);
    // a probe through the whole flow (the join's 1 s timeout flushes it): the subscription is in place
    const probeT = Date.UTC(2020, 0, 1);
    const probeDeadline = now() + 30_000;
    for (;;) {
      await pub.publish('nr/probe', Buffer.from(JSON.stringify({ t: probeT, seq: -1, temp: 0 })));
      await sleep(1500);
      if ((await count(probeT)) > 0) break;
      if (now() > probeDeadline)
        throw new Error(`Node-RED: the probe never reached InfluxDB; its log:\n${lines.all.slice(-20).join('\n')}`);
    }
  } catch (e) {
    kill();
    process.off('exit', kill);
    rmSync(run, { recursive: true, force: true });
    throw e;
  }
  return {
    name: 'node-red',
    prefix: 'nr',
    async run(pubc, msgs, tBase, window, timeoutMs) {
      const t0 = now();
      let publishSec = 0;
      const published = pubc.publishAll('nr', msgs, window).then((s) => {
        publishSec = s;
      });
      for (;;) {
        const c = await count(tBase);
        const t = (now() - t0) / 1000;
        if (c >= msgs.length) {
          await published;
          return { sec: t, publishSec };
        }
        if (p.exitCode !== null) throw new Error(`Node-RED exited:\n${lines.all.slice(-20).join('\n')}`);
        if (t * 1000 > timeoutMs)
          throw new Error(
            `Node-RED: ${c} of ${msgs.length} in InfluxDB after ${t.toFixed(0)} s:\n${lines.all.slice(-20).join('\n')}`,
          );
        await sleep(100);
      }
    },
    memory: () => ({ node_red_mb: procMem(p.pid).hwm }),
    async stop() {
      p.kill('SIGTERM');
      const t = setTimeout(kill, 10_000);
      if (p.exitCode === null) await new Promise((r) => p.once('exit', r));
      clearTimeout(t);
      process.off('exit', kill);
      rmSync(run, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------

async function mqttCase(): Promise<void> {
  const n = Number(arg('messages', '100000'));
  const rounds = Math.max(2, Number(arg('rounds', '5')));
  const window = Number(arg('window', '5000'));
  const { startMosquitto, startInfluxDB } = await services();
  const broker = await startMosquitto();
  if (!broker) {
    const why = 'mosquitto is not installed (Debian package mosquitto): the mqtt case is SKIPPED';
    process.stderr.write(`\n*** ${why} ***\n\n`);
    report({ case: 'mqtt', skipped: why }, `mqtt: *** SKIPPED: ${why} ***`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-bench-run-'));
  const receivers: Receiver[] = [];
  let influx: ServiceHandle | null = null;
  let pub: Publisher | null = null;
  const load: number[] = [loadavg()[0]];
  try {
    pub = await Publisher.connect(broker.port, `bench-pub-${process.pid}`);
    receivers.push(await startReference(broker.url, n));
    const sf = await startSigflow(broker.url, dir, 'sigflow-bench');
    receivers.push(sigflowReceiver(sf.d, sf.status, n));
    let nodeRed: string | null = null;
    let nodeRedVersion = '';
    if (!process.argv.includes('--no-node-red')) {
      const install = ensureNodeRed();
      if ('failed' in install) nodeRed = install.failed;
      else {
        influx = await startInfluxDB();
        if (!influx) nodeRed = 'InfluxDB (influxd) is not installed';
        else {
          try {
            receivers.push(await startNodeRed(install, broker.port, influx, pub));
            nodeRedVersion = install.version;
          } catch (e) {
            nodeRed = `Node-RED did not start: ${(e as Error).message.split('\n')[0]}`;
          }
        }
      }
    } else nodeRed = 'skipped (--no-node-red)';
    const results = new Map<string, RunResult[]>(receivers.map((r) => [r.name, []]));
    const tStart = Date.UTC(2025, 0, 1);
    for (let round = 0; round < rounds; round++) {
      for (const r of receivers) {
        const tBase = tStart + (round * receivers.length + receivers.indexOf(r)) * (n + 1000);
        const msgs = payloads(n, tBase);
        await sleep(1000);
        const res = await r.run(pub, msgs, tBase, window, Math.max(180_000, n * 5));
        results.get(r.name)?.push(res);
        load.push(loadavg()[0]);
        note(
          `  round ${round + 1} ${r.name.padEnd(9)} ${(res.sec).toFixed(2)} s = ${fmtRate(n / res.sec)} msg/s (broker took them in ${res.publishSec.toFixed(2)} s${res.outboxSec !== undefined ? `; durable in the outbox at ${res.outboxSec.toFixed(2)} s` : ''})`,
        );
      }
    }
    const mem = Object.fromEntries(receivers.map((r) => [r.name, r.memory()]));
    const fig = (name: string) => {
      const rs = results.get(name) ?? [];
      const warm = rs.slice(1);
      const first = rs[0];
      return {
        first: n / first.sec,
        warm: n / median(warm.map((x) => x.sec)),
        warmSec: warm.map((x) => +x.sec.toFixed(2)),
        publish: n / median(warm.map((x) => x.publishSec)),
        outbox: warm[0]?.outboxSec !== undefined ? n / median(warm.map((x) => x.outboxSec ?? Number.NaN)) : undefined,
      };
    };
    const ref = fig('reference');
    const sfg = fig('sigflow');
    requireNonZero('mqtt', { reference_msgs_per_s: ref.warm, sigflow_msgs_per_s: sfg.warm });
    const loadRange = `${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}`;
    const common = { messages: n, rounds, window, warm_runs: rounds - 1, load_avg_1m: loadRange };
    report(
      {
        case: 'mqtt/reference',
        ...common,
        what: 'do-nothing mqtt.js subscriber, QoS 1, persistent session, auto-ack; first publish → N received',
        first_pass_msgs_per_s: Math.round(ref.first),
        warm_msgs_per_s: Math.round(ref.warm),
        warm_s: ref.warmSec,
        broker_intake_msgs_per_s: Math.round(ref.publish),
        peak_rss_mb_subscriber: +mem.reference.subscriber_mb.toFixed(1),
      },
      `mqtt/reference  do-nothing mqtt.js subscriber (QoS 1): warm ${fmtRate(ref.warm)} msg/s (${ref.warmSec.join(', ')} s for ${n}), first pass ${fmtRate(ref.first)} msg/s; broker took the publishes at ${fmtRate(ref.publish)} msg/s; load average ${loadRange} during the case; subscriber VmHWM ${mem.reference.subscriber_mb.toFixed(0)} MB`,
    );
    const ratio = sfg.warm / ref.warm;
    /** Rate of `a` over rate of `b`, round by round (the runs next to each other in time), warm rounds. */
    const perRound = (a: string, b: string, pick: (r: RunResult) => number = (r) => r.sec) => {
      const ra = results.get(a) ?? [];
      const rb = results.get(b) ?? [];
      return ra.slice(1).map((x, i) => +(pick(rb[i + 1]) / pick(x)).toFixed(3));
    };
    const sfRef = perRound('sigflow', 'reference');
    const sfRefOutbox = perRound('sigflow', 'reference', (r) => r.outboxSec ?? r.sec);
    report(
      {
        case: 'mqtt/sigflow',
        ...common,
        what: 'sigflow run: mqtt source → durable outbox → store sink; first publish → N delivered to the store',
        first_pass_msgs_per_s: Math.round(sfg.first),
        warm_msgs_per_s: Math.round(sfg.warm),
        warm_s: sfg.warmSec,
        durable_in_outbox_msgs_per_s: sfg.outbox !== undefined ? Math.round(sfg.outbox) : undefined,
        broker_intake_msgs_per_s: Math.round(sfg.publish),
        ratio_to_reference: +ratio.toFixed(3),
        ratio_to_reference_per_round: sfRef,
        ratio_to_reference_per_round_median: +median(sfRef).toFixed(3),
        durable_in_outbox_ratio_to_reference_per_round: sfRefOutbox,
        first_pass_ratio_to_reference: +(sfg.first / ref.first).toFixed(3),
        target_ratio: 0.7,
        peak_rss_mb_supervisor: +mem.sigflow.supervisor_mb.toFixed(1),
        peak_rss_mb_unit: +mem.sigflow.unit_mb.toFixed(1),
      },
      `mqtt/sigflow    mqtt → outbox → store: warm ${fmtRate(sfg.warm)} msg/s (${sfg.warmSec.join(', ')} s for ${n}) = ${(ratio * 100).toFixed(0)} % of the reference (round by round ${sfRef.map((x) => `${(x * 100).toFixed(0)} %`).join(', ')}; target ≥ 70 %: ${ratio >= 0.7 ? 'met' : 'NOT met'}); durable in the outbox at ${sfg.outbox !== undefined ? fmtRate(sfg.outbox) : '?'} msg/s (${sfRefOutbox.map((x) => `${(x * 100).toFixed(0)} %`).join(', ')}); first pass ${fmtRate(sfg.first)} msg/s = ${((sfg.first / ref.first) * 100).toFixed(0)} % of the reference's; VmHWM supervisor ${mem.sigflow.supervisor_mb.toFixed(0)} MB + unit ${mem.sigflow.unit_mb.toFixed(0)} MB`,
    );
    if (results.has('node-red')) {
      const nr = fig('node-red');
      const x = sfg.warm / nr.warm;
      const sfNr = perRound('sigflow', 'node-red');
      const outboxNr = sfg.outbox !== undefined ? sfg.outbox / nr.warm : Number.NaN;
      report(
        {
          case: 'mqtt/node-red',
          ...common,
          what: `Node-RED ${nodeRedVersion}: mqtt in (QoS 1) → join 500 → function → influxdb batch (InfluxDB 1.x), nothing durable; first publish → N in InfluxDB`,
          first_pass_msgs_per_s: Math.round(nr.first),
          warm_msgs_per_s: Math.round(nr.warm),
          warm_s: nr.warmSec,
          broker_intake_msgs_per_s: Math.round(nr.publish),
          sigflow_ratio: +x.toFixed(2),
          sigflow_ratio_per_round: sfNr,
          sigflow_durable_in_outbox_ratio: +outboxNr.toFixed(2),
          target_sigflow_ratio: 2,
          peak_rss_mb_node_red: +mem['node-red'].node_red_mb.toFixed(1),
        },
        `mqtt/node-red   Node-RED ${nodeRedVersion} mqtt in → join 500 → InfluxDB (not durable): warm ${fmtRate(nr.warm)} msg/s (${nr.warmSec.join(', ')} s), first pass ${fmtRate(nr.first)} msg/s; sigflow (durable, into its store) = ${x.toFixed(2)}× Node-RED (round by round ${sfNr.map((r) => `${r.toFixed(2)}×`).join(', ')}; target ≥ 2×: ${x >= 2 ? 'met' : 'NOT met'}; durable in sigflow's outbox ${outboxNr.toFixed(2)}×); Node-RED VmHWM ${mem['node-red'].node_red_mb.toFixed(0)} MB`,
      );
    } else {
      report(
        { case: 'mqtt/node-red', not_measured: nodeRed, node_red_quoted: NODE_RED_QUOTED },
        `mqtt/node-red   not measured here (${nodeRed}); ${quoted(NODE_RED_QUOTED.figure, NODE_RED_QUOTED.source)}`,
      );
    }
  } finally {
    pub?.close();
    for (const r of receivers.reverse()) await r.stop().catch((e: Error) => process.stderr.write(`${e.message}\n`));
    await influx?.dispose();
    await broker.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}

async function soakCase(): Promise<void> {
  const ms = Number(parseDuration(arg('soak') ?? '10m', '--soak') / 1_000_000n);
  const rate = Number(arg('soak-rate', '2000'));
  const every = 10_000;
  const { startMosquitto } = await services();
  const broker = await startMosquitto();
  if (!broker) {
    const why = 'mosquitto is not installed (Debian package mosquitto): the soak case is SKIPPED';
    process.stderr.write(`\n*** ${why} ***\n\n`);
    report({ case: 'soak', skipped: why }, `soak: *** SKIPPED: ${why} ***`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sigflow-bench-soak-'));
  let sf: Awaited<ReturnType<typeof startSigflow>> | null = null;
  let pub: Publisher | null = null;
  try {
    sf = await startSigflow(broker.url, dir, 'sigflow-soak');
    const { d, status } = sf;
    pub = await Publisher.connect(broker.port, `bench-pub-${process.pid}`);
    const samples: { t: number; sup: number; unit: number; delivered: number }[] = [];
    let unitPid = (await status()).units[0]?.pid ?? null;
    const t0 = now();
    const sample = async () => {
      const s = await status();
      unitPid = s.units[0]?.pid ?? unitPid;
      samples.push({
        t: (now() - t0) / 60_000,
        sup: procMem(d.proc.pid).rss,
        unit: procMem(unitPid).rss,
        delivered: s.outbox.sinks.find((x) => x.name === 'store')?.deliveredRecords ?? 0,
      });
    };
    await sample();
    const timer = setInterval(() => void sample(), every);
    const load0 = loadavg()[0];
    let sent = 0;
    try {
      sent = await pub.publishSteady('sigflow', rate, ms, Date.UTC(2025, 0, 1));
    } finally {
      clearInterval(timer);
    }
    await sample();
    const lagAtEnd = sent - samples[samples.length - 1].delivered;
    await d.until(
      'every message stored',
      async () => ((await status()).outbox.sinks.find((x) => x.name === 'store')?.deliveredRecords ?? 0) >= sent,
      120_000,
    );
    const delivered = (await status()).outbox.sinks.find((x) => x.name === 'store')?.deliveredRecords ?? 0;
    requireNonZero('soak', { delivered });
    const half = samples.filter((s) => s.t >= samples[samples.length - 1].t / 2);
    const fig = (pick: (s: (typeof samples)[number]) => number) => ({
      start: +pick(samples[0]).toFixed(1),
      max: +Math.max(...samples.map(pick)).toFixed(1),
      end: +pick(samples[samples.length - 1]).toFixed(1),
      slope_mb_per_min_second_half: +slope(
        half.map((s) => s.t),
        half.map(pick),
      ).toFixed(2),
    });
    const halves = (pick: (s: (typeof samples)[number]) => number) => {
      const mid = samples[samples.length - 1].t / 2;
      const mm = (xs: number[]) => ({ min: +Math.min(...xs).toFixed(1), max: +Math.max(...xs).toFixed(1) });
      return {
        first_half: mm(samples.filter((s) => s.t < mid).map(pick)),
        second_half: mm(samples.filter((s) => s.t >= mid).map(pick)),
      };
    };
    const sup = fig((s) => s.sup);
    const unit = fig((s) => s.unit);
    const total = fig((s) => s.sup + s.unit);
    const line = (what: string, f: ReturnType<typeof fig>, h?: ReturnType<typeof halves>) =>
      `${what} ${f.start.toFixed(0)} → max ${f.max.toFixed(0)} → end ${f.end.toFixed(0)} MB (slope over the second half ${f.slope_mb_per_min_second_half >= 0 ? '+' : ''}${f.slope_mb_per_min_second_half.toFixed(2)} MB/min${h ? `; range ${h.first_half.min.toFixed(0)}–${h.first_half.max.toFixed(0)} MB in the first half, ${h.second_half.min.toFixed(0)}–${h.second_half.max.toFixed(0)} MB in the second` : ''})`;
    report(
      {
        case: 'soak',
        duration_s: ms / 1000,
        rate_msgs_per_s: rate,
        published: sent,
        delivered,
        lag_at_end_of_publishing: lagAtEnd,
        samples: samples.length,
        load_avg_1m: `${load0.toFixed(1)}–${loadavg()[0].toFixed(1)}`,
        rss_supervisor_mb: sup,
        rss_unit_mb: unit,
        rss_total_mb: total,
        rss_halves_mb: { supervisor: halves((s) => s.sup), unit: halves((s) => s.unit) },
        rss_series: samples.map((s) => [+s.t.toFixed(2), +s.sup.toFixed(1), +s.unit.toFixed(1)]),
      },
      `soak ${(ms / 60_000).toFixed(1)} min at ${rate} msg/s (${sent} published, all ${delivered} stored; ${lagAtEnd} behind when publishing stopped), VmRSS every ${every / 1000} s: ${line(
        'supervisor',
        sup,
        halves((s) => s.sup),
      )}; ${line(
        'unit',
        unit,
        halves((s) => s.unit),
      )}; ${line('together', total)}`,
    );
  } finally {
    pub?.close();
    if (sf) await sf.d.stop('SIGTERM');
    await broker.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (childCase?.startsWith('records21')) return records21Case(childCase);
  if (childCase === 'mqtt') return mqttCase();
  if (childCase === 'soak') return soakCase();
  const soak = arg('soak');
  note(
    `Live pipelines benchmark (sigflow run): each case in a fresh process; load average ${loadNote()} at the start.\n` +
      `records21: ${arg('records', '200000')} simulated records (toyota_tss2_adas reference frames, 1 % damage) in reads of 64–4096 bytes, first pass and warm median of 11 (after 5 unmeasured).\n` +
      `mqtt: ${arg('messages', '100000')} QoS 1 messages per run, ${Math.max(2, Number(arg('rounds', '5')))} rounds alternating reference / sigflow / Node-RED (round 1 = first pass, the others warm, median); the case's own peak RSS is the publisher's.\n`,
  );
  const cases = ['records21/framing', 'records21+decode/seed', 'records21+decode/message', 'mqtt'];
  if (soak !== undefined) cases.push('soak');
  runCases(cases);
}

await main();
// not by letting the event loop run dry (Node 20 can hang there: see exitWhenWritten)
await exitWhenWritten();
