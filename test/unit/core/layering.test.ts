// The layering STYLE.md promises: core/ imports no tier, and a tier imports no other tier (only compose/ does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TIERS = ['edge', 'sidecar', 'authz-svc', 'quota-svc', 'registry', 'compose'];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Top-level folders a file's relative imports reach. */
function importedFolders(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => m[1]);
  return specs.map((s) => relative(ROOT, resolve(dirname(join(ROOT, file)), s)).split('/')[0]);
}

test('core/ imports no tier', () => {
  const offending = sources('core').flatMap((f) => importedFolders(f).filter((d) => TIERS.includes(d)).map((d) => `${f} → ${d}/`));
  assert.deepEqual(offending, []);
});

test('a tier imports core/ and proto/ but no other tier (compose/ is where tiers meet)', () => {
  const offending = TIERS.filter((t) => t !== 'compose').flatMap((tier) =>
    sources(tier).flatMap((f) => importedFolders(f).filter((d) => d !== tier && TIERS.includes(d)).map((d) => `${f} → ${d}/`)),
  );
  assert.deepEqual(offending, []);
});

test("the CLI loads a tier's server only when that subcommand runs: no command.ts imports its main.js statically", () => {
  // One `meshgate` binary serves every tier; a static import here put ioredis and the quota server in every sidecar.
  const offending = TIERS.flatMap((tier) => sources(tier).filter((f) => f.endsWith('command.ts'))).filter((f) =>
    /^import\s[^;]*from\s*'\.\/(main|up)\.js'/m.test(readFileSync(join(ROOT, f), 'utf8')),
  );
  assert.deepEqual(offending, []);
});
