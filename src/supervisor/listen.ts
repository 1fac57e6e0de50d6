/** `host:port` of a `listen` setting (`127.0.0.1:9464`, `[::1]:1883`) → what net.Server.listen takes. */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}
