// The deployment files agree with the code: docker-compose, Prometheus, Grafana, the kustomize manifests and the
// Dockerfile name only real subcommands and flags, only environment variables the code reads, the default
// ports, and files that exist. (No Docker engine or cluster here: the files are parsed, kustomize rendered.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, type Option } from 'commander';
import { parse, parseAllDocuments } from 'yaml';
import { registerEdge } from '../../edge/command.js';
import { registerSidecar } from '../../sidecar/command.js';
import { registerAuthz } from '../../authz-svc/command.js';
import { registerQuota } from '../../quota-svc/command.js';
import { registerRegistry } from '../../registry/command.js';
import { registerUp } from '../../compose/up-command.js';
import { parseConfigText } from '../../core/config/load.js';
import { DEMO_ENV, DEMO_DEFAULT_PORT, DEMO_DEFAULT_OUTBOUND } from '../../compose/demo/serve.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const COMPOSE_DIR = join(ROOT, 'compose');
const K8S_DIR = join(COMPOSE_DIR, 'k8s');
const SOURCE_DIRS = ['core', 'edge', 'sidecar', 'authz-svc', 'quota-svc', 'registry', 'compose'];

// ---- what the code offers: the CLI as compose/cli.ts builds it ----

const REGISTERED = { registerUp, registerEdge, registerSidecar, registerAuthz, registerQuota, registerRegistry };
const program = new Command('meshgate');
for (const register of Object.values(REGISTERED)) register(program);
const commands = new Map(program.commands.map((c) => [c.name(), c]));

function command(name: string): Command {
  const c = commands.get(name);
  assert.ok(c, `"${name}" is a meshgate subcommand (have: ${[...commands.keys()].join(', ')})`);
  return c;
}
const optionsOf = (name: string): readonly Option[] => command(name).options;
const envOf = (name: string) => new Set(optionsOf(name).flatMap((o) => (o.envVar ? [o.envVar] : [])));
function defaultPort(sub: string, flag: string): number {
  const o = optionsOf(sub).find((x) => x.long === flag);
  assert.ok(o, `meshgate ${sub} has ${flag}`);
  return Number(o.defaultValue);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'k8s' ? [] : sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}
