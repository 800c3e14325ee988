// Original file: proto/authz.proto

import type { Revocation as _meshgate_authz_v1_Revocation, Revocation__Output as _meshgate_authz_v1_Revocation__Output } from '../../../meshgate/authz/v1/Revocation.js';

export interface ListRevocationsResponse {
  'revocations'?: (_meshgate_authz_v1_Revocation)[];
}

export interface ListRevocationsResponse__Output {
  'revocations': (_meshgate_authz_v1_Revocation__Output)[];
}
