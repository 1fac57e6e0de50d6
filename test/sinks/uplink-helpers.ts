/**
 * The uplink sink tests' other side: a scripted "server" (an mqtt.js client subscribed to the sink's topics that
 * records what arrives, with arrival times, and answers requests), a mosquitto that wants a password (the harness
 * starts anonymous ones), and a TCP proxy that can stop forwarding the broker's bytes (a half-open link).
 */
import { createRequire } from 'node:module';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import mqtt, { type MqttClient } from 'mqtt';
import { type ServiceHandle, startMosquitto } from '../harness/services.js';

export interface Arrival {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  /** performance.now() at arrival. */
  at: number;
}

/** The server side: subscribed to `topics`, keeps every message; `onMessage` may answer. */
export class ServerSide {
  readonly arrivals: Arrival[] = [];
  private waiters: { pred: (a: Arrival[]) => boolean; resolve: () => void }[] = [];

  private constructor(readonly client: MqttClient) {}

  static async start(url: string, topics: string[], onMessage?: (a: Arrival, c: MqttClient) => void) {
    const client = mqtt.connect(url, {
      clientId: `server-${Math.random().toString(16).slice(2)}`,
      reconnectPeriod: 100,
    });
    const s = new ServerSide(client);
    client.on('message', (topic, payload, packet) => {
      const a = {
        topic,
        payload: payload.toString('utf8'),
        qos: packet.qos,
        retain: packet.retain,
        at: performance.now(),
      };
      s.arrivals.push(a);
      onMessage?.(a, client);
      s.check();
    });
    client.on('error', () => {});
    await new Promise<void>((r) => client.once('connect', () => r()));
    if (topics.length > 0) await client.subscribeAsync(topics, { qos: 1 });
    return s;
  }

  private check(): void {
    for (const w of [...this.waiters])
      if (w.pred(this.arrivals)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
  }

  /** Resolves once `pred` holds for the arrivals (rejects after `ms`). */
  until(pred: (a: Arrival[]) => boolean, ms = 10_000, what = 'the expected messages'): Promise<void> {
    if (pred(this.arrivals)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for ${what}; got ${this.arrivals.length} messages`));
      }, ms);
      this.waiters.push(w);
    });
  }

  on(topic: string): Arrival[] {
    return this.arrivals.filter((a) => a.topic === topic);
  }

  clear(): void {
    this.arrivals.length = 0;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** A mosquitto that forwards at once (TCP_NODELAY: arrivals timed as sent), with a password file when `users`. */
export function startOwnMosquitto(users?: Record<string, string>): Promise<ServiceHandle | null> {
  return startMosquitto({ noDelay: true, users });
}

/**
 * A TCP proxy to `target`; `blackhole()` stops forwarding what the broker sends (the client's bytes still reach
 * it: its PUBLISH is taken, its PUBACK never arrives), `heal()` forwards again.
 */
export class TcpProxy {
  private server!: Server;
  private readonly sockets = new Set<Socket>();
  blackholed = false;
  /** Nothing gets through either way, connections stay open: a half-open link. */
  silent = false;
  /** Connections are cut and new ones refused: the broker is down. */
  isDown = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (this.isDown) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client);
      this.sockets.add(upstream);
      client.on('data', (d) => {
        if (!this.silent) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!this.blackholed && !this.silent) client.write(d);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('close', end);
      upstream.on('close', end);
      client.on('error', end);
      upstream.on('error', end);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  blackhole(): void {
    this.blackholed = true;
  }

  heal(): void {
    this.blackholed = false;
    this.silent = false;
    this.isDown = false;
  }

  /** Neither side's bytes reach the other; the sockets stay open (a half-open link). */
  halfOpen(): void {
    this.silent = true;
  }

  /** Cuts every connection and refuses new ones until heal(). */
  down(): void {
    this.isDown = true;
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** The most messages of `times` (sorted) within any interval of `ms`. */
export function maxInWindow(times: readonly number[], ms: number): number {
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < times.length; hi++) {
    while (times[hi] - times[lo] >= ms) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** Polls `pred` every 20 ms until it holds (rejects after `ms`). */
export async function waitFor(pred: () => boolean, ms = 10_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const mqtt = require(workerData.mqtt);
const c = mqtt.connect(workerData.url, { reconnectPeriod: 100 });
c.on('error', () => {});
c.on('message', (topic, payload) => parentPort.postMessage({ topic, payload: payload.toString('utf8'), at: performance.now() }));
c.on('connect', () => c.subscribe(workerData.topics, { qos: 1 }, () => parentPort.postMessage({ ready: true })));
parentPort.on('message', (m) => {
  if (m === 'end') c.end(true, () => parentPort.postMessage({ ended: true }));
});
`;

export interface TimedArrival {
  topic: string;
  payload: string;
  /** The worker's performance.now() when the message arrived (compare with each other only). */
  at: number;
}

/**
 * A subscriber in a worker thread (its own event loop, doing nothing but stamping each message and passing it on):
 * arrival times not bent by what the test's main thread is busy with, for rate measurements.
 */
export class TimedSubscriber {
  readonly arrivals: TimedArrival[] = [];

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: TimedArrival | { ready?: boolean; ended?: boolean }) => {
      if ('topic' in m) this.arrivals.push(m);
    });
  }

  static async start(url: string, topics: string[]): Promise<TimedSubscriber> {
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: { url, topics, mqtt: createRequire(import.meta.url).resolve('mqtt') },
    });
    const sub = new TimedSubscriber(worker);
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m: { ready?: boolean }) => {
        if (m.ready) resolve();
      });
    });
    return sub;
  }

  /** Polls the arrivals until `pred` holds (rejects after `ms`). */
  async until(pred: (a: TimedArrival[]) => boolean, ms = 15_000): Promise<TimedArrival[]> {
    const deadline = Date.now() + ms;
    while (!pred(this.arrivals)) {
      if (Date.now() > deadline) throw new Error(`timed out; ${this.arrivals.length} messages arrived`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.arrivals;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 1000);
      this.worker.on('message', (m: { ended?: boolean }) => {
        if (m.ended) {
          clearTimeout(t);
          resolve();
        }
      });
      this.worker.postMessage('end');
    });
    await this.worker.terminate();
  }
}
