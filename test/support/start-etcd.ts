// Starts a real single-node etcd on free loopback ports for integration tests (installs etcd-server when missing).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBinary } from './debian-package.js';
import { freePort } from './free-port.js';
import { ServerProcess, removeOnExit } from './server-process.js';

export interface EtcdProcess {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  pid: number;
  /** Stop the server (SIGTERM, waits for exit); data is kept for `start`. */
  stop(): Promise<void>;
  /** Restart on the same ports with the same data. */
  start(): Promise<void>;
}

export async function startEtcd(): Promise<EtcdProcess> {
  const binary = ensureBinary('etcd', 'etcd-server');
  const dataDir = mkdtempSync(join(tmpdir(), 'meshgate-etcd-'));
  removeOnExit(dataDir);
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const name = `meshgate-test-${clientPort}`;
  const server = new ServerProcess(
    'etcd',
    binary,
    [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${name}=${peer}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-level=warn',
    ],
    async () => {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      return res.ok && body.health === 'true';
    },
  );
  await server.start();
  return {
    endpoint,
    get pid() {
      return server.pid;
    },
    stop: () => server.stop(),
    start: () => server.start(),
  };
}
