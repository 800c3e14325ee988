// `meshgate sidecar`: one sidecar next to one app instance, as its own process or `--workers` of them sharing its ports
// (flags over MESHGATE_* env).
import type { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { durationOption, envOption, parseHostPort, portOption } from '../core/config/cli-options.js';
import { UsageError } from '../core/config/usage-error.js';
import { workersOption } from '../core/node/workers-option.js';
import { drainDelayOption } from '../core/node/drain-delay-option.js';
import { TrustedProxies } from '../core/http/trusted-proxies.js';
import { DEFAULT_TRUSTED_PEERS } from './stages/client-ip.js';

/** How long the store may be unreachable before authenticated routes fail closed (authz-svc/README.md, Staleness). */
export const DEFAULT_AUTH_STALE_AFTER_MS = 10_000;

export function authStaleAfterOption(): Option {
  return durationOption(
    '--auth-stale-after <duration>',
    'MESHGATE_AUTH_STALE_AFTER',
    DEFAULT_AUTH_STALE_AFTER_MS,
    '10s',
    'how long etcd may be unreachable before authenticated routes answer 503 auth_unavailable (a revocation may have been missed); 0s fails closed at once',
  );
}

export function registerSidecar(program: Command): void {
  program
    .command('sidecar')
    .description('run a sidecar next to one instance of a service (inbound auth/quota, outbound routing)')
    .addOption(envOption('--service <name>', 'MESHGATE_SERVICE', 'the service this instance belongs to; required'))
    .addOption(envOption('--app <host:port>', 'MESHGATE_APP', 'the local app\'s address').argParser(parseHostPort).default('127.0.0.1:8000'))
    .addOption(envOption('--etcd <endpoints>', 'MESHGATE_ETCD', 'etcd endpoints (comma-separated); required'))
    .addOption(envOption('--prefix <prefix>', 'MESHGATE_PREFIX', 'etcd key prefix').default('/meshgate/'))
    .addOption(envOption('--host <address>', 'MESHGATE_HOST', 'address the listeners bind').default('0.0.0.0'))
    .addOption(envOption('--advertise <host:port>', 'MESHGATE_ADVERTISE', 'address other nodes reach the inbound listener at').argParser(parseHostPort))
    .addOption(portOption('--inbound-port <port>', 'MESHGATE_INBOUND_PORT', 15006, 'inbound listener'))
    .addOption(portOption('--outbound-port <port>', 'MESHGATE_OUTBOUND_PORT', 15001, 'outbound listener'))
    .addOption(portOption('--admin-port <port>', 'MESHGATE_SIDECAR_ADMIN_PORT', 15000, 'admin listener'))
    .addOption(envOption('--quota <host:port>', 'MESHGATE_QUOTA', 'quota-svc gRPC address').argParser(parseHostPort))
    .addOption(envOption('--authz <host:port>', 'MESHGATE_AUTHZ', 'authz-svc gRPC address (opaque tokens)').argParser(parseHostPort))
    .addOption(envOption('--node-id <id>', 'MESHGATE_NODE_ID', 'node id (default <service>-<random>)'))
    .addOption(envOption('--state-dir <dir>', 'MESHGATE_STATE_DIR', 'last-known-good config').default('.meshgate'))
    .addOption(envOption('--trusted-peers <cidrs>', 'MESHGATE_TRUSTED_PEERS', 'comma-separated CIDRs of the edges, whose x-meshgate-client-ip (the client IP for quota keys and logs) is believed').default(DEFAULT_TRUSTED_PEERS, 'loopback and private networks'))
    .addOption(authStaleAfterOption())
    .addOption(drainDelayOption())
    .addOption(workersOption())
    .action(async (opts) => {
      if (!opts.service) throw new UsageError('--service (or MESHGATE_SERVICE) is required');
      if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(opts.service)) throw new UsageError(`--service "${opts.service}" is not a DNS-label name`);
      if (!opts.etcd) throw new UsageError('--etcd (or MESHGATE_ETCD) is required: the sidecar reads routes, keys and revocations from etcd');
      let trustedPeers: TrustedProxies;
      try {
        trustedPeers = TrustedProxies.parse(opts.trustedPeers);
      } catch (err) {
        throw new UsageError(`--trusted-peers: ${(err as Error).message}`);
      }
      // Loaded on use, after the flags are checked: a usage error starts nothing and loads little.
      const [{ startSidecar }, { registerEndpoint }, { runNodeProcess }] = await Promise.all([
        import('./main.js'),
        import('../core/store/endpoints.js'),
        import('../core/node/node-process.js'),
      ]);
      await runNodeProcess({
        serviceName: `meshgate-sidecar-${opts.service}`,
        etcd: opts.etcd,
        prefix: opts.prefix,
        workers: opts.workers,
        drainDelayMs: opts.drainDelay,
        nodeId: opts.nodeId,
        idPrefix: opts.service,
        ports: { '--inbound-port': opts.inboundPort, '--outbound-port': opts.outboundPort, '--admin-port': opts.adminPort },
        start: ({ store, endpoints, nodeId }) =>
          startSidecar({
            store,
            endpoints,
            service: opts.service,
            app: opts.app,
            nodeId,
            host: opts.host,
            advertise: opts.advertise,
            inboundPort: opts.inboundPort,
            outboundPort: opts.outboundPort,
            adminPort: opts.adminPort,
            stateDir: resolve(opts.stateDir),
            quotaAddress: opts.quota,
            authzAddress: opts.authz,
            authStaleAfterMs: opts.authStaleAfter,
            drainDelayMs: opts.drainDelay,
            trustedPeers,
            // Each worker is an endpoint of its own (same address): balancing and quota shares count workers.
            register: (service, id, address) => registerEndpoint(store, { service, id, address }),
          }),
      });
    });
}
