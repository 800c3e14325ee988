// Config validation: every error named by field path and file line; the whole file refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CONFIG_FILE_BYTES, loadConfigFile, parseConfigBytes, parseConfigText, readConfigFile } from '../../../../core/config/load.js';
import { ConfigInvalidError, MAX_REPORTED_ERRORS, formatErrors } from '../../../../core/config/check.js';

test('the example config is valid', () => {
  const { config, errors } = parseConfigText(readFileSync('compose/routes.yaml', 'utf8'));
  assert.deepEqual(errors, []);
  assert.ok(config!.routes.some((r) => r.name === 'public'));
});

test('every error names its field and line', () => {
  const text = [
    'apiVersion: meshgate/v1',
    'services:',
    '  - name: Bad_Name',
    'routes:',
    '  - name: r',
    '    matches:',
    '      - path: { type: Foo, value: /x }',
    '    backendRefs: [{ name: echo }]',
    '    timeouts: { request: soon }',
  ].join('\n');
  const { config, errors } = parseConfigText(text);
  assert.equal(config, undefined);
  const byPath = Object.fromEntries(errors.map((e) => [e.path, e]));
  assert.equal(byPath['services[0].name'].line, 3);
  assert.equal(byPath['routes[0].matches[0].path.type'].line, 7);
  assert.match(byPath['routes[0].matches[0].path.type'].message, /PathPrefix, Exact/);
  assert.ok(byPath['routes[0].timeouts.request']);
});

test('cross references are checked after the schema', () => {
  const text = `apiVersion: meshgate/v1
services: [{ name: echo }, { name: echo }]
routes:
  - name: r
    matches: [{ path: { value: /x } }]
    backendRefs: [{ name: nope }]
    auth: missing-policy
`;
  const { errors } = parseConfigText(text);
  const paths = errors.map((e) => e.path);
  assert.ok(paths.includes('services[1].name'), paths.join());
  assert.ok(paths.includes('routes[0].backendRefs[0].name'), paths.join());
  assert.ok(paths.includes('routes[0].auth'), paths.join());
});

test('YAML syntax errors carry a line', () => {
  const { errors } = parseConfigText('apiVersion: meshgate/v1\nservices: [\n');
  assert.ok(errors.length > 0);
  assert.ok(errors[0].line);
});

test('an alias bomb is an error with a line, not an exception (was a stack trace from the CLI and a 500 from the registry)', () => {
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  const { config, errors } = parseConfigText(levels.join('\n'));
  assert.equal(config, undefined);
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /alias/i);
  assert.equal(errors[0].line, 1);
});

test('a path match must be normalized as requests are: "//", "." and ".." segments, raw non-ASCII and lowercase escapes are refused, the field named', () => {
  const config = (values: string[]) => `apiVersion: meshgate/v1
services: [{ name: echo }]
routes:
${values.map((v, i) => `  - name: r${i}\n    matches: [{ path: { value: "${v}" } }]\n    backendRefs: [{ name: echo }]`).join('\n')}
`;
  const bad = ['/a//b', '//', '/./a', '/a/..', '/a/../b', '/café', '/a b', '/a%2fb', '/a%'];
  const { config: refused, errors } = parseConfigText(config(bad));
  assert.equal(refused, undefined);
  assert.deepEqual(errors.map((e) => e.path), bad.map((_, i) => `routes[${i}].matches[0].path.value`));
  assert.match(errors[0].message, /no "\/\/", "\." or "\.\." segments/);
  const good = ['/', '/a', '/a/', '/a/b', '/.well-known/x', '/a/..b', '/caf%C3%A9', '/v1/items:batch', "/a;b=c,d!$&'()*+@~"];
  assert.deepEqual(parseConfigText(config(good)).errors, []);
});

/** A config of one service `echo` and one route `r` on /x to it; `route` adds lines to the route (4 spaces in). */
function oneRoute(route: string, service = '{ name: echo }'): string {
  return `apiVersion: meshgate/v1
services: [${service}]
routes:
  - name: r
    matches: [{ path: { value: /x } }]
    backendRefs: [{ name: echo }]
${route}`;
}

test('a path the mesh sends (URL rewrite, health check) must be RFC 3986 characters, or the field is named', () => {
  const config = (rewrite: string, health: string) =>
    oneRoute(
      `    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: "${rewrite}" } } }]\n`,
      `{ name: echo, healthCheck: { path: "${health}" } }`,
    );
  const { errors } = parseConfigText(config('/new path', '/héalth'));
  assert.deepEqual(errors.map((e) => e.path).sort(), ['routes[0].filters[0].urlRewrite.path.replacePrefixMatch', 'services[0].healthCheck.path']);
  assert.deepEqual(parseConfigText(config('/v2/caf%c3%a9;x=1', '/healthz?deep=1&from=mesh')).errors, []);
  assert.deepEqual(parseConfigText(config('/v2?x=1', '/healthz?a b')).errors.map((e) => e.path).sort(), ['routes[0].filters[0].urlRewrite.path.replacePrefixMatch', 'services[0].healthCheck.path']);
});

