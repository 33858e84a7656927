/**
 * The schema graph: every subschema of every registered (normalized) schema document as a node,
 * with `$ref`s resolved, so the reducer and shape inference can walk schemas without ajv.
 * Conditional branches are decided with ajv validators of the branch subschemas, compiled once each.
 */
import { escapeToken, ownProp } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { SchemaError } from './errors.ts';
import { ARRAY_SCHEMA_KEYWORDS, MAP_SCHEMA_KEYWORDS, SINGLE_SCHEMA_KEYWORDS } from './keywords.ts';
import { parseReduceAnnotation, type Strategy } from './reduce-annotation.ts';

/** JSON types as bits. `number` is INTEGER|FRACTIONAL. */
export const T_NULL = 1;
export const T_BOOLEAN = 2;
export const T_INTEGER = 4;
export const T_FRACTIONAL = 8;
export const T_NUMBER = T_INTEGER | T_FRACTIONAL;
export const T_STRING = 16;
export const T_ARRAY = 32;
export const T_OBJECT = 64;
export const T_ANY = 127;

export type JsonTypeName = 'null' | 'boolean' | 'integer' | 'number' | 'string' | 'array' | 'object';

const TYPE_BITS: Record<string, number> = {
  null: T_NULL,
  boolean: T_BOOLEAN,
  integer: T_INTEGER,
  number: T_NUMBER,
  string: T_STRING,
  array: T_ARRAY,
  object: T_OBJECT,
};

export function typeBitsOfValue(v: Json): number {
  if (v === null) return T_NULL;
  switch (typeof v) {
    case 'boolean':
      return T_BOOLEAN;
    case 'number':
      return Number.isInteger(v) ? T_INTEGER : T_FRACTIONAL;
    case 'string':
      return T_STRING;
    default:
      return Array.isArray(v) ? T_ARRAY : T_OBJECT;
  }
}

/** Type bits as names: `number` stands for integer and fractional numbers together. */
export function typeNames(bits: number): Set<JsonTypeName> {
  const out = new Set<JsonTypeName>();
  if (bits & T_NULL) out.add('null');
  if (bits & T_BOOLEAN) out.add('boolean');
  if ((bits & T_NUMBER) === T_NUMBER || bits & T_FRACTIONAL) out.add('number');
  else if (bits & T_INTEGER) out.add('integer');
  if (bits & T_STRING) out.add('string');
  if (bits & T_ARRAY) out.add('array');
  if (bits & T_OBJECT) out.add('object');
  return out;
}

export interface PatternChild {
  readonly re: RegExp;
  readonly node: SchemaNode;
}

/** The keywords of one subschema that matter for annotations and shapes, resolved to nodes. */
export interface Keywords {
  readonly reduce?: Strategy;
  /** The annotation as written (for comparing annotations). */
  readonly reduceRaw?: Json;
  readonly properties?: ReadonlyMap<string, SchemaNode>;
  readonly patternProperties?: readonly PatternChild[];
  readonly additionalProperties?: SchemaNode;
  readonly unevaluatedProperties?: SchemaNode;
  readonly prefixItems?: readonly SchemaNode[];
  readonly items?: SchemaNode;
  readonly unevaluatedItems?: SchemaNode;
  /** `$ref` and `$dynamicRef` targets (applied like allOf). */
  readonly refs: readonly SchemaNode[];
  readonly allOf: readonly SchemaNode[];
  readonly anyOf?: readonly SchemaNode[];
  readonly oneOf?: readonly SchemaNode[];
  readonly ifNode?: SchemaNode;
  readonly thenNode?: SchemaNode;
  readonly elseNode?: SchemaNode;
  readonly dependentSchemas?: ReadonlyMap<string, SchemaNode>;
  readonly required: readonly string[];
  /** Types admitted by `type`, `const` and `enum` (and 0 for the `false` schema). */
  readonly types: number;
  readonly format?: string;
  /** Values admitted by `const`/`enum`, when restricted. */
  readonly values?: readonly Json[];
}

type Compile = (uri: string) => ((v: Json) => boolean) | undefined;

