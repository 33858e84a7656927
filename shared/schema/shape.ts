/**
 * Static shape inference over a schema, without documents: what can exist at a document location,
 * with which types, `reduce` strategy and format. Used by the catalog loader (key checks, reduce
 * annotation checks) and `sluice generate`.
 *
 * `allOf` and `$ref` intersect, `anyOf`/`oneOf` unite their branches, `if/then/else` unites `then`
 * and `else` (each intersected with the rest of the schema). Recursive schemas are fine: locations
 * are expanded lazily, one level at a time.
 */
import { jsonEqual } from '../json/compare.ts';
import { arrayIndex, joinPointer, parsePointer } from '../json/pointer.ts';
import type { Json } from '../json/types.ts';
import {
  effectiveReduceNodes,
  type JsonTypeName,
  type SchemaNode,
  T_ANY,
  T_ARRAY,
  T_OBJECT,
  typeBitsOfValue,
  typeNames,
} from './graph.ts';
import type { SchemaRegistry } from './registry.ts';

export interface LocationShape {
  /** `must`: every valid document has it; `may`: some do; `cannot`: no valid document has it. */
  exists: 'must' | 'may' | 'cannot';
  /** JSON types admitted here (`number` includes integers). Empty when nothing is admitted. */
  types: Set<JsonTypeName>;
  /** The reduce strategy annotated here, when every applicable branch agrees on it. */
  reduce?: { strategy: string };
  /** The string format, when every applicable branch agrees on it. */
  format?: string;
  /** The string `contentEncoding` (`base64`), when every applicable branch agrees on it. */
  contentEncoding?: string;
  /** Values allowed by `const`/`enum`, when restricted. */
  values?: Json[];
  /** Property names declared (`properties`) here by any branch, sorted. */
  properties: string[];
  /** Whether properties other than the declared ones may exist. */
  additionalProperties: boolean;
  /**
   * How many tuple items (`prefixItems`, or draft 2019-09 `items: [...]`) any branch declares here: items
   * `/0` … `/n-1` are locations of their own, as Estuary's `Shape::locations` lists them (crates/doc
   * shape/location.rs); `items: {…}` alone declares none.
   */
  tupleItems: number;
  title?: string;
  description?: string;
  /**
   * The schema's `default` here, when every applicable branch agrees on it (Estuary's shape inference:
   * an intersection takes the first, a union keeps it only when both sides have the same).
   */
  default?: Json;
}

/** A reduce annotation found in a schema, at a document location (`*` stands for any property or item). */
export interface ReduceAnnotationSite {
  pointer: string;
  strategy: string;
  /** Types admitted where the annotation applies. */
  types: Set<JsonTypeName>;
  /** String format admitted there (sum accepts strings of format integer or number). */
  format?: string;
  /** URI of the subschema carrying the annotation. */
  schemaUri: string;
}

type Expr =
  | { readonly kind: 'any' }
  /** Only these types (the `else` of an `if` that tests nothing but the type). */
  | { readonly kind: 'mask'; readonly types: number }
  | { readonly kind: 'node'; readonly node: SchemaNode }
  | { readonly kind: 'and' | 'or'; readonly items: readonly Expr[] };

const ANY: Expr = { kind: 'any' };
const NONE_SCHEMA_TYPES = 0;

const TYPE_ONLY_KEYWORDS = new Set(['type', 'title', 'description', '$comment']);

function testsOnlyType(node: SchemaNode): boolean {
  const s = node.schema;
  return (
    typeof s === 'object' &&
    s !== null &&
    !Array.isArray(s) &&
    Object.keys(s).every((k) => TYPE_ONLY_KEYWORDS.has(k))
  );
}

