// Original file: proto/authz.proto

import type { Long } from '@grpc/proto-loader';

export interface Revocation {
  'kind'?: (string);
  'id'?: (string);
  'before'?: (number | string | Long);
  'revokedAt'?: (number | string | Long);
  'expiresAt'?: (number | string | Long);
  'reason'?: (string);
}

export interface Revocation__Output {
  'kind': (string);
  'id': (string);
  'before': (number);
  'revokedAt': (number);
  'expiresAt': (number);
  'reason': (string);
}
