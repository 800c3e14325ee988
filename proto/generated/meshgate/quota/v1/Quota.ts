// Original file: proto/quota.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AcquireRequest as _meshgate_quota_v1_AcquireRequest, AcquireRequest__Output as _meshgate_quota_v1_AcquireRequest__Output } from '../../../meshgate/quota/v1/AcquireRequest.js';
import type { AcquireResponse as _meshgate_quota_v1_AcquireResponse, AcquireResponse__Output as _meshgate_quota_v1_AcquireResponse__Output } from '../../../meshgate/quota/v1/AcquireResponse.js';
import type { CheckRequest as _meshgate_quota_v1_CheckRequest, CheckRequest__Output as _meshgate_quota_v1_CheckRequest__Output } from '../../../meshgate/quota/v1/CheckRequest.js';
import type { CheckResponse as _meshgate_quota_v1_CheckResponse, CheckResponse__Output as _meshgate_quota_v1_CheckResponse__Output } from '../../../meshgate/quota/v1/CheckResponse.js';

export interface QuotaClient extends grpc.Client {
  Acquire(argument: _meshgate_quota_v1_AcquireRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_quota_v1_AcquireResponse__Output>): grpc.ClientUnaryCall;
  Acquire(argument: _meshgate_quota_v1_AcquireRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_quota_v1_AcquireResponse__Output>): grpc.ClientUnaryCall;
  Acquire(argument: _meshgate_quota_v1_AcquireRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_quota_v1_AcquireResponse__Output>): grpc.ClientUnaryCall;
  Acquire(argument: _meshgate_quota_v1_AcquireRequest, callback: grpc.requestCallback<_meshgate_quota_v1_AcquireResponse__Output>): grpc.ClientUnaryCall;
  acquire(argument: _meshgate_quota_v1_AcquireRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_quota_v1_AcquireResponse__Output>): grpc.ClientUnaryCall;
  acquire(argument: _meshgate_quota_v1_AcquireRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_quota_v1_AcquireResponse__Output>): grpc.ClientUnaryCall;
  acquire(argument: _meshgate_quota_v1_AcquireRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_quota_v1_AcquireResponse__Output>): grpc.ClientUnaryCall;
  acquire(argument: _meshgate_quota_v1_AcquireRequest, callback: grpc.requestCallback<_meshgate_quota_v1_AcquireResponse__Output>): grpc.ClientUnaryCall;
  
  Check(argument: _meshgate_quota_v1_CheckRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_quota_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  Check(argument: _meshgate_quota_v1_CheckRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_quota_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  Check(argument: _meshgate_quota_v1_CheckRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_quota_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  Check(argument: _meshgate_quota_v1_CheckRequest, callback: grpc.requestCallback<_meshgate_quota_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  check(argument: _meshgate_quota_v1_CheckRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_quota_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  check(argument: _meshgate_quota_v1_CheckRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshgate_quota_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  check(argument: _meshgate_quota_v1_CheckRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshgate_quota_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  check(argument: _meshgate_quota_v1_CheckRequest, callback: grpc.requestCallback<_meshgate_quota_v1_CheckResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface QuotaHandlers extends grpc.UntypedServiceImplementation {
  Acquire: grpc.handleUnaryCall<_meshgate_quota_v1_AcquireRequest__Output, _meshgate_quota_v1_AcquireResponse>;
  
  Check: grpc.handleUnaryCall<_meshgate_quota_v1_CheckRequest__Output, _meshgate_quota_v1_CheckResponse>;
  
}

export interface QuotaDefinition extends grpc.ServiceDefinition {
  Acquire: MethodDefinition<_meshgate_quota_v1_AcquireRequest, _meshgate_quota_v1_AcquireResponse, _meshgate_quota_v1_AcquireRequest__Output, _meshgate_quota_v1_AcquireResponse__Output>
  Check: MethodDefinition<_meshgate_quota_v1_CheckRequest, _meshgate_quota_v1_CheckResponse, _meshgate_quota_v1_CheckRequest__Output, _meshgate_quota_v1_CheckResponse__Output>
}
