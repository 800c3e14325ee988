// The sidecar's client IP: the edge's x-meshgate-client-ip is believed only from a trusted peer (the edges:
// loopback and private networks unless --trusted-peers says otherwise); anyone else is known by their own address,
// and the app's X-Real-IP is that IP, never what the caller sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientIp } from '../../../../sidecar/stages/client-ip.js';
import { headerTransform } from '../../../../sidecar/stages/header-transform.js';
import { TrustedProxies } from '../../../../core/http/trusted-proxies.js';
import { layerExchange, layerSnapshot } from '../../../support/layer-exchange.js';

function seen(peer: string, headers: Record<string, string>, trustedPeers?: TrustedProxies): { clientIp: string; realIp: unknown } {
  const snapshot = layerSnapshot({}, {});
  const x = layerExchange(snapshot, { headers });
  x.clientIp = peer;
  assert.equal(clientIp.build({ route: undefined, snapshot, deps: { trustedPeers } })!.request!(x), undefined);
  x.upstreamHeaders = { ...headers };
  headerTransform.build({ route: snapshot.routes[0], snapshot, deps: undefined })!.request!(x);
  return { clientIp: x.clientIp, realIp: x.upstreamHeaders['x-real-ip'] };
}

test('an edge on a private network or loopback vouches for the client IP', () => {
  for (const edge of ['10.1.2.3', '172.20.0.5', '192.168.1.9', '127.0.0.1', '::ffff:10.1.2.3', 'fd00::7'])
    assert.deepEqual(seen(edge, { 'x-meshgate-client-ip': '198.51.100.23' }), { clientIp: '198.51.100.23', realIp: '198.51.100.23' }, edge);
});

test('a peer outside them cannot choose the client IP (quota keys, logs, X-Real-IP): it is known by its address', () => {
  // Before, anyone who reached the inbound port got a fresh client-ip quota bucket per request by rotating the header.
  assert.deepEqual(seen('203.0.113.7', { 'x-meshgate-client-ip': '198.51.100.23', 'x-real-ip': '1.2.3.4' }), { clientIp: '203.0.113.7', realIp: '203.0.113.7' });
});

test('--trusted-peers narrows the peers to the edges; an east-west caller forging X-Real-IP is known by its address', () => {
  const edges = TrustedProxies.parse('10.0.5.0/24');
  assert.equal(seen('10.0.5.9', { 'x-meshgate-client-ip': '198.51.100.23' }, edges).clientIp, '198.51.100.23');
  assert.deepEqual(seen('10.0.9.9', { 'x-meshgate-client-ip': '198.51.100.23' }, edges), { clientIp: '10.0.9.9', realIp: '10.0.9.9' });
  assert.deepEqual(seen('10.0.9.9', { 'x-real-ip': '1.2.3.4' }), { clientIp: '10.0.9.9', realIp: '10.0.9.9' });
});
