// protoPackage: one proto/ file's package, loaded once on first use with the options the generated types assume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protoPackage } from '../../../../core/grpc/load-proto.js';
import { authzProto } from '../../../../core/auth/authz-proto.js';
import { quotaProto } from '../../../../core/quota/quota-proto.js';
import type { ProtoGrpcType } from '../../../../proto/generated/quota.js';

test('authz and quota packages carry their services and are loaded once', () => {
  assert.ok('Introspect' in authzProto().Authz.service);
  assert.ok('Acquire' in quotaProto().Quota.service);
  assert.equal(authzProto(), authzProto());
});

test('messages decode with the generated types\' options: camelCase fields, longs as numbers, defaults set', () => {
  const { Acquire } = quotaProto().Quota.service;
  const bytes = Acquire.requestSerialize({ policy: 'p', key: 'k', limit: 5, windowMs: 1000, requested: 2 });
  const decoded = Acquire.requestDeserialize(bytes);
  assert.equal(decoded.windowMs, 1000);
  assert.equal(typeof decoded.limit, 'number');
  assert.equal(decoded.nextWindow, false);
});

test('a missing file is named when first used, not at import', () => {
  const missing = protoPackage('nope.proto', (root: ProtoGrpcType) => root.meshgate);
  assert.throws(missing, /proto\/nope\.proto not found/);
});
