// `npm run stack`: the docker-compose topology as separate processes on loopback — real etcd, real Redis, an
// OTLP receiver (Jaeger when installed), authz, quota, registry, two edges, the demo apps each with its own
// sidecar — configured by the same MESHGATE_* variables as compose/docker-compose.yml, then `meshgate apply`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { startEtcd, type EtcdProcess } from '../test/support/start-etcd.js';
import { startRedis, type RedisProcess } from '../test/support/start-redis.js';
import { startOtlpReceiver, type OtlpReceiver } from '../test/support/otlp-receiver.js';
import { freePort } from '../test/support/free-port.js';
import { runMeshgate } from '../test/support/spawn-mesh.js';
import { DEMO_ENV } from './demo/serve.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'compose', 'cli.ts');
const DEMO = join(ROOT, 'compose', 'demo', 'serve.ts');
const HOST = '127.0.0.1';
// Generous: a cold tsx start of a component is seconds of CPU, and CI machines are small and shared.
const READY_TIMEOUT_MS = 180_000;

export interface StackOptions {
  /** routes.yaml applied once everything is up (default compose/routes.yaml). */
  config?: string;
  /** Edge replicas (default 2, as in docker-compose). */
  edges?: number;
  /** Where traces go; default: Jaeger when installed, else the in-repo OTLP receiver. */
  otlp?: 'auto' | 'receiver';
  /** authz admin credential (default: MESHGATE_ADMIN_TOKEN, else a fixed development value). */
  adminToken?: string;
  /** Logs and state; default a fresh temp dir, removed on stop unless `keepDir`. */
  dir?: string;
  keepDir?: boolean;
}

export interface StackProcess {
  name: string;
  pid: number;
  /** Its stdout+stderr (pino JSON lines for meshgate components). */
  logFile: string;
}

export interface SidecarAddresses {
  app: number;
  inbound: number;
  outbound: number;
  admin: number;
}

export interface Stack {
  dir: string;
  etcd: string;
  redis: string;
  otlp: { kind: 'jaeger' | 'receiver'; endpoint: string; ui?: string; receiver?: OtlpReceiver };
  edges: { http: string; https: string; admin: string }[];
  authz: { http: string; grpc: string };
  quota: { http: string; grpc: string };
  registry: string;
  sidecars: Record<string, SidecarAddresses>;
  adminToken: string;
  /** The environment every meshgate node shares (as x-mesh-env in docker-compose.yml). */
  env: Record<string, string>;
  processes: StackProcess[];
  /** The config version `meshgate apply` wrote at start. */
  version: number;
  /** Run a short `meshgate` command against this stack (its env: MESHGATE_ETCD, MESHGATE_ADMIN_TOKEN, ...). */
  meshgate(args: string[], timeoutMs?: number): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** A token from authz-svc's admin API (POST /v1/tokens). */
  issueToken(body: { sub: string; scope?: string; ttlSeconds?: number }): Promise<{ token: string; jti?: string }>;
  stop(): Promise<void>;
}

/** The demo services and the order they start in (orders calls inventory east-west). */
const SERVICES = ['echo', 'inventory', 'orders'] as const;

class Child {
  readonly exited: Promise<number | null>;
  private done = false;
  private readonly out: WriteStream;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.out = createWriteStream(logFile, { flags: 'a' });
    child.stdout!.pipe(this.out, { end: false });
    child.stderr!.pipe(this.out, { end: false });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.done = true;
        resolve(code ?? (signal ? null : 0));
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return !this.done;
  }

  tail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-3000);
    } catch {
      return '';
    }
  }

  /** SIGTERM (the components drain), SIGKILL after 10 s. By pid: only what this stack started. */
  async stop(): Promise<void> {
    if (!this.done) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.out.end(() => resolve()));
  }
}

const started = new Set<ChildProcess>();
// Never leave a component behind if the parent dies without stop().
process.once('exit', () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) try { child.kill('SIGKILL'); } catch { /* gone */ }
});

function spawnChild(name: string, args: string[], env: Record<string, string>, dir: string): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, MESHGATE_LOG_LEVEL: process.env.MESHGATE_LOG_LEVEL ?? 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  return new Child(name, child, join(dir, `${name}.log`));
}

/** A listener of the child was taken between choosing the port and binding it (the machine is shared). */
class PortClash extends Error {}

