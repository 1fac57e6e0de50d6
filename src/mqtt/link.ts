/**
 * One MQTT 3.1.1 connection for a publishing sink (mqtt.js), shared by the uplink sinks (thingsboard, tenta, mqtt):
 *
 *   - **lazy and persistent**: the first write (or probe) connects; from then on the link stays up, reconnecting
 *     on its own (every `reconnect_period`, doubling while the broker refuses, up to 30 s) so that pushed configs
 *     keep arriving between writes; a write finding it down connects at once;
 *   - **subscribed on every connect** (`clean: true`: the broker keeps nothing for us, so every new connection
 *     subscribes again — the seed subscribed once and lost config pushes after an automatic reconnect), then
 *     `onConnect` runs (e.g. ThingsBoard's attribute request);
 *   - **PUBACK-gated**: at QoS 1 a publish counts only once its PUBACK arrived; while one waits, no PUBACK at all
 *     on the connection within `publish_timeout` (a watchdog on progress: a slow link that keeps acknowledging is
 *     no timeout) → the write is `retry` and the connection is torn down (a half-open link is found out here, not
 *     after the keepalive), and the next write reconnects;
 *   - **paced**: every PUBLISH — the writes' and `onConnect`'s — takes a slot from one RateLimiter first, held
 *     until a window after its PUBACK (rate.ts);
 *   - **classified**: CONNACK 4/5 (MQTT 5: 134/135) → `auth`; anything else that keeps a write from its PUBACKs
 *     → `retry`. Reasons name the sink and the broker's address only, never a credential.
 *
 * Each connection is its own mqtt.js client (`reconnectPeriod: 0`: the link reconnects, not mqtt.js). mqtt.js
 * would otherwise resend unacknowledged QoS 1 messages from its store after reconnecting — outside the rate
 * limits, for writes that already answered `retry`. A closed client is discarded with its store.
 *
 * mqtt.js is loaded on the first connect (it takes ~150 ms to load; commands that never publish do not pay it).
 */
import { join } from 'node:path';
import type { IClientOptions, MqttClient } from 'mqtt';
import { formatDuration } from '../units/index.js';
import { RateLimiter, type RateTicket, type RateWindow } from './rate.js';
import { RateJournal } from './rate-journal.js';

/**
 * What kept a write from being delivered: credentials refused, a broker certificate that does not verify (a
 * setting to fix, not a passing fault: the sink's alarm says so), or anything transient.
 */
export interface LinkFailure {
  readonly kind: 'auth' | 'misconfigured' | 'retry';
  readonly reason: string;
}

/** A write's outcome (the subset of the outbox's WriteResult the link can give). */
export type DeliveryResult =
  | { kind: 'ok' }
  | { kind: 'auth'; reason: string }
  | { kind: 'misconfigured'; reason: string }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'too_large'; reason: string };

/** A batch's outcome as a sink answers it: delivered, or delivered but for the records it could not encode. */
export type BatchResult =
  | DeliveryResult
  | { kind: 'partial'; rejected: { index: number; reason: string }[]; reason: string };

export interface OutgoingMessage {
  readonly topic: string;
  readonly payload: string | Buffer;
  /** Runs when the message is acknowledged (QoS 1: its PUBACK; QoS 0: written to the socket). */
  readonly onAck?: () => void;
}

/** One connection: what a write plans against (e.g. ThingsBoard's gateway announces devices once per session). */
export interface LinkSession {
  /** 1, 2, …: one per connection attempt of this link. */
  readonly id: number;
  readonly connected: boolean;
  readonly closed: boolean;
}

export interface MqttLinkOptions {
  /** The sink's name: every reason starts with it. */
  readonly name: string;
  /** mqtt://host[:port] or mqtts://host[:port], no credentials in it. */
  readonly url: string;
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
  readonly ca?: Buffer;
  readonly rejectUnauthorized: boolean;
  readonly keepaliveMs: number;
  readonly connectTimeoutMs: number;
  readonly reconnectPeriodMs: number;
  readonly publishTimeoutMs: number;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  readonly rateLimits: readonly RateWindow[];
  /** The longest a write waits for the rate limits before it answers `retry` (or `too_large`) instead. */
  readonly maxRateWaitMs: number;
  /** Subscribed (QoS 1) on every connect. */
  readonly subscriptions: readonly string[];
  readonly onMessage?: (topic: string, payload: Buffer) => void;
  /** After the subscriptions of every connect: publish with `link.publishAside(session, …)`. */
  readonly onConnect?: (session: LinkSession) => void;
  /** Things worth saying once (a refused subscription, a request without PUBACK). */
  readonly info?: (message: string) => void;
  /** The rate limiter's clock (tests). */
  readonly now?: () => number;
  /**
   * A folder of the sink's own for state that outlives the process: the rate limiter's journal (`rate.journal`),
   * so a restart does not send a second quota within a window. None: the limiter's log is in memory only.
   */
  readonly stateDir?: string;
}

