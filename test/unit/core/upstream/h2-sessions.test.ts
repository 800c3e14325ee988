// The upstream HTTP/2 session keepalive: a peer that vanishes without a FIN (here a proxy that stops forwarding
// and keeps both sockets open) is found by an unacknowledged PING; its session is destroyed and the next request
// gets a fresh one. A live peer acknowledges and keeps its session.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { H2Sessions } from '../../../../core/upstream/h2-sessions.js';
import { waitFor } from '../../../support/wait-for.js';

let server: http2.Http2Server;
let blackHole: net.Server;
let frozen = false;
const proxied = new Set<net.Socket>();

before(async () => {
  server = http2.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const target = (server.address() as AddressInfo).port;
  // Forwards both ways until `frozen`; from then on bytes are read and dropped, nothing is closed.
  blackHole = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    proxied.add(client).add(upstream);
    client.on('data', (d) => frozen || upstream.write(d));
    upstream.on('data', (d) => frozen || client.write(d));
    const end = () => (client.destroy(), upstream.destroy());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  for (const s of proxied) s.destroy();
  await new Promise<void>((resolve) => blackHole.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('a live peer acknowledges the PINGs and keeps its session; a silent one loses it and the next get() reconnects', async () => {
  // The ack timeout leaves room for a busy machine (a 150 ms bound failed once under CPU steal).
  const sessions = new H2Sessions({ pingIntervalMs: 100, pingTimeoutMs: 1_000 });
  const address = `127.0.0.1:${(blackHole.address() as AddressInfo).port}`;
  try {
    const first = await sessions.get(address);
    await new Promise((r) => setTimeout(r, 1_500)); // several PINGs, each acknowledged within the timeout
    assert.equal(first.destroyed, false, 'a peer that answers keeps its session');
    assert.equal(await sessions.get(address), first);

    frozen = true;
    await waitFor(() => first.destroyed, 'the unacknowledged PING to end the session', 5_000);
    frozen = false;
    const second = await sessions.get(address);
    assert.notEqual(second, first, 'a fresh session after the dead one');
    assert.equal(second.destroyed, false);
  } finally {
    frozen = false;
    await sessions.close();
  }
});
