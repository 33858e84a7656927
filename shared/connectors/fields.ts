/**
 * Which fields a materialization binding stores, and their shapes, from the collection's read schema.
 *
 * Selected fields (Estuary's defaults, simplified): the key fields (projection name, or the pointer
 * without its leading `/`), the collection's partition fields, its other explicit projections and the
 * schema's top-level properties (except `_meta`) when `fields.recommended` is not false, minus `fields.exclude`, plus
 * `fields.include` / `fields.require`; and the whole document as `flow_document`.
 *
 * This walks the JSON Schema itself (local and cross-document `$ref`, `allOf`, `anyOf`/`oneOf` as a
 * union of types, `type` arrays, `required`), enough to pick column types.
 */
import type { BuiltCatalog, CollectionSpec, MaterializationBinding } from '../catalog/model.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { uuidTime } from '../meta/uuid.ts';
import { FieldMappingError } from './errors.ts';

export interface FieldShape {
  /** JSON types (`string`, `integer`, `number`, `boolean`, `object`, `array`, `null`); empty = unknown (anything). */
  types: Set<string>;
  format?: string;
  /** The location always exists in a valid document. */
  required: boolean;
}

export interface SelectedField {
  name: string;
  pointer: string;
  shape: FieldShape;
  isKey: boolean;
}

function unescapePtr(s: string): string {
  return s.replaceAll('~1', '/').replaceAll('~0', '~');
}