/** The ports this child says it bound: its own "... listening" log lines (so a stranger on the port never counts). */
function boundPorts(child: Child): Set<number> {
  const ports = new Set<number>();
  let text = '';
  try {
    text = readFileSync(child.logFile, 'utf8');
  } catch {
    return ports;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{') || !line.includes('listening')) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (record.pid !== child.pid) continue;
    for (const [key, value] of Object.entries(record)) {
      if (/port$/i.test(key) && typeof value === 'number') ports.add(value);
      if (key === 'url' && typeof value === 'string') ports.add(Number(new URL(value).port));
    }
  }
  return ports;
}

/**
 * Wait until the child logged that it bound every one of `ports` and `url` answers `ok`; PortClash when a port
 * was taken (EADDRINUSE), an error when the child died or never got ready.
 */
async function waitReady(child: Child, ports: number[], url: string, ok: (status: number) => boolean = (s) => s === 200): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    const tail = child.tail();
    if (tail.includes('EADDRINUSE')) throw new PortClash(`${child.name}: a port was taken while it started`);
    if (!child.running) throw new Error(`${child.name} exited while starting:\n${tail}`);
    const bound = boundPorts(child);
    if (ports.every((p) => bound.has(p))) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
        last = `${res.status} ${await res.text()}`;
        if (ok(res.status)) return;
      } catch (err) {
        last = (err as Error).message;
      }
    } else last = `bound so far: ${[...bound].join(', ') || 'none'}`;
    await delay(100);
  }
  throw new Error(`${child.name} not ready at ${url} within ${READY_TIMEOUT_MS} ms (last: ${last.slice(0, 300)}):\n${child.tail()}`);
}

/** Start something on freshly chosen ports; if a port was snatched before it bound, stop it and try new ones. */
async function withFreshPorts<T>(what: string, attempt: () => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof PortClash) || i >= attempts) throw err;
      process.stderr.write(`stack: ${err.message}; restarting ${what} on other ports\n`);
    }
  }
}

