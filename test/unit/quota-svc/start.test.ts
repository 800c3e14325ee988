// startQuota: a start that fails partway closes what it had started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { startQuota } from '../../../quota-svc/main.js';
import { freePort } from '../../support/free-port.js';

test('a taken HTTP port fails the start and releases the gRPC port it had bound', async () => {
  // Before: the gRPC server stayed bound (and held the process) after the HTTP listener failed.
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const grpcPort = await freePort();
  try {
    await assert.rejects(startQuota({ grpcPort, httpPort: (blocker.address() as net.AddressInfo).port }), /EADDRINUSE/);
    const again = net.createServer().listen(grpcPort, '127.0.0.1');
    await once(again, 'listening');
    again.close();
  } finally {
    blocker.close();
  }
});
