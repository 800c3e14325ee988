// The nodes' config check without TypeBox: the generated shape check agrees with TypeBox's own on valid and broken
// documents, cross-references are checked after it, a refused snapshot is still explained field by field, and
// neither a node nor the CLI that starts one loads TypeBox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parse } from 'yaml';
import { Duration, MeshConfig } from '../../../../core/config/schema.js';
import { isMeshConfigShape } from '../../../../core/config/shape-check.js';
import { DURATION_FIELDS, SHAPE_MISMATCH, checkConfig, formatErrors } from '../../../../core/config/check.js';
import { parseConfigText } from '../../../../core/config/load.js';
import { explainRefusal } from '../../../../core/config/config-watch.js';
import { compileRecord } from '../../../../core/config/snapshot.js';

const example = parse(readFileSync('compose/routes.yaml', 'utf8')) as Record<string, unknown>;
const clone = () => structuredClone(example) as { routes: Record<string, unknown>[]; services: Record<string, unknown>[]; [k: string]: unknown };

/** Documents of every kind of wrongness the schema covers, and some right ones. */
function corpus(): [string, unknown][] {
  const docs: [string, unknown][] = [['example', example]];
  const add = (name: string, edit: (d: ReturnType<typeof clone>) => void) => {
    const d = clone();
    edit(d);
    docs.push([name, d]);
  };
  add('no routes', (d) => delete (d as Record<string, unknown>).routes);
  add('unknown top-level field', (d) => (d.extra = 1));
  add('wrong apiVersion', (d) => (d.apiVersion = 'meshgate/v2'));
  add('service name pattern', (d) => (d.services[0].name = 'Bad_Name'));
  add('route path with //', (d) => (d.routes[0].matches = [{ path: { type: 'PathPrefix', value: '/a//b' } }]));
  add('path type not in the union', (d) => (d.routes[0].matches = [{ path: { type: 'Regex', value: '/a' } }]));
  add('duration pattern', (d) => (d.routes[0].timeouts = { request: 'soon' }));
  add('number where a string goes', (d) => (d.services[0].name = 5));
  add('array where an object goes', (d) => (d.routes[0] = []));
  add('unknown route field', (d) => (d.routes[0].colour = 'blue'));
  add('extra services are fine', (d) => d.services.push({ name: 'spare' }));
  docs.push(['null', null], ['string', 'routes: []'], ['empty object', {}]);
  return docs;
}

test('the generated shape check (shape-check.ts) answers as TypeBox compiles the schema, document by document', () => {
  const typebox = TypeCompiler.Compile(MeshConfig);
  const answers = corpus().map(([name, doc]) => [name, isMeshConfigShape(doc)]);
  assert.deepEqual(answers, corpus().map(([name, doc]) => [name, typebox.Check(doc)]));
  assert.ok(answers.filter(([, ok]) => ok).length >= 2 && answers.filter(([, ok]) => !ok).length >= 10, 'both answers are exercised');
});

test('checkConfig: a wrong shape is one error at the root; cross-references after it; a valid config comes back', () => {
  const wrong = clone();
  wrong.extra = 1;
  assert.deepEqual(checkConfig(wrong), { errors: [{ path: '', message: SHAPE_MISMATCH }] });
  const dangling = clone();
  dangling.routes[0].backendRefs = [{ name: 'nowhere' }];
  assert.deepEqual(checkConfig(dangling).errors.map((e) => e.path), ['routes[0].backendRefs[0].name']);
  assert.equal(checkConfig(example).config, example);
});

test('a policy named after an Object.prototype member is unknown: refused by the check, and by the compiler too', () => {
  // Before: `auth: constructor` passed (`in` found Object.prototype.constructor) and the route was served without
  // authentication; `quota: [constructor]` crashed `apply`, and a node that received such a snapshot.
  const auth = clone();
  auth.routes[0].auth = 'constructor';
  const quota = clone();
  quota.routes[0].quota = ['constructor'];
  assert.deepEqual(checkConfig(auth).errors.map((e) => e.path), ['routes[0].auth']);
  assert.deepEqual(checkConfig(quota).errors.map((e) => e.path), ['routes[0].quota[0]']);
  for (const config of [auth, quota]) {
    const { snapshot, errors } = compileRecord(JSON.stringify({ version: 2, config }), (c) => ({ config: c as MeshConfig, errors: [] }));
    assert.equal(snapshot, undefined);
    assert.match(errors[0].message, /unknown (auth|quota) policy/);
  }
});

test('a refused snapshot of the wrong shape is explained field by field (TypeBox, loaded for it)', async () => {
  const config = clone();
  config.routes[0].timeouts = { request: 'soon' };
  const errors = await explainRefusal(JSON.stringify({ version: 2, digest: 'd', config }));
  assert.deepEqual(errors.map((e) => e.path), ['config.routes[0].timeouts.request']);
  assert.match(errors[0].message, /expected string to match/);
});

