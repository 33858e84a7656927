/**
 * Reduction plans: which schema nodes apply at a document location, and which `reduce` strategy
 * they select for a given (rhs) value.
 *
 * A Plan is the set of subschemas applying at a location before conditionals are decided: the
 * static closure over `$ref` and `allOf`, plus the conditional groups (anyOf, oneOf, if/then/else,
 * dependentSchemas) found in it. `activate(value)` decides the conditionals with precompiled ajv
 * validators of the branch subschemas and returns an Active: the full set of applying subschemas,
 * its strategy, and (cached) child plans per property name / array index. Plans without
 * conditionals have one static Active, so the common case runs no validator at all.
 * Plans are interned by their node set, so a location reached twice shares one plan and its caches.
 */
import { jsonEqual } from '../json/compare.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { effectiveReduceNodes, type SchemaGraph, type SchemaNode } from '../schema/graph.ts';
import { parseReduceAnnotation, type Strategy } from '../schema/reduce-annotation.ts';
import type { ObjectMerge } from './compiled.ts';

type Cond =
  | { readonly kind: 'branches'; readonly branches: readonly SchemaNode[] }
  | {
      readonly kind: 'if';
      readonly test: SchemaNode;
      readonly thenNode?: SchemaNode;
      readonly elseNode?: SchemaNode;
    }
  | { readonly kind: 'dependent'; readonly property: string; readonly node: SchemaNode };

interface Closure {
  readonly nodes: readonly SchemaNode[];
  readonly conds: readonly Cond[];
}

/** Plans for one schema graph. */
export class PlanCache {
  private readonly plans = new Map<string, Plan>();
  private readonly closures = new Map<number, Closure>();
  private readonly nodeConds = new Map<number, readonly Cond[]>();
  readonly empty: Plan;

  constructor(readonly graph: SchemaGraph) {
    this.empty = this.intern([]);
  }

  /** The plan for a set of nodes (order and duplicates do not matter). */
  intern(nodes: readonly SchemaNode[]): Plan {
    const sorted = [...new Set(nodes)].sort((a, b) => a.id - b.id);
    const key = sorted.map((n) => n.id).join(',');
    let p = this.plans.get(key);
    if (p === undefined) {
      p = new Plan(this, sorted);
      this.plans.set(key, p);
    }
    return p;
  }

  condsOf(node: SchemaNode): readonly Cond[] {
    let c = this.nodeConds.get(node.id);
    if (c !== undefined) return c;
    const kw = node.kw;
    const out: Cond[] = [];
    if (kw.anyOf) out.push({ kind: 'branches', branches: kw.anyOf });
    if (kw.oneOf) out.push({ kind: 'branches', branches: kw.oneOf });
    if (kw.ifNode) out.push({ kind: 'if', test: kw.ifNode, thenNode: kw.thenNode, elseNode: kw.elseNode });
    if (kw.dependentSchemas) {
      for (const [property, n] of kw.dependentSchemas) out.push({ kind: 'dependent', property, node: n });
    }
    c = out;
    this.nodeConds.set(node.id, c);
    return c;
  }

  /** The node and everything it applies unconditionally ($ref, allOf), with their conditionals. */
  closureOf(node: SchemaNode): Closure {
    let c = this.closures.get(node.id);
    if (c !== undefined) return c;
    const nodes: SchemaNode[] = [];
    const conds: Cond[] = [];
    const seen = new Set<SchemaNode>();
    const visit = (n: SchemaNode) => {
      if (seen.has(n)) return;
      seen.add(n);
      nodes.push(n);
      conds.push(...this.condsOf(n));
      for (const r of n.kw.refs) visit(r);
      for (const a of n.kw.allOf) visit(a);
    };
    visit(node);
    c = { nodes, conds };
    this.closures.set(node.id, c);
    return c;
  }
}

// Scratch state for Plan.activate (not re-entrant: validators never call back into plans).
const queue: Cond[] = [];
const chosen: Closure[] = [];

export class Plan {
  /** Static closure of the plan's nodes. */
  readonly nodes: readonly SchemaNode[];
  readonly conds: readonly Cond[];
  /** Set when the plan has no conditionals: the Active for every value. */
  readonly staticActive?: Active;
  private readonly actives = new Map<string, Active>();
  /**
   * When no chosen branch brings further conditionals and there are at most 16 outcomes bits,
   * activation computes a bitmask and looks the Active up in this array (no queue, no strings).
   */
  private readonly flatActives?: (Active | undefined)[];

  constructor(
    private readonly cache: PlanCache,
    roots: readonly SchemaNode[],
  ) {
    const nodes = new Set<SchemaNode>();
    const conds = new Set<Cond>();
    for (const r of roots) {
      const c = cache.closureOf(r);
      for (const n of c.nodes) nodes.add(n);
      for (const x of c.conds) conds.add(x);
    }
    this.nodes = [...nodes];
    this.conds = [...conds];
    if (this.conds.length === 0) {
      this.staticActive = new Active(cache, this.nodes);
      return;
    }
    let bits = 0;
    let flat = true;
    for (const c of this.conds) {
      const reached =
        c.kind === 'branches'
          ? c.branches
          : c.kind === 'if'
            ? [c.test, c.thenNode, c.elseNode].filter((n): n is SchemaNode => n !== undefined)
            : [c.node];
      for (const n of reached)
        if (cache.closureOf(n).conds.some((x) => !this.conds.includes(x))) flat = false;
      bits += c.kind === 'branches' ? c.branches.length : 1;
    }
    if (flat && bits <= 16) this.flatActives = new Array(1 << bits);
  }

