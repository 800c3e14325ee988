// Original file: proto/authz.proto


export interface ListRevocationsRequest {
  'kind'?: (string);
}

export interface ListRevocationsRequest__Output {
  'kind': (string);
}