test('neither a node nor the CLI that starts one loads TypeBox', () => {
  // A loader hook that fails any import of TypeBox; the positive control shows it does fail one.
  const hook = `import{register}from'node:module';register('data:text/javascript,export async function load(u,c,n){if(u.includes("@sinclair/typebox"))throw new Error("TypeBox loaded: "+u);return n(u,c)}')`;
  const run = (modules: string[]) =>
    execFileSync(process.execPath, ['--import', 'tsx', '--import', `data:text/javascript,${hook}`, '--input-type=module', '-e', `${modules.map((m) => `await import('./${m}');`).join('')} console.log('loaded')`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const cli = ['edge/command.ts', 'sidecar/command.ts', 'authz-svc/command.ts', 'quota-svc/command.ts', 'registry/command.ts', 'compose/up-command.ts'];
  assert.equal(run(['sidecar/main.ts', 'edge/main.ts', ...cli]).trim(), 'loaded');
  assert.throws(() => run(['core/config/validate.ts']), /TypeBox loaded/);
});

/** Every field of the schema that is a Duration, in DURATION_FIELDS' notation ("[]" an array item, "*" a record entry). */
function durationFieldsOf(schema: Record<string, unknown>, path = ''): string[] {
  if (schema.pattern === Duration.pattern) return [path];
  const out: string[] = [];
  const join = (key: string) => (path ? `${path}.${key}` : key);
  for (const [key, sub] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>)) out.push(...durationFieldsOf(sub, join(key)));
  if (schema.items) out.push(...durationFieldsOf(schema.items as Record<string, unknown>, `${path}[]`));
  for (const sub of Object.values((schema.patternProperties ?? {}) as Record<string, Record<string, unknown>>)) out.push(...durationFieldsOf(sub, join('*')));
  for (const sub of (schema.anyOf ?? []) as Record<string, unknown>[]) out.push(...durationFieldsOf(sub, path));
  return out;
}

test('only Duration fields are checked as durations: a hostname, scope or claim value that looks like one is a string', () => {
  // Before: every string that looked like a duration was checked; hostname "30000h" (a legal DNS label), scope "99999h"
  // and claim value "100000h" were refused as "longer than 24 days".
  assert.deepEqual([...DURATION_FIELDS].sort(), durationFieldsOf(MeshConfig as unknown as Record<string, unknown>).sort());
  const lookalikes = clone();
  lookalikes.routes[0].hostnames = ['30000h'];
  lookalikes.routes[0].auth = { scopes: ['99999h'], claims: { tier: '100000h' }, audiences: ['99999h'] };
  lookalikes.services[0].endpoints = ['99999h:80'];
  assert.deepEqual(checkConfig(lookalikes).errors, []);
  // A real duration that long is still refused, wherever the schema has one.
  const long = clone();
  long.routes[0].timeouts = { request: '99999h' };
  long.routes[0].quota = [{ limit: 1, window: '99999h' }];
  long.services[0].healthCheck = { path: '/', interval: '600h' };
  long.policies = { ...(long.policies as object), quota: { slow: { limit: 1, window: '99999h' } } };
  long.issuers = [{ issuer: 'i', refreshInterval: '99999h' }];
  assert.deepEqual(checkConfig(long).errors.map((e) => `${e.path}: ${e.message}`).sort(), [
    'issuers[0].refreshInterval: duration 99999h is longer than 24 days',
    'policies.quota.slow.window: duration 99999h is longer than 24 days',
    'routes[0].quota[0].window: duration 99999h is longer than 24 days',
    'routes[0].timeouts.request: duration 99999h is longer than 24 days',
    'services[0].healthCheck.interval: duration 600h is longer than 24 days',
  ]);
});

test('a quota window of 0 is refused, and a global window under 1s; the field and its file line are named', () => {
  // Before: `window: 0s` passed validate and apply; at run time a local policy then never limited and a global one
  // refused every request, as did a global 1ms window (its grant arrived after the window ended).
  const windows = clone();
  windows.routes[0].quota = [
    { limit: 3, window: '0s' },
    { limit: 3, window: '0ms', scope: 'global' },
    { limit: 3, window: '1ms', scope: 'global' },
    { limit: 3, window: '999ms', scope: 'global' },
    { limit: 3, window: '1ms' },
    { limit: 3, window: '1s', scope: 'global' },
    { limit: 3, window: 'second', scope: 'global' },
  ];
  windows.policies = { ...(windows.policies as object), quota: { none: { limit: 1, window: '0h0m' }, quick: { limit: 1, window: '500ms', scope: 'global' } } };
  assert.deepEqual(checkConfig(windows).errors.map((e) => `${e.path}: ${e.message}`).sort(), [
    'policies.quota.none.window: window 0h0m is zero: a quota window must be longer than 0',
    'policies.quota.quick.window: window 500ms is shorter than 1s, the shortest a global policy takes (each lease is a round trip to quota-svc); use a local policy for a finer rate',
    'routes[0].quota[0].window: window 0s is zero: a quota window must be longer than 0',
    'routes[0].quota[1].window: window 0ms is zero: a quota window must be longer than 0',
    'routes[0].quota[2].window: window 1ms is shorter than 1s, the shortest a global policy takes (each lease is a round trip to quota-svc); use a local policy for a finer rate',
    'routes[0].quota[3].window: window 999ms is shorter than 1s, the shortest a global policy takes (each lease is a round trip to quota-svc); use a local policy for a finer rate',
  ]);
  const yaml = [
    'apiVersion: meshgate/v1',
    'services: [{ name: echo }]',
    'routes:',
    '  - name: zero',
    '    matches: [{ path: { type: PathPrefix, value: /zero } }]',
    '    backendRefs: [{ name: echo }]',
    '    quota:',
    '      - { limit: 3, window: 0s, key: [header:x-k] }',
    '      - limit: 3',
    '        window: 1ms',
    '        scope: global',
  ].join('\n');
  assert.deepEqual(formatErrors(parseConfigText(yaml).errors, 'routes.yaml'), [
    'routes.yaml:8: routes[0].quota[0].window: window 0s is zero: a quota window must be longer than 0',
    'routes.yaml:10: routes[0].quota[1].window: window 1ms is shorter than 1s, the shortest a global policy takes (each lease is a round trip to quota-svc); use a local policy for a finer rate',
  ]);
});