export class SchemaNode {
  private kwCache?: Keywords;
  private fn?: (v: Json) => boolean;
  private inPlaceCache?: ReadonlySet<SchemaNode>;

  constructor(
    private readonly graph: SchemaGraph,
    readonly id: number,
    readonly schema: Json,
    /** Absolute URI of the enclosing schema resource. */
    readonly base: string,
    /** JSON pointer of this subschema inside its resource. */
    readonly pointer: string,
  ) {}

  /** URI of this subschema, as ajv resolves it. */
  get uri(): string {
    return this.pointer === '' ? this.base : `${this.base}#${encodeFragment(this.pointer)}`;
  }

  get kw(): Keywords {
    this.kwCache ??= this.graph.link(this);
    return this.kwCache;
  }

  /** Whether `v` validates against this subschema (compiled by ajv on first use). */
  validate(v: Json): boolean {
    if (this.schema === true) return true;
    if (this.schema === false) return false;
    this.fn ??= this.graph.compileNode(this);
    return this.fn(v);
  }

  /** Compile the validator now (used to precompile branches before the hot path). */
  precompile(): void {
    if (typeof this.schema !== 'boolean') this.fn ??= this.graph.compileNode(this);
  }

  /**
   * The subschemas this one applies in place unconditionally (`$ref`, `$dynamicRef`, `allOf`),
   * transitively; itself only through a cycle. Cached.
   */
  get inPlace(): ReadonlySet<SchemaNode> {
    if (this.inPlaceCache === undefined) {
      const out = new Set<SchemaNode>();
      const stack = [...this.kw.refs, ...this.kw.allOf];
      while (stack.length > 0) {
        const n = stack.pop()!;
        if (out.has(n)) continue;
        out.add(n);
        stack.push(...n.kw.refs, ...n.kw.allOf);
      }
      this.inPlaceCache = out;
    }
    return this.inPlaceCache;
  }

  /** Every subschema this one applies, directly (for reachability walks). */
  children(): SchemaNode[] {
    const k = this.kw;
    const out: SchemaNode[] = [...k.refs, ...k.allOf];
    if (k.properties) out.push(...k.properties.values());
    if (k.patternProperties) out.push(...k.patternProperties.map((p) => p.node));
    for (const n of [k.additionalProperties, k.unevaluatedProperties, k.items, k.unevaluatedItems])
      if (n) out.push(n);
    if (k.prefixItems) out.push(...k.prefixItems);
    if (k.anyOf) out.push(...k.anyOf);
    if (k.oneOf) out.push(...k.oneOf);
    for (const n of [k.ifNode, k.thenNode, k.elseNode]) if (n) out.push(n);
    if (k.dependentSchemas) out.push(...k.dependentSchemas.values());
    return out;
  }
}

function encodeFragment(pointer: string): string {
  return pointer
    .split('/')
    .map((t) => encodeURIComponent(t).replace(/%24/g, '$'))
    .join('/');
}

interface Loc {
  base: string;
  ptr: string;
}

function normalizeUri(uri: string): string {
  try {
    return new URL(uri).href;
  } catch {
    return uri;
  }
}

export function resolveUri(base: string, ref: string): string {
  try {
    return new URL(ref, base).href;
  } catch {
    if (ref.startsWith('#')) return base.split('#')[0] + ref;
    return ref;
  }
}

export class SchemaGraph {
  private readonly nodes = new Map<string, SchemaNode>();
  private readonly external = new Map<string, SchemaNode>();
  private nextId = 0;

  /**
   * @param resources normalized schema documents by (internal) resource URI
   * @param compile ajv lookup of a validator by URI (undefined when unknown)
   */
  constructor(
    resources: ReadonlyMap<string, Json>,
    private readonly compile: Compile,
  ) {
    for (const [uri, doc] of resources) this.walk(doc, uri, '', []);
  }

  /** The node at `uri` (`base`, `base#/json/pointer` or `base#anchor`), or undefined. */
  find(uri: string): SchemaNode | undefined {
    const hash = uri.indexOf('#');
    const base = hash < 0 ? uri : uri.slice(0, hash);
    let frag = hash < 0 ? '' : uri.slice(hash + 1);
    try {
      frag = decodeURIComponent(frag);
    } catch {
      // keep as written
    }
    return this.nodes.get(`${base}#${frag}`) ?? this.nodes.get(`${normalizeUri(base)}#${frag}`);
  }