const SOURCES = SOURCE_DIRS.flatMap((d) => sourceFiles(join(ROOT, d))).map((f) => readFileSync(f, 'utf8'));
/** Variables read directly (process.env.X), not through a CLI option: tracing, logging, the demo runner. */
const DIRECT_ENV = new Set([
  ...SOURCES.flatMap((s) => [...s.matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1])),
  ...Object.values(DEMO_ENV),
  'NODE_OPTIONS', // read by Node itself: the sidecars' low-memory setting
]);
/** docs/operations.md, Memory: what every deployed sidecar runs with. */
const LOW_MEMORY = '--max-semi-space-size=4';
/** The metrics the code defines (every metric name is a string literal where it is created). */
const METRICS = new Set(SOURCES.flatMap((s) => [...s.matchAll(/['"`](meshgate_[a-z0-9_]+)['"`]/g)].map((m) => m[1])));

/** Admin (health/metrics) port and traffic ports per subcommand, from the option defaults. */
const ADMIN_PORT: Record<string, number> = {
  edge: defaultPort('edge', '--admin-port'),
  sidecar: defaultPort('sidecar', '--admin-port'),
  authz: defaultPort('authz', '--http-port'),
  quota: defaultPort('quota', '--http-port'),
  registry: defaultPort('registry', '--port'),
};
const PORTS: Record<string, number[]> = {
  edge: [defaultPort('edge', '--http-port'), defaultPort('edge', '--https-port'), ADMIN_PORT.edge],
  sidecar: [defaultPort('sidecar', '--inbound-port'), defaultPort('sidecar', '--outbound-port'), ADMIN_PORT.sidecar],
  authz: [ADMIN_PORT.authz, defaultPort('authz', '--grpc-port')],
  quota: [ADMIN_PORT.quota, defaultPort('quota', '--grpc-port')],
  registry: [ADMIN_PORT.registry],
};

/** Every `--flag` in an argument list is an option of that subcommand; positional arguments are allowed as declared. */
function checkArgs(where: string, args: string[]): string {
  const [sub, ...rest] = args;
  const c = command(sub);
  const longs = new Set(c.options.flatMap((o) => [o.long, o.short].filter(Boolean) as string[]));
  let positionals = 0;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg.startsWith('-')) {
      const flag = arg.split('=')[0];
      assert.ok(longs.has(flag), `${where}: meshgate ${sub} has no ${flag}`);
      const o = c.options.find((x) => x.long === flag || x.short === flag)!;
      if ((o.required || o.optional) && !arg.includes('=')) i++;
    } else positionals++;
  }
  assert.ok(positionals <= c.registeredArguments.length, `${where}: meshgate ${sub} takes ${c.registeredArguments.length} argument(s)`);
  return sub;
}

/** Env names in `env` the component reads: its options' variables plus those read directly. */
function checkEnv(where: string, sub: string | 'demo', names: string[], helpers: Set<string> = new Set()): void {
  const allowed = sub === 'demo' ? new Set(Object.values(DEMO_ENV)) : envOf(sub);
  for (const name of names) {
    if (helpers.has(name)) continue;
    assert.ok(allowed.has(name) || (DIRECT_ENV.has(name) && !Object.values(DEMO_ENV).includes(name as never)) || (sub === 'demo' && DIRECT_ENV.has(name)),
      `${where}: ${name} is not read by ${sub === 'demo' ? 'compose/demo/serve.ts' : `meshgate ${sub}`}`);
  }
}

const hostPort = (v: string) => {
  const m = /^(?:[a-z]+:\/\/)?([^:/]+):(\d+)/.exec(v);
  assert.ok(m, `"${v}" is host:port`);
  return { host: m[1], port: Number(m[2]) };
};

test('compose/cli.ts registers exactly the tiers this test builds the CLI from', () => {
  const cli = readFileSync(join(COMPOSE_DIR, 'cli.ts'), 'utf8');
  const called = [...cli.matchAll(/^(register\w+)\(program\)/gm)].map((m) => m[1]).sort();
  assert.deepEqual(called, Object.keys(REGISTERED).sort());
  for (const sub of ['up', 'edge', 'sidecar', 'authz', 'quota', 'registry', 'validate', 'diff', 'apply', 'status', 'token', 'revoke']) command(sub);
});

// ---- docker-compose ----

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  network_mode?: string;
  depends_on?: Record<string, unknown>;
}
const compose = parse(readFileSync(join(COMPOSE_DIR, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
const services = compose.services;
const isMeshgate = (s: ComposeService) => s.image === 'meshgate:local';
const isDemo = (s: ComposeService) => isMeshgate(s) && s.entrypoint?.join(' ') === 'node dist/compose/demo/serve.js';
const componentOf = (s: ComposeService) => (isDemo(s) ? 'demo' : (s.command?.[0] ?? ''));

test('compose: every meshgate service runs a real subcommand with real flags, from the image built here', () => {
  const meshgate = Object.entries(services).filter(([, s]) => isMeshgate(s));
  assert.ok(meshgate.length >= 10);
  for (const [name, s] of meshgate) {
    assert.equal(resolve(COMPOSE_DIR, s.build!.context), resolve(ROOT), `${name} builds the repository`);
    assert.ok(existsSync(join(ROOT, s.build!.dockerfile)), `${name}: ${s.build!.dockerfile} exists`);
    if (isDemo(s)) continue;
    assert.ok(s.command?.length, `${name} has a command`);
    checkArgs(`compose ${name}`, s.command!);
  }
  const subs = meshgate.map(([, s]) => componentOf(s));
  for (const sub of ['edge', 'sidecar', 'authz', 'quota', 'registry', 'apply']) assert.ok(subs.includes(sub), `compose runs meshgate ${sub}`);
  assert.equal(subs.filter((s) => s === 'edge').length, 2, 'two edge replicas');
  assert.deepEqual(
    ['etcd', 'redis', 'jaeger', 'prometheus', 'grafana'].map((n) => Boolean(services[n]?.image)),
    [true, true, true, true, true],
  );
  assert.match(services.etcd.image!, /^quay\.io\/coreos\/etcd:/);
});

test('compose: every environment variable is one the component reads', () => {
  for (const [name, s] of Object.entries(services)) {
    if (!isMeshgate(s)) continue;
    checkEnv(`compose ${name}`, componentOf(s), Object.keys(s.environment ?? {}));
  }
});

test('compose: each demo app has its own sidecar in its network namespace, wired with the default ports', () => {
  const demos = Object.entries(services).filter(([, s]) => isDemo(s));
  assert.deepEqual(demos.map(([n]) => n).sort(), ['echo', 'inventory', 'orders']);
  const sidecars = Object.entries(services).filter(([, s]) => componentOf(s) === 'sidecar');
  assert.equal(sidecars.length, demos.length);
  const inbound = defaultPort('sidecar', '--inbound-port');
  const outbound = defaultPort('sidecar', '--outbound-port');
  for (const [name, s] of sidecars) {
    const env = s.environment!;
    const app = /^service:(.+)$/.exec(s.network_mode ?? '')?.[1];
    assert.ok(app && services[app] && isDemo(services[app]), `${name} shares a demo app's network namespace`);
    assert.equal(env.MESHGATE_SERVICE, services[app].environment!.MESHGATE_DEMO_APP, `${name} is the sidecar of ${app}`);
    assert.deepEqual(hostPort(env.MESHGATE_APP), { host: '127.0.0.1', port: Number(services[app].environment![DEMO_ENV.port] ?? DEMO_DEFAULT_PORT) });
    assert.deepEqual(hostPort(env.MESHGATE_ADVERTISE), { host: app, port: inbound });
    assert.deepEqual(hostPort(env.MESHGATE_QUOTA), { host: 'quota', port: defaultPort('quota', '--grpc-port') });
    assert.deepEqual(hostPort(env.MESHGATE_AUTHZ), { host: 'authz', port: defaultPort('authz', '--grpc-port') });
    assert.equal(s.ports, undefined, `${name}: ports are published on the app's service, which owns the namespace`);
    assert.equal(env.NODE_OPTIONS, LOW_MEMORY, `${name}: the low-memory setting`);
  }
  const orders = services.orders.environment!;
  assert.deepEqual(hostPort(orders[DEMO_ENV.outbound] ?? DEMO_DEFAULT_OUTBOUND), { host: '127.0.0.1', port: outbound });
});

test('compose: published ports are the defaults, backends are addressed where they listen', () => {
  for (const [name, s] of Object.entries(services)) {
    if (!isMeshgate(s) || isDemo(s)) continue;
    const sub = componentOf(s);
    for (const mapping of s.ports ?? []) {
      const container = Number(String(mapping).split(':').at(-1));
      assert.ok(PORTS[sub]?.includes(container), `${name}: container port ${container} is a default port of meshgate ${sub}`);
    }
    const env = s.environment ?? {};
    if (env.MESHGATE_ETCD) assert.deepEqual(hostPort(env.MESHGATE_ETCD), { host: 'etcd', port: 2379 });
    if (env.MESHGATE_REDIS) assert.deepEqual(hostPort(env.MESHGATE_REDIS), { host: 'redis', port: 6379 });
    if (env.OTEL_EXPORTER_OTLP_ENDPOINT) assert.deepEqual(hostPort(env.OTEL_EXPORTER_OTLP_ENDPOINT), { host: 'jaeger', port: 4317 });
  }
  assert.ok(services.etcd.command!.includes('--advertise-client-urls=http://etcd:2379'));
  assert.ok(services.jaeger.ports!.includes('4317:4317') && services.jaeger.ports!.includes('16686:16686'), 'Jaeger: OTLP gRPC 4317, UI 16686');
  assert.equal(services.jaeger.environment && (services.jaeger.environment as Record<string, string>).COLLECTOR_OTLP_ENABLED, 'true');
});

test('compose: mounted files exist; the one-shot apply applies the example routes, which are valid', () => {
  for (const [name, s] of Object.entries(services)) {
    for (const volume of s.volumes ?? []) {
      const [source, target] = volume.split(':');
      if (!source.startsWith('.')) continue; // a named volume
      assert.ok(existsSync(resolve(COMPOSE_DIR, source)), `${name}: ${source} exists`);
      if (isMeshgate(s)) for (const arg of s.command ?? []) if (arg.startsWith(target)) assert.ok(existsSync(resolve(COMPOSE_DIR, source, relative(target, arg))));
    }
  }
  const apply = Object.values(services).find((s) => componentOf(s) === 'apply')!;
  const file = apply.volumes!.map((v) => v.split(':')).find(([, target]) => target === apply.command![1]);
  assert.ok(file, 'the file apply reads is mounted');
  const { config, errors } = parseConfigText(readFileSync(resolve(COMPOSE_DIR, file[0]), 'utf8'));
  assert.ok(config, `routes.yaml is valid: ${JSON.stringify(errors)}`);
  assert.ok(['echo', 'inventory', 'orders'].every((n) => config.services.some((s) => s.name === n)), 'routes.yaml names the demo services');
});

// ---- Prometheus and Grafana ----

test('prometheus scrapes the admin port of every meshgate node in the compose file', () => {
  const prom = parse(readFileSync(join(COMPOSE_DIR, 'prometheus', 'prometheus.yml'), 'utf8')) as {
    scrape_configs: { job_name: string; static_configs: { targets: string[]; labels?: Record<string, string> }[] }[];
  };
  const targets = new Set(prom.scrape_configs.flatMap((j) => j.static_configs.flatMap((c) => c.targets)));
  const expected = new Set<string>();
  for (const [name, s] of Object.entries(services)) {
    const sub = componentOf(s);
    if (!isMeshgate(s) || !(sub in ADMIN_PORT)) continue;
    const host = s.network_mode?.startsWith('service:') ? s.network_mode.slice('service:'.length) : name;
    expected.add(`${host}:${ADMIN_PORT[sub]}`);
  }
  assert.deepEqual([...targets].sort(), [...expected].sort());
  for (const j of prom.scrape_configs) for (const c of j.static_configs) assert.equal(c.labels?.tier, undefined, 'a target label "tier" would clash with the metrics\' own tier label');
  const mounted = services.prometheus.volumes!.map((v) => v.split(':')[0]);
  assert.ok(mounted.includes('./prometheus/prometheus.yml'));
});

test('grafana: provisioned datasource and dashboard; every metric on the dashboard is one the code exports', (t) => {
  const ds = parse(readFileSync(join(COMPOSE_DIR, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as { datasources: { uid: string; url: string; type: string }[] };
  const prometheus = ds.datasources.find((d) => d.type === 'prometheus')!;
  assert.equal(prometheus.url, 'http://prometheus:9090');
  assert.ok(services.prometheus.ports!.some((p) => p.endsWith(':9090')));
  const provider = parse(readFileSync(join(COMPOSE_DIR, 'grafana', 'provisioning', 'dashboards', 'meshgate.yml'), 'utf8')) as { providers: { options: { path: string } }[] };
  const dashboardsMount = services.grafana.volumes!.map((v) => v.split(':')).find(([, target]) => target === provider.providers[0].options.path);
  assert.ok(dashboardsMount, 'the provider path is where compose mounts the dashboards');
  const text = readFileSync(join(resolve(COMPOSE_DIR, dashboardsMount[0]), 'meshgate.json'), 'utf8');
  const dashboard = JSON.parse(text) as { panels: { title: string; datasource?: { uid: string }; targets?: { expr: string }[] }[] };
  for (const p of dashboard.panels) if (p.datasource) assert.equal(p.datasource.uid, prometheus.uid, `${p.title}: datasource uid`);
  const used = new Set([...text.matchAll(/meshgate_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
  // The breaker state gauge is specified for the resilience work (issue 6) and not exported yet.
  const pending = new Set(['meshgate_breaker_state']);
  for (const name of used) {
    if (METRICS.has(name)) continue;
    if (pending.has(name)) t.diagnostic(`${name}: on the dashboard, not yet exported by the code`);
    else assert.fail(`dashboard uses ${name}, which no code exports`);
  }
  for (const required of ['meshgate_requests_total', 'meshgate_request_duration_seconds', 'meshgate_quota_decisions_total', 'meshgate_auth_cache_lookups_total', 'meshgate_config_version', 'meshgate_breaker_state'])
    assert.ok(used.has(required), `the dashboard shows ${required}`);
});

// ---- Kubernetes ----

interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
}
interface Container {
  name: string;
  image: string;
  securityContext?: SecurityContext;
  args?: string[];
  command?: string[];
  restartPolicy?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: number } };
  livenessProbe?: { httpGet?: { path: string; port: number } };
  startupProbe?: { httpGet?: { path: string; port: number } };
}
interface K8sDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? yamlFiles(p) : p.endsWith('.yaml') ? [p] : [];
  });
}
const k8sFiles = yamlFiles(K8S_DIR).filter((f) => !f.endsWith('routes.yaml'));
const k8sDocs = k8sFiles.flatMap((file) =>
  parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    assert.deepEqual(d.errors, [], `${file} parses`);
    return { file: relative(ROOT, file), doc: d.toJS() as K8sDoc };
  }),
);
type PodSpec = { securityContext?: SecurityContext; containers?: Container[]; initContainers?: Container[] };
const podSpecs = k8sDocs.flatMap(({ file, doc }) => {
  const spec = doc.spec?.template?.spec;
  return spec ? [{ file, doc, spec: spec as PodSpec }] : [];
});

/** The Dockerfile's runtime stage and its USER (the last one). */
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const imageUser = [...dockerfile.split(/^FROM /m).at(-1)!.matchAll(/^USER (\S+)/gm)].at(-1)?.[1];

/**
 * Why the kubelet would refuse to start this meshgate container, or undefined. With runAsNonRoot it must know the
 * uid before starting: runAsUser (container, else pod) or a numeric USER in the image; a user name cannot be
 * checked (CreateContainerConfigError "image has non-numeric user"), and uid 0 is refused.
 */
function nonRootRefusal(pod: PodSpec, c: Container, user: string | undefined): string | undefined {
  const nonRoot = c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
  if (!nonRoot) return undefined;
  const uid = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
  if (uid !== undefined) return uid === 0 ? 'runAsNonRoot with runAsUser 0' : undefined;
  const imageUid = user?.split(':')[0];
  if (imageUid === undefined) return 'runAsNonRoot, no runAsUser, and the image has no USER (root)';
  if (!/^[0-9]+$/.test(imageUid)) return `runAsNonRoot, no runAsUser, and the image's user "${user}" is not numeric`;
  return Number(imageUid) === 0 ? 'runAsNonRoot and the image runs as uid 0' : undefined;
}

/** Every meshgate container of a pod: declared non-root, and startable as such. */
function checkNonRoot(where: string, pod: PodSpec): number {
  let checked = 0;
  for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
    if (!/^meshgate(:|$)/.test(c.image)) continue;
    checked++;
    assert.equal(c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, true, `${where} ${c.name}: runAsNonRoot`);
    const refusal = nonRootRefusal(pod, c, imageUser);
    assert.equal(refusal, undefined, `${where} ${c.name}: the kubelet would not start it (${refusal})`);
  }
  return checked;
}

function checkContainer(where: string, c: Container): void {
  if (c.image !== 'meshgate') return;
  const env = c.env ?? [];
  // Helpers only used inside other values as $(NAME) (the Kubernetes env substitution) are not read by the code.
  const helpers = new Set(env.map((e) => e.name).filter((n) => env.some((e) => e.value?.includes(`$(${n})`))));
  if (c.command?.join(' ') === 'node dist/compose/demo/serve.js') {
    checkEnv(where, 'demo', env.map((e) => e.name), helpers);
    return;
  }
  assert.equal(c.command, undefined, `${where}: the image's entrypoint is the meshgate CLI`);
  const sub = checkArgs(where, c.args ?? []);
  checkEnv(where, sub, env.map((e) => e.name), helpers);
  for (const p of c.ports ?? []) assert.ok(PORTS[sub]?.includes(p.containerPort), `${where}: ${p.containerPort} is a default port of meshgate ${sub}`);
  if (sub in ADMIN_PORT) {
    assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: ADMIN_PORT[sub] }, `${where}: readiness on /readyz`);
    assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: ADMIN_PORT[sub] }, `${where}: liveness on /healthz`);
  }
}

