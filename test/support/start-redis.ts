// Starts a real redis-server on a free loopback port for integration tests (installs redis-server when missing).
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBinary } from './debian-package.js';
import { freePort } from './free-port.js';
import { ServerProcess, removeOnExit } from './server-process.js';

export interface RedisProcess {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  pid: number;
  /** Stop the server (SIGTERM, waits for exit). Nothing is persisted: a restart starts empty. */
  stop(): Promise<void>;
  /** Restart on the same port. */
  start(): Promise<void>;
}

/** One RESP PING over a raw socket: true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    let reply = '';
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

export async function startRedis(): Promise<RedisProcess> {
  const binary = ensureBinary('redis-server', 'redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-redis-'));
  removeOnExit(dir);
  const port = await freePort();
  const server = new ServerProcess(
    'redis-server',
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    () => ping(port),
  );
  await server.start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return server.pid;
    },
    stop: () => server.stop(),
    start: () => server.start(),
  };
}