/** Expand a node into its local keywords plus the applicators it carries. */
function expand(node: SchemaNode, seen: Set<SchemaNode> = new Set()): Expr {
  if (seen.has(node)) return ANY;
  seen.add(node);
  const kw = node.kw;
  const items: Expr[] = [{ kind: 'node', node }];
  for (const r of kw.refs) items.push(expand(r, new Set(seen)));
  for (const a of kw.allOf) items.push(expand(a, new Set(seen)));
  for (const list of [kw.anyOf, kw.oneOf]) {
    if (list) items.push({ kind: 'or', items: list.map((b) => expand(b, new Set(seen))) });
  }
  if (kw.ifNode && (kw.thenNode || kw.elseNode)) {
    // then applies where `if` holds; else where it fails (a known type set when `if` only tests types).
    const test = expand(kw.ifNode, new Set(seen));
    const thenBranch: Expr = {
      kind: 'and',
      items: [test, kw.thenNode ? expand(kw.thenNode, new Set(seen)) : ANY],
    };
    const elseItems: Expr[] = [kw.elseNode ? expand(kw.elseNode, new Set(seen)) : ANY];
    if (testsOnlyType(kw.ifNode)) elseItems.push({ kind: 'mask', types: T_ANY & ~kw.ifNode.kw.types });
    items.push({ kind: 'or', items: [thenBranch, { kind: 'and', items: elseItems }] });
  }
  return items.length === 1 ? items[0] : { kind: 'and', items };
}

function types(e: Expr): number {
  switch (e.kind) {
    case 'any':
      return T_ANY;
    case 'mask':
      return e.types;
    case 'node':
      return e.node.kw.types;
    case 'and':
      return e.items.reduce((acc, x) => acc & types(x), T_ANY);
    case 'or':
      return e.items.reduce((acc, x) => acc | types(x), NONE_SCHEMA_TYPES);
  }
}

/** A value agreed on: `and` takes the first defined, `or` requires every branch to agree. */
function agreed<T>(
  e: Expr,
  local: (n: SchemaNode) => T | undefined,
  eq: (a: T, b: T) => boolean,
): T | undefined {
  switch (e.kind) {
    case 'any':
    case 'mask':
      return undefined;
    case 'node':
      return local(e.node);
    case 'and': {
      for (const x of e.items) {
        const v = agreed(x, local, eq);
        if (v !== undefined) return v;
      }
      return undefined;
    }
    case 'or': {
      let out: T | undefined;
      for (let i = 0; i < e.items.length; i++) {
        if (types(e.items[i]) === 0) continue; // a branch admitting nothing does not count
        const v = agreed(e.items[i], local, eq);
        if (v === undefined) return undefined;
        if (out === undefined) out = v;
        else if (!eq(out, v)) return undefined;
      }
      return out;
    }
  }
}

function values(e: Expr): Json[] | undefined {
  switch (e.kind) {
    case 'any':
    case 'mask':
      return undefined;
    case 'node':
      return e.node.kw.values ? [...e.node.kw.values] : undefined;
    case 'and': {
      let out: Json[] | undefined;
      for (const x of e.items) {
        const v = values(x);
        if (v === undefined) continue;
        out = out === undefined ? v : out.filter((a) => v.some((b) => jsonEqual(a, b)));
      }
      return out;
    }
    case 'or': {
      const out: Json[] = [];
      for (const x of e.items) {
        const v = values(x);
        if (v === undefined) return undefined;
        for (const a of v) if (!out.some((b) => jsonEqual(a, b))) out.push(a);
      }
      return out;
    }
  }
}

function required(e: Expr, name: string): boolean {
  switch (e.kind) {
    case 'any':
    case 'mask':
      return false;
    case 'node':
      return e.node.kw.required.includes(name);
    case 'and':
      return e.items.some((x) => required(x, name));
    case 'or':
      return e.items.every((x) => types(x) === 0 || required(x, name));
  }
}

function declared(e: Expr, out: Set<string>): Set<string> {
  if (e.kind === 'node') for (const k of e.node.kw.properties?.keys() ?? []) out.add(k);
  else if (e.kind === 'and' || e.kind === 'or') for (const x of e.items) declared(x, out);
  return out;
}

/** The `minItems` every valid array here has: the largest of an intersection, the least of a union. */
function minItems(e: Expr): number {
  switch (e.kind) {
    case 'any':
    case 'mask':
      return 0;
    case 'node': {
      const s = e.node.schema;
      const m = typeof s === 'object' && s !== null && !Array.isArray(s) ? s.minItems : undefined;
      return typeof m === 'number' ? m : 0;
    }
    case 'and':
      return Math.max(0, ...e.items.map(minItems));
    case 'or': {
      const live = e.items.filter((x) => types(x) !== 0);
      return live.length === 0 ? 0 : Math.min(...live.map(minItems));
    }
  }
}

function tupleLength(e: Expr): number {
  if (e.kind === 'node') return e.node.kw.prefixItems?.length ?? 0;
  if (e.kind === 'and' || e.kind === 'or') return Math.max(0, ...e.items.map(tupleLength));
  return 0;
}

