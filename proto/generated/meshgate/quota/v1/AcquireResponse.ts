// Original file: proto/quota.proto

import type { Long } from '@grpc/proto-loader';

export interface AcquireResponse {
  'granted'?: (number);
  'remaining'?: (number | string | Long);
  'resetMs'?: (number | string | Long);
  'windowStartMs'?: (number | string | Long);
}

export interface AcquireResponse__Output {
  'granted': (number);
  'remaining': (number);
  'resetMs': (number);
  'windowStartMs': (number);
}
