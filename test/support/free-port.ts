// A free loopback TCP port for processes that cannot be told to bind port 0 (etcd, redis-server).
import { createServer } from 'node:net';

/** Ask the kernel for an ephemeral port on 127.0.0.1, release it, and return its number. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
