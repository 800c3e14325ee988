// The engine orders by phase, not list position; compiles a chain per route; runs sync until I/O.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, orderByPhase, runChain } from '../../../../core/pipeline/engine.js';
import type { StageDef } from '../../../../core/pipeline/stage.js';
import type { Phase } from '../../../../core/pipeline/phase.js';
import { compileConfig } from '../../../../core/config/compile.js';
import { validateConfig } from '../../../../core/config/validate.js';
import { MeshError } from '../../../../core/errors.js';
import { logger } from '../../../../core/telemetry/log.js';
import type { Exchange } from '../../../../core/pipeline/exchange.js';

const trail: string[] = [];
function def(name: string, phase: Phase, onlyFor?: string): StageDef<unknown> {
  return {
    name,
    phase,
    build: ({ route }) => (onlyFor && route?.name !== onlyFor ? undefined : { name, request: () => void trail.push(name) }),
  };
}

function snapshot() {
  const { config } = validateConfig({
    apiVersion: 'meshgate/v1',
    services: [{ name: 'a' }],
    routes: [
      { name: 'open', matches: [{ path: { value: '/open' } }], backendRefs: [{ name: 'a' }] },
      { name: 'closed', matches: [{ path: { value: '/closed' } }], backendRefs: [{ name: 'a' }] },
    ],
  });
  return compileConfig(config!, { version: 1, digest: 'd' });
}

test('a transform listed before auth still runs after it', () => {
  const ordered = orderByPhase([def('transform', 'transformRequest'), def('fwd', 'forward'), def('auth', 'authenticate'), def('route', 'route')]);
  assert.deepEqual(ordered.map((d) => d.name), ['route', 'auth', 'transform', 'fwd']);
});

test('within a phase the tier list decides', () => {
  const ordered = orderByPhase([def('q2', 'quota'), def('q1', 'quota'), def('auth', 'authenticate')]);
  assert.deepEqual(ordered.map((d) => d.name), ['auth', 'q2', 'q1']);
});

test('per-route chains skip stages a route does not need; log and pre-route stages are per listener', () => {
  const engine = new Engine('t', [def('log', 'log'), def('fwd', 'forward'), def('auth', 'authenticate', 'closed'), def('norm', 'normalize')], {}, logger('test'));
  const s = snapshot();
  const chains = engine.chainsFor(s);
  assert.equal(engine.chainsFor(s), chains, 'compiled once per snapshot');
  assert.deepEqual(chains.pre.map((s) => s.name), ['norm']);
  assert.deepEqual(chains.log.map((s) => s.name), ['log']);
  assert.deepEqual(chains.routes.get('open')!.request.map((s) => s.name), ['fwd']);
  assert.deepEqual(chains.routes.get('closed')!.request.map((s) => s.name), ['auth', 'fwd']);
});

test('exactly one forward stage is required', () => {
  assert.throws(() => new Engine('t', [def('a', 'authenticate')], {}, logger('test')), /exactly one forward/);
  assert.throws(() => new Engine('t', [def('f1', 'forward'), def('f2', 'forward')], {}, logger('test')), /exactly one forward/);
});

test('runChain is synchronous until a stage returns a promise, and stops at a verdict', async () => {
  trail.length = 0;
  const x = {} as Exchange;
  const sync = runChain([{ name: 'a', request: () => void trail.push('a') }, { name: 'b', request: () => void trail.push('b') }], x);
  assert.equal(sync, undefined);
  assert.deepEqual(trail, ['a', 'b']);
  const denied = new MeshError('forbidden');
  const stopped = runChain([{ name: 'deny', request: () => denied }, { name: 'never', request: () => void trail.push('never') }], x);
  assert.equal(stopped, denied);
  const pending = runChain([{ name: 'io', request: async () => undefined }, { name: 'after', request: () => void trail.push('after') }], x);
  assert.ok(pending instanceof Promise);
  assert.equal(await pending, undefined);
  assert.equal(trail.at(-1), 'after');
});
