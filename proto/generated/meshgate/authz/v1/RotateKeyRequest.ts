// Original file: proto/authz.proto


export interface RotateKeyRequest {
}

export interface RotateKeyRequest__Output {
}
