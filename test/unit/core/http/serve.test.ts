// answerClientErrors on a server without the pipeline's listener (as an admin port): a parser error in the middle of
// a request's body is that request's. A stalled body gets one JSON 408 on the request's own response, then the
// connection closes; a client gone mid-body gets nothing and is not logged as a refusal of a second request.
// (With the pipeline's listener the request answers itself: test/integration/edge-midbody.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { DEFAULT_LIMITS, answerClientErrors, serverOptions } from '../../../../core/http/serve.js';
import { logger } from '../../../../core/telemetry/log.js';
import { registry } from '../../../../core/telemetry/metrics.js';

const LIMITS = { ...DEFAULT_LIMITS, headersTimeoutMs: 200, requestTimeoutMs: 400 };

/** A server that reads bodies and answers at their end, behind answerClientErrors (counted under tier `serve-test`). */
async function start(): Promise<{ server: http.Server; port: number; closed: Promise<boolean>[] }> {
  const closed: Promise<boolean>[] = [];
  const server = http.createServer(serverOptions(LIMITS), (req, res) => {
    closed.push(new Promise((resolve) => res.once('close', () => resolve(res.writableEnded))));
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  answerClientErrors(server, logger('serve-test'), 'serve-test');
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port, closed };
}

async function refusedCount(): Promise<number> {
  const text = await registry.getSingleMetricAsString('meshgate_requests_total');
  const line = text.split('\n').find((l) => l.includes('tier="serve-test",route=""') && l.includes('status_class="4xx"'));
  return Number(line?.split(' ').pop() ?? 0);
}

/** Send `bytes`, optionally end our side, and collect the answer until the server closes. */
function exchange(port: number, bytes: string, end: boolean): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => (end ? socket.end(bytes) : socket.write(bytes)));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
}

const PARTIAL = 'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n0123456789';

test('a body that stalls past the request timeout: one JSON 408 on its own response, then the connection closes', async () => {
  const { server, port, closed } = await start();
  try {
    const text = await exchange(port, PARTIAL, false);
    assert.equal((text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length, 1, text);
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /\r\nconnection: close\r\n/i);
    assert.match(text, /"code":"request_timeout"/);
    assert.equal(await closed[0], true, 'the request\'s own response carried the answer');
  } finally {
    server.close();
  }
});

test('a client gone mid-body: no answer, no refusal counted; its response closes unanswered', async () => {
  const { server, port, closed } = await start();
  try {
    const before = await refusedCount();
    const text = await exchange(port, PARTIAL, true);
    assert.equal(text, '');
    assert.equal(await closed[0], false, 'the response closed unfinished (what a listener records as client_closed)');
    // Before, the parser's end-of-stream error was counted (and logged) as a second request, refused with a 400.
    assert.equal(await refusedCount(), before);
  } finally {
    server.close();
  }
});
