// One demo app (echo, inventory or orders) as its own process, for `npm run stack`, docker-compose and
// Kubernetes: the app named by MESHGATE_DEMO_APP on MESHGATE_DEMO_PORT; orders reaches inventory through its
// sidecar's outbound listener at MESHGATE_DEMO_OUTBOUND (the sidecar shares the app's network namespace).
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logger } from '../../core/telemetry/log.js';
import { startEcho, startInventory, startOrders, type DemoApp } from './apps.js';

/** The environment the runner reads; docker-compose, k8s and the stack set exactly these. */
export const DEMO_ENV = {
  app: 'MESHGATE_DEMO_APP',
  host: 'MESHGATE_DEMO_HOST',
  port: 'MESHGATE_DEMO_PORT',
  outbound: 'MESHGATE_DEMO_OUTBOUND',
} as const;

/** The app's port when unset: what `meshgate sidecar --app` expects by default (127.0.0.1:8000). */
export const DEMO_DEFAULT_PORT = 8000;
/** The sidecar's outbound listener in the shared namespace (DESIGN §4 default port). */
export const DEMO_DEFAULT_OUTBOUND = '127.0.0.1:15001';

export const DEMO_APPS = ['echo', 'inventory', 'orders'] as const;
export type DemoAppName = (typeof DEMO_APPS)[number];

export function startDemoApp(name: DemoAppName, host: string, port: number, outbound: string): Promise<DemoApp> {
  switch (name) {
    case 'echo':
      return startEcho(host, port);
    case 'inventory':
      return startInventory(host, port);
    case 'orders':
      return startOrders(() => outbound, host, port);
  }
}

async function main(): Promise<void> {
  const log = logger('demo');
  const name = process.env[DEMO_ENV.app] ?? process.argv[2];
  if (!DEMO_APPS.includes(name as DemoAppName)) {
    process.stderr.write(`demo: ${DEMO_ENV.app} must be one of ${DEMO_APPS.join(', ')} (got "${name ?? ''}")\n`);
    process.exit(2);
  }
  const port = Number(process.env[DEMO_ENV.port] ?? DEMO_DEFAULT_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`demo: ${DEMO_ENV.port} "${process.env[DEMO_ENV.port]}" is not a port\n`);
    process.exit(2);
  }
  const host = process.env[DEMO_ENV.host] ?? '127.0.0.1';
  const outbound = process.env[DEMO_ENV.outbound] ?? DEMO_DEFAULT_OUTBOUND;
  const app = await startDemoApp(name as DemoAppName, host, port, outbound);
  log.info({ app: name, host, port: app.port, outbound: name === 'orders' ? outbound : undefined }, 'demo app listening');
  const stop = () => void app.close().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

// Run when executed (node dist/compose/demo/serve.js, or with tsx), not when imported.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
