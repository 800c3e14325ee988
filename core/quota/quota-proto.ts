// proto/quota.proto, loaded at run time (core/grpc/load-proto.ts); its TypeScript types are generated into proto/generated.
import { protoPackage } from '../grpc/load-proto.js';
import type { ProtoGrpcType } from '../../proto/generated/quota.js';

export type { AcquireRequest__Output as AcquireRequestMessage } from '../../proto/generated/meshgate/quota/v1/AcquireRequest.js';
export type { AcquireResponse as AcquireResponseMessage } from '../../proto/generated/meshgate/quota/v1/AcquireResponse.js';
export type { QuotaClient, QuotaHandlers } from '../../proto/generated/meshgate/quota/v1/Quota.js';

export const quotaProto = protoPackage('quota.proto', (root: ProtoGrpcType) => root.meshgate.quota.v1);
