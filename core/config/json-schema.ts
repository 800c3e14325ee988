// The published JSON Schema of routes.yaml, generated from the TypeBox source of the TypeScript types.
// `npm run schema` writes schema/routes.schema.json; a unit test keeps the committed file in sync.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MeshConfig } from './schema.js';

export const SCHEMA_FILE = 'schema/routes.schema.json';

export function routesJsonSchema(): string {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...JSON.parse(JSON.stringify(MeshConfig)) };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--write')) {
  writeFileSync(SCHEMA_FILE, routesJsonSchema());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
