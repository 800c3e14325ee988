// Original file: proto/authz.proto

import type { Long } from '@grpc/proto-loader';

export interface RevokeRequest {
  'jti'?: (string);
  'sub'?: (string);
  'kid'?: (string);
  'token'?: (string);
  'tokenHash'?: (string);
  'before'?: (number | string | Long);
  'expiresAt'?: (number | string | Long);
  'reason'?: (string);
  'target'?: "jti"|"sub"|"kid"|"token"|"tokenHash";
}

export interface RevokeRequest__Output {
  'jti'?: (string);
  'sub'?: (string);
  'kid'?: (string);
  'token'?: (string);
  'tokenHash'?: (string);
  'before': (number);
  'expiresAt': (number);
  'reason': (string);
  'target'?: "jti"|"sub"|"kid"|"token"|"tokenHash";
}
