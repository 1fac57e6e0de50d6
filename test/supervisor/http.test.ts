/**
 * `sigflow run`'s HTTP endpoint on a loopback address without credentials answers only this machine's names: a
 * page on another site whose name was pointed at 127.0.0.1 (DNS rebinding) gets 421, not /status or the console.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startMetricsServer } from '../../src/supervisor/index.js';
import { getWithHost as get } from '../harness/http.js';

const source = {
  status: () => ({}) as never,
  readiness: () => [],
  health: () => [],
  version: '0.0.0-test',
};

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