/** In flight at once per write: enough to fill a slow link, few enough to stop soon after a failure. */
const MAX_INFLIGHT = 32;
const MAX_RECONNECT_MS = 30_000;
/** MQTT 3.1.1 CONNACK 4/5, MQTT 5 134/135: credentials refused. */
const AUTH_CODES = new Set([4, 5, 134, 135]);
/** Node's codes of a TLS certificate that does not verify (self-signed, unknown CA, expired, wrong name …). */
const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

type Connect = (url: string, opts: IClientOptions) => MqttClient;
let mqttConnect: Connect | null = null;
async function loadMqtt(): Promise<Connect> {
  mqttConnect ??= (await import('mqtt')).default.connect;
  return mqttConnect;
}

const fmtMs = (ms: number) => formatDuration(BigInt(Math.max(0, Math.round(ms))) * 1_000_000n);

class Session implements LinkSession {
  connected = false;
  closed = false;
  /** The last error mqtt.js reported on this connection. */
  lastError: LinkFailure | null = null;
  /** Why it closed (set on close). */
  failure: LinkFailure | null = null;
  /** Settles every publish in flight on this connection when it closes. */
  readonly inflight = new Set<(f: LinkFailure) => void>();
  /** When a message was last acknowledged on this connection (ms): the publish timeout counts from progress. */
  lastAckMs = 0;
  /** Aborted on close: cancels `publishAside` waits. */
  readonly gone = new AbortController();
  readonly ready: Promise<LinkFailure | null>;
  settleReady!: (f: LinkFailure | null) => void;
  constructor(
    readonly id: number,
    readonly client: MqttClient,
  ) {
    this.ready = new Promise((r) => {
      this.settleReady = r;
    });
  }
}

/** Resolves with `p`'s value, or with `onAbort` once `signal` aborts. */
function race<T>(p: Promise<T>, signal: AbortSignal | undefined, onAbort: T): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.resolve(onAbort);
  return new Promise<T>((resolve) => {
    const abort = () => resolve(onAbort);
    signal.addEventListener('abort', abort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      () => {
        signal.removeEventListener('abort', abort);
        resolve(onAbort);
      },
    );
  });
}

export class MqttLink {
  readonly limiter: RateLimiter;
  private readonly journal: RateJournal | undefined;
  private readonly where: string;
  private session: Session | null = null;
  private sessions = 0;
  private started = false;
  private closing = false;
  private refusals = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Writes one at a time: the plan, the pacing decision and the publishes of one write see one state. */
  private lock: Promise<void> = Promise.resolve();

  constructor(private readonly o: MqttLinkOptions) {
    this.journal = o.stateDir && o.rateLimits.length ? this.openJournal(o.stateDir) : undefined;
    this.limiter = new RateLimiter(o.rateLimits, o.now, this.journal);
    const u = new URL(o.url);
    this.where = `${o.name}: ${u.protocol}//${u.host}`;
  }

  private openJournal(dir: string): RateJournal | undefined {
    const path = join(dir, 'rate.journal');
    try {
      return RateJournal.open(path, RateLimiter.journalCap(this.o.rateLimits));
    } catch (e) {
      this.o.info?.(
        `${this.o.name}: the rate journal ${path} cannot be opened (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): the rate limits start empty at each start`,
      );
      return undefined;
    }
  }

  /** The current connection, if any. */
  get current(): LinkSession | null {
    return this.session;
  }