/** Jaeger all-in-one on loopback when its binary is installed: OTLP gRPC and the UI on free ports. */
async function startJaeger(dir: string): Promise<{ child: Child; endpoint: string; ui: string } | undefined> {
  const binary = ['jaeger-all-in-one', 'jaeger'].find((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status === 0);
  if (!binary) return undefined;
  const [otlp, ui] = [await freePort(), await freePort()];
  const child = spawn(binary, [`--collector.otlp.grpc.host-port=${HOST}:${otlp}`, `--query.http-server.host-port=${HOST}:${ui}`, '--collector.otlp.http.host-port=127.0.0.1:0'], {
    env: { ...process.env, COLLECTOR_OTLP_ENABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  const c = new Child('jaeger', child, join(dir, 'jaeger.log'));
  await waitReady(c, [], `http://${HOST}:${ui}/`);
  return { child: c, endpoint: `http://${HOST}:${otlp}`, ui: `http://${HOST}:${ui}` };
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'meshgate-stack-'));
  mkdirSync(dir, { recursive: true });
  const config = resolve(opts.config ?? join(ROOT, 'compose', 'routes.yaml'));
  const adminToken = opts.adminToken ?? process.env.MESHGATE_ADMIN_TOKEN ?? 'dev-admin-token-change-me';
  const children: Child[] = [];
  let etcd: EtcdProcess | undefined;
  let redis: RedisProcess | undefined;
  let receiver: OtlpReceiver | undefined;

  const stop = async () => {
    // Reverse start order: traffic tiers first (they drain and deregister), the backends last.
    for (const child of children.slice().reverse()) await child.stop();
    await receiver?.close();
    await redis?.stop();
    await etcd?.stop();
    if (!opts.keepDir && !opts.dir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    [etcd, redis] = await Promise.all([startEtcd(), startRedis()]);
    const jaeger = opts.otlp === 'receiver' ? undefined : await startJaeger(dir);
    if (jaeger) children.push(jaeger.child);
    else receiver = await startOtlpReceiver();
    const otlp = jaeger
      ? { kind: 'jaeger' as const, endpoint: jaeger.endpoint, ui: jaeger.ui }
      : { kind: 'receiver' as const, endpoint: receiver!.endpoint, receiver };

    // x-mesh-env in docker-compose.yml, with loopback addresses.
    const meshEnv = { MESHGATE_ETCD: etcd.endpoint, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, MESHGATE_HOST: HOST };
    const start = (name: string, sub: string, env: Record<string, string>) => {
      const child = spawnChild(name, [CLI, sub], { MESHGATE_STATE_DIR: join(dir, 'state', name), ...env }, dir);
      children.push(child);
      return child;
    };
    const discard = async (...stale: Child[]) => {
      await Promise.all(stale.map((c) => c.stop()));
      for (const c of stale) children.splice(children.indexOf(c), 1);
    };
    /** Start one component on fresh ports until it binds them all (see PortClash). */
    const launch = (name: string, sub: string, portEnv: string[], env: (p: number[]) => Record<string, string>, readyPath = '/readyz', adminIndex = 0) =>
      withFreshPorts(name, async () => {
        const p = await ports(portEnv.length);
        const child = start(name, sub, { ...env(p), ...Object.fromEntries(portEnv.map((k, i) => [k, String(p[i])])) });
        try {
          await waitReady(child, p, `http://${HOST}:${p[adminIndex]}${readyPath}`);
        } catch (err) {
          await discard(child);
          throw err;
        }
        return p;
      });

    // The routes first, as the one-shot config-apply service: every node then starts from a snapshot.
    const applied = await runMeshgate(['apply', config, '--message', 'npm run stack'], { MESHGATE_ETCD: etcd.endpoint, MESHGATE_AUTHOR: 'npm-run-stack' });
    if (applied.code !== 0) throw new Error(`meshgate apply ${config} failed (${applied.code}):\n${applied.stderr}${applied.stdout}`);
    const version = Number(/applied version (\d+)|live version (\d+)/.exec(applied.stdout)?.slice(1).find(Boolean) ?? NaN);

    // Control plane: authz (keys into etcd), quota (Redis), registry — first, since sidecars are given their addresses.
    const [[authzHttp, authzGrpc], [quotaHttp, quotaGrpc], [registryPort]] = await Promise.all([
      launch('authz', 'authz', ['MESHGATE_AUTHZ_HTTP_PORT', 'MESHGATE_AUTHZ_GRPC_PORT'], () => ({
        ...meshEnv,
        MESHGATE_REDIS: redis!.url,
        MESHGATE_ADMIN_TOKEN: adminToken,
        MESHGATE_ISSUER: 'https://meshgate.local',
      })),
      launch('quota', 'quota', ['MESHGATE_QUOTA_HTTP_PORT', 'MESHGATE_QUOTA_GRPC_PORT'], () => ({
        MESHGATE_REDIS: redis!.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
        MESHGATE_HOST: HOST,
      })),
      launch('registry', 'registry', ['MESHGATE_REGISTRY_PORT'], () => ({ ...meshEnv, MESHGATE_ADMIN_TOKEN: adminToken })),
    ]);

    // Each demo app with its own sidecar (in compose they share a network namespace; here, loopback), and the two
    // edge replicas (edge-1, edge-2 in compose), all at once: nodes find each other through etcd, as containers do.
    const sidecars: Record<string, SidecarAddresses> = {};
    const unit = (service: string) =>
      withFreshPorts(`${service} and its sidecar`, async () => {
        const [app, inbound, outbound, admin] = await ports(4);
        const demo = spawnChild(`${service}-app`, [DEMO], { [DEMO_ENV.app]: service, [DEMO_ENV.port]: String(app), [DEMO_ENV.outbound]: `${HOST}:${outbound}` }, dir);
        children.push(demo);
        const sidecar = start(`${service}-sidecar`, 'sidecar', {
          ...meshEnv,
          MESHGATE_SERVICE: service,
          MESHGATE_NODE_ID: `${service}-1`,
          MESHGATE_APP: `${HOST}:${app}`,
          MESHGATE_ADVERTISE: `${HOST}:${inbound}`,
          MESHGATE_QUOTA: `${HOST}:${quotaGrpc}`,
          MESHGATE_AUTHZ: `${HOST}:${authzGrpc}`,
          MESHGATE_INBOUND_PORT: String(inbound),
          MESHGATE_OUTBOUND_PORT: String(outbound),
          MESHGATE_SIDECAR_ADMIN_PORT: String(admin),
        });
        try {
          await Promise.all([waitReady(demo, [app], `http://${HOST}:${app}/`, () => true), waitReady(sidecar, [inbound, outbound, admin], `http://${HOST}:${admin}/readyz`)]);
        } catch (err) {
          // The app's sidecar outbound port is baked into the app: a clash on either restarts both.
          await discard(sidecar, demo);
          throw err;
        }
        sidecars[service] = { app, inbound, outbound, admin };
      });
    const edgePorts = ['MESHGATE_EDGE_ADMIN_PORT', 'MESHGATE_EDGE_HTTP_PORT', 'MESHGATE_EDGE_HTTPS_PORT'];
    const edgeList = Array.from({ length: opts.edges ?? 2 }, (_, i) =>
      launch(`edge-${i + 1}`, 'edge', edgePorts, () => ({ ...meshEnv, MESHGATE_NODE_ID: `edge-${i + 1}` })),
    );
    const [edgeResults] = await Promise.all([Promise.all(edgeList), ...SERVICES.map(unit)]);
    const edges: Stack['edges'] = edgeResults.map(([admin, http, https]) => ({
      http: `http://${HOST}:${http}`,
      https: `https://${HOST}:${https}`,
      admin: `http://${HOST}:${admin}`,
    }));

    const authzUrl = `http://${HOST}:${authzHttp}`;
    const cliEnv = { MESHGATE_ETCD: etcd.endpoint, MESHGATE_ADMIN_TOKEN: adminToken, MESHGATE_AUTHZ_URL: authzUrl };
    return {
      dir,
      etcd: etcd.endpoint,
      redis: redis.url,
      otlp,
      edges,
      authz: { http: authzUrl, grpc: `${HOST}:${authzGrpc}` },
      quota: { http: `http://${HOST}:${quotaHttp}`, grpc: `${HOST}:${quotaGrpc}` },
      registry: `http://${HOST}:${registryPort}`,
      sidecars,
      adminToken,
      env: meshEnv,
      processes: children.map((c) => ({ name: c.name, pid: c.pid, logFile: c.logFile })),
      version,
      meshgate: (args, timeoutMs) => runMeshgate(args, cliEnv, timeoutMs),
      async issueToken(body) {
        const res = await fetch(`${authzUrl}/v1/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        const json = (await res.json()) as { token: string; jti?: string };
        if (res.status !== 201) throw new Error(`POST /v1/tokens answered ${res.status}: ${JSON.stringify(json)}`);
        return json;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function ports(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

function banner(s: Stack, token: string): string {
  const pad = (name: string) => name.padEnd(20);
  const lines = [
    '',
    'meshgate stack is up (one process per component, real etcd and Redis)',
    `  ${pad('etcd')}${s.etcd}        (MESHGATE_ETCD)`,
    `  ${pad('redis')}${s.redis}`,
    s.otlp.kind === 'jaeger'
      ? `  ${pad('jaeger')}UI ${s.otlp.ui}   OTLP gRPC ${s.otlp.endpoint}`
      : `  ${pad('otlp receiver')}${s.otlp.endpoint} (in-repo; spans in ${join(s.dir, 'spans.jsonl')}; install Jaeger for a UI)`,
    ...s.edges.map((e, i) => `  ${pad(`edge-${i + 1}`)}${e.http}   ${e.https}   admin ${e.admin}`),
    `  ${pad('authz-svc')}${s.authz.http}   gRPC ${s.authz.grpc}`,
    `  ${pad('quota-svc')}${s.quota.http}   gRPC ${s.quota.grpc}`,
    `  ${pad('registry')}${s.registry}`,
    ...Object.entries(s.sidecars).map(
      ([name, a]) => `  ${pad(`${name} + sidecar`)}app :${a.app}  inbound :${a.inbound}  outbound :${a.outbound}  admin :${a.admin}`,
    ),
    `  ${pad('logs')}${s.dir}/<component>.log`,
    `  ${pad('config version')}${s.version} (compose/routes.yaml)`,
    '',
    '  export ' + Object.entries({ MESHGATE_ETCD: s.etcd, MESHGATE_AUTHZ_URL: s.authz.http, MESHGATE_ADMIN_TOKEN: s.adminToken }).map(([k, v]) => `${k}=${v}`).join(' '),
    `  TOKEN=${token}`,
    `  curl -s -H "authorization: Bearer $TOKEN" ${s.edges[0].http}/orders`,
    '  npm run meshgate -- status',
    '',
    '  pids: ' + s.processes.map((p) => `${p.name}=${p.pid}`).join(' '),
    '  Ctrl-C stops everything.',
    '',
  ];
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meshgate-stack-'));
  const stack = await startStack({ dir });
  const { token } = await stack.issueToken({ sub: 'dev-user', scope: 'echo:read orders:read', ttlSeconds: 3600 });
  // The in-repo receiver keeps spans in memory; write them out so they can be searched by trace id.
  let flushed = 0;
  const spans = stack.otlp.receiver ? createWriteStream(join(dir, 'spans.jsonl'), { flags: 'a' }) : undefined;
  const timer = setInterval(() => {
    const all = stack.otlp.receiver!.spans;
    while (flushed < all.length) spans!.write(JSON.stringify(all[flushed++]) + '\n');
    all.splice(0, flushed); // written out: do not keep them in memory for the life of the stack
    flushed = 0;
  }, 1000);
  if (!spans) clearInterval(timer);
  process.stdout.write(banner(stack, token));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping every component\n`);
    clearInterval(timer);
    spans?.end();
    await stack.stop();
    process.stdout.write(`stopped; logs kept in ${dir}\n`);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`npm run stack: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