  private activateFlat(value: Json, table: (Active | undefined)[]): Active {
    let sig = 0;
    let bit = 1;
    for (const c of this.conds) {
      switch (c.kind) {
        case 'branches':
          for (const b of c.branches) {
            if (b.validate(value)) sig |= bit;
            bit <<= 1;
          }
          break;
        case 'if':
          if (c.test.validate(value)) sig |= bit;
          bit <<= 1;
          break;
        case 'dependent':
          if (isObject(value) && Object.hasOwn(value, c.property)) sig |= bit;
          bit <<= 1;
          break;
      }
    }
    let a = table[sig];
    if (a === undefined) {
      const nodes = new Set<SchemaNode>(this.nodes);
      const add = (n: SchemaNode | undefined) => {
        if (n) for (const x of this.cache.closureOf(n).nodes) nodes.add(x);
      };
      bit = 1;
      for (const c of this.conds) {
        if (c.kind === 'branches') {
          for (const b of c.branches) {
            if (sig & bit) add(b);
            bit <<= 1;
          }
        } else {
          const on = (sig & bit) !== 0;
          bit <<= 1;
          if (c.kind === 'dependent') {
            if (on) add(c.node);
          } else if (on) {
            add(c.test);
            add(c.thenNode);
          } else {
            add(c.elseNode);
          }
        }
      }
      a = new Active(this.cache, [...nodes]);
      table[sig] = a;
    }
    return a;
  }

  /** The subschemas applying to `value` here, with its strategy and child plans. */
  activate(value: Json): Active {
    if (this.staticActive !== undefined) return this.staticActive;
    if (this.flatActives !== undefined) return this.activateFlat(value, this.flatActives);
    queue.length = 0;
    chosen.length = 0;
    for (const c of this.conds) queue.push(c);
    let sig = '';
    for (let i = 0; i < queue.length; i++) {
      const c = queue[i];
      switch (c.kind) {
        case 'branches':
          for (const b of c.branches) {
            if (b.validate(value)) {
              sig += '1';
              this.choose(b);
            } else {
              sig += '0';
            }
          }
          break;
        case 'if':
          if (c.test.validate(value)) {
            sig += '1';
            this.choose(c.test);
            if (c.thenNode) this.choose(c.thenNode);
          } else {
            sig += '0';
            if (c.elseNode) this.choose(c.elseNode);
          }
          break;
        case 'dependent':
          if (isObject(value) && Object.hasOwn(value, c.property)) {
            sig += '1';
            this.choose(c.node);
          } else {
            sig += '0';
          }
          break;
      }
    }
    let a = this.actives.get(sig);
    if (a === undefined) {
      const nodes = new Set<SchemaNode>(this.nodes);
      for (const c of chosen) for (const n of c.nodes) nodes.add(n);
      a = new Active(this.cache, [...nodes]);
      this.actives.set(sig, a);
    }
    return a;
  }

  private choose(node: SchemaNode): void {
    const c = this.cache.closureOf(node);
    chosen.push(c);
    for (const x of c.conds) if (!queue.includes(x)) queue.push(x);
  }
}

/**
 * How a scalar location may be reduced without the reducer's general dispatch (an inline shortcut
 * in its object merge loop): 0 none; 1 take rhs (lastWriteWins without `delete` or `associative:
 * false`, the default); 2 sum; 3 maximize without key; 4 minimize without key.
 */
export type Leaf = 0 | 1 | 2 | 3 | 4;

function leafOf(s: Strategy | undefined): Leaf {
  if (s === undefined) return 1;
  switch (s.strategy) {
    case 'lastWriteWins':
      return !s.delete && s.associative ? 1 : 0;
    case 'sum':
      return 2;
    case 'maximize':
      return s.keyTokens.length === 0 ? 3 : 0;
    case 'minimize':
      return s.keyTokens.length === 0 ? 4 : 0;
    default:
      return 0;
  }
}

/** The subschemas applying at a location for one value. */
export class Active {
  /** The selected strategy; undefined means the default, lastWriteWins. */
  readonly strategy?: Strategy;
  /** Set when subschemas select different strategies (the annotations as written). */
  readonly conflict?: readonly Json[];
  /** The reducer's shortcut for scalars here (0 when there is a conflict). */
  readonly leaf: Leaf;
  /** The reducer's compiled object merge for this location (compiled.ts), made on first use. */
  objectMerge: ObjectMerge | undefined = undefined;
  private readonly props = new Map<string, Plan>();
  private readonly known = new Set<string>();
  private readonly hasPatterns: boolean;
  private otherProps?: Plan;
  private readonly patternPlans = new Map<string, Plan>();
  private readonly prefix: (Plan | undefined)[] = [];
  private readonly maxPrefix: number;
  private restItems?: Plan;

