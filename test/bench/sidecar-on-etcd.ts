// The bench's sidecar as production runs it: the `meshgate sidecar` CLI process on a real etcd, which holds the
// bench config and a signing key; the runner mints the token. Same chain as targets/sidecar.ts, but the process
// loads what a deployed sidecar loads (the CLI, etcd3 and its watches), so its RSS is the one an operator sees.
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { EtcdStore } from '../../core/store/etcd-store.js';
import { SigningKeys } from '../../authz-svc/signing-keys.js';
import { publishSnapshot } from '../../registry/publish.js';
import { startEtcd } from '../support/start-etcd.js';
import { freePort } from '../support/free-port.js';
import { CAN_PIN, entryCommand, spawnCommand, type BenchChild } from './bench-process.js';
import { BENCH_ISSUER, BENCH_SCOPE, BENCH_SERVICE, benchConfig } from './bench-config.js';

export interface SidecarsOnEtcd {
  /** A bearer token every sidecar of this etcd accepts. */
  token: string;
  /** One `meshgate sidecar` process for the bench service, ready when its admin /readyz answers 200. */
  start(stateDir: string, o: { core?: number; env?: NodeJS.ProcessEnv }): Promise<BenchChild<{ type: 'ready'; port: number }>>;
  close(): Promise<void>;
}

/** Start etcd (on `etcdCore` when pinning), publish the bench config and a signing key, mint a token. */
export async function sidecarsOnEtcd(upstreamPort: number, etcdCore: number | undefined): Promise<SidecarsOnEtcd> {
  const etcd = await startEtcd();
  if (CAN_PIN && etcdCore !== undefined) spawnSync('taskset', ['-apc', String(etcdCore), String(etcd.pid)], { stdio: 'ignore' });
  const store = new EtcdStore({ endpoints: etcd.endpoint });
  let keys: SigningKeys | undefined;
  const close = async () => {
    await keys?.close();
    await store.close();
    await etcd.stop();
  };
  try {
    await publishSnapshot(store, benchConfig(), { author: 'bench', message: 'bench', allowRemovals: true });
    keys = await SigningKeys.create(store, { issuer: BENCH_ISSUER });
    const token = await keys.issue({ sub: 'bench-user', scope: BENCH_SCOPE, ttlSeconds: 3600, clientId: 'bench' });
    return {
      token,
      close,
      async start(stateDir, o) {
        const [inbound, outbound, admin] = [await freePort(), await freePort(), await freePort()];
        const args = [
          ...entryCommand('../../compose/cli.ts'),
          'sidecar',
          `--service=${BENCH_SERVICE}`,
          `--app=127.0.0.1:${upstreamPort}`,
          `--etcd=${etcd.endpoint}`,
          '--host=127.0.0.1',
          `--inbound-port=${inbound}`,
          `--outbound-port=${outbound}`,
          `--admin-port=${admin}`,
          `--state-dir=${stateDir}`,
        ];
        const ready = async () => {
          try {
            const res = await request(`http://127.0.0.1:${admin}/readyz`, { headersTimeout: 1000, bodyTimeout: 1000 });
            await res.body.dump();
            return res.statusCode === 200;
          } catch {
            return false;
          }
        };
        const child = await spawnCommand(process.execPath, args, ready, { core: o.core, env: o.env, timeoutMs: 30_000 });
        return { ...child, ready: { type: 'ready', port: inbound } };
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
