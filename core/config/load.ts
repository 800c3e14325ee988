// Load a routes.yaml: parse the YAML, validate it (validate.ts), and give every error its line in the file.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isMap, isNode, isScalar, isSeq, type Node, type YAMLError } from 'yaml';
import type { MeshConfig } from './schema.js';
import { ConfigInvalidError, fieldPath, type ConfigError } from './check.js';
import { validateConfig } from './validate.js';

/** Parse YAML text and validate it; errors carry file lines. */
export function parseConfigText(text: string): { config?: MeshConfig; errors: ConfigError[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) return { errors: yamlErrors(text, doc.errors, lineCounter) };
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

/**
 * The yaml library's errors with the field they are in: the deepest key or item whose text holds the error's offset
 * (every one was "(root)"). A duplicate key is looked up in the document read again with duplicates kept, where it
 * is a key of its own, and named with the line of its first occurrence.
 */
function yamlErrors(text: string, errors: YAMLError[], lineCounter: LineCounter): ConfigError[] {
  const all = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
  return errors.map((e) => {
    const { segments, first } = fieldAt(all.contents, e.pos[0]);
    const line = lineCounter.linePos(e.pos[0]).line;
    if (e.code === 'DUPLICATE_KEY' && first) return { path: fieldPath(segments), message: `duplicate key (first on line ${lineCounter.linePos(first).line})`, line };
    return { path: fieldPath(segments), message: e.message.split('\n')[0], line };
  });
}

/** Field path to the node holding `offset`; `first` is where an earlier pair of the same map has the key found there. */
function fieldAt(root: unknown, offset: number): { segments: (string | number)[]; first?: number } {
  const segments: (string | number)[] = [];
  let node = root;
  for (;;) {
    const holds = (n: unknown): n is Node => isNode(n) && !!n.range && n.range[0] <= offset && offset < n.range[2];
    if (isMap(node)) {
      const pair = node.items.find((p) => holds(p.key) || holds(p.value));
      if (!pair) return { segments };
      const key = isScalar(pair.key) ? pair.key.value : pair.key;
      segments.push(typeof key === 'number' ? key : String(key));
      if (holds(pair.key)) {
        const earlier = node.items.find((p) => p !== pair && isScalar(p.key) && p.key.value === key);
        return { segments, first: earlier && (earlier.key as Node).range?.[0] };
      }
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex(holds);
      if (i === -1) return { segments };
      segments.push(i);
      node = node.items[i];
    } else return { segments };
  }
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
