// Original file: proto/authz.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { IntrospectRequest as _meshgate_authz_v1_IntrospectRequest, IntrospectRequest__Output as _meshgate_authz_v1_IntrospectRequest__Output } from '../../../meshgate/authz/v1/IntrospectRequest.js';
import type { IntrospectResponse as _meshgate_authz_v1_IntrospectResponse, IntrospectResponse__Output as _meshgate_authz_v1_IntrospectResponse__Output } from '../../../meshgate/authz/v1/IntrospectResponse.js';
import type { IssueTokenRequest as _meshgate_authz_v1_IssueTokenRequest, IssueTokenRequest__Output as _meshgate_authz_v1_IssueTokenRequest__Output } from '../../../meshgate/authz/v1/IssueTokenRequest.js';
import type { IssueTokenResponse as _meshgate_authz_v1_IssueTokenResponse, IssueTokenResponse__Output as _meshgate_authz_v1_IssueTokenResponse__Output } from '../../../meshgate/authz/v1/IssueTokenResponse.js';
import type { ListRevocationsRequest as _meshgate_authz_v1_ListRevocationsRequest, ListRevocationsRequest__Output as _meshgate_authz_v1_ListRevocationsRequest__Output } from '../../../meshgate/authz/v1/ListRevocationsRequest.js';
import type { ListRevocationsResponse as _meshgate_authz_v1_ListRevocationsResponse, ListRevocationsResponse__Output as _meshgate_authz_v1_ListRevocationsResponse__Output } from '../../../meshgate/authz/v1/ListRevocationsResponse.js';
import type { Revocation as _meshgate_authz_v1_Revocation, Revocation__Output as _meshgate_authz_v1_Revocation__Output } from '../../../meshgate/authz/v1/Revocation.js';
import type { RevokeRequest as _meshgate_authz_v1_RevokeRequest, RevokeRequest__Output as _meshgate_authz_v1_RevokeRequest__Output } from '../../../meshgate/authz/v1/RevokeRequest.js';
import type { RotateKeyRequest as _meshgate_authz_v1_RotateKeyRequest, RotateKeyRequest__Output as _meshgate_authz_v1_RotateKeyRequest__Output } from '../../../meshgate/authz/v1/RotateKeyRequest.js';
import type { RotateKeyResponse as _meshgate_authz_v1_RotateKeyResponse, RotateKeyResponse__Output as _meshgate_authz_v1_RotateKeyResponse__Output } from '../../../meshgate/authz/v1/RotateKeyResponse.js';

