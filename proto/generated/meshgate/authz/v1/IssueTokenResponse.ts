// Original file: proto/authz.proto

import type { TokenType as _meshgate_authz_v1_TokenType, TokenType__Output as _meshgate_authz_v1_TokenType__Output } from '../../../meshgate/authz/v1/TokenType.js';
import type { Long } from '@grpc/proto-loader';

export interface IssueTokenResponse {
  'token'?: (string);
  'type'?: (_meshgate_authz_v1_TokenType);
  'expiresAt'?: (number | string | Long);
  'jti'?: (string);
  'kid'?: (string);
}

export interface IssueTokenResponse__Output {
  'token': (string);
  'type': (_meshgate_authz_v1_TokenType__Output);
  'expiresAt': (number);
  'jti': (string);
  'kid': (string);
}
