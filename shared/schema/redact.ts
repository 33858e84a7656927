/**
 * Estuary's `redact` annotation, applied where documents enter a collection (captures, derivation
 * outputs; crates/doc/src/redact): at each document location, the `redact` annotations of the
 * subschemas that apply there (the same applicator walk as `reduce`: reduce/plan.ts, conditionals
 * decided by the value) select
 * - `{strategy: block}`: the location is removed (an object property or array item; a redacted root
 *   leaves no document);
 * - `{strategy: sha256}`: the value becomes `sha256:<hex>` of the salt followed by the value's bytes:
 *   a string's UTF-8; a boolean as one byte 1/0; null as nothing; an integer in ±2^53 as its 64-bit
 *   little-endian two's complement, any other number as its IEEE-754 bits little-endian; an array or
 *   object as its compact JSON with properties in sorted order. A string already of that form is left
 *   as it is, so redacting twice changes nothing.
 * A parent's annotation wins over its children's (they are gone or hashed with it). Two different
 * strategies at one location are an error naming it. Everything else is left as it was.
 */
import { createHash } from 'node:crypto';
import { SluiceError } from '../errors.ts';
import { escapeToken, setOwnProp } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { type Plan, planCacheOf } from '../reduce/plan.ts';
import type { SchemaRegistry } from './registry.ts';

export type RedactStrategy = 'block' | 'sha256';

export class RedactError extends SluiceError {
  readonly code: 'ConflictingRedactStrategies' | 'InvalidRedactAnnotation';
  constructor(
    code: RedactError['code'],
    readonly pointer: string,
    message: string,
  ) {
    super(message);
    this.name = 'RedactError';
    this.code = code;
  }
}

/** What walk() returns for a location to remove. */
const BLOCKED: unique symbol = Symbol('blocked');
const HASHED = /^sha256:[0-9a-fA-F]{64}$/;
const MANTISSA = 2 ** 53;

/** The bytes a value is hashed by (Estuary's, see the file comment). */
function valueBytes(v: Json): Buffer {
  if (v === null) return Buffer.alloc(0);
  if (typeof v === 'boolean') return Buffer.from([v ? 1 : 0]);
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (typeof v === 'number') {
    const b = Buffer.alloc(8);
    if (Number.isInteger(v) && v >= -MANTISSA && v <= MANTISSA) b.writeBigInt64LE(BigInt(v));
    else b.writeDoubleLE(v);
    return b;
  }
  return Buffer.from(sortedJson(v), 'utf8');
}

/** Compact JSON with object properties sorted (Estuary's documents keep properties in that order). */
function sortedJson(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(v[k] as Json)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** `sha256:<hex>` of salt + the value's bytes; an already hashed string is returned as is. */
export function redactHash(v: Json, salt: Uint8Array): string {
  if (typeof v === 'string' && HASHED.test(v)) return v;
  return `sha256:${createHash('sha256').update(salt).update(valueBytes(v)).digest('hex')}`;
}

/** Whether any subschema reachable from `uri` carries `redact` (most schemas do not: nothing to walk). */
function mentionsRedact(schema: Json): boolean {
  return JSON.stringify(schema).includes('"redact"');
}

/** The redaction of one collection schema. */
export class Redactor {
  private readonly root: Plan;
  /** False when no schema document of the registry mentions `redact`: apply() is the identity. */
  readonly active: boolean;

  constructor(registry: SchemaRegistry, schemaUri: string, schemas: Record<string, Json>) {
    this.root = planCacheOf(registry.graph).intern([registry.node(schemaUri)]);
    this.active = Object.values(schemas).some(mentionsRedact);
  }

  /** The document redacted (a copy where anything changed), or undefined when the root is blocked. */
  apply(doc: Json, salt: Uint8Array): Json | undefined {
    if (!this.active) return doc;
    const out = this.walk(this.root, doc, '', salt);
    return out === BLOCKED ? undefined : out;
  }

  private walk(plan: Plan, v: Json, at: string, salt: Uint8Array): Json | typeof BLOCKED {
    const active = plan.activate(v);
    const strategies = new Set<RedactStrategy>();
    for (const n of active.nodes) {
      const r = isObject(n.schema) ? n.schema.redact : undefined;
      if (r === undefined) continue;
      if (!isObject(r) || (r.strategy !== 'block' && r.strategy !== 'sha256'))
        throw new RedactError(
          'InvalidRedactAnnotation',
          at,
          `redact annotation of ${n.uri}: ${JSON.stringify(r)}; allowed: {strategy: "block"} or {strategy: "sha256"}`,
        );
      strategies.add(r.strategy);
    }
    if (strategies.size > 1)
      throw new RedactError(
        'ConflictingRedactStrategies',
        at,
        `conflicting redact strategies at ${JSON.stringify(at)}: ${[...strategies].sort().join(' vs ')}`,
      );
    const [strategy] = strategies;
    if (strategy === 'block') return BLOCKED;
    if (strategy === 'sha256') return redactHash(v, salt);
    if (Array.isArray(v)) {
      let changed = false;
      const out: Json[] = [];
      v.forEach((item, i) => {
        const r = this.walk(active.itemPlan(i), item, `${at}/${i}`, salt);
        if (r !== item) changed = true;
        if (r !== BLOCKED) out.push(r);
      });
      return changed ? out : v;
    }
    if (isObject(v)) {
      let changed = false;
      const out: JsonObject = {};
      for (const [k, item] of Object.entries(v)) {
        const r = this.walk(active.propPlan(k), item as Json, `${at}/${escapeToken(k)}`, salt);
        if (r !== item) changed = true;
        if (r !== BLOCKED) setOwnProp(out, k, r); // `__proto__` stays a plain property
      }
      return changed ? out : v;
    }
    return v;
  }
}
