/**
 * SQLite `$parameters` are the projections of the source collection, named as Estuary names them
 * (crates/derive-sqlite/src/param.rs): a field `sender` is `$sender`, `nested/prop` is `$nested$prop`,
 * whitespace and `-` become `_` (`with-hyphen` → `$with_hyphen`), and any other field is written
 * `$p::(field)`. Fields are the collection's explicit projections, `flow_document` (the whole document),
 * and every location its read schema declares through `properties`, named by its JSON pointer without
 * the leading `/`.
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
    for (const prop of shape.properties) {
      const child = `${pointer}/${escapeToken(prop)}`;
      if (shapeAt(registry, source.readSchema, child).exists === 'cannot') continue;
      add(child.slice(1).replaceAll('~1', '/').replaceAll('~0', '~'), child);
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
    super(`parameter ${param} not found${closest ? `: did you mean ${closest} ?` : ''}`);
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
  const closest = didYouMean(
    field,
    params.map((p) => p.field),
  );
  throw new ParamNotFoundError(encoding, params.find((p) => p.field === closest)?.encoding);
}

/** The value a parameter binds for a document, converted as Estuary binds it. */
export function bindValue(param: Param, doc: unknown): number | string | Uint8Array | null {
  const found = param.pointer === '' ? doc : getAt(doc as never, param.pointer);
  // Missing, not null: an explicit null binds NULL, as Estuary's extractor distinguishes them.
  const v = found === undefined ? param.default : found;
  if (v === undefined || v === null) return null;
  if (param.publishedAt) return typeof v === 'string' ? new Date(uuidTime(v)).toISOString() : null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (param.format === 'integer' && /^[-+]?\d+$/.test(v)) {
      const n = Number(v);
      if (Number.isSafeInteger(n)) return n;
    }
    if (param.format === 'number' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
    return v;
  }
  return JSON.stringify(v);
}
