// The etcd-backed Store: an etcd3 namespace for the prefix, kept-alive leases, if/then transactions, and watches
// that re-read the prefix and re-watch whenever etcd3 drops them (compacted revision, lost connection, etcd restart).
import { Etcd3, isRecoverableError, type IKeyValue, type Lease as EtcdLease, type Namespace, type Watcher as EtcdWatcher } from 'etcd3';
import { BrokenCircuitError, ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry, type IBackoff } from 'cockatiel';
import { client, registry } from '../telemetry/metrics.js';
import { logger, type Logger } from '../telemetry/log.js';
import type { Lease, Store, StorePut, WatchEvent, Watcher } from './store.js';


export const DEFAULT_PREFIX = '/meshgate/';
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const RESYNC_MIN_DELAY_MS = 100;
const RESYNC_MAX_DELAY_MS = 2_000;
const CANCEL_TIMEOUT_MS = 2_000;
/** How long etcd3's host breaker refuses calls after it opened, before it lets one through to try etcd again. */
const BREAKER_HALF_OPEN_MS = 250;
/** While etcd is unreachable, a failed probe is sent again after this long (one waits for its deadline anyway). */
const PROBE_INTERVAL_MS = BREAKER_HALF_OPEN_MS;
/** The probe asks whether this key exists (keys only: the snapshot itself is not sent). */
const PROBE_KEY = 'config/current';

export interface EtcdStoreOptions {
  /** etcd client URLs: a list or one comma-separated string (`http://10.0.0.1:2379,http://10.0.0.2:2379`). */
  endpoints: string | string[];
  /** Key prefix every relative key lives under; default `/meshgate/`. */
  prefix?: string;
  /** Deadline of each unary etcd call; default 5 s (a black-holed etcd must not hang a caller). */
  requestTimeoutMs?: number;
  /** Where the store logs; default the `store` component logger (a CLI passes a quieter one). */
  log?: Logger;
}

