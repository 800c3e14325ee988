// Load a routes.yaml: parse the YAML, validate it (validate.ts), and give every error its line in the file.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { MeshConfig } from './schema.js';
import { ConfigInvalidError, type ConfigError } from './check.js';
import { validateConfig } from './validate.js';

/** Parse YAML text and validate it; errors carry file lines. */
export function parseConfigText(text: string): { config?: MeshConfig; errors: ConfigError[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    return {
      errors: doc.errors.map((e) => ({
        path: '',
        message: e.message.split('\n')[0],
        line: lineCounter.linePos(e.pos[0]).line,
      })),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // The yaml library refuses to expand an alias bomb ("billion laughs") past maxAliasCount.
    return { errors: [{ path: '', message: (err as Error).message, line: 1 }] };
  }
  const result = validateConfig(value);
  for (const error of result.errors) error.line = lineOf(doc, lineCounter, error.path);
  return result;
}

function lineOf(doc: ReturnType<typeof parseDocument>, counter: LineCounter, path: string): number | undefined {
  const segments = path.match(/[^.[\]]+/g) ?? [];
  // Walk down as far as the path exists: a missing field points at its parent.
  for (let n = segments.length; n >= 0; n--) {
    const keys = segments.slice(0, n).map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));
    const node = n === 0 ? doc.contents : doc.getIn(keys, true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}

export async function loadConfigFile(file: string): Promise<MeshConfig> {
  const text = await readFile(file, 'utf8');
  const { config, errors } = parseConfigText(text);
  if (!config) throw new ConfigInvalidError(errors, file);
  return config;
}
