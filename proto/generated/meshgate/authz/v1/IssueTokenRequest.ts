// Original file: proto/authz.proto

import type { TokenType as _meshgate_authz_v1_TokenType, TokenType__Output as _meshgate_authz_v1_TokenType__Output } from '../../../meshgate/authz/v1/TokenType.js';
import type { Long } from '@grpc/proto-loader';

export interface IssueTokenRequest {
  'sub'?: (string);
  'scope'?: (string);
  'aud'?: (string)[];
  'ttlSeconds'?: (number | string | Long);
  'clientId'?: (string);
  'claimsJson'?: (string);
  'type'?: (_meshgate_authz_v1_TokenType);
}

export interface IssueTokenRequest__Output {
  'sub': (string);
  'scope': (string);
  'aud': (string)[];
  'ttlSeconds': (number);
  'clientId': (string);
  'claimsJson': (string);
  'type': (_meshgate_authz_v1_TokenType__Output);
}