test('k8s: every meshgate container runs a real subcommand, reads only env the code reads, probes /healthz and /readyz on its admin port', () => {
  let checked = 0;
  for (const { file, doc, spec } of podSpecs) {
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      checkContainer(`${file} ${doc.kind}/${doc.metadata.name} ${c.name}`, c);
      checked++;
    }
  }
  assert.ok(checked >= 10);
});

test('k8s: a pod that asks for runAsNonRoot names a numeric user, in the manifest or the image', () => {
  // The rule itself, on the cases the kubelet refuses and the ones it starts.
  const c: Container = { name: 'c', image: 'meshgate' };
  assert.match(nonRootRefusal({ securityContext: { runAsNonRoot: true } }, c, 'node')!, /not numeric/);
  assert.match(nonRootRefusal({ securityContext: { runAsNonRoot: true } }, c, undefined)!, /no USER/);
  assert.match(nonRootRefusal({ securityContext: { runAsNonRoot: true, runAsUser: 0 } }, c, '1000')!, /runAsUser 0/);
  assert.match(nonRootRefusal({}, { ...c, securityContext: { runAsNonRoot: true } }, '0:0')!, /uid 0/);
  assert.equal(nonRootRefusal({ securityContext: { runAsNonRoot: true } }, c, '1000:1000'), undefined);
  assert.equal(nonRootRefusal({ securityContext: { runAsNonRoot: true, runAsUser: 1000 } }, c, 'node'), undefined);
  assert.equal(nonRootRefusal({ securityContext: { runAsNonRoot: true } }, { ...c, securityContext: { runAsUser: 1000 } }, 'node'), undefined);
  assert.equal(nonRootRefusal({}, c, 'node'), undefined, 'no runAsNonRoot: nothing to verify');
  // Every meshgate container in the files as written (the sidecar patch carries its own securityContext, since the
  // pods it joins may set none).
  let checked = 0;
  for (const { file, doc, spec } of podSpecs) checked += checkNonRoot(`${file} ${doc.kind}/${doc.metadata.name}`, spec);
  assert.ok(checked >= 8, `${checked} meshgate containers`);
});

