// Original file: proto/quota.proto

import type { Long } from '@grpc/proto-loader';

export interface AcquireRequest {
  'policy'?: (string);
  'key'?: (string);
  'limit'?: (number | string | Long);
  'windowMs'?: (number | string | Long);
  'requested'?: (number);
  'nextWindow'?: (boolean);
}

export interface AcquireRequest__Output {
  'policy': (string);
  'key': (string);
  'limit': (number);
  'windowMs': (number);
  'requested': (number);
  'nextWindow': (boolean);
}
