/**
 * Normalize a schema document to draft 2020-12 so that one ajv instance (Ajv2020) handles schemas
 * written for 2020-12, 2019-09, draft-07 and draft-06:
 * - `$schema` of a supported draft becomes 2020-12 (other drafts are rejected);
 * - `items: [..]` (tuple form) becomes `prefixItems`, and `additionalItems` then becomes `items`;
 *   `additionalItems` beside a non-tuple `items` has no effect and is dropped;
 * - `dependencies` splits into `dependentRequired` (arrays) and `dependentSchemas` (schemas);
 * - `$recursiveRef`/`$recursiveAnchor` become `$dynamicRef`/`$dynamicAnchor`.
 * Values in non-schema positions (`const`, `enum`, `default`, `examples`, ...) are copied untouched.
 * Limitation: a `$ref` pointing into a tuple `items/N` must be rewritten by hand to `prefixItems/N`.
 */
import { setOwnProp } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { SchemaError } from './errors.ts';
import {
  ARRAY_SCHEMA_KEYWORDS,
  DRAFT_2020_12,
  MAP_SCHEMA_KEYWORDS,
  SINGLE_SCHEMA_KEYWORDS,
  SUPPORTED_DRAFTS,
} from './keywords.ts';

const RECURSIVE_ANCHOR = '__recursiveAnchor';

export function normalizeSchema(doc: Json, uri: string): Json {
  return norm(doc, uri, '', false);
}

function norm(s: Json, uri: string, ptr: string, recursiveRoot: boolean): Json {
  if (!isObject(s)) return s;
  let recursive = recursiveRoot;
  if (typeof s.$id === 'string' || ptr === '') recursive = s.$recursiveAnchor === true;

  const out: JsonObject = {};
  const tupleItems = Array.isArray(s.items) && s.prefixItems === undefined;
  for (const k of Object.keys(s)) {
    const v = s[k];
    const at = `${ptr}/${k}`;
    if (k === '$schema' && typeof v === 'string') {
      const draft = v.endsWith('#') ? v.slice(0, -1) : v;
      if (!SUPPORTED_DRAFTS.has(draft)) {
        throw new SchemaError(
          'UnsupportedDraft',
          `${uri}#${ptr}`,
          `$schema ${JSON.stringify(v)} is not supported (use draft 2020-12 or 2019-09; draft-07 and draft-06 are read as 2019-09)`,
        );
      }
      out.$schema = DRAFT_2020_12;
    } else if (k === 'items' && tupleItems) {
      out.prefixItems = (v as Json[]).map((x, i) => norm(x, uri, `${at}/${i}`, recursive));
    } else if (k === 'additionalItems') {
      if (tupleItems) out.items = norm(v, uri, at, recursive);
    } else if (k === 'dependencies' && isObject(v)) {
      for (const [name, dep] of Object.entries(v)) {
        const target = Array.isArray(dep) ? 'dependentRequired' : 'dependentSchemas';
        if (!isObject(out[target])) out[target] = {};
        const m = out[target] as JsonObject;
        setOwnProp(m, name, Array.isArray(dep) ? dep : norm(dep, uri, `${at}/${name}`, recursive));
      }
    } else if (k === '$recursiveAnchor') {
      if (v === true) out.$dynamicAnchor = RECURSIVE_ANCHOR;
    } else if (k === '$recursiveRef' && typeof v === 'string') {
      if (recursive && v === '#') out.$dynamicRef = `#${RECURSIVE_ANCHOR}`;
      else if (s.$ref === undefined) out.$ref = v;
      else out.allOf = [...((out.allOf as Json[] | undefined) ?? []), { $ref: v }];
    } else if (SINGLE_SCHEMA_KEYWORDS.has(k) || (k === 'items' && !Array.isArray(v))) {
      out[k] = norm(v, uri, at, recursive);
    } else if (MAP_SCHEMA_KEYWORDS.has(k) && isObject(v)) {
      const m: JsonObject = {};
      for (const [name, sub] of Object.entries(v))
        setOwnProp(m, name, norm(sub, uri, `${at}/${name}`, recursive));
      out[k] = m;
    } else if (ARRAY_SCHEMA_KEYWORDS.has(k) && Array.isArray(v)) {
      const prev = k === 'allOf' && Array.isArray(out.allOf) ? (out.allOf as Json[]) : [];
      out[k] = [...prev, ...v.map((x, i) => norm(x, uri, `${at}/${i}`, recursive))];
    } else {
      setOwnProp(out, k, v);
    }
  }
  return out;
}
