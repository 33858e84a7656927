/**
 * SQLite `$parameters` are the projections of the source collection, named as Estuary names them
 * (crates/derive-sqlite/src/param.rs): a field `sender` is `$sender`, `nested/prop` is `$nested$prop`,
 * whitespace and `-` become `_` (`with-hyphen` → `$with_hyphen`), and any other field is written
 * `$p::(field)`. Fields are the collection's explicit projections, `flow_document` (the whole document),
 * and every location its read schema declares through `properties` or tuple items (`prefixItems`, or
 * `items: [...]`: `$arr$0`, as Estuary's docs name one), named by its JSON pointer without the leading `/`.
 */
import { didYouMean } from '../../catalog/diagnostics.ts';
import type { CollectionSpec } from '../../catalog/model.ts';
import { SluiceError } from '../../errors.ts';
import { escapeToken, getAt } from '../../json/pointer.ts';
import type { Json } from '../../json/types.ts';
import { uuidTime } from '../../meta/uuid.ts';
import type { SchemaRegistry } from '../../schema/registry.ts';
import { shapeAt } from '../../schema/shape.ts';

export interface Param {
  field: string;
  /** JSON pointer of the location in source documents (`''` for `flow_document`). */
  pointer: string;
  /** `$field` form, or `$p::(field)` when the field has other characters. */
  encoding: string;
  /** Strings of format `integer` / `number` bind as numbers when they parse (as Estuary does). */
  format?: 'integer' | 'number';
  /** Strings of `contentEncoding: base64` bind as the bytes they decode to (a blob), when they decode. */
  base64?: true;
  /** `flow_published_at`: the publish time carried by `/_meta/uuid`, as an RFC 3339 timestamp. */
  publishedAt?: true;
  /**
   * The schema's `default` for the location, bound when a document lacks it: Estuary binds through
   * the projection's extractor, whose value for a missing location is the inferred default
   * (crates/extractors `for_projection`, derive-sqlite lambda.rs `bind_parameter`).
   */
  default?: Json;
}

export const EXPLICIT_PREFIX = '$p::(';
/** How deep nested `properties` are projected (recursive schemas would never end). */
const MAX_DEPTH = 8;

export function canonicalEncoding(field: string): string {
  const simple = [...field].every((c) => /[\p{L}\p{N}\s_\-/]/u.test(c));
  const param = [...field]
    .map((c) => (/\s/u.test(c) ? '_' : simple && c === '/' ? '$' : simple && c === '-' ? '_' : c))
    .join('');
  return simple ? `$${param}` : `${EXPLICIT_PREFIX}${param})`;
}

/** The parameters of a source collection. */
export function sourceParams(registry: SchemaRegistry, source: CollectionSpec): Param[] {
  const byField = new Map<string, Param>();
  const add = (field: string, pointer: string): void => {
    if (byField.has(field)) return;
    const shape = pointer === '' ? undefined : shapeAt(registry, source.readSchema, pointer);
    const format = shape?.format === 'integer' || shape?.format === 'number' ? shape.format : undefined;
    byField.set(field, {
      field,
      pointer,
      encoding: canonicalEncoding(field),
      ...(format ? { format } : {}),
      ...(shape?.contentEncoding === 'base64' ? { base64: true as const } : {}),
      ...(shape?.default !== undefined ? { default: shape.default } : {}),
    });
  };
  for (const [field, p] of Object.entries(source.projections)) add(field, p.location);
  add('flow_document', '');
  add('_meta/uuid', '/_meta/uuid');
  byField.set('flow_published_at', {
    field: 'flow_published_at',
    pointer: '/_meta/uuid',
    encoding: canonicalEncoding('flow_published_at'),
    publishedAt: true,
  });
  const walk = (pointer: string, depth: number): void => {
    if (depth >= MAX_DEPTH) return;
    const shape = shapeAt(registry, source.readSchema, pointer);
    const tokens = [
      ...shape.properties.map(escapeToken),
      ...Array.from({ length: shape.tupleItems }, (_, i) => `${i}`),
    ];
    for (const token of tokens) {
      const child = `${pointer}/${token}`;
      if (shapeAt(registry, source.readSchema, child).exists === 'cannot') continue;
      // Estuary's canonical field is the pointer as written, escapes kept (collection.rs:
      // `ptr.to_string()[1..]`): a property named `a/b` is the field `a~1b`, not the nested `a/b`.
      add(child.slice(1), child);
      walk(child, depth + 1);
    }
  };
  walk('', 0);
  return [...byField.values()];
}

