// TrustedProxies: CIDR parsing (v4, v6, single addresses), refusal of bad entries, and the right-most-untrusted
// client address walk over X-Forwarded-For.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrustedProxies, unmapped } from '../../../core/http/trusted-proxies.js';

test('parses CIDRs and single addresses, v4 and v6', () => {
  const t = TrustedProxies.parse('10.0.0.0/8, 192.168.1.7, fd00::/8');
  assert.equal(t.trusts('10.1.2.3'), true);
  assert.equal(t.trusts('11.0.0.1'), false);
  assert.equal(t.trusts('192.168.1.7'), true);
  assert.equal(t.trusts('192.168.1.8'), false);
  assert.equal(t.trusts('fd12::1'), true);
  assert.equal(t.trusts('fe80::1'), false);
  assert.equal(t.trusts('not-an-ip'), false);
});

test('refuses entries that are not addresses or have a bad prefix', () => {
  assert.throws(() => TrustedProxies.parse('10.0.0.0/33'), /prefix/);
  assert.throws(() => TrustedProxies.parse('example.com'), /not an IP/);
  assert.throws(() => TrustedProxies.parse('10.0.0.0/x'), /prefix/);
});

test('nothing is trusted by default: the peer is the client whatever XFF says', () => {
  const t = TrustedProxies.parse(undefined);
  assert.equal(t.clientAddress('127.0.0.1', '1.2.3.4'), '127.0.0.1');
});

test('the client is the right-most untrusted hop; garbage stops the walk at the last believed claim', () => {
  const t = TrustedProxies.parse('10.0.0.0/8');
  assert.equal(t.clientAddress('10.0.0.1', '203.0.113.5'), '203.0.113.5');
  assert.equal(t.clientAddress('10.0.0.1', 'spoof, 203.0.113.5, 10.0.0.9'), '203.0.113.5');
  assert.equal(t.clientAddress('10.0.0.1', ['198.51.100.1', '203.0.113.5']), '203.0.113.5');
  assert.equal(t.clientAddress('10.0.0.1', 'garbage'), '10.0.0.1');
  assert.equal(t.clientAddress('10.0.0.1', '203.0.113.5, garbage, 10.0.0.3'), '10.0.0.3');
  assert.equal(t.clientAddress('203.0.113.9', '1.1.1.1'), '203.0.113.9', 'an untrusted peer is the client');
  assert.equal(t.clientAddress('10.0.0.1', '::ffff:203.0.113.5'), '203.0.113.5');
});

test('unmapped turns IPv4-mapped IPv6 into IPv4 only', () => {
  assert.equal(unmapped('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(unmapped('::1'), '::1');
});
