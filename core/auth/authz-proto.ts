// proto/authz.proto, loaded at run time (core/grpc/load-proto.ts); its TypeScript types are generated into proto/generated.
import { protoPackage } from '../grpc/load-proto.js';
import type { ProtoGrpcType } from '../../proto/generated/authz.js';

export type { AuthzClient, AuthzHandlers } from '../../proto/generated/meshgate/authz/v1/Authz.js';
export type { IntrospectResponse as IntrospectResponseMessage } from '../../proto/generated/meshgate/authz/v1/IntrospectResponse.js';
export type { Revocation as RevocationMessage } from '../../proto/generated/meshgate/authz/v1/Revocation.js';
export type { RevokeRequest__Output as RevokeRequestMessage } from '../../proto/generated/meshgate/authz/v1/RevokeRequest.js';
export type { IssueTokenRequest__Output as IssueTokenRequestMessage } from '../../proto/generated/meshgate/authz/v1/IssueTokenRequest.js';

export const authzProto = protoPackage('authz.proto', (root: ProtoGrpcType) => root.meshgate.authz.v1);