function resolvePointer(doc: Json, ptr: string, uriFragment = false): Json | undefined {
  if (ptr === '' || ptr === '/') return doc;
  let cur: Json | undefined = doc;
  for (const raw of ptr.replace(/^\//, '').split('/')) {
    const part = uriFragment ? decodeURIComponent(unescapePtr(raw)) : unescapePtr(raw);
    if (Array.isArray(cur)) cur = cur[Number(part)];
    else if (isObject(cur)) cur = cur[part];
    else return undefined;
  }
  return cur;
}

/** A schema node together with the document URI it lives in (to resolve relative `$ref`s). */
interface Node {
  schema: Json;
  base: string;
}

function splitUri(uri: string): { doc: string; frag: string } {
  const i = uri.indexOf('#');
  return i < 0 ? { doc: uri, frag: '' } : { doc: uri.slice(0, i), frag: uri.slice(i + 1) };
}

export class SchemaWalker {
  constructor(private readonly schemas: Record<string, Json>) {}

  node(uri: string): Node | undefined {
    const { doc, frag } = splitUri(uri);
    const root = this.schemas[doc];
    if (root === undefined) return undefined;
    const schema = resolvePointer(root, frag, true);
    return schema === undefined ? undefined : { schema, base: doc };
  }

  private deref(n: Node, depth = 0): Node[] {
    // The node itself plus every schema it is combined with through $ref / allOf (all must hold).
    if (!isObject(n.schema) || depth > 32) return [n];
    const out: Node[] = [n];
    const ref = n.schema.$ref;
    if (typeof ref === 'string') {
      const target = ref.startsWith('#') ? `${n.base}${ref}` : new URL(ref, n.base).href;
      const t = this.node(target);
      if (t) out.push(...this.deref(t, depth + 1));
    }
    const all = n.schema.allOf;
    if (Array.isArray(all))
      for (const s of all) out.push(...this.deref({ schema: s, base: n.base }, depth + 1));
    return out;
  }

  /** Types a node admits: the intersection of its conjuncts' `type`, union across `anyOf`/`oneOf`. */
  private shapeOf(n: Node): { types: Set<string> | undefined; format?: string } {
    let types: Set<string> | undefined;
    let format: string | undefined;
    const meet = (t: Set<string>): void => {
      if (!types) types = t;
      else {
        const next = new Set<string>();
        for (const x of types) {
          if (t.has(x)) next.add(x);
          else if (x === 'integer' && t.has('number')) next.add('integer');
          else if (x === 'number' && t.has('integer')) next.add('integer');
        }
        types = next;
      }
    };
    for (const c of this.deref(n)) {
      if (!isObject(c.schema)) continue;
      const t = c.schema.type;
      if (typeof t === 'string') meet(new Set([t]));
      else if (Array.isArray(t)) meet(new Set(t.filter((x): x is string => typeof x === 'string')));
      if (typeof c.schema.format === 'string') format = c.schema.format;
      if ('const' in c.schema) meet(new Set([jsonType(c.schema.const as Json)]));
      if (Array.isArray(c.schema.enum)) meet(new Set((c.schema.enum as Json[]).map(jsonType)));
      for (const kw of ['anyOf', 'oneOf'] as const) {
        const alts = c.schema[kw];
        if (!Array.isArray(alts)) continue;
        const union = new Set<string>();
        let unknown = false;
        for (const a of alts) {
          const s = this.shapeOf({ schema: a, base: c.base });
          if (!s.types) unknown = true;
          else for (const x of s.types) union.add(x);
          if (s.format && !format) format = s.format;
        }
        if (!unknown) meet(union);
      }
    }
    return { types, format };
  }

  /** Properties declared (through $ref/allOf) on an object node, and which are required. */
  private properties(n: Node): { props: Map<string, Node[]>; required: Set<string> } {
    const props = new Map<string, Node[]>();
    const required = new Set<string>();
    for (const c of this.deref(n)) {
      if (!isObject(c.schema)) continue;
      const p = c.schema.properties;
      if (isObject(p)) {
        for (const [k, v] of Object.entries(p)) {
          const list = props.get(k) ?? [];
          list.push({ schema: v, base: c.base });
          props.set(k, list);
        }
      }
      if (Array.isArray(c.schema.required)) {
        for (const r of c.schema.required) if (typeof r === 'string') required.add(r);
      }
    }
    return { props, required };
  }

  topLevelProperties(uri: string): string[] {
    const n = this.node(uri);
    return n ? [...this.properties(n).props.keys()] : [];
  }

  /** Shape of the location `ptr` in documents valid against the schema at `uri`. */
  shapeAt(uri: string, ptr: string): FieldShape {
    const root = this.node(uri);
    if (!root) return { types: new Set(), required: false };
    let nodes: Node[] = [root];
    let required = true;
    for (const raw of ptr === '' ? [] : ptr.replace(/^\//, '').split('/')) {
      const prop = unescapePtr(raw);
      const next: Node[] = [];
      let req = false;
      for (const n of nodes) {
        const { props, required: r } = this.properties(n);
        next.push(...(props.get(prop) ?? []));
        if (r.has(prop)) req = true;
      }
      required &&= req;
      if (next.length === 0) return { types: new Set(), required: false };
      nodes = next;
    }
    let types: Set<string> | undefined;
    let format: string | undefined;
    for (const n of nodes) {
      const s = this.shapeOf(n);
      if (s.format) format = s.format;
      if (!s.types) continue;
      if (!types) types = new Set(s.types);
      else for (const x of [...types]) if (!s.types.has(x)) types.delete(x);
    }
    return { types: types ?? new Set(), format, required };
  }
}

function jsonType(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function defaultName(pointer: string): string {
  return unescapePtr(pointer.replace(/^\//, ''));
}

/** Fields a materialization binding stores (key fields first, in key order; `flow_document` not included). */
export function selectFields(
  catalog: BuiltCatalog,
  collection: CollectionSpec,
  binding: MaterializationBinding,
): SelectedField[] {
  const walker = new SchemaWalker(catalog.schemas);
  const uri = collection.readSchema;
  const byPointer = new Map<string, string>();
  for (const [name, p] of Object.entries(collection.projections)) {
    if (!byPointer.has(p.location)) byPointer.set(p.location, name);
  }
  const out: SelectedField[] = [];
  const seen = new Set<string>();
  const add = (name: string, pointer: string, isKey: boolean): void => {
    if (seen.has(name) || name === 'flow_document') return;
    seen.add(name);
    const shape: FieldShape = isPublishedAt({ name, pointer })
      ? { types: new Set(['string']), format: 'date-time', required: true }
      : walker.shapeAt(uri, pointer);
    out.push({ name, pointer, isKey, shape });
  };
  for (const k of collection.key) add(byPointer.get(k) ?? defaultName(k), k, true);
  const exclude = new Set(binding.fields.exclude ?? []);
  const candidates: [string, string][] = [];
  // Partition fields are always selected; other projections the user defined only when fields are
  // recommended (Estuary's field selection: a user-defined projection is desired only at a depth > 0).
  for (const [name, p] of Object.entries(collection.projections))
    if (p.partition || binding.fields.recommended !== false) candidates.push([name, p.location]);
  if (binding.fields.recommended !== false) {
    for (const prop of walker.topLevelProperties(uri)) {
      if (prop === '_meta') continue;
      const ptr = `/${prop.replaceAll('~', '~0').replaceAll('/', '~1')}`;
      candidates.push([byPointer.get(ptr) ?? prop, ptr]);
    }
  }
  for (const name of [
    ...Object.keys(binding.fields.include ?? {}),
    ...Object.keys(binding.fields.require ?? {}),
  ]) {
    const p =
      collection.projections[name]?.location ?? (name === PUBLISHED_AT ? PUBLISHED_AT_POINTER : `/${name}`);
    candidates.push([name, p]);
  }
  for (const [name, ptr] of candidates) {
    if (exclude.has(name)) {
      if (collection.key.includes(ptr)) {
        throw new FieldMappingError(collection.name, name, 'a key field cannot be excluded');
      }
      continue;
    }
    add(name, ptr, false);
  }
  return out;
}

/** Estuary's `flow_published_at`: the publish time `/_meta/uuid` carries, as an RFC 3339 date-time. */
const PUBLISHED_AT = 'flow_published_at';
const PUBLISHED_AT_POINTER = '/_meta/uuid';

function isPublishedAt(f: { name: string; pointer: string }): boolean {
  return f.name === PUBLISHED_AT && f.pointer === PUBLISHED_AT_POINTER;
}

/** A selected field's value in a document (undefined when absent). */
export function fieldValue(doc: Json, f: { name: string; pointer: string }): Json | undefined {
  const v = resolvePointer(doc, f.pointer);
  if (!isPublishedAt(f)) return v;
  return typeof v === 'string' ? new Date(uuidTime(v)).toISOString() : undefined;
}

/** The value at a JSON pointer of a document (undefined when absent). */
export function valueAt(doc: Json, pointer: string): Json | undefined {
  return resolvePointer(doc, pointer);
}

export function asObject(doc: Json): JsonObject | undefined {
  return isObject(doc) ? doc : undefined;
}

/**
 * The name a key location is stored under where a destination names attributes (materialize-dynamodb's
 * key attributes, its table's key schema at synth): its projection's field, else Estuary's canonical field,
 * the pointer without its leading `/` (`/user/id` is `user/id`). Named by its last token before, a nested
 * key took the name of a top-level property (`id`) and overwrote that property's value in the item.
 */
export function keyAttributeName(collection: CollectionSpec, pointer: string): string {
  for (const [field, p] of Object.entries(collection.projections)) if (p.location === pointer) return field;
  return pointer.slice(1) || 'key';
}