function closedProps(e: Expr): boolean {
  switch (e.kind) {
    case 'any':
    case 'mask':
      return false;
    case 'node': {
      const kw = e.node.kw;
      return kw.additionalProperties?.schema === false && !kw.patternProperties?.length;
    }
    case 'and':
      return e.items.some(closedProps);
    case 'or':
      return e.items.every((x) => types(x) === 0 || closedProps(x));
  }
}

/** The subschemas of one node that apply to property `name` or item `index`. */
function nodeChild(node: SchemaNode, token: string, asItem: boolean): Expr {
  const kw = node.kw;
  const out: Expr[] = [];
  if (asItem) {
    const i = arrayIndex(token);
    if (kw.prefixItems && i >= 0 && i < kw.prefixItems.length) out.push(expand(kw.prefixItems[i]));
    else if (kw.prefixItems && token === '*') {
      const alts = [...kw.prefixItems.map((n) => expand(n)), kw.items ? expand(kw.items) : ANY];
      out.push({ kind: 'or', items: alts });
    } else if (kw.items) out.push(expand(kw.items));
  } else {
    let matched = false;
    const p = kw.properties?.get(token);
    if (p) {
      out.push(expand(p));
      matched = true;
    }
    for (const x of kw.patternProperties ?? []) {
      if (x.re.test(token)) {
        out.push(expand(x.node));
        matched = true;
      }
    }
    if (!matched && kw.additionalProperties) out.push(expand(kw.additionalProperties));
  }
  if (out.length === 0) return ANY;
  return out.length === 1 ? out[0] : { kind: 'and', items: out };
}

function child(e: Expr, token: string, asItem: boolean): Expr {
  switch (e.kind) {
    case 'any':
    case 'mask':
      return ANY;
    case 'node':
      return nodeChild(e.node, token, asItem);
    case 'and':
    case 'or':
      return { kind: e.kind, items: e.items.map((x) => child(x, token, asItem)) };
  }
}

function describe(e: Expr, exists: LocationShape['exists']): LocationShape {
  const t = exists === 'cannot' ? 0 : types(e);
  const shape: LocationShape = {
    exists,
    types: typeNames(t),
    properties: [...declared(e, new Set())].sort(),
    additionalProperties: !closedProps(e),
    tupleItems: t & T_ARRAY ? tupleLength(e) : 0,
  };
  const reduce = agreed(
    e,
    (n) => n.kw.reduce?.strategy,
    (a, b) => a === b,
  );
  if (reduce !== undefined) shape.reduce = { strategy: reduce };
  const format = agreed(
    e,
    (n) => n.kw.format,
    (a, b) => a === b,
  );
  if (format !== undefined) shape.format = format;
  const encoding = agreed(
    e,
    (n) => {
      const s = n.schema;
      return typeof s === 'object' && s !== null && !Array.isArray(s) && typeof s.contentEncoding === 'string'
        ? s.contentEncoding
        : undefined;
    },
    (a, b) => a === b,
  );
  if (encoding !== undefined) shape.contentEncoding = encoding;
  const v = values(e);
  if (v !== undefined) shape.values = v;
  const str = (k: 'title' | 'description') => (n: SchemaNode) => {
    const s = n.schema;
    return typeof s === 'object' && s !== null && !Array.isArray(s) && typeof s[k] === 'string'
      ? (s[k] as string)
      : undefined;
  };
  const title = agreed(e, str('title'), (a, b) => a === b);
  if (title !== undefined) shape.title = title;
  const description = agreed(e, str('description'), (a, b) => a === b);
  if (description !== undefined) shape.description = description;
  const dflt = agreed(
    e,
    (n) => {
      const s = n.schema;
      return typeof s === 'object' && s !== null && !Array.isArray(s) && 'default' in s
        ? (s.default as Json)
        : undefined;
    },
    jsonEqual,
  );
  if (dflt !== undefined && exists !== 'cannot') shape.default = dflt;
  return shape;
}

