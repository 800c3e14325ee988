// Original file: proto/quota.proto


export interface CheckRequest {
}

export interface CheckRequest__Output {
}