test('k8s: the sidecar is a native sidecar (init container, restartPolicy Always), attached by a component to labelled Deployments', () => {
  const patch = k8sDocs.find(({ file }) => file.endsWith('components/sidecar/sidecar-patch.yaml'))!;
  const sidecar = (patch.doc.spec!.template.spec.initContainers as Container[])[0];
  assert.equal(sidecar.restartPolicy, 'Always');
  assert.deepEqual(sidecar.args, ['sidecar']);
  assert.deepEqual(sidecar.startupProbe?.httpGet, { path: '/healthz', port: ADMIN_PORT.sidecar });
  assert.equal(sidecar.env?.find((e) => e.name === 'NODE_OPTIONS')?.value, LOW_MEMORY, 'the low-memory setting');
  const component = parse(readFileSync(join(K8S_DIR, 'components', 'sidecar', 'kustomization.yaml'), 'utf8')) as { kind: string; patches: { path: string; target: { labelSelector: string } }[] };
  assert.equal(component.kind, 'Component');
  const selector = component.patches[0].target.labelSelector;
  const [key, value] = selector.split('=');
  const demos = k8sDocs.filter(({ file, doc }) => file.endsWith('demo-apps.yaml') && doc.kind === 'Deployment');
  assert.equal(demos.length, 3);
  for (const { doc } of demos) {
    assert.equal(doc.metadata.labels?.[key], value, `${doc.metadata.name} opts in to the sidecar`);
    const annotations = doc.spec!.template.metadata.annotations as Record<string, string>;
    const container = (doc.spec!.template.spec.containers as Container[])[0];
    const port = container.env!.find((e) => e.name === DEMO_ENV.port)!.value;
    assert.equal(annotations['meshgate.io/app-port'], port, `${doc.metadata.name}: the sidecar's app port is the app's`);
  }
});