  constructor(
    private readonly cache: PlanCache,
    readonly nodes: readonly SchemaNode[],
  ) {
    const raws: Json[] = [];
    let strategy: Strategy | undefined;
    let hasPatterns = false;
    let maxPrefix = 0;
    for (const n of effectiveReduceNodes(nodes)) {
      const kw = n.kw;
      if (kw.reduceRaw !== undefined && !raws.some((r) => jsonEqual(r, kw.reduceRaw)))
        raws.push(kw.reduceRaw);
      strategy ??= kw.reduce;
    }
    for (const n of nodes) {
      const kw = n.kw;
      if (kw.properties) for (const k of kw.properties.keys()) this.known.add(k);
      if (kw.patternProperties) hasPatterns = true;
      if (kw.prefixItems && kw.prefixItems.length > maxPrefix) maxPrefix = kw.prefixItems.length;
    }
    this.hasPatterns = hasPatterns;
    this.maxPrefix = maxPrefix;
    if (raws.length <= 1) {
      this.strategy = strategy;
    } else {
      const combined = combineAnnotations(raws);
      if (combined === undefined) this.conflict = raws;
      else this.strategy = parseReduceAnnotation(combined, nodes[0].uri);
    }
    this.leaf = this.conflict === undefined ? leafOf(this.strategy) : 0;
  }

  /** The property names the subschemas here declare (`properties`), in first-seen order. */
  knownNames(): Iterable<string> {
    return this.known;
  }

  /** The plan of property `name` of an object here. */
  propPlan(name: string): Plan {
    const p = this.props.get(name);
    if (p !== undefined) return p;
    if (this.known.has(name)) {
      const plan = this.computeProp(name);
      this.props.set(name, plan);
      return plan;
    }
    if (!this.hasPatterns) {
      this.otherProps ??= this.computeProp(name);
      return this.otherProps;
    }
    let sig = '';
    for (const n of this.nodes) {
      const pp = n.kw.patternProperties;
      if (pp) for (const x of pp) sig += x.re.test(name) ? '1' : '0';
    }
    let plan = this.patternPlans.get(sig);
    if (plan === undefined) {
      plan = this.computeProp(name);
      this.patternPlans.set(sig, plan);
    }
    return plan;
  }

  private computeProp(name: string): Plan {
    const out: SchemaNode[] = [];
    let covered = false;
    for (const n of this.nodes) {
      const kw = n.kw;
      let matched = false;
      const c = kw.properties?.get(name);
      if (c !== undefined) {
        out.push(c);
        matched = true;
      }
      if (kw.patternProperties) {
        for (const x of kw.patternProperties) {
          if (x.re.test(name)) {
            out.push(x.node);
            matched = true;
          }
        }
      }
      if (!matched && kw.additionalProperties !== undefined) {
        out.push(kw.additionalProperties);
        matched = true;
      }
      covered ||= matched;
    }
    if (!covered)
      for (const n of this.nodes) if (n.kw.unevaluatedProperties) out.push(n.kw.unevaluatedProperties);
    return out.length === 0 ? this.cache.empty : this.cache.intern(out);
  }

  /** The plan of item `index` of an array here. */
  itemPlan(index: number): Plan {
    if (index < this.maxPrefix) {
      let p = this.prefix[index];
      if (p === undefined) {
        p = this.computeItem(index);
        this.prefix[index] = p;
      }
      return p;
    }
    this.restItems ??= this.computeItem(this.maxPrefix);
    return this.restItems;
  }

  private computeItem(index: number): Plan {
    const out: SchemaNode[] = [];
    for (const n of this.nodes) {
      const kw = n.kw;
      if (kw.prefixItems && index < kw.prefixItems.length) out.push(kw.prefixItems[index]);
      else if (kw.items) out.push(kw.items);
    }
    if (out.length === 0)
      for (const n of this.nodes) if (n.kw.unevaluatedItems) out.push(n.kw.unevaluatedItems);
    return out.length === 0 ? this.cache.empty : this.cache.intern(out);
  }
}

/**
 * Annotations of one strategy with compatible options combine (Estuary's CDC schemas annotate the
 * root with `merge` and, when `_meta/op` is `d`, also with `merge {delete: true}`): the options
 * given are united. Different strategies, or one option given two values, do not combine.
 */
function combineAnnotations(raws: readonly Json[]): Json | undefined {
  const out: JsonObject = {};
  for (const raw of raws) {
    if (!isObject(raw)) return undefined;
    for (const [k, v] of Object.entries(raw)) {
      const prev = out[k];
      if (prev !== undefined && !jsonEqual(prev, v)) return undefined;
      out[k] = v;
    }
  }
  return out;
}

const caches = new WeakMap<SchemaGraph, PlanCache>();

/** The plan cache of a graph (one per registry). */
export function planCacheOf(graph: SchemaGraph): PlanCache {
  let c = caches.get(graph);
  if (c === undefined) {
    c = new PlanCache(graph);
    caches.set(graph, c);
  }
  return c;
}
