/**
 * The `mqtt` source (mqtt.js): a persistent session (clean = false, a fixed client id) subscribed on every
 * (re)connect, messages decoded into records in batches, and **QoS 1 acknowledged only once their records are
 * durable in the outbox** — or, for a payload that cannot be read, once it is archived with the reason. (QoS 2
 * topics are subscribed at QoS 1: see run().)
 *
 * mqtt.js handles one incoming PUBLISH at a time and sends its PUBACK when the handler is done,
 * so acknowledging after a durable write would allow one outbox round trip per message. Instead the acks are held:
 * the client's packet writer is wrapped so that PUBACK/PUBREC packets wait in a queue, in the order the messages
 * arrived, and are sent when the batch holding their message is durable. Acks held for a connection that has since
 * dropped are discarded: the broker sends those messages again (with the dup flag) on the new connection, and the
 * sinks' writes are idempotent (same series and time). Nothing is ever left unacknowledged, so the broker's
 * in-flight window never stalls (Telegraf stalls after 1000 unacknowledged messages).
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient } from 'mqtt';
import { type LiveSource, type SourceContext, sleep } from '../../pipelines/live/index.js';
import type { TelemetryRecord } from '../../records/index.js';
import type { MqttPayloadOptions, MqttSourceOptions } from './config.js';
import { PacketPayloads } from './packets.js';
import { payloadToRecords } from './payload.js';

interface HeldAck {
  packet: { cmd: string; messageId?: number };
  /** The connection it belongs to (acks of an older one are dropped). */
  conn: number;
}

/** One batch being filled: its records and the acks its messages wait for. */
interface Batch {
  records: TelemetryRecord[];
  rejects: { topic: string; reason: string; payload: Uint8Array }[];
  acks: HeldAck[];
  messages: number;
}

const ARCHIVE_BYTES = 4096;
/** Batches handed over and not yet durable before reading stops. */
const MAX_UNSTORED = 4;

/** A connection closed sooner than this after it was made counts towards the client-id takeover warning. */
const QUICK_CLOSE_MS = 2000;

export class MqttSource implements LiveSource {
  /** `payload.format: packets`: the compiled spec (loaded at start, so a bad spec stops the unit at once). */
  private readonly packets: PacketPayloads | undefined;

  constructor(
    private readonly o: MqttSourceOptions,
    private readonly clientId: string,
  ) {
    this.packets = o.payload.format === 'packets' ? new PacketPayloads(o.payload) : undefined;
  }

