// Graceful drain: a draining sidecar fails /readyz, leaves the endpoint set, finishes what it holds, then closes;
// a rolling restart of one of two sidecar+app instances under bounded load through the edge fails no request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'undici';
import type { MeshConfig } from '../../core/config/schema.js';
import { startMesh, type Mesh } from '../support/resilience-mesh.js';
import { waitFor } from '../support/wait-for.js';

const CONFIG = {
  apiVersion: 'meshgate/v1',
  services: [{ name: 'roll' }, { name: 'held' }],
  routes: [
    { name: 'roll', matches: [{ path: { type: 'PathPrefix', value: '/roll' } }], backendRefs: [{ name: 'roll' }] },
    { name: 'held', matches: [{ path: { type: 'PathPrefix', value: '/held' } }], backendRefs: [{ name: 'held' }] },
  ],
} as MeshConfig;

let mesh: Mesh;

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
  });
}

before(async () => {
  mesh = await startMesh(CONFIG, { drainDelayMs: 300 });
});

after(async () => {
  await mesh?.close();
});

test('drain: readiness fails, the endpoint is deregistered, the in-flight request completes, then it closes', async () => {
  const instance = await mesh.addInstance('held', 'slow');
  const address = `127.0.0.1:${instance.sidecar.inboundPort}`;
  await waitFor(() => mesh.endpoints.list('held').includes(address), 'registration');
  const inFlight = mesh.get('/held/x');
  await instance.app.waitForHeld(1);

  const closing = instance.sidecar.close();
  const ready = await request(`http://127.0.0.1:${instance.sidecar.adminPort}/readyz`);
  assert.equal(ready.statusCode, 503);
  assert.equal((JSON.parse(await ready.body.text()) as { draining: boolean }).draining, true);
  await waitFor(() => !mesh.endpoints.list('held').includes(address), 'deregistration');
  // After the drain delay, no new connection is accepted while it finishes the held request.
  await waitFor(() => refuses(instance.sidecar.inboundPort), 'the inbound listener to stop accepting');
  assert.equal(instance.app.held, 1);

  instance.app.release();
  const res = await inFlight;
  assert.equal(res.status, 200, res.body);
  await closing;
  await instance.app.close();
  mesh.instances.splice(mesh.instances.indexOf(instance), 1);
});

test('rolling restart of one of two instances under bounded load: zero failed requests', async () => {
  const a = await mesh.addInstance('roll', 'ok', 'roll-a');
  const b = await mesh.addInstance('roll', 'ok', 'roll-b');
  await waitFor(() => mesh.endpoints.list('roll').length === 2, 'two endpoints');

  const WORKERS = 8;
  const MAX_PER_WORKER = 3_000;
  let stop = false;
  let sent = 0;
  const failures: string[] = [];
  const worker = async (w: number) => {
    for (let i = 0; i < MAX_PER_WORKER && !stop; i++) {
      const post = (i + w) % 4 === 0; // some non-idempotent traffic too: it must not fail either
      try {
        const r = await mesh.get('/roll/x', post ? { method: 'POST', body: '{"n":1}' } : {});
        sent++;
        if (r.status !== 200) failures.push(`${post ? 'POST' : 'GET'} ${r.status} ${r.body}`);
      } catch (err) {
        sent++;
        failures.push(`${post ? 'POST' : 'GET'} ${(err as Error).message}`);
      }
    }
  };
  const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  try {
    await waitFor(() => a.app.received.length >= 50 && b.app.received.length >= 50, 'traffic on both instances', 15_000);
    // Restart a: drain its sidecar, stop its app, start a new app + sidecar (a new address), wait for its traffic.
    await mesh.stopInstance(a);
    const servedByB = b.app.received.length;
    const a2 = await mesh.addInstance('roll', 'ok', 'roll-a2');
    await waitFor(() => a2.app.received.length >= 50 && b.app.received.length >= servedByB + 50, 'traffic on the new instance', 15_000);
  } finally {
    stop = true;
    await load;
  }
  console.log(`rolling restart: ${sent} requests through the edge, ${failures.length} failed`);
  assert.deepEqual(failures.slice(0, 5), []);
  assert.ok(sent > 200, `only ${sent} requests`);
});