  /** A new connection attempt (mqtt.js loaded by connect() before any). */
  private open(): Session {
    const o = this.o;
    const opts: IClientOptions = {
      clientId: o.clientId,
      // no table of 65,536 pre-made packet-id buffers (~10 MB of heap for the process's life): a 2-byte buffer per packet
      writeCache: false,
      clean: true,
      protocolVersion: 4,
      keepalive: Math.max(1, Math.round(o.keepaliveMs / 1000)),
      connectTimeout: o.connectTimeoutMs,
      reconnectPeriod: 0, // the link reconnects (a new client each time), see the file comment
      resubscribe: false,
      queueQoSZero: false,
      rejectUnauthorized: o.rejectUnauthorized,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
    };
    const client = (mqttConnect as Connect)(o.url, opts);
    const s = new Session(++this.sessions, client);
    client.on('connect', () => this.onConnect(s));
    client.on('error', (e) => {
      const code = (e as { code?: unknown }).code;
      s.lastError =
        typeof code === 'number' && AUTH_CODES.has(code)
          ? { kind: 'auth', reason: `${this.where}: ${e.message} (credentials refused)` }
          : typeof code === 'string' && TLS_VERIFY_CODES.has(code)
            ? {
                kind: 'misconfigured',
                reason: `${this.where}: the broker's certificate does not verify: ${e.message} (set ca: to its CA file)`,
              }
            : { kind: 'retry', reason: `${this.where}: ${e.message}` };
    });
    client.on('close', () => this.onClose(s));
    client.on('end', () => this.onClose(s));
    client.on('message', (topic, payload) => {
      if (s === this.session) this.o.onMessage?.(topic, payload);
    });
    // mqtt.js's own CONNACK timer covers a silent broker; this one also covers a stuck TCP connect
    const guard = setTimeout(() => {
      if (!s.connected && !s.closed) {
        s.lastError ??= { kind: 'retry', reason: `${this.where}: no CONNACK within ${fmtMs(o.connectTimeoutMs)}` };
        this.reset(s);
      }
    }, o.connectTimeoutMs + 1000);
    void s.ready.then(() => clearTimeout(guard));
    return s;
  }