/** Thrown when etcd cannot be reached; the message names the endpoints, so a CLI can print it as is. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

const openStores = new Set<EtcdStore>();

// One gauge for the process: 0 as soon as any store in it has lost etcd (a node holds one store; a bench holds many).
new client.Gauge({
  name: 'meshgate_store_connected',
  help: '1 while every etcd store of this process reaches etcd, 0 while one serves from what it holds.',
  registers: [registry],
  aggregator: 'min', // --workers: 0 while any worker serves from what it holds
  collect() {
    let connected = 1;
    for (const store of openStores) if (!store.connected) connected = 0;
    this.set(connected);
  },
});

const watchResyncs = new client.Counter({
  name: 'meshgate_store_watch_resyncs_total',
  help: 'Times a watch re-read its prefix and re-watched (etcd3 dropped it: compacted revision, lost connection).',
  labelNames: ['reason'] as const,
  registers: [registry],
});

function isConnectionError(err: unknown): boolean {
  return err instanceof BrokenCircuitError || (err instanceof Error && isRecoverableError(err));
}

export function parseEndpoints(endpoints: string | string[]): string[] {
  const list = (Array.isArray(endpoints) ? endpoints : endpoints.split(','))
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => (/^[a-z]+:\/\//.test(e) ? e : `http://${e}`));
  if (list.length === 0) throw new Error('no etcd endpoint given');
  return list;
}

export class EtcdStore implements Store {
  readonly prefix: string;
  readonly endpoints: string[];
  readonly log: Logger;
  private readonly etcd: Etcd3;
  private readonly ns: Namespace;
  private readonly watches = new Set<PrefixWatch>();
  private readonly leases = new Set<EtcdLease>();
  private readonly reachableListeners = new Set<() => void>();
  private isConnected = true;
  private closed = false;
  private probing = false;
  private probeTimer: NodeJS.Timeout | undefined;

  constructor(options: EtcdStoreOptions) {
    this.endpoints = parseEndpoints(options.endpoints);
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.log = options.log ?? logger('store');
    const timeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.etcd = new Etcd3({
      hosts: this.endpoints,
      dialTimeout: timeout,
      grpcOptions: {
        // grpc-js backs off up to 120 s between reconnects by default; a node must find a restarted etcd quickly.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': RESYNC_MAX_DELAY_MS,
        // Notice a black-holed connection (etcd accepts pings every 5 s or slower by default).
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
      },
      // Streams (watch, keepalive) live long; unary calls get a deadline.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
      // etcd3's documented shape with faster recovery than its defaults (5 s breaker, 30 s watch backoff): while
      // etcd is away the breaker lets one call try it every BREAKER_HALF_OPEN_MS (the half-open trial; against a
      // paused or cut-off etcd it waits for its deadline), so a resumed or restarted etcd is seen within a round trip
      // or a quarter second. (With 1 s, calls were refused for up to a second after etcd answered again, and every
      // lease lost meanwhile stayed unregistered that long.)
      faultHandling: {
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: BREAKER_HALF_OPEN_MS, breaker: new ConsecutiveBreaker(3) }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 2, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }) }),
        // etcd3 calls .next() on this factory itself (as with its own default); its .d.ts still types the older IBackoff.
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: RESYNC_MAX_DELAY_MS }) as unknown as IBackoff<unknown>,
      },
    });
    this.ns = this.etcd.namespace(this.prefix);
    openStores.add(this);
  }

  /** False while etcd is unreachable (learned from failed calls and dropped watch streams). */
  get connected(): boolean {
    return this.isConnected;
  }

  onReachable(listener: () => void): () => void {
    this.reachableListeners.add(listener);
    return () => this.reachableListeners.delete(listener);
  }

  /** The underlying etcd3 client, for callers that need etcd itself (maintenance, compaction in tests). */
  get client(): Etcd3 {
    return this.etcd;
  }

  async get(key: string): Promise<string | undefined> {
    const value = await this.call(() => this.ns.get(key).string());
    return value ?? undefined;
  }

  async getPrefix(prefix: string): Promise<Map<string, string>> {
    const values = await this.call(() => this.ns.getAll().prefix(prefix).strings());
    return new Map(Object.entries(values));
  }

  async put(key: string, value: string, options?: { ttlSeconds?: number }): Promise<void> {
    if (options?.ttlSeconds === undefined) {
      await this.call(() => this.ns.put(key).value(value).exec());
      return;
    }
    // A one-shot lease nobody keeps alive: the key expires after its TTL.
    const lease = this.ns.lease(Math.max(1, Math.ceil(options.ttlSeconds)), { autoKeepAlive: false });
    lease.on('lost', () => {});
    await this.call(() => lease.put(key).value(value).exec());
  }

  async delete(key: string): Promise<void> {
    await this.call(() => this.ns.delete().key(key).exec());
  }

  async compareAndSwap(key: string, expected: string | undefined, puts: StorePut[], deletes: string[] = []): Promise<boolean> {
    const result = await this.call(() =>
      (expected === undefined ? this.ns.if(key, 'Create', '==', 0) : this.ns.if(key, 'Value', '==', expected))
        .then(...puts.map((p) => this.ns.put(p.key).value(p.value)), ...deletes.map((d) => this.ns.delete().key(d)))
        .commit(),
    );
    return result.succeeded;
  }

  async watch(prefix: string, listener: (event: WatchEvent) => void): Promise<Watcher> {
    this.assertOpen();
    const watch = new PrefixWatch(this, this.ns, prefix, listener);
    this.watches.add(watch);
    await watch.start();
    return {
      close: async () => {
        this.watches.delete(watch);
        await watch.close();
      },
    };
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    this.assertOpen();
    const lease = this.ns.lease(Math.max(1, Math.ceil(ttlSeconds)));
    const listeners = new Set<() => void>();
    let state: 'alive' | 'lost' | 'revoked' = 'alive';
    let granted = false;
    lease.on('lost', (err) => {
      this.leases.delete(lease);
      // Lost before granted = the grant failed: grantLease rejects, nobody owns the lease yet.
      if (!granted || state !== 'alive' || this.closed) return;
      state = 'lost';
      this.log.warn({ err: err.message, ttlSeconds }, 'etcd lease lost; its keys may be gone, owners re-register');
      for (const listener of listeners) listener();
    });
    this.leases.add(lease);
    const id = await this.call(() => lease.grant());
    granted = true;
    return {
      id: String(id),
      put: async (key, value) => {
        await this.call(() => lease.put(key).value(value).exec());
      },
      revoke: async () => {
        // A revoked lease is not "lost": its owner is leaving and must not re-register.
        state = 'revoked';
        this.leases.delete(lease);
        await this.call(() => lease.revoke());
      },
      onLost: (listener) => {
        if (state === 'lost') queueMicrotask(listener);
        else listeners.add(listener);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.probeTimer);
    this.reachableListeners.clear();
    await Promise.all([...this.watches].map((w) => w.close()));
    this.watches.clear();
    // Stop keepalives; leased keys expire with their TTL unless their owners revoked them first.
    for (const lease of this.leases) lease.release();
    this.leases.clear();
    openStores.delete(this);
    this.etcd.close();
  }

  /**
   * Record what a call or a watch learned about reachability; log and gauge the transitions only. Reachable again:
   * every kept-alive lease is checked at once (etcd3 emits `lost` for one etcd expired meanwhile, so its owner
   * re-registers now rather than at its next keepalive), and the `onReachable` listeners run.
   */
  noteReachable(reachable: boolean, reason?: string): void {
    if (reachable === this.isConnected || this.closed) return;
    this.isConnected = reachable;
    if (!reachable) {
      this.log.warn({ endpoints: this.endpoints, reason }, 'etcd unreachable; serving what is held until it answers');
      this.probe();
      return;
    }
    this.log.info({ endpoints: this.endpoints }, 'etcd reachable again');
    clearTimeout(this.probeTimer);
    for (const lease of this.leases) lease.keepaliveOnce().catch(() => {});
    for (const listener of this.reachableListeners) {
      try {
        listener();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'a reachable listener failed');
      }
    }
  }

  /**
   * While etcd is unreachable, keep one cheap read outstanding (sent again PROBE_INTERVAL_MS after a failure), so
   * its answer says the moment etcd is back: against a paused or cut-off etcd a call waits for its deadline, and
   * the one waiting is answered within a round trip of etcd answering again. Watches alone notice later (their
   * re-read waits up to RESYNC_MAX_DELAY_MS between tries), and a process may have none.
   */
  private probe(): void {
    if (this.closed || this.isConnected || this.probing) return;
    this.probing = true;
    const again = () => {
      this.probing = false;
      if (this.closed || this.isConnected) return;
      this.probeTimer = setTimeout(() => this.probe(), PROBE_INTERVAL_MS);
      this.probeTimer.unref();
    };
    this.call(() => this.ns.get(PROBE_KEY).exists()).then(() => {
      this.probing = false;
    }, again);
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      const result = await operation();
      this.noteReachable(true);
      return result;
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      this.noteReachable(false, (err as Error).message);
      throw new StoreUnavailableError(`etcd at ${this.endpoints.join(',')} is unreachable: ${(err as Error).message}`, { cause: err });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the etcd store is closed');
  }
}

