// A proto/ file loaded at run time with @grpc/proto-loader, with the options its TypeScript types in proto/generated
// were generated for (npx proto-loader-gen-types --longs=Number --enums=String --defaults --oneofs
// --grpcLib=@grpc/grpc-js --importFileExtension=.js --outDir=proto/generated proto/<name>.proto).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const LOADER_OPTIONS = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

/** From source (core/grpc → proto) and from the build (dist/core/grpc → proto beside dist). */
function protoFile(name: string): string {
  for (const relative of [`../../proto/${name}`, `../../../proto/${name}`]) {
    const file = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new Error(`proto/${name} not found next to the meshgate sources`);
}

/** A getter for one package of proto/<name>, loaded on first use; `Root` is the file's generated ProtoGrpcType. */
export function protoPackage<Root, Package>(name: string, pick: (root: Root) => Package): () => Package {
  let loaded: Package | undefined;
  return () => (loaded ??= pick(grpc.loadPackageDefinition(loadSync(protoFile(name), LOADER_OPTIONS)) as unknown as Root));
}
