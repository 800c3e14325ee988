// `meshgate edge`: one edge node as its own process, or `--workers` of them sharing its ports (flags over MESHGATE_* env).
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { envOption, portOption } from '../core/config/cli-options.js';
import { parseDuration } from '../core/config/duration.js';
import { UsageError } from '../core/config/usage-error.js';
import { workersOption } from '../core/node/workers-option.js';
import { drainDelayOption } from '../core/node/drain-delay-option.js';

/** --cert and --key readable and a matching pair, before anything starts (a usage error names the flag). */
async function checkCertificate(certFile: string, keyFile: string): Promise<void> {
  const read = async (flag: string, file: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
    }
  };
  const [cert, key] = [await read('--cert', certFile), await read('--key', keyFile)];
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new UsageError(`--cert ${certFile} / --key ${keyFile}: not a usable PEM certificate and key (${(err as Error).message})`);
  }
}

export function registerEdge(program: Command): void {
  program
    .command('edge')
    .description('run an edge node: TLS termination, routing to the services\' sidecars')
    .addOption(envOption('--etcd <endpoints>', 'MESHGATE_ETCD', 'etcd endpoints (comma-separated); required'))
    .addOption(envOption('--prefix <prefix>', 'MESHGATE_PREFIX', 'etcd key prefix').default('/meshgate/'))
    .addOption(envOption('--host <address>', 'MESHGATE_HOST', 'address the listeners bind').default('0.0.0.0'))
    .addOption(portOption('--http-port <port>', 'MESHGATE_EDGE_HTTP_PORT', 8080, 'HTTP listener'))
    .addOption(portOption('--https-port <port>', 'MESHGATE_EDGE_HTTPS_PORT', 8443, 'HTTPS listener (h2, http/1.1)'))
    .addOption(portOption('--admin-port <port>', 'MESHGATE_EDGE_ADMIN_PORT', 9901, 'admin listener'))
    .option('--no-https', 'serve plain HTTP only')
    .addOption(envOption('--cert <file>', 'MESHGATE_TLS_CERT', 'TLS certificate (PEM); a development one is made when unset'))
    .addOption(envOption('--key <file>', 'MESHGATE_TLS_KEY', 'TLS private key (PEM)'))
    .addOption(envOption('--sni-cert-dir <dir>', 'MESHGATE_TLS_SNI_DIR', 'more certificates chosen by SNI: <name>.crt + <name>.key pairs (names from each SAN)'))
    .addOption(envOption('--cert-poll <duration>', 'MESHGATE_TLS_CERT_POLL', 'how often certificate files are checked for changes').default('2s'))
    .addOption(envOption('--ticket-rotation <duration>', 'MESHGATE_TLS_TICKET_ROTATION', 'session-ticket key rotation period (keys shared via tls/ticket-keys)').default('12h'))
    .addOption(envOption('--trusted-proxies <cidrs>', 'MESHGATE_TRUSTED_PROXIES', 'comma-separated CIDRs whose X-Forwarded-For is believed (default: none)'))
    .option('--merge-slashes', 'collapse "//" in paths before matching and forwarding')
    .addOption(envOption('--escaped-slashes <policy>', 'MESHGATE_ESCAPED_SLASHES', '%2F / %5C in paths: reject (400) or keep (never decoded)').choices(['reject', 'keep']).default('keep'))
    .addOption(envOption('--node-id <id>', 'MESHGATE_NODE_ID', 'node id (default edge-<random>)'))
    .addOption(envOption('--state-dir <dir>', 'MESHGATE_STATE_DIR', 'last-known-good config, development certificate').default('.meshgate'))
    .addOption(drainDelayOption())
    .addOption(workersOption())
    .action(async (opts) => {
      if (!opts.etcd) throw new UsageError('--etcd (or MESHGATE_ETCD) is required: the edge reads routes and endpoints from etcd');
      if (Boolean(opts.cert) !== Boolean(opts.key)) throw new UsageError('--cert and --key go together');
      const duration = (flag: string, value: string) => {
        try {
          return parseDuration(value);
        } catch {
          throw new UsageError(`${flag}: "${value}" is not a duration (e.g. 500ms, 2s, 12h)`);
        }
      };
      const certPollMs = duration('--cert-poll', opts.certPoll);
      const ticketRotationMs = duration('--ticket-rotation', opts.ticketRotation);
      const { TrustedProxies } = await import('../core/http/trusted-proxies.js');
      let trustedProxies;
      try {
        trustedProxies = TrustedProxies.parse(opts.trustedProxies);
      } catch (err) {
        throw new UsageError(`--trusted-proxies: ${(err as Error).message}`);
      }
      const { pairsInDirectory } = await import('./certificates.js');
      let sniCertificates;
      try {
        sniCertificates = opts.sniCertDir ? await pairsInDirectory(resolve(opts.sniCertDir)) : undefined;
      } catch (err) {
        throw new UsageError(`--sni-cert-dir: ${(err as Error).message}`);
      }
      if (opts.https && opts.cert) await checkCertificate(opts.cert, opts.key);
      const stateDir = resolve(opts.stateDir);
      // Loaded on use, after the flags are checked: a usage error starts nothing and loads little.
      const [{ startEdge }, { developmentCertificate }, { runNodeProcess }] = await Promise.all([
        import('./main.js'),
        import('./tls.js'),
        import('../core/node/node-process.js'),
      ]);
      await runNodeProcess({
        serviceName: 'meshgate-edge',
        etcd: opts.etcd,
        prefix: opts.prefix,
        workers: opts.workers,
        nodeId: opts.nodeId,
        idPrefix: 'edge',
        drainDelayMs: opts.drainDelay,
        ports: { '--http-port': opts.httpPort, ...(opts.https && { '--https-port': opts.httpsPort }), '--admin-port': opts.adminPort },
        // Made once, not by every worker at the same time over the same files.
        beforeWorkers: async () => {
          if (opts.https && !opts.cert) await developmentCertificate(stateDir);
        },
        start: ({ store, endpoints, nodeId }) =>
          startEdge({
            store,
            endpoints,
            nodeId,
            host: opts.host,
            httpPort: opts.httpPort,
            httpsPort: opts.https ? opts.httpsPort : null,
            adminPort: opts.adminPort,
            certFile: opts.cert,
            keyFile: opts.key,
            sniCertificates,
            certificatePollMs: certPollMs,
            ticketRotationMs,
            trustedProxies,
            normalize: { mergeSlashes: Boolean(opts.mergeSlashes), escapedSlashes: opts.escapedSlashes },
            stateDir,
            drainDelayMs: opts.drainDelay,
          }),
      });
    });
}