  /** Like find, throwing SchemaError('UnknownSchema'). */
  get(uri: string): SchemaNode {
    const n = this.find(uri);
    if (n === undefined) throw new SchemaError('UnknownSchema', uri, 'no schema with this URI is registered');
    return n;
  }

  private register(key: string, node: SchemaNode): void {
    if (!this.nodes.has(key)) this.nodes.set(key, node);
  }

  private walk(s: Json, base0: string, ptr0: string, aliases0: Loc[]): void {
    let base = base0;
    let ptr = ptr0;
    let aliases = aliases0;
    if (isObject(s) && typeof s.$id === 'string') {
      const id = resolveUri(base, s.$id).split('#')[0];
      if (id !== base) {
        aliases = [...aliases, { base, ptr }];
        base = id;
        ptr = '';
      }
    }
    const node = new SchemaNode(this, this.nextId++, s, base, ptr);
    for (const key of [`${base}#${ptr}`, `${normalizeUri(base)}#${ptr}`]) this.register(key, node);
    for (const a of aliases) this.register(`${a.base}#${a.ptr}`, node);
    if (!isObject(s)) return;
    for (const anchor of [s.$anchor, s.$dynamicAnchor]) {
      if (typeof anchor === 'string') this.register(`${base}#${anchor}`, node);
    }
    const sub = (v: Json, ...tokens: string[]) => {
      const suffix = tokens.map((t) => `/${escapeToken(t)}`).join('');
      this.walk(
        v,
        base,
        ptr + suffix,
        aliases.map((a) => ({ base: a.base, ptr: a.ptr + suffix })),
      );
    };
    for (const k of Object.keys(s)) {
      const v = s[k];
      if (SINGLE_SCHEMA_KEYWORDS.has(k) || (k === 'items' && !Array.isArray(v))) sub(v, k);
      else if (MAP_SCHEMA_KEYWORDS.has(k) && isObject(v))
        for (const name of Object.keys(v)) sub(v[name], k, name);
      else if (ARRAY_SCHEMA_KEYWORDS.has(k) && Array.isArray(v))
        for (let i = 0; i < v.length; i++) sub(v[i], k, String(i));
    }
  }

  compileNode(node: SchemaNode): (v: Json) => boolean {
    let fn: ((v: Json) => boolean) | undefined;
    try {
      fn = this.compile(node.uri);
    } catch (e) {
      throw new SchemaError('InvalidSchema', node.uri, (e as Error).message);
    }
    if (fn === undefined)
      throw new SchemaError('UnknownSchema', node.uri, 'ajv does not know this subschema');
    return fn;
  }

  private child(node: SchemaNode, ...tokens: string[]): SchemaNode {
    const key = `${node.base}#${node.pointer}${tokens.map((t) => `/${escapeToken(t)}`).join('')}`;
    const n = this.nodes.get(key);
    if (n === undefined) throw new Error(`internal: subschema ${key} was not indexed`);
    return n;
  }

  private resolveRef(node: SchemaNode, ref: string): SchemaNode {
    const abs = resolveUri(node.base, ref);
    const found = this.find(abs);
    if (found) return found;
    // A schema ajv knows but we did not index (e.g. a JSON Schema meta-schema): opaque node.
    let ext = this.external.get(abs);
    if (ext === undefined) {
      let fn: ((v: Json) => boolean) | undefined;
      try {
        fn = this.compile(abs);
      } catch {
        fn = undefined;
      }
      if (fn === undefined) {
        throw new SchemaError(
          'UnresolvedRef',
          node.uri,
          `$ref ${JSON.stringify(ref)} (${abs}) does not resolve`,
        );
      }
      ext = new SchemaNode(this, this.nextId++, {}, abs, '');
      this.external.set(abs, ext);
    }
    return ext;
  }

