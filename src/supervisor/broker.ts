/**
 * The embedded MQTT broker (aedes) that `broker:` starts for a single box with no broker of its own: MQTT 3.1.1 on
 * `listen` (127.0.0.1 only unless told otherwise). Its sessions and queued messages live in memory: they last as
 * long as the sigflow process (a publisher with QoS 1 keeps what it could not send while sigflow was down).
 * For MQTT 5, shared subscriptions and a broker that outlives sigflow, run mosquitto (see src/sources/mqtt).
 */
import { createServer, type Server } from 'node:net';
import { SigflowError } from '../errors/index.js';
import { parseListen } from './listen.js';

export interface EmbeddedBroker {
  address: string;
  close(): Promise<void>;
}

export async function startBroker(listen: string): Promise<EmbeddedBroker> {
  const { host, port } = parseListen(listen);
  // aedes is loaded only when a broker is asked for
  const { Aedes } = await import('aedes');
  const aedes = await Aedes.createBroker();
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new SigflowError('SF_ERR_RUN_LISTEN', `broker: cannot listen on ${listen}: ${e.code ?? e.message}`, {
          where: 'broker.listen',
          cause: e,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as { address: string; port: number; family: string };
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close();
        // ends the clients still connected, then its own state
        aedes.close(() => resolve());
      }),
  };
}
