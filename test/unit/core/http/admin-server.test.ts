// The admin listener: its endpoints are read-only (405 with Allow for other methods), and its errors carry a
// request id like every other mesh error, bad framing included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { request } from 'undici';
import { startAdmin } from '../../../../core/http/admin-server.js';
import { registry } from '../../../../core/telemetry/metrics.js';

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

/** One raw HTTP/1.1 exchange: what the server answers before it closes the socket. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(bytes));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
  });
}

test('bad framing on an admin port (authz-svc and registry APIs live there): a JSON 431 / 400 with a request id instead of node empty answer, and not counted as data-path traffic', async () => {
  const admin = await startAdmin({ port: 0, role: 'test', ready: () => ({ ready: true }), config: () => ({}) });
  try {
    const cases = [
      { bytes: `GET /config HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431, code: 'headers_too_large' },
      { bytes: 'GET /config HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', status: 400, code: 'bad_request' },
      { bytes: 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nhost: 127.0.0.1:22\r\n\r\n', status: 400, code: 'bad_request' },
    ];
    for (const { bytes, status, code } of cases) {
      const answer = await rawExchange(admin.port, bytes);
      assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), answer.slice(0, 80));
      assert.match(answer, /content-type: application\/json/i);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; requestId: string } };
      assert.equal(body.error.code, code);
      assert.match(body.error.requestId, /^[0-9a-f-]{36}$/);
    }
    assert.doesNotMatch(await registry.metrics(), /tier="test-admin"/);
  } finally {
    await admin.close();
  }
});
