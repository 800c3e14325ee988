// etcd paused (SIGSTOP) past the lease TTL, then resumed (SIGCONT): the owners lose their leases while it is away and
// etcd expires them as it resumes; the endpoint and the node record are registered again as soon as etcd answers
// (the store's reachable event and etcd3's lease check on reconnect), not when a backoff timer happens to fire.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../core/store/etcd-store.js';
import type { Lease, Store } from '../../core/store/store.js';
import { registerEndpoint } from '../../core/store/endpoints.js';
import { ConfigWatch } from '../../core/config/config-watch.js';
import { SnapshotHolder } from '../../core/config/snapshot.js';
import { publishSnapshot } from '../../registry/publish.js';
import { meshConfig } from '../support/mesh-config.js';
import { startEtcd, type EtcdProcess } from '../support/start-etcd.js';
import { waitFor } from '../support/wait-for.js';

let etcd: EtcdProcess;
let raw: Etcd3;
let paused = false;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: etcd.endpoint });
});

after(async () => {
  resume(); // never leave etcd stopped, whatever failed
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
  raw.close();
  await etcd.stop();
});

function pause(): void {
  process.kill(etcd.pid, 'SIGSTOP');
  paused = true;
}

function resume(): void {
  if (paused) process.kill(etcd.pid, 'SIGCONT');
  paused = false;
}

/** What a registration does with the store, as events: leases granted (key written), lost, grants that failed. */
class LeaseLog {
  readonly store: Store;
  granted: Lease[] = [];
  lost = 0;
  failedGrants = 0;
  private waiters: (() => void)[] = [];

  constructor(store: EtcdStore) {
    this.store = new Proxy(store, {
      get: (target, prop) =>
        prop === 'grantLease'
          ? async (ttlSeconds: number) => {
              try {
                const lease = await target.grantLease(ttlSeconds);
                lease.onLost(() => this.note(() => this.lost++));
                this.note(() => this.granted.push(lease));
                return lease;
              } catch (err) {
                this.note(() => this.failedGrants++);
                throw err;
              }
            }
          : Reflect.get(target, prop, target),
    }) as Store;
  }

  /** Resolves once `check` holds, re-checked after every event. */
  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = () => {
        if (!check()) return;
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      this.waiters.push(waiter);
    });
  }

  private note(change: () => void): void {
    change();
    for (const waiter of [...this.waiters]) waiter();
  }
}

async function leaseOf(key: string): Promise<string | undefined> {
  const { kvs } = await raw.get(key).exec();
  return kvs[0]?.lease;
}

test('etcd paused past the lease TTL and resumed: the endpoint and nodes/<id> are back under new leases once etcd answers', async () => {
  const prefix = `/pause-${process.pid}/`;
  // A short call deadline, so registrations fail while etcd is stopped instead of waiting 5 s each.
  const owner = new EtcdStore({ endpoints: etcd.endpoint, prefix, requestTimeoutMs: 1_000 });
  cleanup.push(() => owner.close());
  await publishSnapshot(owner, meshConfig(['a']));
  const log = new LeaseLog(owner);
  const registration = await registerEndpoint(log.store, { service: 'echo', id: 'e1', address: '127.0.0.1:2', ttlSeconds: 1 });
  cleanup.push(() => registration.deregister());
  const watch = new ConfigWatch({ store: log.store, holder: new SnapshotHolder(), role: 'sidecar', nodeId: 'n1', nodeTtlSeconds: 1 });
  cleanup.push(() => watch.stop());
  await watch.start();
  await log.until(() => log.granted.length === 2);
  await waitFor(async () => (await leaseOf(`${prefix}nodes/n1`)) !== undefined, 'nodes/n1 written');
  const first = { endpoint: await leaseOf(`${prefix}endpoints/echo/e1`), node: await leaseOf(`${prefix}nodes/n1`) };
  assert.ok(first.endpoint && first.node);
  let reachableAgain = 0;
  owner.onReachable(() => reachableAgain++);

  pause();
  await log.until(() => log.lost === 2); // etcd3 gives a lease up after 2 × TTL without a keepalive answer
  const failedBefore = log.failedGrants;
  await log.until(() => log.failedGrants >= failedBefore + 2); // both tried again at once, and failed: etcd is away
  assert.equal(owner.connected, false);
  resume();

  const moved = async () => {
    const now = { endpoint: await leaseOf(`${prefix}endpoints/echo/e1`), node: await leaseOf(`${prefix}nodes/n1`) };
    return now.endpoint !== undefined && now.endpoint !== first.endpoint && now.node !== undefined && now.node !== first.node;
  };
  await log.until(() => log.granted.length === 4);
  await waitFor(moved, 'the endpoint and nodes/n1 under new leases');
  assert.ok(reachableAgain >= 1, 'the store said etcd was reachable again');
  assert.equal(owner.connected, true);
});
