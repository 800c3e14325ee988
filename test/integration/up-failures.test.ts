// `meshgate up` that cannot start: a taken port, an invalid config, a short admin token. One line naming the flag
// or the field and file line, exit 2, and whatever had started before the failure closed again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { up, type UpOptions } from '../../compose/up.js';
import { freePort } from '../support/free-port.js';
import { runMeshgate } from '../support/spawn-mesh.js';

let dir: string;
let busy: Server;
let busyPort: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshgate-up-failures-'));
  copyFileSync('compose/routes.yaml', join(dir, 'routes.yaml'));
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
});

after(async () => {
  await new Promise((resolve) => busy?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** Free ports for every `up` listener; the edge admin port (the last one bound) is the taken one. */
async function ports() {
  return {
    edgeHttpPort: await freePort(),
    edgeHttpsPort: await freePort(),
    edgeAdminPort: busyPort,
    authzHttpPort: await freePort(),
    authzGrpcPort: await freePort(),
    quotaHttpPort: await freePort(),
    quotaGrpcPort: await freePort(),
    registryPort: await freePort(),
  };
}

function bindable(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

test('up() failing on its last listener closes everything it had started', async () => {
  const p = await ports();
  const options: UpOptions = { ...p, config: join(dir, 'routes.yaml'), host: '127.0.0.1', ephemeral: false, issuer: 'https://meshgate.test', stateDir: join(dir, 'state'), watch: true };
  await assert.rejects(up(options), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
  for (const [name, port] of Object.entries(p)) if (port !== busyPort) assert.ok(await bindable(port), `${name} ${port} was released`);
});

test('meshgate up with a taken port names the flag, exits 2 and does not hang', async () => {
  const p = await ports();
  const flags = Object.entries(p).flatMap(([key, port]) => [`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(port)]);
  const r = await runMeshgate(['up', '--config', join(dir, 'routes.yaml'), '--state-dir', join(dir, 'state'), '--host', '127.0.0.1', ...flags], {}, 60_000);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, `meshgate: --edge-admin-port ${busyPort}: address in use (set it with its flag, or use --ephemeral)\n`);
});

test('meshgate up with an invalid config names field and file line, exits 2, and claims nothing keeps serving', async () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'apiVersion: meshgate/v1\nservices:\n  - name: echo\nroutes:\n  - name: r1\n    matches: [{ path: { value: /x } }]\n    backendRefs: [{ name: nope }]\n');
  const r = await runMeshgate(['up', '--ephemeral', '--no-watch', '--config', bad, '--state-dir', join(dir, 'state')], {}, 60_000);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, `meshgate: ${bad}: 1 error(s): line 7: routes[0].backendRefs[0].name: unknown service "nope"\n`);
  assert.doesNotMatch(r.stdout, /keeps serving|config applied/);
});

test('meshgate up with a missing config file names --config', async () => {
  const missing = join(dir, 'missing.yaml');
  const r = await runMeshgate(['up', '--ephemeral', '--no-watch', '--config', missing, '--state-dir', join(dir, 'state')], {}, 60_000);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `meshgate: --config ${missing}: no such file\n`);
});

test('meshgate up with a short --admin-token names it and exits 2 before starting anything', async () => {
  const r = await runMeshgate(['up', '--ephemeral', '--admin-token', 'short-token', '--config', join(dir, 'routes.yaml'), '--state-dir', join(dir, 'state')], {}, 60_000);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, 'meshgate: --admin-token (or MESHGATE_ADMIN_TOKEN) must be at least 16 characters\n');
  assert.equal(r.stdout, '', 'nothing was started or logged');
});
