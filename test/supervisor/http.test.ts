/**
 * `sigflow run`'s HTTP endpoint on a loopback address without credentials answers only this machine's names: a
 * page on another site whose name was pointed at 127.0.0.1 (DNS rebinding) gets 421, not /status or the console.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { startMetricsServer } from '../../src/supervisor/index.js';

const source = {
  status: () => ({}) as never,
  readiness: () => [],
  health: () => [],
  version: '0.0.0-test',
};

function get(address: string, path: string, host: string): Promise<{ status: number; body: string }> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = request(
      { host: address.slice(0, i), port: Number(address.slice(i + 1)), path, headers: { host } },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += String(d);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('a foreign Host gets 421 on a loopback endpoint without credentials; with them, the credentials decide', async () => {
  const open = await startMetricsServer('127.0.0.1:0', source, (_req, res) => res.end('fallback'));
  const withAuth = await startMetricsServer('127.0.0.1:0', source, undefined, { tokens: ['t'] });
  try {
    assert.equal((await get(open.address, '/healthz', `localhost:${open.address.split(':')[1]}`)).status, 200);
    assert.equal((await get(open.address, '/console/', '127.0.0.1')).body, 'fallback');
    for (const path of ['/healthz', '/console/', '/api/console/dead-letters/purge']) {
      const r = await get(open.address, path, 'rebind.attacker.example:9464');
      assert.equal(r.status, 421, path);
      assert.equal(JSON.parse(r.body).code, 'SF_ERR_SERVE_FOREIGN_HOST');
    }
    assert.equal((await get(withAuth.address, '/status', 'rebind.attacker.example')).status, 401);
    assert.equal((await get(withAuth.address, '/healthz', 'rebind.attacker.example')).status, 200);
  } finally {
    await open.close();
    await withAuth.close();
  }
});
