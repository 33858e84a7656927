/**
 * The built-in load generator of `sluice dev --generate <rate>`: documents that satisfy a collection's
 * write schema (object properties, required, type, enum, const, formats date-time/date/uuid/email,
 * minimum/maximum), posted to an HTTP-ingest capture at a steady rate. String key fields get unique
 * values; other strings come from a small pool per field, so reductions by those fields have work to do.
 */
import { randomUUID } from 'node:crypto';
import type { BuiltCatalog } from '../catalog/model.ts';
import { getAt, parsePointer } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';

export class GeneratorError extends Error {
  readonly code = 'BadRate';
  constructor(readonly value: string) {
    super(`--generate expects <n>/s (e.g. 500/s), got ${JSON.stringify(value)}`);
    this.name = 'GeneratorError';
  }
}

export function parseRate(v: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(?:\/s)?$/.exec(v.trim());
  if (!m || Number(m[1]) <= 0) throw new GeneratorError(v);
  return Number(m[1]);
}

/** Resolve a schema URI (`file:///x.yaml#/pointer`) against the built catalog's schema documents. */
function schemaAt(catalog: BuiltCatalog, uri: string): Json | undefined {
  const hash = uri.indexOf('#');
  const base = hash < 0 ? uri : uri.slice(0, hash);
  const doc = catalog.schemas[base] ?? catalog.schemas[uri];
  if (doc === undefined || hash < 0 || catalog.schemas[uri] !== undefined) return doc;
  return getAt(doc, parsePointer(uri.slice(hash + 1)));
}

function resolveRef(catalog: BuiltCatalog, s: Json, baseUri: string): Json {
  if (isObject(s) && typeof s.$ref === 'string') {
    const ref = s.$ref.startsWith('#') ? baseUri.split('#')[0] + s.$ref : s.$ref;
    return schemaAt(catalog, ref) ?? s;
  }
  return s;
}

function pick<T>(xs: readonly T[], i: number): T {
  return xs[Math.abs(i) % xs.length];
}

export class DocGenerator {
  private i = 0;
  private readonly keyFields: Set<string>;

  constructor(
    private readonly catalog: BuiltCatalog,
    readonly collection: string,
  ) {
    this.keyFields = new Set(catalog.collections[collection].key);
  }

  next(): Json {
    const c = this.catalog.collections[this.collection];
    const n = this.i++;
    return this.value(
      resolveRef(this.catalog, schemaAt(this.catalog, c.writeSchema) ?? {}, c.writeSchema),
      '',
      n,
      c.writeSchema,
    );
  }

  private value(schema: Json, ptr: string, n: number, base: string): Json {
    const s = resolveRef(this.catalog, schema, base);
    if (!isObject(s)) return null;
    if ('const' in s) return s.const;
    if (Array.isArray(s.enum)) return pick(s.enum, (n * 7 + ptr.length) % 9973);
    const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
    const r = Math.floor(Math.random() * 1e9);
    switch (type) {
      case 'object': {
        const out: JsonObject = {};
        const props = isObject(s.properties) ? s.properties : {};
        const required = new Set(Array.isArray(s.required) ? s.required : []);
        for (const [k, v] of Object.entries(props)) {
          if (k === '_meta') continue;
          if (!required.has(k) && r % 3 === 0) continue;
          out[k] = this.value(v, `${ptr}/${k}`, n, base);
        }
        return out;
      }
      case 'array':
        return [this.value(isObject(s.items) ? s.items : {}, `${ptr}/0`, n, base)];
      case 'integer':
      case 'number': {
        const min = typeof s.minimum === 'number' ? s.minimum : 0;
        const max = typeof s.maximum === 'number' ? s.maximum : min + 100;
        const v = min + (r % Math.max(1, max - min + 1));
        return type === 'integer' ? Math.floor(v) : Math.round(v * 100) / 100;
      }
      case 'boolean':
        return r % 2 === 0;
      case 'string': {
        if (s.format === 'date-time') return new Date().toISOString();
        if (s.format === 'date') return new Date().toISOString().slice(0, 10);
        if (s.format === 'uuid') return randomUUID();
        if (s.format === 'email') return `user${r % 50}@example.com`;
        const field = ptr.split('/').pop() ?? 'v';
        if (this.keyFields.has(ptr)) return `${field}-${Date.now().toString(36)}-${n}`;
        return `${field}-${r % 20}`;
      }
      default:
        return null;
    }
  }
}
