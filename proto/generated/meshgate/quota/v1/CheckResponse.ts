// Original file: proto/quota.proto


export interface CheckResponse {
  'serving'?: (boolean);
  'backend'?: (string);
}

export interface CheckResponse__Output {
  'serving': (boolean);
  'backend': (string);
}
