// Original file: proto/authz.proto

import type { Long } from '@grpc/proto-loader';

export interface IntrospectResponse {
  'active'?: (boolean);
  'sub'?: (string);
  'scope'?: (string);
  'clientId'?: (string);
  'iss'?: (string);
  'aud'?: (string)[];
  'exp'?: (number | string | Long);
  'iat'?: (number | string | Long);
  'claimsJson'?: (string);
}

export interface IntrospectResponse__Output {
  'active': (boolean);
  'sub': (string);
  'scope': (string);
  'clientId': (string);
  'iss': (string);
  'aud': (string)[];
  'exp': (number);
  'iat': (number);
  'claimsJson': (string);
}
