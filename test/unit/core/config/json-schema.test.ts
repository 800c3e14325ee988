// The committed JSON Schema and shape check equal what the TypeBox source generates (run `npm run schema` after a change).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SCHEMA_FILE, SHAPE_CHECK_FILE, routesJsonSchema, shapeCheckSource } from '../../../../core/config/json-schema.js';

test('schema/routes.schema.json is generated from core/config/schema.ts', () => {
  assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), routesJsonSchema());
});

test('core/config/shape-check.ts is generated from core/config/schema.ts', () => {
  assert.equal(readFileSync(SHAPE_CHECK_FILE, 'utf8'), shapeCheckSource());
});
