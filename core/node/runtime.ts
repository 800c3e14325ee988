// What every data-plane node (edge, sidecar) has around its listeners: the snapshot it serves, the config
// watch that feeds it, the admin port, and the drain (state /readyz reports, delay before the listeners close).
import type http from 'node:http';
import type http2 from 'node:http2';
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

  /**
   * The first step of a graceful stop, before the listeners close: /readyz answers 503 "draining" at once,
   * `leave` runs (a sidecar leaves the endpoint set), then the node keeps accepting and serving for `delayMs`, so
   * whatever routes here (peers' endpoint sets, kube-proxy, a load balancer) stops sending before a new
   * connection could be refused. Meanwhile HTTP/1.1 responses say `connection: close` (keepAliveUntilDraining).
   */
  async drain(delayMs: number, leave?: () => Promise<unknown> | undefined): Promise<void> {
    this.draining = true;
    await leave?.();
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  }

  /**
   * Once the node drains, these servers' HTTP/1.1 responses say `connection: close` and their connections close
   * after them: keep-alive clients reconnect (elsewhere, once the endpoint is gone) instead of having an idle
   * connection closed under them when the listeners close. HTTP/2 sessions get their GOAWAY at the close.
   */
  keepAliveUntilDraining(...servers: (http.Server | http2.Http2SecureServer)[]): void {
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (this.draining && req.httpVersionMajor === 1) res.shouldKeepAlive = false;
    };
    // First, before the handler can write the head.
    for (const server of servers) server.prependListener('request', onRequest as never);
  }

  async stop(): Promise<void> {
    await this.watch.stop();
    await this.admin?.close();
  }
}
