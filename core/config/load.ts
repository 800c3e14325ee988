// Load a routes.yaml: read it (bounded, UTF-8 only), parse the YAML, validate it (validate.ts), and give every error
// its line in the file.
import { open } from 'node:fs/promises';
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

/**
 * The largest routes.yaml read. Far more than a snapshot etcd can hold needs (MAX_SNAPSHOT_BYTES of JSON), room
 * for comments; a 20 MB file took 85 s and 2.8 GB to be refused.
 */
export const MAX_CONFIG_FILE_BYTES = 2 * 1024 * 1024;

/** Read a routes.yaml and validate it: a file too big or not UTF-8 is refused as a wrong field is. Throws only on I/O. */
export async function readConfigFile(file: string): Promise<{ config?: MeshConfig; errors: ConfigError[] }> {
  const handle = await open(file, 'r');
  let bytes: Uint8Array;
  try {
    const { size } = await handle.stat();
    // Refused before it is read (a pipe or a special file has no size: it is read, and its bytes counted).
    if (size > MAX_CONFIG_FILE_BYTES) return { errors: [tooBig(size)] };
    bytes = await handle.readFile();
  } finally {
    await handle.close();
  }
  return parseConfigBytes(bytes);
}

/** parseConfigText for bytes: refused above MAX_CONFIG_FILE_BYTES, and unless UTF-8 throughout. */
export function parseConfigBytes(bytes: Uint8Array): { config?: MeshConfig; errors: ConfigError[] } {
  if (bytes.length > MAX_CONFIG_FILE_BYTES) return { errors: [tooBig(bytes.length)] };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Was read with readFile(…, 'utf8'): each bad byte silently became U+FFFD, in a name or a header value.
    return { errors: [{ path: '', message: 'this line has bytes that are not UTF-8 (a config file is UTF-8 text)', line: firstNonUtf8Line(bytes) }] };
  }
  return parseConfigText(text);
}

function tooBig(size: number): ConfigError {
  return { path: '', message: `the file is ${size} bytes; a config file may be at most ${MAX_CONFIG_FILE_BYTES} bytes (2 MiB)` };
}

/** A newline byte is never inside a UTF-8 sequence: the first line that does not decode on its own is the bad one. */
function firstNonUtf8Line(bytes: Uint8Array): number | undefined {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let line = 1;
  for (let start = 0; start <= bytes.length; line++) {
    let end = bytes.indexOf(0x0a, start);
    if (end === -1) end = bytes.length;
    try {
      decoder.decode(bytes.subarray(start, end));
    } catch {
      return line;
    }
    start = end + 1;
  }
  return undefined;
}

export async function loadConfigFile(file: string): Promise<MeshConfig> {
  const { config, errors } = await readConfigFile(file);
  if (!config) throw new ConfigInvalidError(errors, file);
  return config;
}