test('k8s: kustomization lists files that exist; edge has a PDB and an HPA; a Job applies the routes ConfigMap', () => {
  const kust = parse(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as {
    resources: string[];
    components: string[];
    configMapGenerator: { name: string; files: string[] }[];
  };
  for (const r of [...kust.resources, ...kust.components]) assert.ok(existsSync(join(K8S_DIR, r)), `${r} exists`);
  const routes = kust.configMapGenerator.find((g) => g.name === 'meshgate-routes')!;
  assert.deepEqual(routes.files, ['routes.yaml']);
  assert.equal(readFileSync(join(K8S_DIR, 'routes.yaml'), 'utf8'), readFileSync(join(COMPOSE_DIR, 'routes.yaml'), 'utf8'), 'compose/k8s/routes.yaml is a copy of compose/routes.yaml');
  const kinds = (kind: string) => k8sDocs.filter(({ doc }) => doc.kind === kind).map(({ doc }) => doc);
  const pdb = kinds('PodDisruptionBudget').find((d) => d.metadata.name === 'edge')!;
  const edge = kinds('Deployment').find((d) => d.metadata.name === 'edge')!;
  assert.deepEqual(pdb.spec!.selector.matchLabels, edge.spec!.selector.matchLabels);
  const hpa = kinds('HorizontalPodAutoscaler').find((d) => d.metadata.name === 'edge')!;
  assert.deepEqual(hpa.spec!.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'edge' });
  assert.ok(hpa.spec!.minReplicas >= 2 && (pdb.spec!.minAvailable as number) < hpa.spec!.minReplicas, 'a drain keeps an edge serving');
  const job = kinds('Job').find((d) => d.metadata.name === 'meshgate-apply')!;
  const container = job.spec!.template.spec.containers[0] as Container & { volumeMounts: { name: string; mountPath: string }[] };
  assert.equal(container.args![0], 'apply');
  const mount = container.volumeMounts.find((m) => container.args![1].startsWith(m.mountPath + '/'))!;
  const volume = (job.spec!.template.spec.volumes as { name: string; configMap: { name: string } }[]).find((v) => v.name === mount.name)!;
  assert.equal(volume.configMap.name, 'meshgate-routes');
  assert.equal(container.args![1], `${mount.mountPath}/routes.yaml`);
  // Services expose what the containers listen on.
  for (const svc of kinds('Service')) {
    const pods = podSpecs.filter(({ doc }) => Object.entries(svc.spec!.selector as Record<string, string>).every(([k, v]) => doc.spec!.template.metadata.labels?.[k] === v));
    assert.equal(pods.length, 1, `Service ${svc.metadata.name} selects one workload`);
    const ports = new Set(pods[0].spec.containers!.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)));
    for (const p of svc.spec!.ports as { targetPort: number }[]) assert.ok(ports.has(p.targetPort), `Service ${svc.metadata.name} → ${p.targetPort}`);
  }
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

