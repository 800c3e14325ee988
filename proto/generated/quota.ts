import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AcquireRequest as _meshgate_quota_v1_AcquireRequest, AcquireRequest__Output as _meshgate_quota_v1_AcquireRequest__Output } from './meshgate/quota/v1/AcquireRequest.js';
import type { AcquireResponse as _meshgate_quota_v1_AcquireResponse, AcquireResponse__Output as _meshgate_quota_v1_AcquireResponse__Output } from './meshgate/quota/v1/AcquireResponse.js';
import type { CheckRequest as _meshgate_quota_v1_CheckRequest, CheckRequest__Output as _meshgate_quota_v1_CheckRequest__Output } from './meshgate/quota/v1/CheckRequest.js';
import type { CheckResponse as _meshgate_quota_v1_CheckResponse, CheckResponse__Output as _meshgate_quota_v1_CheckResponse__Output } from './meshgate/quota/v1/CheckResponse.js';
import type { QuotaClient as _meshgate_quota_v1_QuotaClient, QuotaDefinition as _meshgate_quota_v1_QuotaDefinition } from './meshgate/quota/v1/Quota.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  meshgate: {
    quota: {
      v1: {
        AcquireRequest: MessageTypeDefinition<_meshgate_quota_v1_AcquireRequest, _meshgate_quota_v1_AcquireRequest__Output>
        AcquireResponse: MessageTypeDefinition<_meshgate_quota_v1_AcquireResponse, _meshgate_quota_v1_AcquireResponse__Output>
        CheckRequest: MessageTypeDefinition<_meshgate_quota_v1_CheckRequest, _meshgate_quota_v1_CheckRequest__Output>
        CheckResponse: MessageTypeDefinition<_meshgate_quota_v1_CheckResponse, _meshgate_quota_v1_CheckResponse__Output>
        Quota: SubtypeConstructor<typeof grpc.Client, _meshgate_quota_v1_QuotaClient> & { service: _meshgate_quota_v1_QuotaDefinition }
      }
    }
  }
}