/**
 * One watched prefix. etcd3 resumes a watch after a reconnect on its own, but on a compacted revision it emits
 * `error` and drops the watcher (DESIGN §6), and its resume can skip events when the stream drops twice in a row.
 * So on either trouble we drop etcd3's watcher, re-read the prefix at revision R (sending `reset` + a put per
 * key, synchronously, so no reader sees a half state), and watch again from R + 1: nothing is missed or replayed.
 */
class PrefixWatch {
  /** The etcd3 watcher, from the moment it is requested (a drop while etcd acknowledges it must be seen too). */
  private watcher: EtcdWatcher | undefined;
  private closed = false;
  private syncing = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = RESYNC_MIN_DELAY_MS;
  private firstSync: (() => void) | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly ns: Namespace,
    private readonly prefix: string,
    private readonly listener: (event: WatchEvent) => void,
  ) {}

  /** Resolves once the current state was delivered, or after the first failure (then it keeps retrying). */
  start(): Promise<void> {
    return new Promise((resolve) => {
      this.firstSync = resolve;
      void this.sync('start');
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.firstSync?.();
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher) await this.drop(watcher, true);
  }

  private async sync(reason: string): Promise<void> {
    if (this.closed || this.syncing) return;
    this.syncing = true;
    clearTimeout(this.retryTimer);
    if (reason !== 'start') watchResyncs.inc({ reason });
    try {
      const range = await this.ns.getAll().prefix(this.prefix).exec();
      if (this.closed) return;
      const revision = BigInt(range.header.revision);
      this.listener({ type: 'reset' });
      for (const kv of range.kvs) this.listener({ type: 'put', key: kv.key.toString(), value: kv.value.toString() });
      this.firstSync?.();
      this.firstSync = undefined;
      // watcher() rather than create(): create() hides the watcher until etcd acknowledges it, and a stream
      // dropped meanwhile would go unnoticed; here our handlers are on before the first connection attempt.
      const watcher = this.ns.watch().prefix(this.prefix).startRevision((revision + 1n).toString()).watcher();
      this.attach(watcher);
      const failure = await new Promise<Error | undefined>((resolve) => {
        watcher.once('connected', () => resolve(undefined));
        watcher.once('disconnected', (err: Error) => resolve(err ?? new Error('watch stream disconnected')));
        watcher.once('error', (err: Error) => resolve(err));
      });
      if (failure) throw failure;
      if (this.watcher !== watcher) throw new Error('watch dropped while connecting');
      this.retryDelay = RESYNC_MIN_DELAY_MS;
      this.store.noteReachable(true);
      if (reason !== 'start') this.store.log.info({ prefix: this.prefix, reason, revision: revision.toString() }, 're-read and re-watched');
    } catch (err) {
      if (this.closed) return;
      this.store.noteReachable(false, (err as Error).message);
      if (!isConnectionError(err)) this.store.log.debug({ prefix: this.prefix, err: (err as Error).message }, 'watch setup failed; retrying');
      // Jittered exponential backoff, so a fleet does not re-read in lockstep after an etcd restart.
      const delay = this.retryDelay * (0.5 + Math.random() / 2);
      this.retryDelay = Math.min(this.retryDelay * 2, RESYNC_MAX_DELAY_MS);
      this.retryTimer = setTimeout(() => void this.sync('retry'), delay);
    } finally {
      this.syncing = false;
      this.firstSync?.();
      this.firstSync = undefined;
    }
  }

  private attach(watcher: EtcdWatcher): void {
    this.watcher = watcher;
    const emit = (type: 'put' | 'delete') => (kv: IKeyValue) => {
      if (this.watcher !== watcher) return;
      const key = kv.key.toString();
      this.listener(type === 'put' ? { type, key, value: kv.value.toString() } : { type, key });
    };
    watcher.on('put', emit('put'));
    watcher.on('delete', emit('delete'));
    watcher.on('disconnected', (err: Error) => {
      if (this.watcher !== watcher) return;
      this.watcher = undefined;
      this.store.noteReachable(false, err?.message);
      // etcd3's manager is idle while it reports a drop: detaching now only unlists the watcher.
      void this.drop(watcher, true);
      void this.sync('disconnected');
    });
    watcher.on('error', (err: Error) => {
      if (this.watcher !== watcher) return;
      this.watcher = undefined;
      // etcd cancels a watch whose next revision was compacted away (a watcher that fell behind); etcd3 reports it
      // as an 'error' without the compact revision, and forgets the watcher.
      this.store.log.warn({ prefix: this.prefix, err: err.message }, 'etcd canceled the watch (compacted revision); re-reading');
      // etcd3 has already forgotten this watcher; cancelling it again would confuse its manager.
      void this.drop(watcher, false);
      void this.sync('canceled');
    });
  }

  private async drop(watcher: EtcdWatcher, cancel: boolean): Promise<void> {
    // Keep etcd3's own 'connected' bookkeeping listener until detached; ours go now.
    for (const event of ['put', 'delete', 'disconnected', 'error']) watcher.removeAllListeners(event);
    // etcd3 emits 'error' on its watchers; an EventEmitter without an error listener would throw.
    watcher.on('error', () => {});
    if (!cancel) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      watcher.cancel().catch(() => {}),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, CANCEL_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
  }
}