test('a filter is checked as the kind its type names: the wrong field inside it is named, or the type itself', () => {
  const errorsOf = (filter: string) => parseConfigText(oneRoute(`    filters: [${filter}]\n`)).errors.map((e) => `${e.path}: ${e.message}`);
  assert.deepEqual(errorsOf('{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: "bad name", value: v }] } }'), [
    'routes[0].filters[0].requestHeaderModifier.set[0].name: expected string to match \'^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$\'',
  ]);
  assert.deepEqual(errorsOf('{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /a }, extra: 1 } }'), [
    'routes[0].filters[0].urlRewrite.extra: Unexpected property',
  ]);
  assert.deepEqual(errorsOf('{ type: UrlRewrite }'), ['routes[0].filters[0].type: must be one of: RequestHeaderModifier, ResponseHeaderModifier, URLRewrite']);
});

test('a policy given inline (auth, quota) is checked as one: its wrong field is named', () => {
  const errorsOf = (route: string) => parseConfigText(oneRoute(route)).errors.map((e) => e.path);
  assert.deepEqual(errorsOf('    auth: { scopes: read }\n'), ['routes[0].auth.scopes']);
  assert.deepEqual(errorsOf('    quota: [{ limit: -1, window: minute }]\n'), ['routes[0].quota[0].limit']);
  assert.deepEqual(errorsOf('    auth: Not_A_Name\n'), ['routes[0].auth']);
});

test('an Exact match that an earlier route has too (same hostnames, method, headers) is refused, the later one named with its line', () => {
  // Before: accepted; the second route got no traffic, silently.
  const routes = (...matches: string[]) => `apiVersion: meshgate/v1
services: [{ name: echo }]
routes:
${matches.map((m, i) => `  - name: r${i}\n    ${m}\n    backendRefs: [{ name: echo }]`).join('\n')}
`;
  const exact = 'matches: [{ path: { type: Exact, value: /x } }]';
  const { config, errors } = parseConfigText(routes(exact, exact));
  assert.equal(config, undefined);
  assert.deepEqual(errors.map((e) => [e.path, e.line]), [['routes[1].matches[0]', 8]]);
  assert.match(errors[0].message, /never reached: routes\[0\]\.matches\[0\] \(route "r0"\) has the same Exact path \/x/);
  // Header names compare without case, headers in any order; the hostnames the second has must all be taken.
  const withHeaders = (h: string) => `matches: [{ path: { type: Exact, value: /x }, method: GET, headers: [${h}] }]`;
  assert.deepEqual(
    parseConfigText(routes(withHeaders('{ name: A, value: "1" }, { name: b, value: "2" }'), withHeaders('{ name: B, value: "2" }, { name: a, value: "1" }'))).errors.map((e) => e.path),
    ['routes[1].matches[0]'],
  );
  assert.deepEqual(parseConfigText(routes(`hostnames: [a.test, b.test]\n    ${exact}`, `hostnames: [b.test]\n    ${exact}`)).errors.map((e) => e.path), ['routes[1].matches[0]']);
  // Each of these is reached by some request, so accepted.
  for (const [first, second] of [
    [exact, 'matches: [{ path: { type: Exact, value: /y } }]'],
    [exact, 'matches: [{ path: { type: Exact, value: /x }, method: POST }]'],
    [exact, 'matches: [{ path: { type: Exact, value: /x }, headers: [{ name: v, value: "2" }] }]'],
    [exact, 'matches: [{ path: { value: /x } }]'],
    [`hostnames: [a.test]\n    ${exact}`, `hostnames: [a.test, b.test]\n    ${exact}`],
    [`hostnames: [a.test]\n    ${exact}`, exact],
    [`matches: [{ path: { type: Exact, value: /x } }, { path: { type: Exact, value: /x } }]`, 'matches: [{ path: { value: /z } }]'],
  ])
    assert.deepEqual(parseConfigText(routes(first, second)).errors, [], `${first} / ${second}`);
});

test('a rewrite may not put "." or ".." segments on the path, as a match may not have them; an empty match path is refused', () => {
  // Before: replaceFullPath "/../../etc/passwd" and path.value "" were accepted.
  const rewrite = (type: string, value: string) =>
    oneRoute(`    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ${type}, ${type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch'}: "${value}" } } }]\n`);
  for (const value of ['/../../etc/passwd', '/..', '/a/./b', '/a/.', '/%2e%2E/x', '/.%2e', '/a/%2E'])
    for (const type of ['ReplaceFullPath', 'ReplacePrefixMatch']) {
      const { errors } = parseConfigText(rewrite(type, value));
      const field = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
      assert.deepEqual(errors.map((e) => [e.path, e.line]), [[`routes[0].filters[0].urlRewrite.path.${field}`, 7]], `${type} ${value}`);
      assert.match(errors[0].message, /no "\." or "\.\." segments/);
    }
  for (const value of ['/', '/v2', '/v2/', '/a//b', '/.well-known/x', '/a/...', '/a/..b', '/caf%c3%a9;x=1', '/%2e%2ex'])
    assert.deepEqual(parseConfigText(rewrite('ReplaceFullPath', value)).errors, [], value);
  const empty = parseConfigText(oneRoute('').replace('value: /x', 'value: ""'));
  assert.deepEqual(empty.errors.map((e) => [e.path, e.line]), [['routes[0].matches[0].path.value', 5]]);
});