  /** Build the keyword view of a node (called once per node, on first use). */
  link(node: SchemaNode): Keywords {
    const s = node.schema;
    if (!isObject(s)) return { refs: [], allOf: [], required: [], types: s === false ? 0 : T_ANY };
    const at = (...t: string[]) => this.child(node, ...t);
    const mapOf = (k: string): Map<string, SchemaNode> | undefined => {
      const v = s[k];
      if (!isObject(v)) return undefined;
      const m = new Map<string, SchemaNode>();
      for (const name of Object.keys(v)) m.set(name, at(k, name));
      return m;
    };
    const listOf = (k: string): SchemaNode[] | undefined => {
      const v = s[k];
      return Array.isArray(v) ? v.map((_, i) => at(k, String(i))) : undefined;
    };
    const one = (k: string): SchemaNode | undefined => (s[k] === undefined ? undefined : at(k));

    const refs: SchemaNode[] = [];
    for (const k of ['$ref', '$dynamicRef']) {
      const r = s[k];
      if (typeof r === 'string') refs.push(this.resolveRef(node, r));
    }

    let patternProperties: PatternChild[] | undefined;
    const pp = s.patternProperties;
    if (isObject(pp)) {
      patternProperties = Object.keys(pp).map((p) => {
        try {
          return { re: new RegExp(p, 'u'), node: at('patternProperties', p) };
        } catch (e) {
          throw new SchemaError(
            'InvalidSchema',
            node.uri,
            `patternProperties ${JSON.stringify(p)}: ${(e as Error).message}`,
          );
        }
      });
    }

    let types = T_ANY;
    const t = s.type;
    if (typeof t === 'string') types = TYPE_BITS[t] ?? T_ANY;
    else if (Array.isArray(t))
      types = t.reduce<number>((acc, x) => acc | (typeof x === 'string' ? (TYPE_BITS[x] ?? 0) : 0), 0);
    let values: Json[] | undefined;
    const c = ownProp(s, 'const');
    if (c !== undefined) values = [c];
    else if (Array.isArray(s.enum)) values = s.enum;
    if (values) {
      let vb = 0;
      for (const v of values) vb |= typeBitsOfValue(v);
      types &= vb;
    }

    const reduceRaw = s.reduce;
    const kw: Keywords = {
      reduce: reduceRaw === undefined ? undefined : parseReduceAnnotation(reduceRaw, `${node.uri}`),
      reduceRaw,
      properties: mapOf('properties'),
      patternProperties,
      additionalProperties: one('additionalProperties'),
      unevaluatedProperties: one('unevaluatedProperties'),
      prefixItems: listOf('prefixItems'),
      items: Array.isArray(s.items) ? undefined : one('items'),
      unevaluatedItems: one('unevaluatedItems'),
      refs,
      allOf: listOf('allOf') ?? [],
      anyOf: listOf('anyOf'),
      oneOf: listOf('oneOf'),
      ifNode: one('if'),
      thenNode: s.if === undefined ? undefined : one('then'),
      elseNode: s.if === undefined ? undefined : one('else'),
      dependentSchemas: mapOf('dependentSchemas'),
      required: Array.isArray(s.required) ? s.required.filter((x): x is string => typeof x === 'string') : [],
      types,
      format: typeof s.format === 'string' ? s.format : undefined,
      values,
    };
    return kw;
  }
}

/**
 * The nodes among `nodes` whose `reduce` annotation takes effect at their location: an annotation
 * written beside a `$ref` (or an `allOf`) wins over the ones its referents carry, as in Estuary's
 * doc::Shape inference (a schema's own keywords first, each referent intersected into it, the left
 * reduction kept). Annotations of unrelated subschemas (allOf siblings, activated branches) all stay.
 */
export function effectiveReduceNodes(nodes: Iterable<SchemaNode>): SchemaNode[] {
  const annotated = [...nodes].filter((n) => n.kw.reduce !== undefined);
  if (annotated.length < 2) return annotated;
  return annotated.filter((m) => !annotated.some((n) => n !== m && n.inPlace.has(m) && !m.inPlace.has(n)));
}

/** For tests and diagnostics: the raw schema object of a node, when it is one. */
export function schemaObject(node: SchemaNode): JsonObject | undefined {
  return isObject(node.schema) ? node.schema : undefined;
}