  private onConnect(s: Session): void {
    if (s.closed) return;
    s.connected = true;
    s.lastError = null;
    // no Nagle: a PUBLISH waiting for the previous one's ACK would wait for the peer's delayed ACK (~40 ms)
    (s.client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    this.refusals = 0;
    const subs = this.o.subscriptions;
    if (subs.length > 0) {
      s.client.subscribe([...subs], { qos: 1 }, (err, granted) => {
        if (s.closed) return;
        if (err) this.o.info?.(`${this.where}: subscribing to ${subs.join(', ')} failed: ${err.message}`);
        for (const g of granted ?? [])
          if (g.qos === 128) this.o.info?.(`${this.where}: the broker refused the subscription to ${g.topic}`);
      });
    }
    s.settleReady(null);
    this.o.onConnect?.(s);
  }

  private onClose(s: Session): void {
    if (s.closed) return;
    s.closed = true;
    const wasConnected = s.connected;
    s.connected = false;
    const f = s.lastError ?? {
      kind: 'retry' as const,
      reason: `${this.where}: ${wasConnected ? 'connection closed' : 'could not connect'}`,
    };
    s.failure = f;
    s.gone.abort();
    for (const settle of [...s.inflight]) settle(f);
    s.inflight.clear();
    s.settleReady(f);
    // discard the client and its store (nothing of it is sent again); its handlers above ignore a closed session
    s.client.end(true);
    if (this.session === s) this.session = null;
    if (!wasConnected) this.refusals++;
    this.scheduleReconnect();
  }

  /** Tears a connection down (PUBACK timeout, stuck connect): 'close' follows, then a reconnect. */
  private reset(s: Session): void {
    if (s.closed) return;
    s.client.end(true);
    // end(true) closes the stream; should mqtt.js not report it, the session is closed here all the same
    setImmediate(() => this.onClose(s));
  }

  private scheduleReconnect(): void {
    if (this.closing || !this.started || this.reconnectTimer || this.session) return;
    const delay = Math.min(
      Math.max(this.o.reconnectPeriodMs, MAX_RECONNECT_MS),
      this.o.reconnectPeriodMs * 2 ** Math.min(this.refusals > 0 ? this.refusals - 1 : 0, 16),
    );
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.closing && !this.session) this.session = this.open();
    }, delay);
    this.reconnectTimer.unref?.();
  }

  /** The connected session, or why there is none (after at most connect_timeout, or the signal). */
  async connect(signal?: AbortSignal): Promise<Session | LinkFailure> {
    if (this.closing) return { kind: 'retry', reason: `${this.o.name}: closed` };
    this.started = true;
    if (this.session?.connected) return this.session;
    await loadMqtt();
    if (this.closing) return { kind: 'retry', reason: `${this.o.name}: closed` };
    if (this.session?.connected) return this.session;
    if (!this.session) {
      if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this.session = this.open();
    }
    const s = this.session;
    const aborted: LinkFailure = { kind: 'retry', reason: `${this.where}: aborted while connecting` };
    const r = await race(s.ready, signal, aborted);
    return r === null ? s : r;
  }

  /** Checks that the broker takes the connection (and keeps it). Null, or why not. */
  async probe(signal?: AbortSignal): Promise<string | null> {
    const r = await this.connect(signal);
    return r instanceof Session ? null : r.reason;
  }

  /**
   * One message on session `s`, settled with null when acknowledged, else the failure. Its rate-limit slot
   * (`ticket`) is settled then too: the slot frees a window after the acknowledgement (or the failure).
   */
  private publishOn(s: Session, m: OutgoingMessage, ticket: RateTicket): Promise<LinkFailure | null> {
    return new Promise((resolve) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (f: LinkFailure | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        ticket.settle();
        s.inflight.delete(finish);
        if (f === null) m.onAck?.();
        resolve(f);
      };
      if (s.closed) return finish(s.failure ?? { kind: 'retry', reason: `${this.where}: connection closed` });
      s.inflight.add(finish);
      // a watchdog on progress, not a deadline per message: a message waits behind the others in flight on a slow
      // link (32 × 64 KiB at 50 KB/s is 40 s) — it times out only when nothing at all was acknowledged on the
      // connection for publish_timeout (a deadline from the hand-over reset the connection forever on such links)
      const sentMs = Date.now();
      const check = () => {
        const idle = Date.now() - Math.max(sentMs, s.lastAckMs);
        if (idle < this.o.publishTimeoutMs) {
          timer = setTimeout(check, this.o.publishTimeoutMs - idle);
          return;
        }
        finish({
          kind: 'retry',
          reason: `${this.where}: no ${this.o.qos === 1 ? 'PUBACK' : 'socket write'} within ${fmtMs(this.o.publishTimeoutMs)} for a message to ${m.topic} (nothing acknowledged on the connection meanwhile); connection reset`,
        });
        this.reset(s);
      };
      timer = setTimeout(check, this.o.publishTimeoutMs);
      s.client.publishAsync(m.topic, m.payload, { qos: this.o.qos, retain: this.o.retain }).then(
        () => {
          s.lastAckMs = Date.now();
          finish(null);
        },
        (e: Error) => finish({ kind: 'retry', reason: `${this.where}: publish to ${m.topic} failed: ${e.message}` }),
      );
    });
  }

  /**
   * A message outside any write (ThingsBoard's attribute request on connect): paced like the others, on session
   * `s` only; a failure is said through `info`.
   */
  publishAside(session: LinkSession, m: OutgoingMessage): void {
    const s = session as Session;
    void (async () => {
      const ticket = await this.limiter.acquire(s.gone.signal);
      if (!ticket) return;
      if (s.closed) return ticket.settle();
      const f = await this.publishOn(s, m, ticket);
      if (f && !s.closed) this.o.info?.(f.reason);
    })();
  }

  /** Runs `fn` after the writes before it (or answers `retry` when the signal aborts while waiting). */
  private async exclusive(signal: AbortSignal | undefined, fn: () => Promise<DeliveryResult>): Promise<DeliveryResult> {
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise((r) => {
      release = r;
    });
    try {
      const go = await race(
        prev.then(() => true),
        signal,
        false,
      );
      if (!go) return { kind: 'retry', reason: `${this.o.name}: aborted while waiting for the previous write` };
      return await fn();
    } finally {
      // a writer that gave up waiting releases after its predecessor, so the order holds
      void prev.then(release);
    }
  }

  /**
   * Delivers one write: connects if needed, asks `plan` for the messages (on the session they will go on),
   * checks the rate limits can take them within `max_rate_wait`, then publishes them paced, at most MAX_INFLIGHT
   * waiting for their PUBACK at once. `ok` only when every message was acknowledged.
   *
   * Pacing (nothing is sent before the decision, so a refused write duplicates nothing):
   *   - the limits allow the last message within max_rate_wait from now → send, waiting between messages;
   *   - they would not even from idle, and the batch has more than one record (`splittable`) → `too_large`: the
   *     outbox splits the batch until a part fits;
   *   - they would from idle, or the batch is one record → `retry` with `retryAfterMs` = how long until they do
   *     (a single record that never fits is sent anyway, waiting as long as it takes).
   * A failure part-way (no PUBACK, connection lost, the write's signal) answers `retry` for the whole batch: the
   * messages already acknowledged are sent again with it (at least once).
   */
  /**
   * A sink's whole write: delivers what the batch encoded to (when anything), then answers `partial` for the
   * records that could not be encoded — `why` says what is wrong with them ("break Tenta's rules").
   */
  async writeBatch(
    plan: ((session: LinkSession) => OutgoingMessage[]) | null,
    batchLength: number,
    rejected: { index: number; reason: string }[],
    why: string,
    signal?: AbortSignal,
  ): Promise<BatchResult> {
    if (plan) {
      const r = await this.deliver(plan, batchLength > 1, signal);
      if (r.kind !== 'ok') return r;
    }
    if (rejected.length === 0) return { kind: 'ok' };
    return {
      kind: 'partial',
      rejected,
      reason: `${this.o.name}: ${rejected.length} of ${batchLength} records ${why}: ${rejected[0].reason}`,
    };
  }

  deliver(
    plan: (session: LinkSession) => OutgoingMessage[],
    splittable: boolean,
    signal?: AbortSignal,
  ): Promise<DeliveryResult> {
    return this.exclusive(signal, async () => {
      const c = await this.connect(signal);
      if (!(c instanceof Session)) return c;
      const s = c;
      const msgs = plan(s);
      if (msgs.length === 0) return { kind: 'ok' };
      const lim = this.limiter;
      const now = lim.now();
      const wait = lim.finishAt(msgs.length, now) - now;
      if (wait > this.o.maxRateWaitMs) {
        const best = lim.finishAt(msgs.length, now, true) - now;
        const what = `${msgs.length} messages`;
        if (best > this.o.maxRateWaitMs && splittable)
          return {
            kind: 'too_large',
            reason: `${this.o.name}: ${what} take ${fmtMs(best)} under rate_limits even when idle, over max_rate_wait (${fmtMs(this.o.maxRateWaitMs)}): split the batch`,
          };
        if (best <= this.o.maxRateWaitMs) {
          const retryAfterMs = Math.max(1, Math.ceil(wait - this.o.maxRateWaitMs));
          return {
            kind: 'retry',
            reason: `${this.o.name}: rate_limits: ${what} could not all be sent within max_rate_wait (${fmtMs(this.o.maxRateWaitMs)}); nothing sent, next try in ${fmtMs(retryAfterMs)}`,
            retryAfterMs,
          };
        }
      }
      return this.send(s, msgs, signal);
    });
  }

  private async send(s: Session, msgs: OutgoingMessage[], signal?: AbortSignal): Promise<DeliveryResult> {
    const aborted: LinkFailure = { kind: 'retry', reason: `${this.o.name}: write aborted (sent again later)` };
    // the first failure of this write (set by the publishes' settlements too, so it is a holder)
    const st: { failure: LinkFailure | null } = { failure: null };
    const window: Promise<LinkFailure | null>[] = [];
    for (const m of msgs) {
      if (st.failure) break;
      const ticket = await this.limiter.acquire(signal);
      if (!ticket) {
        st.failure = aborted;
        break;
      }
      if (s.closed) {
        ticket.settle();
        st.failure = s.failure ?? { kind: 'retry', reason: `${this.where}: connection closed` };
        break;
      }
      const p = this.publishOn(s, m, ticket);
      void p.then((f) => {
        if (f) st.failure ??= f;
      });
      window.push(p);
      if (window.length >= MAX_INFLIGHT) {
        const f = await race(window.shift() as Promise<LinkFailure | null>, signal, aborted);
        if (f) st.failure ??= f;
      }
    }
    if (!st.failure) {
      const rest = await race(Promise.all(window), signal, [aborted]);
      st.failure = rest.find((f) => f !== null) ?? null;
    }
    const f = st.failure;
    return f ? { kind: f.kind, reason: f.reason } : { kind: 'ok' };
  }

  /** Disconnects (DISCONNECT, then the socket) and stops reconnecting. */
  async close(): Promise<void> {
    this.closing = true;
    this.journal?.close();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const s = this.session;
    this.session = null;
    if (!s || s.closed) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.client.end(true);
        resolve();
      }, 2000);
      s.client.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.onClose(s);
  }
}