test('k8s: kustomize renders the topology with a native sidecar in every demo pod, and the attach example', { skip: !kubectl && 'kubectl not installed' }, () => {
  const render = (dir: string) => {
    const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sDoc);
  };
  const docs = render(K8S_DIR);
  const deployments = docs.filter((d) => d.kind === 'Deployment');
  // As the kubelet gets them: the sidecar merged into the demo pods, under their pod securityContext.
  for (const d of docs) if (d.spec?.template?.spec) checkNonRoot(`rendered ${d.kind}/${d.metadata.name}`, d.spec.template.spec as PodSpec);
  for (const d of deployments) {
    const init = (d.spec!.template.spec.initContainers ?? []) as Container[];
    const demo = d.metadata.labels?.['meshgate.io/sidecar'] === 'enabled';
    assert.equal(init.some((c) => c.name === 'meshgate-sidecar' && c.restartPolicy === 'Always'), demo, `${d.metadata.name}: sidecar iff opted in`);
  }
  assert.ok(docs.every((d) => d.kind === 'Namespace' || (d.metadata as { namespace?: string }).namespace === 'meshgate'));
  const example = render(join(K8S_DIR, 'examples', 'attach-sidecar'));
  const payments = example.find((d) => d.kind === 'Deployment')!;
  const sidecar = (payments.spec!.template.spec.initContainers as Container[]).find((c) => c.name === 'meshgate-sidecar')!;
  assert.equal(sidecar.restartPolicy, 'Always');
  checkNonRoot('rendered attach example', payments.spec!.template.spec as PodSpec);
  assert.deepEqual(payments.spec!.template.spec.containers.map((c: Container) => c.name), ['payments'], 'the app container is untouched');
});

