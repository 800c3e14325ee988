// proto/quota.proto loaded at run time with @grpc/proto-loader; its TypeScript types are generated into proto/generated.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../../proto/generated/quota.js';

export type { AcquireRequest__Output as AcquireRequestMessage } from '../../proto/generated/meshgate/quota/v1/AcquireRequest.js';
export type { AcquireResponse as AcquireResponseMessage } from '../../proto/generated/meshgate/quota/v1/AcquireResponse.js';
export type { QuotaClient, QuotaHandlers } from '../../proto/generated/meshgate/quota/v1/Quota.js';

/** The options the generated types assume (--longs=Number --defaults). */
const LOADER_OPTIONS = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

/** From source (core/quota → proto) and from the build (dist/core/quota → proto beside dist). */
function protoFile(): string {
  for (const relative of ['../../proto/quota.proto', '../../../proto/quota.proto']) {
    const file = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new Error('proto/quota.proto not found next to the meshgate sources');
}

let loaded: ProtoGrpcType['meshgate']['quota']['v1'] | undefined;

export function quotaProto(): ProtoGrpcType['meshgate']['quota']['v1'] {
  if (!loaded) {
    const definition = loadSync(protoFile(), LOADER_OPTIONS);
    loaded = (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).meshgate.quota.v1;
  }
  return loaded;
}
