/**
 * The built-in load generator of `sluice dev --generate <rate>`: documents that satisfy a collection's
 * write schema, posted to an HTTP-ingest capture at a steady rate. It follows `$ref`s (also across
 * schema files), `allOf`/`anyOf`/`oneOf`, `type`, `enum`, `const`, string formats and `pattern`s
 * (random strings matching the expression), lengths and numeric bounds. Key fields get unique values;
 * other values come from a small pool per location, so reductions have work to do. Every document is
 * validated against the schema before it is sent; a schema it cannot satisfy is reported once.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type RandExpClass from 'randexp';
import type { BuiltCatalog } from '../catalog/model.ts';
import { SluiceError } from '../errors.ts';
import { getAt } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import type { CompiledSchema } from '../schema/registry.ts';
import { SchemaRegistry } from '../schema/registry.ts';

// randexp is CommonJS (`module.exports = RandExp`) with ES-style typings: require it.
const RandExp = createRequire(import.meta.url)('randexp') as typeof RandExpClass.default;

export class GeneratorError extends SluiceError {
  readonly code: 'BadRate' | 'CannotGenerate';
  constructor(code: GeneratorError['code'], message: string) {
    super(message);
    this.name = 'GeneratorError';
    this.code = code;
  }
}

export function parseRate(v: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(?:\/s)?$/.exec(v.trim());
  if (!m || Number(m[1]) <= 0)
    throw new GeneratorError('BadRate', `--generate expects <n>/s (e.g. 500/s), got ${JSON.stringify(v)}`);
  return Number(m[1]);
}

/** How many values each non-key location draws from. */
const POOL = 20;
/** Attempts at a valid document before giving up. */
const ATTEMPTS = 25;
const MAX_DEPTH = 12;

export class DocGenerator {
  private i = 0;
  private readonly keyFields: Set<string>;
  private readonly validator: CompiledSchema;

  constructor(
    private readonly catalog: BuiltCatalog,
    readonly collection: string,
    registry: SchemaRegistry = new SchemaRegistry(catalog.schemas),
  ) {
    const spec = catalog.collections[collection];
    this.keyFields = new Set(spec.key);
    this.validator = registry.validator(spec.writeSchema);
  }