export interface AuthzClient extends grpc.Client {
  Introspect(argument: _meshgate_authz_v1_IntrospectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  Introspect(argument: _meshgate_authz_v1_IntrospectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_authz_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  Introspect(argument: _meshgate_authz_v1_IntrospectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  Introspect(argument: _meshgate_authz_v1_IntrospectRequest, callback: grpc.requestCallback<_meshgate_authz_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  introspect(argument: _meshgate_authz_v1_IntrospectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  introspect(argument: _meshgate_authz_v1_IntrospectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_authz_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  introspect(argument: _meshgate_authz_v1_IntrospectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  introspect(argument: _meshgate_authz_v1_IntrospectRequest, callback: grpc.requestCallback<_meshgate_authz_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  
  IssueToken(argument: _meshgate_authz_v1_IssueTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  IssueToken(argument: _meshgate_authz_v1_IssueTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_authz_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  IssueToken(argument: _meshgate_authz_v1_IssueTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  IssueToken(argument: _meshgate_authz_v1_IssueTokenRequest, callback: grpc.requestCallback<_meshgate_authz_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  issueToken(argument: _meshgate_authz_v1_IssueTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  issueToken(argument: _meshgate_authz_v1_IssueTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_authz_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  issueToken(argument: _meshgate_authz_v1_IssueTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  issueToken(argument: _meshgate_authz_v1_IssueTokenRequest, callback: grpc.requestCallback<_meshgate_authz_v1_IssueTokenResponse__Output>): grpc.ClientUnaryCall;
  
  ListRevocations(argument: _meshgate_authz_v1_ListRevocationsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  ListRevocations(argument: _meshgate_authz_v1_ListRevocationsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_authz_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  ListRevocations(argument: _meshgate_authz_v1_ListRevocationsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  ListRevocations(argument: _meshgate_authz_v1_ListRevocationsRequest, callback: grpc.requestCallback<_meshgate_authz_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _meshgate_authz_v1_ListRevocationsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _meshgate_authz_v1_ListRevocationsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_authz_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _meshgate_authz_v1_ListRevocationsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _meshgate_authz_v1_ListRevocationsRequest, callback: grpc.requestCallback<_meshgate_authz_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  
  Revoke(argument: _meshgate_authz_v1_RevokeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_Revocation__Output>): grpc.ClientUnaryCall;
  Revoke(argument: _meshgate_authz_v1_RevokeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_authz_v1_Revocation__Output>): grpc.ClientUnaryCall;
  Revoke(argument: _meshgate_authz_v1_RevokeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_Revocation__Output>): grpc.ClientUnaryCall;
  Revoke(argument: _meshgate_authz_v1_RevokeRequest, callback: grpc.requestCallback<_meshgate_authz_v1_Revocation__Output>): grpc.ClientUnaryCall;
  revoke(argument: _meshgate_authz_v1_RevokeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_Revocation__Output>): grpc.ClientUnaryCall;
  revoke(argument: _meshgate_authz_v1_RevokeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_authz_v1_Revocation__Output>): grpc.ClientUnaryCall;
  revoke(argument: _meshgate_authz_v1_RevokeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_Revocation__Output>): grpc.ClientUnaryCall;
  revoke(argument: _meshgate_authz_v1_RevokeRequest, callback: grpc.requestCallback<_meshgate_authz_v1_Revocation__Output>): grpc.ClientUnaryCall;
  
  RotateKey(argument: _meshgate_authz_v1_RotateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateKey(argument: _meshgate_authz_v1_RotateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_authz_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateKey(argument: _meshgate_authz_v1_RotateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateKey(argument: _meshgate_authz_v1_RotateKeyRequest, callback: grpc.requestCallback<_meshgate_authz_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _meshgate_authz_v1_RotateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _meshgate_authz_v1_RotateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_authz_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _meshgate_authz_v1_RotateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_authz_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateKey(argument: _meshgate_authz_v1_RotateKeyRequest, callback: grpc.requestCallback<_meshgate_authz_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface AuthzHandlers extends grpc.UntypedServiceImplementation {
  Introspect: grpc.handleUnaryCall<_meshgate_authz_v1_IntrospectRequest__Output, _meshgate_authz_v1_IntrospectResponse>;
  
  IssueToken: grpc.handleUnaryCall<_meshgate_authz_v1_IssueTokenRequest__Output, _meshgate_authz_v1_IssueTokenResponse>;
  
  ListRevocations: grpc.handleUnaryCall<_meshgate_authz_v1_ListRevocationsRequest__Output, _meshgate_authz_v1_ListRevocationsResponse>;
  
  Revoke: grpc.handleUnaryCall<_meshgate_authz_v1_RevokeRequest__Output, _meshgate_authz_v1_Revocation>;
  
  RotateKey: grpc.handleUnaryCall<_meshgate_authz_v1_RotateKeyRequest__Output, _meshgate_authz_v1_RotateKeyResponse>;
  
}

export interface AuthzDefinition extends grpc.ServiceDefinition {
  Introspect: MethodDefinition<_meshgate_authz_v1_IntrospectRequest, _meshgate_authz_v1_IntrospectResponse, _meshgate_authz_v1_IntrospectRequest__Output, _meshgate_authz_v1_IntrospectResponse__Output>
  IssueToken: MethodDefinition<_meshgate_authz_v1_IssueTokenRequest, _meshgate_authz_v1_IssueTokenResponse, _meshgate_authz_v1_IssueTokenRequest__Output, _meshgate_authz_v1_IssueTokenResponse__Output>
  ListRevocations: MethodDefinition<_meshgate_authz_v1_ListRevocationsRequest, _meshgate_authz_v1_ListRevocationsResponse, _meshgate_authz_v1_ListRevocationsRequest__Output, _meshgate_authz_v1_ListRevocationsResponse__Output>
  Revoke: MethodDefinition<_meshgate_authz_v1_RevokeRequest, _meshgate_authz_v1_Revocation, _meshgate_authz_v1_RevokeRequest__Output, _meshgate_authz_v1_Revocation__Output>
  RotateKey: MethodDefinition<_meshgate_authz_v1_RotateKeyRequest, _meshgate_authz_v1_RotateKeyResponse, _meshgate_authz_v1_RotateKeyRequest__Output, _meshgate_authz_v1_RotateKeyResponse__Output>
}
