// `meshgate up` on the command line: flags (over MESHGATE_* env), the banner with URLs, a dev token and a
// curl line that works, and a clean stop on SIGINT/SIGTERM.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { envOption, portOption } from '../core/config/cli-options.js';
import { UsageError } from '../core/config/usage-error.js';
import { ConfigInvalidError } from '../core/config/check.js';
import { bindFailureAsUsage, checkDistinctPorts } from '../core/node/bind-failure.js';
import { checkAdminToken } from '../authz-svc/command.js';

/** Each listener flag of `up` and its option key: a port that cannot be bound is named by its flag. */
const PORT_FLAGS = [
  ['--edge-http-port', 'edgeHttpPort'],
  ['--edge-https-port', 'edgeHttpsPort'],
  ['--edge-admin-port', 'edgeAdminPort'],
  ['--authz-http-port', 'authzHttpPort'],
  ['--authz-grpc-port', 'authzGrpcPort'],
  ['--quota-http-port', 'quotaHttpPort'],
  ['--quota-grpc-port', 'quotaGrpcPort'],
  ['--registry-port', 'registryPort'],
] as const;

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run the whole mesh in one process (edge, sidecars, authz, quota, registry, demo apps) on an in-memory store')
    .addOption(envOption('--config <file>', 'MESHGATE_CONFIG', 'routes.yaml to serve and watch').default('compose/routes.yaml'))
    .addOption(envOption('--host <address>', 'MESHGATE_HOST', 'address every listener binds').default('127.0.0.1'))
    .option('--ephemeral', 'bind every listener to a free port (0)', false)
    .addOption(portOption('--edge-http-port <port>', 'MESHGATE_EDGE_HTTP_PORT', 8080, 'edge HTTP'))
    .addOption(portOption('--edge-https-port <port>', 'MESHGATE_EDGE_HTTPS_PORT', 8443, 'edge HTTPS (h2, http/1.1)'))
    .addOption(portOption('--edge-admin-port <port>', 'MESHGATE_EDGE_ADMIN_PORT', 9901, 'edge admin'))
    .addOption(portOption('--authz-http-port <port>', 'MESHGATE_AUTHZ_HTTP_PORT', 7070, 'authz-svc HTTP'))
    .addOption(portOption('--authz-grpc-port <port>', 'MESHGATE_AUTHZ_GRPC_PORT', 7071, 'authz-svc gRPC'))
    .addOption(portOption('--quota-http-port <port>', 'MESHGATE_QUOTA_HTTP_PORT', 7080, 'quota-svc HTTP'))
    .addOption(portOption('--quota-grpc-port <port>', 'MESHGATE_QUOTA_GRPC_PORT', 7081, 'quota-svc gRPC'))
    .addOption(portOption('--registry-port <port>', 'MESHGATE_REGISTRY_PORT', 7090, 'registry HTTP'))
    .addOption(envOption('--admin-token <token>', 'MESHGATE_ADMIN_TOKEN', 'authz admin credential (generated and printed when unset)'))
    .addOption(envOption('--issuer <url>', 'MESHGATE_ISSUER', 'issuer of the development tokens').default('https://meshgate.local'))
    .addOption(envOption('--state-dir <dir>', 'MESHGATE_STATE_DIR', 'development certificate and last-known-good config').default('.meshgate'))
    .option('--no-watch', 'do not reload the config file on change')
    .action(async (opts) => {
      // Every flag is checked before anything starts.
      if (opts.adminToken !== undefined) checkAdminToken(opts.adminToken);
      const ports: Record<string, number> = opts.ephemeral ? {} : Object.fromEntries(PORT_FLAGS.map(([flag, key]) => [flag, opts[key] as number]));
      checkDistinctPorts(ports);
      const config = resolve(opts.config);
      // Loaded on use: `meshgate <other subcommand>` does not pay for the whole mesh's imports.
      const { up } = await import('./up.js');
      let mesh;
      try {
        mesh = await up({ ...opts, config, stateDir: resolve(opts.stateDir) });
      } catch (err) {
        if (err instanceof ConfigInvalidError) throw new UsageError(err.message);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (err as NodeJS.ErrnoException).path === config)
          throw new UsageError(`--config ${opts.config}: no such file`);
        const usage = bindFailureAsUsage(err, ports);
        if (usage instanceof UsageError) throw new UsageError(`${usage.message} (set it with its flag, or use --ephemeral)`);
        throw err;
      }
      const u = mesh.urls;
      process.stdout.write(
        [
          '',
          'meshgate is up (embedded: one process, in-memory store)',
          `  edge        ${u.edge}   ${u.edgeTls}   admin ${u.edgeAdmin}`,
          `  authz-svc   ${u.authz}   quota-svc ${u.quota}   registry ${u.registry}`,
          ...Object.entries(mesh.sidecars).map(
            ([name, s]) => `  sidecar ${name.padEnd(10)} inbound :${s.inboundPort}  outbound :${s.outboundPort}  admin :${s.adminPort}`,
          ),
          `  config      ${opts.config} (edit it: valid changes apply live)`,
          `  admin token ${opts.adminToken ? '(from MESHGATE_ADMIN_TOKEN)' : mesh.adminToken}`,
          '',
          `  dev token (sub dev-user, scopes echo:read orders:read, 1 h):`,
          `  TOKEN=${mesh.devToken}`,
          '',
          '  try:',
          `  curl -s ${u.edge}/public/hello`,
          `  curl -s -H "authorization: Bearer $TOKEN" ${u.edge}/echo/hi`,
          `  curl -s -H "authorization: Bearer $TOKEN" ${u.edge}/orders`,
          '',
        ].join('\n') + '\n',
      );
      // One machine-readable line for scripts and tests.
      process.stdout.write(
        JSON.stringify({
          msg: 'mesh ready',
          urls: u,
          token: mesh.devToken,
          // No adminToken: the admin credential is never logged (a generated one is in the banner above, once).
          sidecars: Object.fromEntries(Object.entries(mesh.sidecars).map(([n, s]) => [n, { inbound: s.inboundPort, outbound: s.outboundPort, admin: s.adminPort }])),
        }) + '\n',
      );
      const stop = async () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await mesh.close();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