/** Walk from the schema root to `pointer`, tracking existence. */
function locate(
  registry: SchemaRegistry,
  uri: string,
  pointer: string,
): { e: Expr; exists: LocationShape['exists'] } {
  let e = expand(registry.node(uri));
  let exists: LocationShape['exists'] = types(e) === 0 ? 'cannot' : 'must';
  for (const token of parsePointer(pointer)) {
    const pt = types(e);
    const asItem = (pt & T_OBJECT) === 0 && (pt & T_ARRAY) !== 0;
    const container = asItem ? T_ARRAY : T_OBJECT;
    const next = child(e, token, asItem);
    if ((pt & container) === 0 || types(next) === 0 || exists === 'cannot') {
      exists = 'cannot';
    } else if (exists === 'must' && !asItem && pt === T_OBJECT && required(e, token)) {
      exists = 'must';
    } else if (
      exists === 'must' &&
      asItem &&
      pt === T_ARRAY &&
      arrayIndex(token) >= 0 &&
      arrayIndex(token) < minItems(e)
    ) {
      // Estuary's locate_token: an item must exist iff the location can only be an array and the
      // index is within its minItems (crates/doc shape/location.rs).
      exists = 'must';
    } else {
      exists = 'may';
    }
    e = next;
  }
  return { e, exists };
}

/** What the schema `uri` says about document location `pointer`. */
export function shapeAt(registry: SchemaRegistry, uri: string, pointer: string): LocationShape {
  const { e, exists } = locate(registry, uri, pointer);
  return describe(e, exists);
}

function flatten(e: Expr, out: SchemaNode[]): SchemaNode[] {
  if (e.kind === 'node') out.push(e.node);
  else if (e.kind === 'and' || e.kind === 'or') for (const x of e.items) flatten(x, out);
  return out;
}

function hasAdditional(nodes: SchemaNode[]): boolean {
  return nodes.some((n) => {
    const kw = n.kw;
    return (
      (kw.additionalProperties !== undefined && kw.additionalProperties.schema !== false) ||
      !!kw.patternProperties?.length
    );
  });
}

/**
 * Every `reduce` annotation reachable from the schema's root, at the document location where it
 * applies (`*` for any property or item), with the types admitted there.
 */
export function listReduceAnnotations(registry: SchemaRegistry, uri: string): ReduceAnnotationSite[] {
  const out: ReduceAnnotationSite[] = [];
  const done = new Set<string>();
  const visited = new Set<string>();
  const walk = (e: Expr, tokens: string[]) => {
    const nodes = flatten(e, []);
    const sig = nodes
      .map((n) => n.id)
      .sort((a, b) => a - b)
      .join(',');
    if (visited.has(sig) || tokens.length > 64) return;
    visited.add(sig);
    const locTypes = types(e);
    const pointer = joinPointer(tokens);
    // Annotations that a `reduce` written beside their `$ref`/`allOf` overrides never apply.
    const effective = new Set(effectiveReduceNodes(nodes));
    const collect = (x: Expr, mask: number): void => {
      if (x.kind === 'and') {
        const m = mask & types(x);
        for (const item of x.items) collect(item, m);
      } else if (x.kind === 'or') {
        for (const item of x.items) collect(item, mask);
      } else if (x.kind === 'node') {
        const n = x.node;
        const r = n.kw.reduce;
        if (r === undefined || !effective.has(n)) return;
        const id = `${pointer} ${r.strategy} ${n.uri}`;
        if (done.has(id)) return;
        done.add(id);
        const site: ReduceAnnotationSite = {
          pointer,
          strategy: r.strategy,
          types: typeNames(n.kw.types & mask),
          schemaUri: n.uri,
        };
        const format =
          n.kw.format ??
          agreed(
            e,
            (y) => y.kw.format,
            (a, b) => a === b,
          );
        if (format !== undefined) site.format = format;
        out.push(site);
      }
    };
    collect(e, locTypes);
    if (locTypes & T_OBJECT) {
      for (const name of [...declared(e, new Set())].sort()) walk(child(e, name, false), [...tokens, name]);
      if (hasAdditional(nodes)) walk(child(e, '*', false), [...tokens, '*']);
    }
    if (locTypes & T_ARRAY) {
      const prefix = Math.max(0, ...nodes.map((n) => n.kw.prefixItems?.length ?? 0));
      for (let i = 0; i < prefix; i++) walk(child(e, String(i), true), [...tokens, String(i)]);
      if (nodes.some((n) => n.kw.items !== undefined)) walk(child(e, '*', true), [...tokens, '*']);
    }
  };
  walk(expand(registry.node(uri)), []);
  return out;
}

/** Types of a concrete value, as names (for messages). */
export function typeOfValue(v: Json): JsonTypeName {
  const b = typeBitsOfValue(v);
  return [...typeNames(b)][0];
}
