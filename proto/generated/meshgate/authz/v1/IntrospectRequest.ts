// Original file: proto/authz.proto


export interface IntrospectRequest {
  'token'?: (string);
}

export interface IntrospectRequest__Output {
  'token': (string);
}
