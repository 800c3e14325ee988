// Validate a config document and name every field that is wrong: the TypeBox error walk over the schema, then the
// cross-references (check.ts). For the CLI, the registry and a node explaining a refused snapshot; a node's
// everyday check (check.ts) loads no TypeBox. Apart from the YAML reader (load.ts), which needs this too.
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { MeshConfig } from './schema.js';
import { MAX_SNAPSHOT_BYTES, SHAPE_MISMATCH, SNAPSHOT_RECORD_ROOM, checkConfig, fieldPath, snapshotTooLarge, type ConfigError } from './check.js';

const checker = TypeCompiler.Compile(MeshConfig);

function pointerSegments(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** "Expected union value" says nothing; name the allowed values when the union is of literals. */
function friendlyMessage(schema: { anyOf?: { const?: unknown }[]; pattern?: string; description?: string }, message: string): string {
  const options = schema.anyOf?.map((s) => s.const).filter((c) => c !== undefined);
  if (options && options.length && options.length === schema.anyOf!.length) return `must be one of: ${options.join(', ')}`;
  const text = message.replace(/^Expected /, 'expected ');
  // A pattern alone tells a reader little; the schema's description says what it stands for.
  return schema.pattern && schema.description ? `${text} (${schema.description})` : text;
}

/** Validate a parsed document. Returns the typed config or every error found. */
export function validateConfig(value: unknown): { config?: MeshConfig; errors: ConfigError[] } {
  // checkConfig is the fast path; the error walk (several times slower) runs only for a document of the wrong shape.
  const checked = checkConfig(value);
  if (checked.config) return fitsSnapshot(checked.config);
  if (checked.errors[0]?.message !== SHAPE_MISMATCH) return checked;
  const errors: ConfigError[] = [];
  const seen = new Set<string>();
  const add = (pointer: string, schema: unknown, message: string) => {
    const path = fieldPath(pointerSegments(pointer));
    // A union reports once per branch; one line per field is what a reader needs.
    if (seen.has(path)) return;
    seen.add(path);
    errors.push({ path, message: friendlyMessage(schema as { anyOf?: { const?: unknown }[] }, message) });
  };
  for (const e of checker.Errors(value)) {
    const tagged = taggedUnion(e.schema, e.value);
    if (!tagged) add(e.path, e.schema, e.message);
    else if (tagged.branch) for (const inner of TypeCompiler.Compile(tagged.branch).Errors(e.value)) add(e.path + inner.path, inner.schema, inner.message);
    else add(`${e.path}/type`, e.schema, `must be one of: ${tagged.types.join(', ')}`);
  }
  // The walk and the generated check come from the same schema (a test holds them equal); never refuse in silence.
  return { errors: errors.length ? errors : checked.errors };
}

/** A valid config must also fit the snapshot apply writes: refused here, by validate, rather than by etcd at apply. */
function fitsSnapshot(config: MeshConfig): { config?: MeshConfig; errors: ConfigError[] } {
  const limit = MAX_SNAPSHOT_BYTES - SNAPSHOT_RECORD_ROOM;
  const bytes = Buffer.byteLength(JSON.stringify(config));
  return bytes > limit ? { errors: [snapshotTooLarge('the config', bytes, limit)] } : { config, errors: [] };
}

/**
 * The branch of a union the value means, whose errors name the field, instead of "expected union value": for a
 * union of objects told apart by `type` (a route's filters), the one its type names (none when the type is none of
 * them: `types` lists them); for a policy given inline or by name (`auth`, `quota`), the object branch when the
 * value is an object. Undefined when no one branch is meant (unions of literals get their own message).
 */
function taggedUnion(schema: TSchema, value: unknown): { branch?: TSchema; types: string[] } | undefined {
  const branches = (schema as { anyOf?: TSchema[] }).anyOf;
  if (!branches?.length || !value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const typeOf = (b: TSchema) => (b as { properties?: { type?: { const?: unknown } } }).properties?.type?.const;
  if (branches.every((b) => typeof typeOf(b) === 'string')) {
    const type = (value as { type?: unknown }).type;
    return { branch: branches.find((b) => typeOf(b) === type), types: branches.map((b) => typeOf(b) as string) };
  }
  const objects = branches.filter((b) => (b as { type?: unknown }).type === 'object');
  return objects.length === 1 ? { branch: objects[0], types: [] } : undefined;
}