// ---- the image ----

test('Dockerfile: multi-stage node:20-slim, production deps only, non-root, HEALTHCHECK on /healthz, the meshgate CLI as entrypoint', () => {
  const text = dockerfile;
  const from = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.ok(from.length >= 2 && from.every((f) => f === 'node:20-slim'), `stages: ${from.join(', ')}`);
  const [build, runtime] = text.split(/^FROM /m).slice(1);
  assert.match(build, /RUN npm ci\b/);
  assert.match(build, /RUN npm run build/);
  assert.match(runtime, /RUN npm ci --omit=dev/);
  assert.match(runtime, /COPY --from=build \/app\/dist/);
  // Numeric: a user name cannot be checked by Kubernetes' runAsNonRoot (the container is refused).
  assert.match(imageUser ?? '', /^[0-9]+(:[0-9]+)?$/, `USER ${imageUser}: a numeric uid[:gid]`);
  assert.notEqual(Number(imageUser!.split(':')[0]), 0, 'runs as a non-root user');
  assert.match(runtime, /^HEALTHCHECK [\s\S]*\/healthz/m);
  const instructions = runtime.split('\n').filter((l) => !l.startsWith('#')).join('\n');
  assert.doesNotMatch(instructions, /curl|wget/, 'slim has neither: the healthcheck uses node');
  for (const port of Object.values(ADMIN_PORT)) assert.match(text.split('HEALTHCHECK')[1], new RegExp(`\\b${port}\\b`), `healthcheck knows admin port ${port}`);
  const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(runtime)![1]) as string[];
  assert.deepEqual(entrypoint, ['node', 'dist/compose/cli.js']);
  assert.ok(existsSync(join(ROOT, 'compose', 'cli.ts')));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  assert.equal(pkg.bin.meshgate, entrypoint[1], 'the entrypoint is the package bin');
  // Every COPY source exists (build context = the repository).
  for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
    for (const source of m[1].split(/\s+/)) {
      const base = source.replace(/\/?\*.*$/, '');
      assert.ok(existsSync(join(ROOT, base)), `COPY ${source}`);
    }
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignore.includes(entry), `.dockerignore: ${entry}`);
  // Files the code loads at run time next to dist/ are in the image.
  for (const needed of ['proto/*.proto', 'compose/routes.yaml', 'schema']) assert.ok(runtime.includes(`COPY ${needed}`), `image has ${needed}`);
  assert.ok(existsSync(dirname(join(ROOT, 'compose/demo/serve.ts'))));
});

test('docs/operations.md: every meshgate command it shows is a real subcommand with real flags', () => {
  const text = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
  // Commands in fenced blocks (one per line) and in inline code spans.
  const code = [...text.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n')).concat([...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]));
  let shown = 0;
  for (const line of code) {
    const m = /^(?:\$ )?(?:[A-Z_]+=\S+ )*(?:npm run meshgate --|meshgate) ([a-z]+)((?: [^|;&#]*)?)/.exec(line.trim());
    if (!m) continue;
    shown++;
    const args = [m[1], ...(m[2].match(/"[^"]*"|'[^']*'|\S+/g) ?? [])];
    checkArgs(`docs/operations.md: ${line.trim()}`, args);
  }
  assert.ok(shown >= 5, `${shown} meshgate commands shown`);
  for (const heading of ['Attach a sidecar', 'route change', 'Revoke a token', 'Jaeger', 'Grafana']) assert.match(text, new RegExp(heading, 'i'));
});
