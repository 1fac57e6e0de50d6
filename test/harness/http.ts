/** HTTP requests a test needs and fetch cannot make. */
import { request } from 'node:http';

/**
 * GET `path` of the server at `base` (`http://127.0.0.1:8080` or `127.0.0.1:8080`) with this Host header — fetch
 * does not let a caller set Host.
 */
export function getWithHost(base: string, path: string, host: string): Promise<{ status: number; body: string }> {
  const u = new URL(base.includes('://') ? base : `http://${base}`);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += String(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