test('a duplicate key or a YAML syntax error names the field it is in (every one was "(root)")', () => {
  const dup = parseConfigText('apiVersion: meshgate/v1\nservices: []\nroutes: []\nroutes: []\n').errors;
  assert.deepEqual(dup, [{ path: 'routes', message: 'duplicate key (first on line 3)', line: 4 }]);
  const nested = parseConfigText('apiVersion: meshgate/v1\nservices: []\nroutes: []\npolicies:\n  auth:\n    a: {}\n    a: {}\n').errors;
  assert.deepEqual(nested, [{ path: 'policies.auth.a', message: 'duplicate key (first on line 6)', line: 7 }]);
  const inRoute = parseConfigText(oneRoute('    websocket: true\n    websocket: false\n')).errors;
  assert.deepEqual(inRoute.map((e) => [e.path, e.line]), [['routes[0].websocket', 8]]);
  const syntax = parseConfigText('apiVersion: meshgate/v1\nservices: [\n  - name: x\n').errors;
  assert.deepEqual(syntax[0].path, 'services[0]');
  assert.match(syntax[0].message, /Block collections are not allowed within flow collections/);
  assert.equal(syntax[0].line, 3);
});

test('a file that is not UTF-8 is refused with the line of the first bad byte (bad bytes became U+FFFD, silently)', () => {
  const utf8 = (s: string) => new TextEncoder().encode(s);
  const withBad = (before: string, bad: number[], after: string) => new Uint8Array([...utf8(before), ...bad, ...utf8(after)]);
  const head = 'apiVersion: meshgate/v1\nservices: [{ name: echo }]\nroutes:\n  - name: r\n    matches: [{ path: { value: /x } }]\n    backendRefs: [{ name: echo }]\n';
  for (const bad of [[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80]]) {
    const { config, errors } = parseConfigBytes(withBad(`${head}    auth: { claims: { tier: "`, bad, '" } }\n'));
    assert.equal(config, undefined);
    assert.deepEqual(errors.map((e) => [e.path, e.line]), [['', 7]], String(bad));
    assert.match(errors[0].message, /not UTF-8/);
  }
  assert.deepEqual(parseConfigBytes(withBad('# caf', [0xe9], '\napiVersion: meshgate/v1\n')).errors.map((e) => e.line), [1]);
  const good = parseConfigBytes(utf8(`${head}    auth: { claims: { tier: "café ✓ 😀" } }\n`));
  assert.deepEqual(good.errors, []);
  assert.equal((good.config!.routes[0].auth as { claims: Record<string, string> }).claims.tier, 'café ✓ 😀');
});

test('a file above MAX_CONFIG_FILE_BYTES is refused unparsed, naming its size and the limit; at most 50 errors are reported', async () => {
  // Before: a 20 MB file took 85 s and 2.8 GB to validate; a broken one printed 168,206 error lines.
  const dir = await mkdtemp(join(tmpdir(), 'meshgate-load-'));
  try {
    const big = join(dir, 'big.yaml');
    await writeFile(big, `apiVersion: meshgate/v1\n${'#'.repeat(MAX_CONFIG_FILE_BYTES)}\n`);
    const { config, errors } = await readConfigFile(big);
    assert.equal(config, undefined);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, new RegExp(`the file is ${MAX_CONFIG_FILE_BYTES + 25} bytes; a config file may be at most ${MAX_CONFIG_FILE_BYTES} bytes`));
    await assert.rejects(loadConfigFile(big), (err: ConfigInvalidError) => err.errors.length === 1 && err.message.startsWith(`${big}: 1 error(s)`));
    const ok = join(dir, 'ok.yaml');
    await writeFile(ok, oneRoute(''));
    assert.equal((await loadConfigFile(ok)).routes[0].name, 'r');
  } finally {
    await rm(dir, { recursive: true });
  }
  const many = `apiVersion: meshgate/v1\nservices:\n${'  - name: Bad_Name\n'.repeat(60)}routes: []\n`;
  const { errors } = parseConfigText(many);
  assert.equal(errors.length, 60);
  const lines = formatErrors(errors, 'many.yaml');
  assert.equal(lines.length, MAX_REPORTED_ERRORS + 1);
  assert.match(lines[0], /^many\.yaml:3: services\[0\]\.name: /);
  assert.equal(lines.at(-1), '… and 10 more');
  assert.equal(new ConfigInvalidError(errors, 'many.yaml').message.split('; ').length, MAX_REPORTED_ERRORS + 1);
});
