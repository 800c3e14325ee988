// The gRPC answer to the mesh's own errors: which requests are gRPC calls, the status for every catalogue code,
// and grpc-message percent-encoding (gRPC over HTTP/2 spec).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { ERROR_CATALOGUE, MeshError, type ErrorCode } from '../../../../core/errors.js';
import { grpcMessage, grpcStatusFields, isGrpcContentType, isGrpcRequest } from '../../../../core/http/grpc-status.js';

test('gRPC content types, not grpc-web nor look-alikes', () => {
  for (const ok of ['application/grpc', 'application/grpc+proto', 'application/grpc+json', 'application/grpc;charset=utf-8']) assert.ok(isGrpcContentType(ok), ok);
  for (const no of [undefined, '', 'application/grpc-web', 'application/grpc-web+proto', 'application/grpcx', 'application/json', ['application/grpc']])
    assert.ok(!isGrpcContentType(no), String(no));
});

test('a gRPC call is HTTP/2 with a gRPC content type', () => {
  const req = (major: number, contentType: string) => ({ httpVersionMajor: major, headers: { 'content-type': contentType } }) as unknown as IncomingMessage;
  assert.ok(isGrpcRequest(req(2, 'application/grpc')));
  assert.ok(!isGrpcRequest(req(1, 'application/grpc')), 'gRPC has no HTTP/1.1 answer: JSON stays');
  assert.ok(!isGrpcRequest(req(2, 'application/json')));
});

test('every catalogue code has a gRPC status, after the HTTP mapping', () => {
  const status = (code: ErrorCode) => Number(grpcStatusFields(new MeshError(code))['grpc-status']);
  assert.equal(status('invalid_token'), 16);
  assert.equal(status('insufficient_scope'), 7);
  assert.equal(status('forbidden'), 7);
  assert.equal(status('no_route'), 12);
  assert.equal(status('rate_limited'), 8);
  assert.equal(status('deadline_exceeded'), 4);
  assert.equal(status('breaker_open'), 14);
  assert.equal(status('upstream_failed'), 14);
  assert.equal(status('internal'), 13);
  for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCode[]) {
    const s = status(code);
    assert.ok(Number.isInteger(s) && s > 0 && s <= 16, `${code} → ${s}`);
  }
});

test('grpc-message is percent-encoded outside printable ASCII, and % itself', () => {
  assert.equal(grpcMessage('The token lacks a required scope: echo:read.'), 'The token lacks a required scope: echo:read.');
  assert.equal(grpcMessage('100% sure'), '100%25 sure');
  assert.equal(grpcMessage('line\nbreak'), 'line%0Abreak');
  assert.equal(grpcMessage('café'), 'caf%C3%A9');
  assert.equal(decodeURIComponent(grpcMessage('a % b\té')), 'a % b\té');
});
