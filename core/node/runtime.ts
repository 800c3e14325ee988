// What every data-plane node (edge, sidecar) has around its listeners: the snapshot it serves, the config
// watch that feeds it, the admin port, and the drain state /readyz reports.
import { SnapshotHolder } from '../config/snapshot.js';
import { ConfigWatch } from '../config/config-watch.js';
import { startAdmin, type AdminServer } from '../http/admin-server.js';
import { workerMetrics } from './cluster-metrics.js';
import { clusterReadiness } from './cluster-readiness.js';
import type { Store } from '../store/store.js';

export interface RuntimeOptions {
  store: Store;
  role: 'edge' | 'sidecar';
  nodeId: string;
  service?: string;
  lkgPath?: string;
  host: string;
  adminPort: number;
  /**
   * Extra readiness detail and conditions, each under its name in /readyz (e.g. quota fallback state, auth state).
   * An entry whose `ready` is false (auth state stale) holds the node not ready and is named in `notReady`.
   */
  readyDetail?: () => Record<string, unknown>;
  /** Extra /config detail (e.g. breaker states). */
  configDetail?: () => Record<string, unknown>;
}

export class NodeRuntime {
  readonly holder = new SnapshotHolder();
  readonly watch: ConfigWatch;
  admin!: AdminServer;
  draining = false;
  private listenersUp = false;

  constructor(private readonly options: RuntimeOptions) {
    this.watch = new ConfigWatch({
      store: options.store,
      holder: this.holder,
      role: options.role,
      nodeId: options.nodeId,
      service: options.service,
      lkgPath: options.lkgPath,
    });
  }

  async start(): Promise<void> {
    const o = this.options;
    this.admin = await startAdmin({
      host: o.host,
      port: o.adminPort,
      role: o.role,
      metrics: workerMetrics(),
      ready: clusterReadiness(() => {
        const config = this.watch.status();
        const extra = o.readyDetail?.() ?? {};
        // Every reason this node should not take traffic now, so an operator reads why from one field.
        const notReady = [
          ...(this.listenersUp ? [] : ['listeners']),
          ...(this.draining ? ['draining'] : []),
          ...(this.holder.current === undefined ? ['config'] : []),
          ...Object.keys(extra).filter((name) => (extra[name] as { ready?: unknown } | undefined)?.ready === false),
        ];
        return { ready: notReady.length === 0, detail: { notReady, draining: this.draining, config, ...extra } };
      }),
      config: () => {
        const s = this.holder.current;
        return {
          node: o.nodeId,
          role: o.role,
          service: o.service,
          version: s?.version,
          digest: s?.digest,
          routes: s?.routes.length,
          ...this.watch.status(),
          ...o.configDetail?.(),
        };
      },
    });
    try {
      await this.watch.start();
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  markListening(): void {
    this.listenersUp = true;
  }

  async stop(): Promise<void> {
    await this.watch.stop();
    await this.admin?.close();
  }
}