  /** A new valid document; throws GeneratorError when the schema defeats the generator. */
  next(): Json {
    const spec = this.catalog.collections[this.collection];
    let last = '';
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const n = this.i++;
      const root = this.resolve(spec.writeSchema);
      const doc = root ? this.value(root.schema, root.base, '', n, 0) : {};
      const violations = this.validator.validate(doc);
      if (violations.length === 0) return doc;
      const v = violations[0];
      last = `${v.instancePath || '/'}: ${v.message} (keyword "${v.keyword}")`;
    }
    throw new GeneratorError(
      'CannotGenerate',
      `the load generator cannot make a valid document of ${this.collection} (last try: ${last}); post your own documents instead`,
    );
  }

  /** The schema at an absolute URI with an optional `#/pointer` fragment. */
  private resolve(uri: string): { schema: Json; base: string } | undefined {
    const hash = uri.indexOf('#');
    const base = hash < 0 ? uri : uri.slice(0, hash);
    const doc = this.catalog.schemas[uri] ?? this.catalog.schemas[base];
    if (doc === undefined) return undefined;
    if (this.catalog.schemas[uri] !== undefined || hash < 0) return { schema: doc, base: uri };
    const fragment = decodeURIComponent(uri.slice(hash + 1));
    const schema = fragment === '' ? doc : getAt(doc, fragment);
    return schema === undefined ? undefined : { schema, base };
  }

  private value(schema: Json, base: string, ptr: string, n: number, depth: number): Json {
    if (!isObject(schema) || depth > MAX_DEPTH) return null;
    if (typeof schema.$ref === 'string') {
      const target = this.resolve(new URL(schema.$ref, base).href);
      const { $ref: _, ...rest } = schema;
      if (target) return this.value(merge(target.schema, rest), target.base, ptr, n, depth + 1);
    }
    let s = schema;
    if (Array.isArray(s.allOf)) for (const part of s.allOf) s = merge(s, part);
    for (const k of ['oneOf', 'anyOf'] as const) {
      const alts = s[k];
      if (Array.isArray(alts) && alts.length > 0) {
        const { [k]: _, ...rest } = s;
        s = merge(rest, alts[(n + ptr.length) % alts.length]);
      }
    }
    if ('const' in s) return s.const;
    if (Array.isArray(s.enum)) return pick(s.enum, n * 7 + ptr.length);
    const pooled = this.keyFields.has(ptr) ? n : Math.floor(Math.random() * POOL);
    switch (typeOf(s)) {
      case 'object': {
        const out: JsonObject = {};
        const props = isObject(s.properties) ? s.properties : {};
        const required = new Set(Array.isArray(s.required) ? s.required : []);
        for (const [k, v] of Object.entries(props)) {
          if (k === '_meta') continue;
          if (!required.has(k) && Math.random() < 0.3) continue;
          out[k] = this.value(
            v,
            base,
            `${ptr}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`,
            n,
            depth + 1,
          );
        }
        return out;
      }
      case 'array': {
        const min = typeof s.minItems === 'number' ? s.minItems : 1;
        return Array.from({ length: Math.max(min, 1) }, (_, i) =>
          this.value(s.items ?? {}, base, `${ptr}/${i}`, n + i, depth + 1),
        );
      }
      case 'integer':
      case 'number':
        return this.number(s, typeOf(s) === 'integer', pooled, this.keyFields.has(ptr));
      case 'boolean':
        return pooled % 2 === 0;
      case 'null':
        return null;
      default:
        return this.string(s, ptr, pooled, this.keyFields.has(ptr));
    }
  }

  private number(s: JsonObject, integer: boolean, k: number, unique: boolean): number {
    const lo =
      num(s.minimum) ??
      (num(s.exclusiveMinimum) !== undefined ? num(s.exclusiveMinimum)! + (integer ? 1 : 0.01) : 0);
    const hiDefault = unique ? lo + 1e12 : lo + 1000;
    const hi =
      num(s.maximum) ??
      (num(s.exclusiveMaximum) !== undefined ? num(s.exclusiveMaximum)! - (integer ? 1 : 0.01) : hiDefault);
    const step = num(s.multipleOf) ?? (integer ? 1 : 0.01);
    const span = Math.max(0, Math.floor((hi - lo) / step));
    const v = lo + ((unique ? k : Math.floor(Math.random() * 1e9)) % (span + 1)) * step;
    return integer ? Math.round(v) : Math.round(v * 100) / 100;
  }

  private string(s: JsonObject, ptr: string, k: number, unique: boolean): string {
    const now = new Date();
    switch (s.format) {
      case 'date-time':
        return now.toISOString();
      case 'date':
        return now.toISOString().slice(0, 10);
      case 'time':
        return now.toISOString().slice(11, 19) + 'Z';
      case 'uuid':
        return randomUUID();
      case 'email':
        return `user${k}@example.com`;
      case 'uri':
      case 'url':
        return `https://example.com/${k}`;
      case 'integer':
        return String(k);
      case 'number':
        return `${k}.5`;
    }
    if (typeof s.pattern === 'string') {
      const r = new RandExp(s.pattern);
      r.max = 4;
      return r.gen(); // the pattern decides the shape: uniqueness of a patterned key field is best effort
    }
    const field = ptr.split('/').pop() || 'v';
    let v = unique ? `${field}-${Date.now().toString(36)}-${k}` : `${field}-${k}`;
    const min = num(s.minLength) ?? 0;
    const max = num(s.maxLength);
    while (v.length < min) v += 'x';
    if (max !== undefined) v = v.slice(0, max);
    return v;
  }
}

function num(v: Json | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function typeOf(s: JsonObject): string {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  if (typeof t === 'string') return t;
  if (isObject(s.properties) || 'required' in s || 'additionalProperties' in s) return 'object';
  if ('items' in s || 'prefixItems' in s) return 'array';
  return 'string';
}

/** Both schemas' constraints at once (enough for generation: properties, required, and the rest overridden). */
function merge(a: Json, b: Json): JsonObject {
  const x = isObject(a) ? a : {};
  const y = isObject(b) ? b : {};
  const out: JsonObject = { ...x, ...y };
  if (isObject(x.properties) || isObject(y.properties)) {
    out.properties = {
      ...(isObject(x.properties) ? x.properties : {}),
      ...(isObject(y.properties) ? y.properties : {}),
    };
  }
  if (Array.isArray(x.required) || Array.isArray(y.required)) {
    out.required = [
      ...new Set([
        ...(Array.isArray(x.required) ? x.required : []),
        ...(Array.isArray(y.required) ? y.required : []),
      ]),
    ];
  }
  return out;
}

function pick<T>(xs: readonly T[], i: number): T {
  return xs[Math.abs(i) % xs.length];
}
