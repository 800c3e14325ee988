// The admin listener: its endpoints are read-only (405 with Allow for other methods), and its errors carry a
// request id like every other mesh error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startAdmin } from '../../../../core/http/admin-server.js';

test('POST, PUT, DELETE on /config, /readyz, /healthz, /metrics: 405 with Allow; GET and HEAD answer; unknown: 404 with an id', async () => {
  const admin = await startAdmin({ port: 0, role: 'test', ready: () => ({ ready: true }), config: () => ({ version: 7 }) });
  try {
    const base = `http://127.0.0.1:${admin.port}`;
    for (const path of ['/config', '/readyz', '/healthz', '/metrics']) {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'] as const) {
        const res = await request(`${base}${path}`, { method });
        const body = (await res.body.json()) as { error: { code: string; requestId: string } };
        assert.equal(res.statusCode, 405, `${method} ${path}`);
        assert.equal(res.headers.allow, 'GET, HEAD');
        assert.equal(body.error.code, 'method_not_allowed');
        assert.match(body.error.requestId, /^[0-9a-f-]{36}$/);
      }
      const head = await request(`${base}${path}`, { method: 'HEAD' });
      await head.body.dump();
      assert.equal(head.statusCode, 200, `HEAD ${path}`);
    }
    const config = await request(`${base}/config`);
    assert.deepEqual(await config.body.json(), { version: 7 });
    const unknown = await request(`${base}/nope`, { method: 'POST' });
    const body = (await unknown.body.json()) as { error: { code: string; requestId: string } };
    assert.equal(unknown.statusCode, 404);
    assert.equal(body.error.code, 'no_route');
    assert.match(body.error.requestId, /^[0-9a-f-]{36}$/);
  } finally {
    await admin.close();
  }
});
