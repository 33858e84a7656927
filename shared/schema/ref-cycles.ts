/**
 * `$ref` cycles that never reach a document location: `a: {$ref: b}, b: {$ref: a}` (or through allOf,
 * anyOf, oneOf, not, if/then/else) applies the same subschemas at the same place forever, so any walker
 * (ajv's compiler, shape inference, the reducer) recurses without end. A recursive schema that descends
 * (through properties, items, …) is fine and is not reported.
 */
import { escapeToken } from '../json/pointer.ts';
import { isObject, type Json } from '../json/types.ts';
import { resolveUri } from './graph.ts';

/** Keywords whose subschemas apply at the same document location as their parent. */
const IN_PLACE_ONE = ['not', 'if', 'then', 'else'];
const IN_PLACE_MANY = ['allOf', 'anyOf', 'oneOf'];
/** Keywords holding subschemas at other locations (walked for nested cycles, never followed in place). */
const CHILD_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];
const CHILD_ONE = [
  'additionalProperties',
  'unevaluatedProperties',
  'items',
  'additionalItems',
  'unevaluatedItems',
  'contains',
  'propertyNames',
];

/** One subschema: the schema document's key (BuiltCatalog.schemas) and the JSON pointer inside it. */
export interface SchemaPlace {
  key: string;
  pointer: string;
}

/** Every cycle as the subschemas along it (the first repeated at the end), in a stable order. */
export function findRefCycles(schemas: Record<string, Json>): SchemaPlace[][] {
  // A plain document URI → its key (keys with a fragment are inline schemas, reached by their key only).
  const byDoc = new Map<string, string>();
  for (const k of Object.keys(schemas)) if (!k.includes('#')) byDoc.set(resolveUri(k, ''), k);
  const id = (p: SchemaPlace) => `${p.key}\u0000${p.pointer}`;
  const places = new Map<string, SchemaPlace>();
  const edges = new Map<string, string[]>();

  const walk = (node: Json, key: string, ptr: string) => {
    if (!isObject(node)) return;
    const here = id({ key, pointer: ptr });
    places.set(here, { key, pointer: ptr });
    const out: string[] = [];
    if (typeof node.$ref === 'string') {
      const ref = node.$ref;
      let target: SchemaPlace | undefined;
      if (ref.startsWith('#/') || ref === '#') target = { key, pointer: ref.slice(1) };
      else {
        const abs = resolveUri(key.split('#')[0], ref);
        const [doc, frag = ''] = abs.split('#');
        const k = byDoc.get(doc);
        if (k !== undefined && (frag === '' || frag.startsWith('/')))
          target = { key: k, pointer: decodeURIComponent(frag) };
      }
      if (target) out.push(id(target));
    }
    for (const k of IN_PLACE_ONE) if (isObject(node[k])) out.push(id({ key, pointer: `${ptr}/${k}` }));
    for (const k of IN_PLACE_MANY) {
      const xs = node[k];
      if (Array.isArray(xs))
        for (let i = 0; i < xs.length; i++) out.push(id({ key, pointer: `${ptr}/${k}/${i}` }));
    }
    edges.set(here, out);
    for (const k of [...IN_PLACE_ONE, ...CHILD_ONE]) walk(node[k] as Json, key, `${ptr}/${k}`);
    for (const k of [...IN_PLACE_MANY, 'prefixItems']) {
      const xs = node[k];
      if (Array.isArray(xs)) for (let i = 0; i < xs.length; i++) walk(xs[i], key, `${ptr}/${k}/${i}`);
    }
    for (const k of CHILD_MAPS) {
      const m = node[k];
      if (isObject(m))
        for (const [name, x] of Object.entries(m)) walk(x as Json, key, `${ptr}/${k}/${escapeToken(name)}`);
    }
  };
  for (const [key, schema] of Object.entries(schemas)) walk(schema, key, '');

  const cycles: SchemaPlace[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (at: string) => {
    state.set(at, 'open');
    path.push(at);
    for (const next of edges.get(at) ?? []) {
      const s = state.get(next);
      if (s === 'open')
        cycles.push([...path.slice(path.indexOf(next)), next].map((x) => places.get(x) as SchemaPlace));
      else if (s === undefined && edges.has(next)) visit(next);
    }
    path.pop();
    state.set(at, 'done');
  };
  for (const at of [...edges.keys()].sort()) if (!state.has(at)) visit(at);
  return cycles;
}

/** A cycle as readable text: `#/$defs/a → #/$defs/b → #/$defs/a` (other documents by their key). */
export function formatCycle(cycle: SchemaPlace[]): string {
  const first = cycle[0].key;
  return cycle.map((p) => (p.key === first ? `#${p.pointer}` : `${p.key}#${p.pointer}`)).join(' → ');
}