  async run(ctx: SourceContext): Promise<void> {
    const o = this.o;
    const opts: IClientOptions = {
      clientId: this.clientId,
      // no table of 65,536 pre-made packet-id buffers (~10 MB of heap for the process's life): a 2-byte buffer per packet
      writeCache: false,
      clean: o.clean,
      protocolVersion: o.protocol_version,
      keepalive: Math.max(1, Math.round(o.keepalive / 1000)),
      reconnectPeriod: o.reconnect_period,
      connectTimeout: o.connect_timeout,
      resubscribe: false, // subscribed on every connect below
      rejectUnauthorized: o.reject_unauthorized,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca ? { ca: readFileSync(o.ca) } : {}),
      ...(o.cert ? { cert: readFileSync(o.cert) } : {}),
      ...(o.key ? { key: readFileSync(o.key) } : {}),
      // a refused CONNACK (bad credentials, a client id the broker refuses) is retried too: the broker's settings
      // can be fixed while sigflow runs (mqtt.js stops after the first refusal otherwise)
      reconnectOnConnackError: true,
      // (no maximumPacketSize: an MQTT 5 broker drops a larger message unseen; here it is archived as too large)
      ...(o.protocol_version === 5
        ? { properties: { sessionExpiryInterval: Math.round(o.session_expiry / 1000) } }
        : {}),
    };
    // mqtt.js is loaded by the first connect, not by every process that could make an MQTT source
    const { default: mqtt } = await import('mqtt');
    const client = mqtt.connect(o.url, opts);
    this.holdAcks(client);
    // every message is handled here, synchronously before mqtt.js writes its PUBACK (which is then held)
    client.on('message', (topic, message, packet) => this.onMessage(topic, message, packet.qos, ctx));
    // backpressure (mqtt.js's hook: the next message is read only after this calls back): while MAX_UNSTORED
    // batches wait to be durable, the broker keeps the rest, so memory stays bounded when the outbox blocks
    client.handleMessage = (_packet, callback) => {
      if (this.unstored < MAX_UNSTORED) callback();
      else this.resume = () => callback();
    };
    let connectedOnce = false;
    client.on('connect', (connack) => {
      this.conn++;
      if (connectedOnce) ctx.count('reconnects');
      connectedOnce = true;
      // QoS 2 is subscribed as QoS 1: mqtt.js keeps the QoS 2 handshake's state in memory, so its PUBREC cannot wait
      // for durability; at least once with idempotent sinks leaves one copy stored all the same
      const topics = o.topics.map((t) =>
        typeof t === 'string' ? { topic: t, qos: 1 as const } : { topic: t.topic, qos: Math.min(t.qos, 1) as 0 | 1 },
      );
      // MQTT 5: retained messages only for a new subscription (retain handling 1), not again when a resumed
      // session's subscription is renewed (3.1.1 has no such option: see the README)
      const rh = o.protocol_version === 5 ? { rh: 1 as const } : {};
      client.subscribe(Object.fromEntries(topics.map((t) => [t.topic, { qos: t.qos, ...rh }])), (err, granted) => {
        if (err) {
          ctx.state(false, `${o.url}: subscribe failed: ${err.message}`);
          return;
        }
        const refused = (granted ?? []).filter((g) => g.qos === 128);
        for (const g of refused)
          ctx.logger.error({ topic: g.topic }, `${o.url}: the broker refused the subscription to ${g.topic}`);
        ctx.state(
          true,
          `${o.url}: connected as ${this.clientId}${connack.sessionPresent ? ' (session resumed)' : ''}; subscribed to ${topics.map((t) => `${t.topic} (QoS ${t.qos})`).join(', ')}`,
        );
      });
    });
    let down: string | null = null;
    const disconnected = (why: string) => {
      if (down === why || ctx.signal.aborted) return; // said once per outage, not once per retry
      down = why;
      ctx.state(false, `${o.url}: ${why}; reconnecting every ${o.reconnect_period} ms`);
    };
    // a connection the broker closes right after it was made, again and again: another client has the same id
    // (a broker lets one of two have it, and they take it from each other) — said once, with the fix
    let connectedAt = 0;
    let quickCloses = 0;
    let saidTakeover = false;
    client.on('connect', () => {
      down = null;
      connectedAt = Date.now();
    });
    client.on('close', () => {
      if (connectedAt === 0) return;
      quickCloses = Date.now() - connectedAt < QUICK_CLOSE_MS ? quickCloses + 1 : 0;
      connectedAt = 0;
      if (quickCloses >= 3 && !saidTakeover) {
        saidTakeover = true;
        ctx.logger.warn(
          `${o.url}: the broker closed the connection right after it was made ${quickCloses} times in a row: another client may be connected as ${this.clientId} (two clients with one id take the session from each other) — give each instance its own client_id`,
        );
      }
    });
    client.on('error', (e) => disconnected(e.message));
    client.on('close', () => disconnected('connection closed'));
    client.on('offline', () => disconnected('offline'));
    // runs until stopped, or until a batch could not be stored (the unit then ends without acknowledging it, and
    // restarts: the broker sends the unacknowledged messages again)
    const failed = new Promise<void>((_resolve, reject) => {
      this.fail = reject;
    });
    try {
      await Promise.race([
        failed,
        new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve();
          else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
        }),
      ]);
      // stop: no new messages; what was received is handed over and acknowledged before the client closes — a
      // batch the outbox is too full to take is left unacknowledged (the broker sends it again): not a failure
      this.flush(ctx).catch(() => {}); // (observed through the chain, next)
      await this.chain.catch((e: Error & { code?: string }) => {
        if (!(ctx.signal.aborted && e.code === 'SF_ERR_OUTBOX_FULL')) throw e;
      });
    } finally {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    }
  }

  /** Ends run() with the error of a batch that could not be stored. */
  private fail: (e: Error) => void = () => {};

  /** Connection counter: acks are only sent on the connection their message came on. */
  private conn = 0;
  /** The last receive time given to a record (ns): receive times are kept strictly increasing. */
  private lastReceivedNs = 0n;
  private current: Batch = { records: [], rejects: [], acks: [], messages: 0 };
  private timer: NodeJS.Timeout | null = null;
  /** The batch of the message being handled, until the wrapped packet writer takes its PUBACK. */
  private pendingAck: Batch | null = null;
  /** Batches are handed over and acknowledged in order. */
  private chain: Promise<void> = Promise.resolve();
  /** Batches handed over and not yet durable; and how to go on reading once fewer. */
  private unstored = 0;
  private resume: (() => void) | null = null;

  /** Wraps the client's packet writer: the PUBACK of a received message waits for its batch to be durable. */
  private holdAcks(client: MqttClient): void {
    const c = client as unknown as {
      _sendPacket: (packet: HeldAck['packet'], cb?: () => void, ...rest: unknown[]) => void;
    };
    const send = c._sendPacket.bind(client);
    c._sendPacket = (packet, cb, ...rest) => {
      if (packet.cmd === 'puback' && this.pendingAck) {
        this.pendingAck.acks.push({ packet, conn: this.conn });
        this.pendingAck = null;
        cb?.(); // the client goes on with the next message
        return;
      }
      send(packet, cb, ...rest);
    };
    this.sendHeld = (a) => {
      if (a.conn === this.conn && client.connected) send(a.packet);
    };
  }

  private sendHeld: (a: HeldAck) => void = () => {};

  private onMessage(topic: string, payload: Buffer, qos: number, ctx: SourceContext): void {
    const b = this.current;
    b.messages++;
    ctx.count('messages');
    if (qos > 0) this.pendingAck = b;
    if (payload.length > this.o.max_payload_bytes) {
      b.rejects.push({
        topic,
        reason: `payload of ${payload.length} bytes is over max_payload_bytes (${this.o.max_payload_bytes}); first ${ARCHIVE_BYTES} bytes kept`,
        payload: Uint8Array.from(payload.subarray(0, ARCHIVE_BYTES)),
      });
    } else {
      // receive times strictly increasing (ms clock, then +1 ns per record): two messages of one millisecond are two
      // points, not one overwriting the other (a record without a time of its own is stamped with it)
      const clock = BigInt(Date.now()) * 1_000_000n;
      const now = clock > this.lastReceivedNs ? clock : this.lastReceivedNs + 1n;
      const before = b.records.length;
      if (this.packets) {
        const r = this.packets.toRecords(topic, payload, now, b.records);
        ctx.count('packet_rows', r.rows);
        if (!r.ok) ctx.count('packet_errors');
      } else {
        const why = payloadToRecords(
          this.o.payload as Exclude<MqttPayloadOptions, { format: 'packets' }>,
          topic,
          payload,
          now,
          b.records,
        );
        if (why !== null) b.rejects.push({ topic, reason: why, payload: Uint8Array.from(payload) });
      }
      this.lastReceivedNs = now + BigInt(Math.max(0, b.records.length - before - 1));
    }
    // (a failure is reported through this.fail: run() ends)
    if (b.messages >= this.o.batch_messages) this.flush(ctx).catch(() => {});
    else if (this.timer === null) this.timer = setTimeout(() => this.flush(ctx).catch(() => {}), this.o.batch_wait);
  }

  /** Hands the current batch over; its acks are sent once it is durable (after the batches before it). */
  private flush(ctx: SourceContext): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const b = this.current;
    if (b.messages === 0) return this.chain;
    this.current = { records: [], rejects: [], acks: [], messages: 0 };
    // the acks are collected synchronously after each message (see holdAcks), so `b.acks` is complete by the
    // time this promise chain reaches it
    this.unstored++;
    const stored = Promise.all([
      b.records.length ? this.store(b.records, ctx) : undefined,
      ...b.rejects.map((r) => ctx.reject(r.topic, r.payload, r.reason)),
    ]).finally(() => {
      this.unstored--;
      const r = this.resume;
      this.resume = null;
      r?.();
    });
    stored.catch(() => {}); // observed below, in order; not an unhandled rejection meanwhile
    this.chain = this.chain.then(() =>
      stored.then(
        () => {
          if (b.rejects.length) ctx.count('rejected', b.rejects.length);
          ctx.count('acked', b.acks.length);
          for (const a of b.acks) this.sendHeld(a);
        },
        (e: Error) => {
          // not durable: nothing is acknowledged (the broker sends them again); the unit ends and restarts
          ctx.logger.error({ err: { message: e.message } }, 'records could not be stored: not acknowledged');
          this.fail(e);
          throw e;
        },
      ),
    );
    return this.chain;
  }

  /**
   * Stores a batch. A full outbox (its sinks down longer than block_timeout) is backpressure, not a failure: the
   * batch is offered again with backoff while its messages stay unacknowledged at the broker and the source reads
   * no more (MAX_UNSTORED) — the unit does not crash-loop into "failed" during a long outage.
   */
  private async store(records: TelemetryRecord[], ctx: SourceContext): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await ctx.records(records);
        if (attempt > 0) ctx.logger.info('the outbox took the held batch: reading again');
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== 'SF_ERR_OUTBOX_FULL' || ctx.signal.aborted) throw e;
        if (attempt === 0)
          ctx.logger.warn(
            { err: { message: (e as Error).message } },
            'outbox full: the batch is held (its messages unacknowledged at the broker) and offered again',
          );
        ctx.count('outbox_full_waits');
        await sleep(Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)), ctx.signal).catch(() => {});
        if (ctx.signal.aborted) throw e; // stopping: not stored, not acknowledged (the broker sends it again)
      }
    }
  }
}
