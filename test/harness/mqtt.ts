/**
 * The MQTT end-to-end tests' two sides: a QoS 1 publisher of numbered sensor messages (`{t, seq, temp}` on
 * sensors/dev<k % 10>) with its own persistent session, and the `seq` values that reached a data directory's store.
 */
import { join } from 'node:path';
import mqtt from 'mqtt';
import { TimeSeriesStore } from '../../src/store/index.js';

/**
 * Publishes n QoS 1 messages with times t0 + k ms, 500 at a time (its own persistent session: what the broker did
 * not take is sent again); `onProgress` runs after each 500 (a test kills and restarts things there).
 */
export async function publishSeq(
  url: string,
  clientId: string,
  n: number,
  t0: number,
  onProgress?: (i: number) => Promise<void> | void,
): Promise<void> {
  const pub = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 200 });
  await new Promise<void>((r) => pub.once('connect', () => r()));
  const window = 500;
  for (let i = 0; i < n; i += window) {
    const sends: Promise<unknown>[] = [];
    for (let k = i; k < Math.min(n, i + window); k++)
      sends.push(
        pub.publishAsync(`sensors/dev${k % 10}`, JSON.stringify({ t: t0 + k, seq: k, temp: k / 2 }), { qos: 1 }),
      );
    await Promise.all(sends);
    await onProgress?.(i + window);
  }
  await pub.endAsync();
}

/** The `seq` field of every `env` sample in `<dir>/data/store.db`. */
export function storedSeqs(dir: string): number[] {
  const store = TimeSeriesStore.open(join(dir, 'data', 'store.db'));
  try {
    const out: number[] = [];
    for (const s of store.samples({ measurement: 'env', fields: ['seq'], from: 0n, to: 2n ** 62n }))
      for (const v of s.samples) out.push(Number(v.value));
    return out;
  } finally {
    store.close();
  }
}
