// CLI for the auth tier: `meshgate authz` (the service), `meshgate token` (a dev token), `meshgate revoke`.
import { Option, type Command } from 'commander';
import { request } from 'undici';
import { envOption, parsePositiveInt, portOption } from '../core/config/cli-options.js';
import { parseDuration } from '../core/config/duration.js';
import { UsageError } from '../core/config/usage-error.js';
import { CommandFailure } from '../core/node/command-failure.js';
import { onSignals } from '../core/node/drain-on-signals.js';
import { log } from '../core/telemetry/log.js';

const DEFAULT_AUTHZ_URL = 'http://127.0.0.1:7070';
const ALGORITHMS = ['ES256', 'RS256', 'EdDSA'];

function durationFlag(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseDuration(text);
  } catch {
    throw new UsageError(`${flag} "${text}" is not a duration (e.g. 30m, 24h)`);
  }
}

function adminTokenFlag(value: string | undefined, purpose: string): string {
  if (!value) throw new UsageError(`--admin-token (or MESHGATE_ADMIN_TOKEN) is required ${purpose}`);
  return checkAdminToken(value);
}

/** The admin credential's minimum (authz-svc refuses a shorter one): checked on the flag, before anything starts. */
export function checkAdminToken(value: string): string {
  if (value.length < 16) throw new UsageError('--admin-token (or MESHGATE_ADMIN_TOKEN) must be at least 16 characters');
  return value;
}

function urlFlag(value: string): string {
  if (!/^https?:\/\/[^\s/]+/.test(value)) throw new UsageError(`--authz (or MESHGATE_AUTHZ_URL) "${value}" is not an http(s) URL`);
  return value.replace(/\/+$/, '');
}

