// proto/authz.proto loaded at run time with @grpc/proto-loader; its TypeScript types are generated into proto/generated
// (npx proto-loader-gen-types --longs=Number --enums=String --defaults --oneofs --grpcLib=@grpc/grpc-js --importFileExtension=.js --outDir=proto/generated proto/authz.proto).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../../proto/generated/authz.js';

export type { AuthzClient, AuthzHandlers } from '../../proto/generated/meshgate/authz/v1/Authz.js';
export type { IntrospectResponse as IntrospectResponseMessage } from '../../proto/generated/meshgate/authz/v1/IntrospectResponse.js';
export type { Revocation as RevocationMessage } from '../../proto/generated/meshgate/authz/v1/Revocation.js';
export type { RevokeRequest__Output as RevokeRequestMessage } from '../../proto/generated/meshgate/authz/v1/RevokeRequest.js';
export type { IssueTokenRequest__Output as IssueTokenRequestMessage } from '../../proto/generated/meshgate/authz/v1/IssueTokenRequest.js';

/** The options the generated types assume (--longs=Number --enums=String --defaults --oneofs). */
const LOADER_OPTIONS = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

/** From source (core/auth → proto) and from the build (dist/core/auth → proto beside dist). */
function protoFile(): string {
  for (const relative of ['../../proto/authz.proto', '../../../proto/authz.proto']) {
    const file = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new Error('proto/authz.proto not found next to the meshgate sources');
}

let loaded: ProtoGrpcType['meshgate']['authz']['v1'] | undefined;

export function authzProto(): ProtoGrpcType['meshgate']['authz']['v1'] {
  if (!loaded) {
    const definition = loadSync(protoFile(), LOADER_OPTIONS);
    loaded = (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).meshgate.authz.v1;
  }
  return loaded;
}
