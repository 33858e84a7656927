// The content-hash cache of compiled validators and module inspections (shared/cache, shared/schema/standalone.ts):
// a cached validator behaves exactly like a freshly compiled one, and the cache can never make anything fail.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectDerivationModule } from '../../shared/catalog/module.ts';
import type { Json } from '../../shared/json/types.ts';
import { SchemaError, SchemaRegistry } from '../../shared/schema/registry.ts';

const SCHEMA: Json = {
  type: 'object',
  required: ['id', 'at'],
  properties: {
    id: { type: 'string', maxLength: 8 },
    at: { type: 'string', format: 'date-time' },
    amount: { type: 'string', format: 'number' },
    tags: { type: 'array', items: { type: 'string' }, uniqueItems: true },
    total: { type: 'integer', reduce: { strategy: 'sum' } },
  },
  additionalProperties: false,
};
const DOCS: Json[] = [
  { id: 'a', at: '2024-05-01T10:00:00Z', amount: '1.50', tags: ['x', 'y'], total: 3 },
  { id: 'a', at: '2024-05-01 10:00', total: 3 }, // date-time format
  { id: 'a', at: '2024-05-01T10:00:00Z', amount: '1,5' }, // Sluice's own `number` format
  { id: 'a', at: '2024-05-01T10:00:00Z', tags: ['x', 'x'] }, // uniqueItems: ajv's runtime `equal`
  { id: 'too-long-id', at: '2024-05-01T10:00:00Z' },
  { id: 'a', at: '2024-05-01T10:00:00Z', extra: 1 },
  { at: '2024-05-01T10:00:00Z' },
];

let dir: string;
const saved = process.env.SLUICE_CACHE_DIR;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-cache-test-'));
  process.env.SLUICE_CACHE_DIR = dir;
});
afterEach(() => {
  process.env.SLUICE_CACHE_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

const results = (r: SchemaRegistry) => DOCS.map((d) => r.validator('test://s.json').validate(d));
const usesAjv = (r: SchemaRegistry) => (r as unknown as { ajvInstance?: unknown }).ajvInstance !== undefined;

describe('compiled validator cache', () => {
  it('a second registry of the same schemas validates from the cache, without ajv, with identical results', () => {
    const first = new SchemaRegistry({ 'test://s.json': SCHEMA });
    const expected = results(first);
    expect(expected.map((v) => v.length > 0)).toEqual([false, true, true, true, true, true, true]);
    expect(readdirSync(join(dir, 'ajv')).length).toBeGreaterThan(0);

    const second = new SchemaRegistry({ 'test://s.json': SCHEMA });
    expect(results(second)).toEqual(expected);
    expect(usesAjv(second)).toBe(false);
  });

  it('another schema set misses the cache and compiles', () => {
    new SchemaRegistry({ 'test://s.json': SCHEMA }).validator('test://s.json');
    const other = new SchemaRegistry({ 'test://s.json': { ...(SCHEMA as object), required: ['id'] } });
    expect(usesAjv(other)).toBe(true);
    expect(other.validator('test://s.json').isValid({ id: 'a' })).toBe(true);
  });

  it('a corrupt entry is a miss, not an error', () => {
    new SchemaRegistry({ 'test://s.json': SCHEMA }).validator('test://s.json');
    for (const f of readdirSync(join(dir, 'ajv')))
      writeFileSync(join(dir, 'ajv', f), '{"code":"syntax error(');
    const r = new SchemaRegistry({ 'test://s.json': SCHEMA });
    expect(r.validator('test://s.json').isValid(DOCS[0])).toBe(true);
    expect(r.validator('test://s.json').isValid(DOCS[1])).toBe(false);
    // and the entry was rewritten
    const f = readdirSync(join(dir, 'ajv'))[0];
    expect(() => JSON.parse(readFileSync(join(dir, 'ajv', f), 'utf8'))).not.toThrow();
  });

  it('an invalid schema still fails at construction, and is never recorded as valid', () => {
    const bad = { 'test://bad.json': { type: 'object', properties: { a: { type: 'nope' } } } };
    expect(() => new SchemaRegistry(bad)).toThrow(SchemaError);
    expect(() => new SchemaRegistry(bad)).toThrow(SchemaError);
  });

  it('SLUICE_CACHE_DIR=off writes nothing', () => {
    process.env.SLUICE_CACHE_DIR = 'off';
    const r = new SchemaRegistry({ 'test://s.json': SCHEMA });
    expect(r.validator('test://s.json').isValid(DOCS[0])).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an unwritable cache folder only means no cache', () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, '');
    process.env.SLUICE_CACHE_DIR = file;
    expect(new SchemaRegistry({ 'test://s.json': SCHEMA }).validator('test://s.json').isValid(DOCS[1])).toBe(
      false,
    );
  });
});

describe('derivation module inspection cache', () => {
  const text = `export class Derivation {\n  fromA(r: unknown) { return [r]; }\n  private helper() {}\n}\n`;

  it('gives the same methods, helpers and positions from the cache', async () => {
    const fresh = await inspectDerivationModule('/x/m.ts', text);
    expect(readdirSync(join(dir, 'module-inspection'))).toHaveLength(1);
    const cached = await inspectDerivationModule('/x/m.ts', text);
    expect(cached).toEqual(fresh);
    expect(fresh.kind === 'ok' && [...fresh.derivation.methods.keys()]).toEqual(['fromA', 'helper']);
  });

  it('keys by content: a changed module is inspected again', async () => {
    await inspectDerivationModule('/x/m.ts', text);
    const changed = await inspectDerivationModule('/x/m.ts', text.replace('fromA', 'fromB'));
    expect(changed.kind === 'ok' && [...changed.derivation.methods.keys()]).toEqual(['fromB', 'helper']);
  });
});
