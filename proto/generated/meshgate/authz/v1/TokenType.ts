// Original file: proto/authz.proto

export const TokenType = {
  TOKEN_TYPE_JWT: 'TOKEN_TYPE_JWT',
  TOKEN_TYPE_OPAQUE: 'TOKEN_TYPE_OPAQUE',
} as const;

export type TokenType =
  | 'TOKEN_TYPE_JWT'
  | 0
  | 'TOKEN_TYPE_OPAQUE'
  | 1

export type TokenType__Output = typeof TokenType[keyof typeof TokenType]