export class ParamNotFoundError extends SluiceError {
  readonly code = 'ParamNotFound';
  constructor(
    readonly param: string,
    readonly closest: string | undefined,
  ) {
    super(`parameter ${param} not found${closest ? `: did you mean \`${closest}\`?` : ''}`);
    this.name = 'ParamNotFoundError';
  }
}

/**
 * The projection a `$parameter` names: an exact field, or one where `_` stands for whitespace or `-`.
 * With `undeclared` (a source whose inferred schema Sluice cannot know), a field no projection has
 * names the location of its own pointer (`$a$b`: `/a/b`), as the inferred schema's projection would.
 */
export function resolveParam(encoding: string, params: Param[], undeclared = false): Param {
  const explicit = encoding.startsWith(EXPLICIT_PREFIX);
  const field = explicit
    ? encoding.slice(EXPLICIT_PREFIX.length, -1)
    : encoding.slice(1).replaceAll('$', '/');
  const exact = params.find((p) => p.field === field);
  if (exact) return exact;
  for (const p of params) {
    const a = [...field];
    const b = [...p.field];
    if (a.length !== b.length) continue;
    if (a.every((f, i) => f === b[i] || (f === '_' && (/\s/u.test(b[i]) || (b[i] === '-' && !explicit)))))
      return p;
  }
  if (undeclared && field !== '')
    return { field, pointer: `/${field.split('/').map(escapeToken).join('/')}`, encoding };
  // `$p::(a/b)` for a property named `a/b`: its field keeps the pointer's escapes (`a~1b`).
  const escaped = params.find((p) => p.field.replaceAll('~1', '/').replaceAll('~0', '~') === field);
  if (escaped) throw new ParamNotFoundError(encoding, escaped.encoding);
  const closest = didYouMean(
    field,
    params.map((p) => p.field),
  );
  throw new ParamNotFoundError(encoding, params.find((p) => p.field === closest)?.encoding);
}

/**
 * The value a parameter binds for a document, converted as Estuary binds it. A bigint binds as a 64-bit
 * integer: sql.js binds a JavaScript number as an integer only within 32 bits and as a double beyond,
 * where Estuary binds every JSON integer as an integer (`$epochMillis / 1000` divides integers there).
 * An integral double (a JSON `15.0`, a `format: number` string "15") still binds as an integer:
 * sql.js offers no way to bind it as a double.
 */
export function bindValue(param: Param, doc: unknown): number | bigint | string | Uint8Array | null {
  const found = param.pointer === '' ? doc : getAt(doc as never, param.pointer);
  // Missing, not null: an explicit null binds NULL, as Estuary's extractor distinguishes them.
  const v = found === undefined ? param.default : found;
  if (v === undefined || v === null) return null;
  if (param.publishedAt) return typeof v === 'string' ? new Date(uuidTime(v)).toISOString() : null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return Number.isSafeInteger(v) && (v | 0) !== v ? BigInt(v) : v;
  if (typeof v === 'string') {
    // Each conversion applies only when the string parses, in the order Estuary tries them
    // (crates/derive-sqlite lambda.rs `bind_parameter_node`); otherwise the text binds as is.
    if (param.format === 'integer' && /^[-+]?\d+$/.test(v)) {
      // Any i64, as Rust's parser reads it: beyond 2^53 too, which a JavaScript number would round.
      const n = BigInt(v.replace(/^\+/, ''));
      if (BigInt.asIntN(64, n) === n) return n;
    }
    if (param.format === 'number') {
      const n = parseRustFloat(v);
      if (n !== undefined) return n;
    }
    if (param.base64) {
      const bytes = decodeCanonicalBase64(v);
      if (bytes !== undefined) return bytes;
    }
    return v;
  }
  return JSON.stringify(v);
}

/**
 * A string as Rust's `f64::from_str` reads it (what Estuary binds a `format: number` string with):
 * decimal digits with an optional sign, fraction and exponent, or `inf`/`infinity`/`nan` in any case;
 * no surrounding whitespace and no `0x` prefixes, which JavaScript's Number() would accept.
 */
function parseRustFloat(v: string): number | undefined {
  if (/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(v)) return Number(v);
  const special = /^([-+]?)(inf|infinity|nan)$/i.exec(v);
  if (!special) return undefined;
  if (special[2].toLowerCase() === 'nan') return Number.NaN;
  return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
}

/**
 * Bytes of standard, padded base64 (the `base64` crate's STANDARD engine Estuary decodes with): only
 * canonical text decodes, which re-encoding the bytes reproduces exactly; Node's decoder alone would
 * skip invalid characters and accept missing padding.
 */
function decodeCanonicalBase64(v: string): Uint8Array | undefined {
  if (v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return undefined;
  const bytes = Buffer.from(v, 'base64');
  return bytes.toString('base64') === v ? new Uint8Array(bytes) : undefined;
}
