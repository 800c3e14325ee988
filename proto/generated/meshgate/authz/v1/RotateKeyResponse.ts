// Original file: proto/authz.proto


export interface RotateKeyResponse {
  'kid'?: (string);
  'previousKid'?: (string);
}

export interface RotateKeyResponse__Output {
  'kid': (string);
  'previousKid': (string);
}
