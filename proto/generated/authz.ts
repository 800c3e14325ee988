import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { AuthzClient as _meshgate_authz_v1_AuthzClient, AuthzDefinition as _meshgate_authz_v1_AuthzDefinition } from './meshgate/authz/v1/Authz.js';
import type { IntrospectRequest as _meshgate_authz_v1_IntrospectRequest, IntrospectRequest__Output as _meshgate_authz_v1_IntrospectRequest__Output } from './meshgate/authz/v1/IntrospectRequest.js';
import type { IntrospectResponse as _meshgate_authz_v1_IntrospectResponse, IntrospectResponse__Output as _meshgate_authz_v1_IntrospectResponse__Output } from './meshgate/authz/v1/IntrospectResponse.js';
import type { IssueTokenRequest as _meshgate_authz_v1_IssueTokenRequest, IssueTokenRequest__Output as _meshgate_authz_v1_IssueTokenRequest__Output } from './meshgate/authz/v1/IssueTokenRequest.js';
import type { IssueTokenResponse as _meshgate_authz_v1_IssueTokenResponse, IssueTokenResponse__Output as _meshgate_authz_v1_IssueTokenResponse__Output } from './meshgate/authz/v1/IssueTokenResponse.js';
import type { ListRevocationsRequest as _meshgate_authz_v1_ListRevocationsRequest, ListRevocationsRequest__Output as _meshgate_authz_v1_ListRevocationsRequest__Output } from './meshgate/authz/v1/ListRevocationsRequest.js';
import type { ListRevocationsResponse as _meshgate_authz_v1_ListRevocationsResponse, ListRevocationsResponse__Output as _meshgate_authz_v1_ListRevocationsResponse__Output } from './meshgate/authz/v1/ListRevocationsResponse.js';
import type { Revocation as _meshgate_authz_v1_Revocation, Revocation__Output as _meshgate_authz_v1_Revocation__Output } from './meshgate/authz/v1/Revocation.js';
import type { RevokeRequest as _meshgate_authz_v1_RevokeRequest, RevokeRequest__Output as _meshgate_authz_v1_RevokeRequest__Output } from './meshgate/authz/v1/RevokeRequest.js';
import type { RotateKeyRequest as _meshgate_authz_v1_RotateKeyRequest, RotateKeyRequest__Output as _meshgate_authz_v1_RotateKeyRequest__Output } from './meshgate/authz/v1/RotateKeyRequest.js';
import type { RotateKeyResponse as _meshgate_authz_v1_RotateKeyResponse, RotateKeyResponse__Output as _meshgate_authz_v1_RotateKeyResponse__Output } from './meshgate/authz/v1/RotateKeyResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  meshgate: {
    authz: {
      v1: {
        Authz: SubtypeConstructor<typeof grpc.Client, _meshgate_authz_v1_AuthzClient> & { service: _meshgate_authz_v1_AuthzDefinition }
        IntrospectRequest: MessageTypeDefinition<_meshgate_authz_v1_IntrospectRequest, _meshgate_authz_v1_IntrospectRequest__Output>
        IntrospectResponse: MessageTypeDefinition<_meshgate_authz_v1_IntrospectResponse, _meshgate_authz_v1_IntrospectResponse__Output>
        IssueTokenRequest: MessageTypeDefinition<_meshgate_authz_v1_IssueTokenRequest, _meshgate_authz_v1_IssueTokenRequest__Output>
        IssueTokenResponse: MessageTypeDefinition<_meshgate_authz_v1_IssueTokenResponse, _meshgate_authz_v1_IssueTokenResponse__Output>
        ListRevocationsRequest: MessageTypeDefinition<_meshgate_authz_v1_ListRevocationsRequest, _meshgate_authz_v1_ListRevocationsRequest__Output>
        ListRevocationsResponse: MessageTypeDefinition<_meshgate_authz_v1_ListRevocationsResponse, _meshgate_authz_v1_ListRevocationsResponse__Output>
        Revocation: MessageTypeDefinition<_meshgate_authz_v1_Revocation, _meshgate_authz_v1_Revocation__Output>
        RevokeRequest: MessageTypeDefinition<_meshgate_authz_v1_RevokeRequest, _meshgate_authz_v1_RevokeRequest__Output>
        RotateKeyRequest: MessageTypeDefinition<_meshgate_authz_v1_RotateKeyRequest, _meshgate_authz_v1_RotateKeyRequest__Output>
        RotateKeyResponse: MessageTypeDefinition<_meshgate_authz_v1_RotateKeyResponse, _meshgate_authz_v1_RotateKeyResponse__Output>
        TokenType: EnumTypeDefinition
      }
    }
  }
}