/** Call the authz HTTP admin API; a 4xx/5xx becomes one error line with the server's message. */
async function callAdmin(base: string, adminToken: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  let res;
  try {
    res = await request(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CommandFailure(`cannot reach authz-svc at ${base}: ${code && !/^UND_ERR/.test(code) ? code : (err as Error).message}`);
  }
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (res.statusCode >= 400) {
    const message = (parsed as { error?: { message?: string } })?.error?.message ?? text;
    const line = `authz-svc answered ${res.statusCode}: ${message}`;
    // Refused input and refused credentials are usage errors (exit 2); anything else is a failure (exit 1).
    throw res.statusCode === 400 || res.statusCode === 401 || res.statusCode === 403 ? new UsageError(line) : new CommandFailure(line);
  }
  return parsed;
}

export function registerAuthz(program: Command): void {
  program
    .command('authz')
    .description('run authz-svc: signing keys and JWKS, dev tokens, opaque tokens, introspection, revocations')
    .addOption(portOption('--http-port <port>', 'MESHGATE_AUTHZ_HTTP_PORT', 7070, 'HTTP API: /.well-known/jwks.json, /v1/* admin, /healthz /readyz /metrics'))
    .addOption(portOption('--grpc-port <port>', 'MESHGATE_AUTHZ_GRPC_PORT', 7071, 'gRPC API (proto/authz.proto)'))
    .addOption(envOption('--admin-port <port>', 'MESHGATE_AUTHZ_ADMIN_PORT', 'optional separate admin listener (/healthz /readyz /metrics /config)'))
    .addOption(envOption('--etcd <endpoints>', 'MESHGATE_ETCD', 'etcd endpoints (comma-separated); required'))
    .addOption(envOption('--prefix <prefix>', 'MESHGATE_PREFIX', 'etcd key prefix').default('/meshgate/'))
    .addOption(envOption('--redis <url>', 'MESHGATE_REDIS', 'Redis URL for opaque tokens (in memory when unset)'))
    .addOption(envOption('--admin-token <token>', 'MESHGATE_ADMIN_TOKEN', 'Bearer credential of the admin API; required (16+ characters)'))
    .addOption(envOption('--issuer <url>', 'MESHGATE_ISSUER', 'issuer (iss) of the tokens it signs').default('https://meshgate.local'))
    .addOption(new Option('--algorithm <alg>', 'signing algorithm').env('MESHGATE_AUTHZ_ALGORITHM').choices(ALGORITHMS).default('ES256'))
    .addOption(envOption('--audience <aud>', 'MESHGATE_AUTHZ_AUDIENCE', 'default aud of issued tokens'))
    .addOption(envOption('--rotate-every <duration>', 'MESHGATE_AUTHZ_ROTATE_EVERY', 'rotate the signing key on this schedule (e.g. 24h); on demand only when unset'))
    .addOption(envOption('--max-ttl <duration>', 'MESHGATE_AUTHZ_MAX_TTL', 'longest token lifetime issued').default('24h'))
    .addOption(envOption('--host <address>', 'MESHGATE_HOST', 'address the listeners bind').default('0.0.0.0'))
    .action(async (opts) => {
      if (!opts.etcd) throw new UsageError('--etcd (or MESHGATE_ETCD) is required: authz-svc publishes keys and revocations to etcd');
      const adminToken = adminTokenFlag(opts.adminToken, 'to protect the admin API');
      if (opts.redis !== undefined && !/^rediss?:\/\/\S+$/.test(opts.redis)) throw new UsageError('--redis (or MESHGATE_REDIS) must be a redis:// or rediss:// URL');
      const adminPort = opts.adminPort === undefined ? undefined : Number(opts.adminPort);
      if (adminPort !== undefined && !(Number.isInteger(adminPort) && adminPort >= 0 && adminPort <= 65535)) throw new UsageError(`--admin-port "${opts.adminPort}" is not a port`);
      const rotateEveryMs = durationFlag('--rotate-every', opts.rotateEvery);
      if (rotateEveryMs !== undefined && rotateEveryMs < 1000) throw new UsageError('--rotate-every must be at least 1s');
      const maxTtlMs = durationFlag('--max-ttl', opts.maxTtl)!;
      if (maxTtlMs < 1000) throw new UsageError('--max-ttl must be at least 1s');
      const [{ startAuthz }, { openStore }, { initTracing }] = await Promise.all([
        import('./main.js'),
        import('../core/store/open-store.js'),
        import('../core/telemetry/tracing.js'),
      ]);
      initTracing({ serviceName: 'meshgate-authz' });
      const store = openStore({ etcd: opts.etcd, prefix: opts.prefix });
      const node = await startAuthz({
        store,
        redis: opts.redis,
        httpPort: opts.httpPort,
        grpcPort: opts.grpcPort,
        adminPort,
        adminToken,
        issuer: opts.issuer,
        host: opts.host,
        algorithm: opts.algorithm,
        audience: opts.audience,
        rotateEveryMs,
        maxTtlSeconds: Math.floor(maxTtlMs / 1000),
      });
      onSignals(async () => {
        await node.close();
        await store.close();
      });
    });

  program
    .command('token')
    .description(
      'print a development token. Through the authz HTTP API (--authz / MESHGATE_AUTHZ_URL, default ' +
        `${DEFAULT_AUTHZ_URL}, with the admin token) — works against \`meshgate authz\` and \`meshgate up\`; ` +
        'or, with --etcd and no --authz, signed locally by a short-lived key published to etcd',
    )
    .requiredOption('--sub <name>', 'subject (sub)')
    .option('--scope <scopes>', 'space-separated scopes, e.g. "echo:read orders:read"')
    .option('--ttl <seconds>', 'lifetime in seconds', parsePositiveInt, 3600)
    .option('--aud <audience...>', 'audience(s)')
    .option('--client-id <id>', 'client_id claim')
    .option('--opaque', 'an opaque token (introspected by sidecars) instead of a JWT')
    .option('--json', 'print the whole answer (token, type, expiresAt, jti, kid) as JSON')
    .addOption(envOption('--authz <url>', 'MESHGATE_AUTHZ_URL', `authz-svc HTTP URL (default ${DEFAULT_AUTHZ_URL})`))
    .addOption(envOption('--admin-token <token>', 'MESHGATE_ADMIN_TOKEN', 'admin credential of authz-svc'))
    .addOption(envOption('--etcd <endpoints>', 'MESHGATE_ETCD', 'sign locally with a key published to this etcd (when --authz is not given)'))
    .addOption(envOption('--prefix <prefix>', 'MESHGATE_PREFIX', 'etcd key prefix').default('/meshgate/'))
    .addOption(envOption('--issuer <url>', 'MESHGATE_ISSUER', 'issuer when signing locally').default('https://meshgate.local'))
    .action(async (opts) => {
      if (opts.scope !== undefined && !/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/.test(opts.scope))
        throw new UsageError('--scope must be space-separated scope tokens (RFC 6749 §3.3)');
      const body = { sub: opts.sub, scope: opts.scope, ttlSeconds: opts.ttl, aud: opts.aud?.length === 1 ? opts.aud[0] : opts.aud, clientId: opts.clientId, type: opts.opaque ? 'opaque' : 'jwt' };
      if (!opts.authz && opts.etcd) {
        // stdout carries the token alone (scripts do TOKEN=$(meshgate token …)): keep info logs off it.
        log.level = 'error';
        if (opts.opaque) throw new UsageError('--opaque needs authz-svc (--authz): opaque tokens live in its store');
        const [{ SigningKeys }, { openStore }] = await Promise.all([import('./signing-keys.js'), import('../core/store/open-store.js')]);
        const store = openStore({ etcd: opts.etcd, prefix: opts.prefix });
        try {
          // A one-off key whose public half is leased in etcd for as long as this token can live.
          const keys = await SigningKeys.create(store, { issuer: opts.issuer, maxTtlSeconds: opts.ttl, defaultTtlSeconds: opts.ttl });
          const token = await keys.issue({ sub: opts.sub, scope: opts.scope, aud: body.aud, ttlSeconds: opts.ttl, clientId: opts.clientId });
          await keys.close();
          process.stdout.write(opts.json ? `${JSON.stringify({ token, type: 'jwt', kid: keys.kid })}\n` : `${token}\n`);
        } catch (err) {
          // etcd not answering is one line, as for every command (it was a stack trace).
          if ((err as Error)?.name === 'StoreUnavailableError') throw new CommandFailure((err as Error).message);
          throw err;
        } finally {
          await store.close();
        }
        return;
      }
      const base = urlFlag(opts.authz ?? DEFAULT_AUTHZ_URL);
      const adminToken = adminTokenFlag(opts.adminToken, 'to ask authz-svc for a token (meshgate up prints it)');
      const issued = (await callAdmin(base, adminToken, 'POST', '/v1/tokens', body)) as { token: string };
      process.stdout.write(opts.json ? `${JSON.stringify(issued)}\n` : `${issued.token}\n`);
    });

  program
    .command('revoke')
    .description('revoke tokens at authz-svc: one of --jti, --sub [--before T], --kid, --token, --token-hash; or --list')
    .option('--jti <jti>', 'one JWT, by its jti')
    .option('--sub <subject>', 'every token of this subject issued before --before (default now)')
    .option('--before <time>', 'with --sub: epoch seconds or an ISO-8601 time')
    .option('--kid <kid>', 'every token signed by this key (and the key is unpublished)')
    .option('--token <token>', 'one token given whole: opaque (by hash) or JWT (by jti)')
    .option('--token-hash <sha256hex>', 'one opaque token by the sha256 hex of its text')
    .option('--expires-at <epochSeconds>', 'with --jti: the token\'s exp, so the entry lasts no longer than needed', parsePositiveInt)
    .option('--reason <text>', 'recorded with the revocation')
    .option('--list', 'list the revocations in force instead')
    .addOption(envOption('--authz <url>', 'MESHGATE_AUTHZ_URL', `authz-svc HTTP URL (default ${DEFAULT_AUTHZ_URL})`))
    .addOption(envOption('--admin-token <token>', 'MESHGATE_ADMIN_TOKEN', 'admin credential of authz-svc'))
    .action(async (opts) => {
      const base = urlFlag(opts.authz ?? DEFAULT_AUTHZ_URL);
      const adminToken = adminTokenFlag(opts.adminToken, 'to revoke');
      if (opts.list) {
        process.stdout.write(`${JSON.stringify(await callAdmin(base, adminToken, 'GET', '/v1/revocations'), null, 2)}\n`);
        return;
      }
      const targets = ['jti', 'sub', 'kid', 'token', 'tokenHash'].filter((t) => opts[t] !== undefined);
      if (targets.length !== 1) throw new UsageError('give exactly one of --jti, --sub, --kid, --token, --token-hash');
      if (opts.before !== undefined && !opts.sub) throw new UsageError('--before only applies to --sub');
      let before: number | undefined;
      if (opts.before !== undefined) {
        before = /^[0-9]+$/.test(opts.before) ? Number(opts.before) : Math.ceil(Date.parse(opts.before) / 1000);
        if (!Number.isFinite(before)) throw new UsageError(`--before "${opts.before}" is neither epoch seconds nor an ISO-8601 time`);
      }
      const body = { [targets[0]]: opts[targets[0]], before, expiresAt: opts.expiresAt, reason: opts.reason };
      const record = await callAdmin(base, adminToken, 'POST', '/v1/revocations', body);
      process.stdout.write(`${JSON.stringify(record)}\n`);
    });
}
