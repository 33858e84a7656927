/**
 * `jsonSchemaMerge`: the union of two JSON schemas (a schema accepting what either accepts), as
 * used for schema inference. Schemas made only of the structural keywords below merge keyword by
 * keyword (types united, properties merged recursively, `required` intersected, bounds widened,
 * differing annotations dropped); anything else falls back to a flattened, de-duplicated `anyOf`.
 * Returns undefined when a side is not a schema (object or boolean).
 */
import { jsonEqual } from '../json/compare.ts';
import { ownProp, setOwnProp } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';

const STRUCTURAL = new Set([
  '$schema',
  '$id',
  'type',
  'properties',
  'required',
  'items',
  'additionalProperties',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'format',
  'enum',
  'const',
  'title',
  'description',
  'reduce',
]);

const TYPE_ORDER = ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string'];

function isStructural(s: JsonObject): boolean {
  for (const k of Object.keys(s)) if (!STRUCTURAL.has(k)) return false;
  return true;
}

function typesOf(s: JsonObject): Set<string> | undefined {
  const t = s.type;
  if (typeof t === 'string') return new Set([t]);
  if (Array.isArray(t)) return new Set(t.filter((x): x is string => typeof x === 'string'));
  return undefined;
}

function valuesOf(s: JsonObject): Json[] | undefined {
  const c = ownProp(s, 'const');
  if (c !== undefined) return [c];
  return Array.isArray(s.enum) ? s.enum : undefined;
}

function branches(s: Json): Json[] {
  if (isObject(s) && Array.isArray(s.anyOf) && Object.keys(s).length === 1) return s.anyOf;
  return [s];
}

function anyOf(l: Json, r: Json): Json {
  const out: Json[] = [];
  for (const b of [...branches(l), ...branches(r)]) if (!out.some((x) => jsonEqual(x, b))) out.push(b);
  return out.length === 1 ? out[0] : { anyOf: out };
}

export function unionSchemas(l: Json, r: Json): Json | undefined {
  if (typeof l === 'boolean' || typeof r === 'boolean') {
    if (typeof l === 'boolean' && typeof r === 'boolean') return l || r;
    if (l === true || r === true) return true;
    if (l === false) return isObject(r) ? r : undefined;
    return isObject(l) ? l : undefined;
  }
  if (!isObject(l) || !isObject(r)) return undefined;
  if (jsonEqual(l, r)) return l;
  if (!isStructural(l) || !isStructural(r)) return anyOf(l, r);

  const out: JsonObject = {};
  const same = (k: string) => {
    const a = ownProp(l, k);
    if (a !== undefined && jsonEqual(a, ownProp(r, k))) setOwnProp(out, k, a);
  };
  for (const k of ['$schema', '$id', 'title', 'description', 'format', 'reduce']) same(k);

  const lt = typesOf(l);
  const rt = typesOf(r);
  if (lt && rt) {
    const t = TYPE_ORDER.filter((x) => lt.has(x) || rt.has(x));
    const united = t.includes('number') ? t.filter((x) => x !== 'integer') : t;
    out.type = united.length === 1 ? united[0] : united;
  }

  const lv = valuesOf(l);
  const rv = valuesOf(r);
  if (lv && rv) {
    const vals = [...lv];
    for (const v of rv) if (!vals.some((x) => jsonEqual(x, v))) vals.push(v);
    if (vals.length === 1) out.const = vals[0];
    else out.enum = vals;
  }

  const widen = (k: string, pick: (a: number, b: number) => number) => {
    const a = l[k];
    const b = r[k];
    if (typeof a === 'number' && typeof b === 'number') out[k] = pick(a, b);
  };
  widen('minimum', Math.min);
  widen('minLength', Math.min);
  widen('minItems', Math.min);
  widen('maximum', Math.max);
  widen('maxLength', Math.max);
  widen('maxItems', Math.max);

  const lp = isObject(l.properties) ? l.properties : undefined;
  const rp = isObject(r.properties) ? r.properties : undefined;
  if (lp || rp) {
    const props: JsonObject = {};
    for (const [k, v] of Object.entries(lp ?? {})) setOwnProp(props, k, v);
    for (const [k, v] of Object.entries(rp ?? {})) {
      const prev = lp ? ownProp(lp, k) : undefined;
      const merged = prev === undefined ? v : unionSchemas(prev, v);
      if (merged === undefined) return undefined;
      setOwnProp(props, k, merged);
    }
    out.properties = props;
  }
  if (Array.isArray(l.required) && Array.isArray(r.required)) {
    const rr = r.required;
    out.required = l.required.filter((x) => rr.includes(x));
  }
  for (const k of ['items', 'additionalProperties']) {
    const a = ownProp(l, k);
    const b = ownProp(r, k);
    if (a !== undefined && b !== undefined) {
      const merged = unionSchemas(a, b);
      if (merged === undefined) return undefined;
      setOwnProp(out, k, merged);
    }
  }
  return out;
}
