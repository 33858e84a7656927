/**
 * Reductions with `reduce` annotations, exactly as /shared/spec/reductions.md describes: one
 * dispatch over the closed Strategy union (schema/reduce-annotation.ts), strategies chosen per
 * location from the annotations the rhs document activates (plan.ts).
 *
 * Ownership. By default inputs are never mutated; results share unchanged parts with lhs and rhs.
 * With `{ ownsLhs: true }` (ReduceOptions) the reducer may update lhs's objects (and append to its
 * arrays) in place instead of copying them: the caller hands lhs over. That saves copying, and above
 * all keeps long-lived combined documents in place instead of re-allocating (and the GC re-promoting)
 * them for every document reduced into them. rhs is never mutated, in either mode, but parts of it
 * are adopted into the result; so whoever later passes that result as an owned lhs must own those
 * parts too (the combiner's `ownsDocuments` mode: every document freshly parsed, referenced nowhere
 * else). A reduction that throws (NotAssociativeError included) leaves an owned lhs exactly as it
 * was, values and property order: in-place changes are journaled and undone.
 */
import { compareByTokens, compareJson, compareUtf8, jsonEqual } from '../json/compare.ts';
import { joinPointer, setOwnProp } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import type { SchemaNode } from '../schema/graph.ts';
import type { Strategy } from '../schema/reduce-annotation.ts';
import type { SchemaRegistry } from '../schema/registry.ts';
import { compileObjectMerge, compileOwnedMerge, type OwnedMerge, type ReducerHost } from './compiled.ts';
import { NotAssociativeError, ReduceError, type ReduceErrorCode } from './errors.ts';
import { type Active, type Plan, type PlanCache, planCacheOf } from './plan.ts';
import { unionSchemas } from './schema-merge.ts';
import { DELETE, type Out, type ReduceHost, reduceSet } from './set.ts';
import { bigSum, SUM_OVERFLOW, SUM_WRONG_TYPE, sum } from './sum.ts';

type KeyTokens = readonly (readonly string[])[];
const NO_KEY: KeyTokens = [];

export interface ReduceOptions {
  /**
   * The caller hands lhs over: lhs and every object and array reachable from it are referenced
   * nowhere else (not by rhs either), and only the returned value will be used afterwards. The
   * reducer may then update them in place (and usually returns lhs itself). If the reduction
   * throws, lhs is left exactly as it was. Default false: nothing is mutated.
   */
  readonly ownsLhs?: boolean;
}

/** Undo journal markers (see Reducer.rollback). */
const ABSENT: unique symbol = Symbol('absent');
const DELETED: unique symbol = Symbol('deleted');
const LENGTH: unique symbol = Symbol('length');
/** A property deleted in place: its value and the object's key order before the deletion. */
interface DeletedProp {
  readonly key: string;
  readonly value: Json;
  readonly order: readonly string[];
}
/** Past this many journal slots, a finished reduction releases the journal instead of reusing it. */
const UNDO_KEEP = 3 * 256;

function isContainer(v: Json | undefined): v is Json[] | JsonObject {
  return typeof v === 'object' && v !== null;
}

export class Reducer implements ReduceHost, ReducerHost {
  /** @internal Tokens of the location being reduced (for error locations). */
  readonly path: (string | number)[] = [];
  /** Whether any reachable annotation deletes or prunes (delete: true, set): full reductions must then descend into rhs-only values. */
  readonly mayPrune: boolean;
  /** Whether some document may delete the root (a `delete: true` strategy reachable at the root). */
  private readonly rootDeletes: boolean;
  private readonly plans: PlanCache;
  private readonly root: Plan;
  /**
   * The root's Active when every document is merged there as an object without a key or deletion
   * (the usual collection schema): reduce() then merges two objects directly, skipping the
   * strategy dispatch that would arrive at the same mergeObjects call.
   */
  private readonly rootMerge: Active | undefined;
  /**
   * In-place changes of the current owning reduction, 3 slots each: (container, key, previous value)
   * with previous = ABSENT for an added property; (object, DELETED, DeletedProp) for a deletion;
   * (array, LENGTH, previous length) for an append. After a reduction its slots, [0, undoStale), are
   * stale: they keep what the latest owning reduction replaced alive until the next one (slots a
   * longer earlier reduction used are cleared, so nothing older is retained).
   */
  private undo: unknown[] = [];
  private undoTop = 0;
  private undoStale = 0;
  /** rootMerge's owned fast path (see reduceOwnedFast): undefined until compiled, null for none. */
  private ownedMerge: OwnedMerge | null | undefined;

  /**
   * @param registry the catalog's schemas
   * @param schemaUri the collection schema (a registered URI, optionally `#/pointer`)
   * Parses every reachable annotation and compiles the validators of every conditional branch now,
   * so schema problems surface here and the hot path compiles nothing.
   */
  constructor(
    registry: SchemaRegistry,
    readonly schemaUri: string,
  ) {
    const rootNode = registry.node(schemaUri);
    this.plans = planCacheOf(registry.graph);
    this.root = this.plans.intern([rootNode]);
    let mayPrune = false;
    walkSchema(rootNode, (n) => {
      const kw = n.kw;
      if (kw.reduce?.strategy === 'set' || deletes(kw.reduce)) mayPrune = true;
      for (const b of [...(kw.anyOf ?? []), ...(kw.oneOf ?? [])]) b.precompile();
      kw.ifNode?.precompile();
      return n.children();
    });
    this.mayPrune = mayPrune;
    this.rootDeletes = mayPrune && rootMayDelete(rootNode);
    const ra = this.root.staticActive;
    const rs = ra?.strategy;
    this.rootMerge =
      ra !== undefined &&
      ra.conflict === undefined &&
      rs?.strategy === 'merge' &&
      !rs.delete &&
      rs.keyTokens.length === 0
        ? ra
        : undefined;
  }

  /**
   * Reduce rhs (newer) into lhs (older; undefined = none).
   * full=false: partial, associative combine (tombstones and set terms kept).
   * full=true: full reduction into the root-most base document (deletions applied).
   * Returns undefined when a full reduction deletes the root. Throws NotAssociativeError (partial
   * only) when the pair cannot be combined associatively, ReduceError otherwise.
   */
  reduce(lhs: Json | undefined, rhs: Json, full: boolean, opts?: ReduceOptions): Json | undefined {
    if (this.path.length !== 0) this.path.length = 0; // left over by an error
    // A document after a deletion of the root starts the key afresh: folded into the tombstone (which a
    // partial reduction keeps, with what it merged before the deletion), it would inherit the deleted
    // document's state (a sum would go on from the deleted total), unlike the same documents reduced
    // into a base one at a time (deleted, then created anew). Not associative: kept apart, in order.
    if (!full && lhs !== undefined && this.rootDeletes && this.deletesRoot(lhs) && !this.deletesRoot(rhs)) {
      this.notAssociative(lhs, rhs, 'a document after a deletion of its key');
    }
    if (opts?.ownsLhs !== true || !isContainer(lhs)) {
      const out = this.at(this.root, lhs, rhs, full, false);
      return out === DELETE ? undefined : out;
    }
    this.undoTop = 0;
    let out: Out;
    try {
      const ra = this.rootMerge;
      out =
        ra !== undefined && isObject(lhs) && isObject(rhs)
          ? this.mergeObjects(ra, lhs, rhs, full, true)
          : this.at(this.root, lhs, rhs, full, true);
    } catch (e) {
      this.rollback();
      throw e;
    }
    const top = this.undoTop;
    if (top > UNDO_KEEP) {
      this.undo = [];
      this.undoStale = 0;
    } else {
      if (this.undoStale > top) this.undo.fill(undefined, top, this.undoStale);
      this.undoStale = top;
    }
    this.undoTop = 0;
    return out === DELETE ? undefined : out;
  }

  /**
   * `reduce(lhs, rhs, full, { ownsLhs: true })` in its usual case without the general machinery
   * (dispatch, journal): when documents are merged as objects at the root (rootMerge) and every
   * property of rhs is a scalar the root merges inline onto a property lhs has (compileOwnedMerge),
   * lhs is updated in place and it returns true; the result is lhs, exactly as reduce would leave it
   * (`full` makes no difference to those cases). Otherwise it returns false having changed nothing:
   * then call reduce.
   */
  reduceOwnedFast(lhs: Json, rhs: Json): boolean {
    const ra = this.rootMerge;
    if (ra === undefined || !isObject(lhs) || !isObject(rhs)) return false;
    let merge = this.ownedMerge;
    if (merge === undefined) {
      merge = compileOwnedMerge(ra) ?? null;
      this.ownedMerge = merge;
    }
    return merge?.(lhs, rhs) === true;
  }

  /** @internal Records an in-place change (see `undo`). */
  journal(container: object, key: string | typeof DELETED | typeof LENGTH, prev: unknown): void {
    const u = this.undo;
    const i = this.undoTop;
    u[i] = container;
    u[i + 1] = key;
    u[i + 2] = prev;
    this.undoTop = i + 3;
  }

  /** Undoes the in-place changes of the failed reduction, newest first. */
  private rollback(): void {
    const u = this.undo;
    for (let i = this.undoTop - 3; i >= 0; i -= 3) {
      const key = u[i + 1];
      const prev = u[i + 2];
      if (key === LENGTH) {
        (u[i] as Json[]).length = prev as number;
        continue;
      }
      const obj = u[i] as JsonObject;
      if (key === DELETED) {
        const d = prev as DeletedProp;
        setOwnProp(obj, d.key, d.value);
        // Re-adding put the key last: re-insert every key in the recorded order.
        for (const k of d.order) {
          const v = obj[k];
          delete obj[k];
          setOwnProp(obj, k, v);
        }
      } else if (prev === ABSENT) {
        delete obj[key as string];
      } else {
        setOwnProp(obj, key as string, prev as Json);
      }
    }
    this.undo = [];
    this.undoTop = 0;
    this.undoStale = 0;
  }

  /** Whether `doc`, reduced as a right-hand side, deletes the root (a `delete: true` strategy there). */
  deletesRoot(doc: Json): boolean {
    return deletes((this.root.staticActive ?? this.root.activate(doc)).strategy);
  }

  /** The strategy that applies at the root for `rhs` (for diagnostics and tests). */
  rootStrategy(rhs: Json): string {
    return this.root.activate(rhs).strategy?.strategy ?? 'lastWriteWins';
  }

  /** @internal */
  fail(code: ReduceErrorCode, lhs: Json | undefined, rhs: Json | undefined, detail?: string): never {
    throw new ReduceError(code, joinPointer(this.path), lhs, rhs, detail);
  }

  private notAssociative(lhs: Json | undefined, rhs: Json, detail: string): never {
    throw new NotAssociativeError(joinPointer(this.path), lhs, rhs, detail);
  }

  /**
   * @internal Reduce one location: the single dispatch over strategies. `own`: lhs may be updated
   * in place (it is part of an owned lhs; every change goes through the journal).
   */
  at(plan: Plan, lhs: Json | undefined, rhs: Json, full: boolean, own: boolean): Out {
    return this.apply(plan.staticActive ?? plan.activate(rhs), lhs, rhs, full, own);
  }

  /** Reduce one location whose subschemas are decided. */
  private apply(act: Active, lhs: Json | undefined, rhs: Json, full: boolean, own: boolean): Out {
    if (act.conflict !== undefined) {
      this.fail('ConflictingStrategies', lhs, rhs, act.conflict.map((c) => JSON.stringify(c)).join(' vs '));
    }
    const s = act.strategy;
    if (s === undefined) return rhs; // lastWriteWins, the default
    switch (s.strategy) {
      case 'append':
        if (!Array.isArray(rhs)) return this.fail('AppendWrongType', lhs, rhs);
        if (lhs === undefined) return rhs;
        if (lhs === null) return null;
        if (!Array.isArray(lhs)) return this.fail('AppendWrongType', lhs, rhs);
        if (lhs.length === 0) return rhs;
        if (rhs.length === 0) return lhs;
        if (!own) return lhs.concat(rhs);
        this.journal(lhs, LENGTH, lhs.length);
        for (let i = 0; i < rhs.length; i++) lhs.push(rhs[i]);
        return lhs;
      case 'firstWriteWins':
        return lhs === undefined ? rhs : lhs;
      case 'lastWriteWins':
        if (full && s.delete) return DELETE;
        if (!full && !s.associative && lhs !== undefined && !jsonEqual(lhs, rhs)) {
          this.notAssociative(lhs, rhs, 'lastWriteWins {associative: false} with unequal values');
        }
        return rhs;
      case 'merge':
        if (full && s.delete) return DELETE;
        return this.merge(act, s.keyTokens, lhs, rhs, full, own);
      case 'minimize':
        return this.minMax(act, s.keyTokens, lhs, rhs, full, 1, own);
      case 'maximize':
        return this.minMax(act, s.keyTokens, lhs, rhs, full, -1, own);
      case 'set':
        return reduceSet(this, act, s.keyTokens, lhs, rhs, full);
      case 'sum': {
        const v = sum(lhs, rhs);
        if (v === SUM_WRONG_TYPE) return this.fail('SumWrongType', lhs, rhs);
        if (v === SUM_OVERFLOW) return this.fail('SumNumericOverflow', lhs, rhs);
        return v;
      }
      case 'bigSum': {
        const v = bigSum(lhs, rhs);
        if (v === SUM_WRONG_TYPE) return this.fail('BigSumWrongType', lhs, rhs);
        return v;
      }
      case 'jsonSchemaMerge': {
        if (lhs === undefined) return rhs;
        const v = unionSchemas(lhs, rhs);
        if (v === undefined) return this.fail('JsonSchemaMergeWrongType', lhs, rhs);
        return v;
      }
    }
  }

  /** Full reduction of an rhs-only value: descend to apply deletions and drop set terms. */
  private pruneRhs(act: Active, rhs: Json): Json {
    if (Array.isArray(rhs)) return this.mergeIndexed(act, [], rhs, true, false);
    if (isObject(rhs)) return this.mergeObjects(act, {}, rhs, true, false);
    return rhs;
  }

  private merge(
    act: Active,
    key: KeyTokens,
    lhs: Json | undefined,
    rhs: Json,
    full: boolean,
    own: boolean,
  ): Json {
    if (!isContainer(rhs)) return this.fail('MergeWrongType', lhs, rhs);
    if (lhs === undefined) {
      if (!full || !this.mayPrune) return rhs;
      return Array.isArray(rhs)
        ? this.mergeArrays(act, key, [], rhs, true, false)
        : this.mergeObjects(act, {}, rhs, true, false);
    }
    if (Array.isArray(rhs)) {
      if (!Array.isArray(lhs)) return this.mismatch(act, key, lhs, rhs, full);
      return this.mergeArrays(act, key, lhs, rhs, full, own);
    }
    if (!isObject(lhs)) return this.mismatch(act, key, lhs, rhs, full);
    return this.mergeObjects(act, lhs, rhs, full, own);
  }

  /** Merge onto a value of another type: NotAssociative in a partial reduction, rhs in a full one. */
  private mismatch(act: Active, key: KeyTokens, lhs: Json, rhs: Json[] | JsonObject, full: boolean): Json {
    if (!full)
      this.notAssociative(
        lhs,
        rhs,
        `merge of ${Array.isArray(rhs) ? 'an array' : 'an object'} onto ${JSON.stringify(lhs)?.slice(0, 40)}`,
      );
    return this.merge(act, key, undefined, rhs, true, false);
  }

  private mergeArrays(
    act: Active,
    key: KeyTokens,
    lhs: Json[],
    rhs: Json[],
    full: boolean,
    own: boolean,
  ): Json[] {
    return key.length === 0
      ? this.mergeIndexed(act, lhs, rhs, full, own)
      : this.mergeKeyed(act, key, lhs, rhs, full, own);
  }

  /**
   * Object merge: a copy of lhs, or (own) lhs itself, updated in place, one rhs property at a time
   * in rhs's order: by the location's compiled merge (compiled.ts), which does the scalar properties
   * the schema knows inline and hands the others to mergeProp.
   */
  private mergeObjects(
    act: Active,
    lhs: JsonObject,
    rhs: JsonObject,
    full: boolean,
    own: boolean,
  ): JsonObject {
    const out: JsonObject = own ? lhs : { ...lhs }; // spread defines own properties (even `__proto__`)
    let merge = act.objectMerge;
    if (merge === undefined) {
      merge = compileObjectMerge(act, ABSENT);
      act.objectMerge = merge;
    }
    merge(this, act, lhs, out, rhs, full, own);
    return out;
  }

  /** @internal Merges rhs's property `k` (value `rv`) into `out`, a copy of lhs or (own) lhs itself. */
  mergeProp(
    act: Active,
    lhs: JsonObject,
    out: JsonObject,
    k: string,
    rv: Json,
    full: boolean,
    own: boolean,
  ): void {
    // ownProp(lhs, k), inlined: absent, inherited (a function, or `__proto__`) reads as undefined.
    let lv: Json | undefined = lhs[k];
    if (lv !== undefined && (typeof lv === 'function' || (k === '__proto__' && !Object.hasOwn(lhs, k)))) {
      lv = undefined;
    }
    let v: Out;
    // A value only rhs has is taken as it is, unless a strategy could rewrite it: a string may be
    // a `sum` operand (Estuary adds it to 0, which rewrites it in plain notation).
    if (lv === undefined && !(full && this.mayPrune) && typeof rv !== 'string') {
      v = rv;
    } else {
      const path = this.path;
      const plan = act.propPlan(k);
      const a = plan.staticActive ?? plan.activate(rv);
      // Scalar shortcuts (Active.leaf), the same results as apply(); the location is pushed only to fail.
      switch (a.leaf) {
        case 1:
          v = rv;
          break;
        case 2: {
          const s = sum(lv, rv);
          if (s === SUM_WRONG_TYPE || s === SUM_OVERFLOW) {
            path.push(k);
            this.fail(s === SUM_WRONG_TYPE ? 'SumWrongType' : 'SumNumericOverflow', lv, rv);
          }
          v = s;
          break;
        }
        case 3:
        case 4:
          if (lv === undefined) {
            v = rv;
          } else if (typeof lv === 'number' && typeof rv === 'number') {
            // Ties take rhs, as compareJson-based minMax does.
            v = a.leaf === 3 ? (lv > rv ? lv : rv) : lv < rv ? lv : rv;
          } else if (typeof lv === 'string' && typeof rv === 'string') {
            // Timestamps and the like: compareJson's string order (code points), ties take rhs.
            const c = compareUtf8(lv, rv);
            v = a.leaf === 3 ? (c > 0 ? lv : rv) : c < 0 ? lv : rv;
          } else {
            path.push(k);
            v = this.apply(a, lv, rv, full, own);
            path.pop();
          }
          break;
        default:
          path.push(k);
          v = this.apply(a, lv, rv, full, own);
          path.pop();
      }
    }
    if (v === DELETE) {
      if (lv !== undefined) {
        if (own) this.journal(out, DELETED, { key: k, value: lv, order: Object.keys(out) });
        delete out[k];
      }
    } else if (v !== lv) {
      if (own) this.journal(out, k, lv === undefined ? ABSENT : lv);
      if (k === '__proto__') setOwnProp(out, k, v);
      else out[k] = v;
    }
  }

  /** Merge by index into a new array (items of an owned lhs are reduced in place); the longer tail is carried over. */
  private mergeIndexed(act: Active, lhs: Json[], rhs: Json[], full: boolean, own: boolean): Json[] {
    const n = Math.max(lhs.length, rhs.length);
    const out: Json[] = [];
    const prune = full && this.mayPrune;
    for (let i = 0; i < n; i++) {
      if (i >= rhs.length) {
        out.push(lhs[i]);
        continue;
      }
      const lv = i < lhs.length ? lhs[i] : undefined;
      if (lv === undefined && !prune && typeof rhs[i] !== 'string') {
        out.push(rhs[i]);
        continue;
      }
      this.path.push(i);
      const v = this.at(act.itemPlan(i), lv, rhs[i], full, own);
      this.path.pop();
      // Removing an item would shift the later ones, which is not associative: it becomes null.
      out.push(v === DELETE ? null : v);
    }
    return out;
  }

  /**
   * Keyed merge of arrays: both sides sorted by key, lhs items with equal keys reduced together.
   * Partial: rhs items with equal keys are combined first. Full: each rhs item is reduced, in
   * order, into the lhs item of its key (as if the rhs items were separate documents).
   * With `own`, lhs items are reduced in place, but only once each: a reduced item holds parts of
   * rhs, so further rhs items of its key are reduced into it by copying.
   */
  private mergeKeyed(
    act: Active,
    key: KeyTokens,
    lhs: Json[],
    rhs: Json[],
    full: boolean,
    own: boolean,
  ): Json[] {
    const l = this.sortDedupe(act, key, lhs, full, own);
    const r = full ? this.sortStable(key, rhs) : this.sortDedupe(act, key, rhs, false, false);
    const out: Json[] = [];
    const prune = full && this.mayPrune;
    let i = 0;
    let j = 0;
    while (i < l.length || j < r.length) {
      const c = i >= l.length ? 1 : j >= r.length ? -1 : compareByTokens(l[i], r[j], key);
      if (c < 0) {
        out.push(l[i++]);
        continue;
      }
      let acc: Out | undefined = c === 0 ? l[i++] : undefined;
      let accOwned = c === 0 && own;
      do {
        if ((acc === undefined || acc === DELETE) && !prune && typeof r[j] !== 'string') {
          acc = r[j];
        } else {
          this.path.push(j);
          acc = this.at(act.itemPlan(j), acc === DELETE ? undefined : acc, r[j], full, accOwned);
          this.path.pop();
        }
        accOwned = false;
        j++;
      } while (full && j < r.length && compareByTokens(r[j - 1], r[j], key) === 0);
      if (acc !== DELETE) out.push(acc);
    }
    return out;
  }
  /** `arr` stably sorted by key (the same array when already in order). */
  private sortStable(key: KeyTokens, arr: Json[]): Json[] {
    let ordered = true;
    for (let i = 1; i < arr.length && ordered; i++) ordered = compareByTokens(arr[i - 1], arr[i], key) <= 0;
    if (ordered) return arr;
    const idx = arr.map((_, i) => i);
    idx.sort((a, b) => compareByTokens(arr[a], arr[b], key) || a - b);
    return idx.map((i) => arr[i]);
  }

  /**
   * @internal `arr` sorted by key, items with equal keys reduced together (a new array unless
   * already strictly in order). `own`: the items are owned and may be reduced in place.
   */
  sortDedupe(act: Active, key: KeyTokens, arr: Json[], full: boolean, own = false): Json[] {
    let ordered = true;
    for (let i = 1; i < arr.length && ordered; i++) ordered = compareByTokens(arr[i - 1], arr[i], key) < 0;
    if (ordered) return arr;
    const idx = arr.map((_, i) => i);
    idx.sort((a, b) => compareByTokens(arr[a], arr[b], key) || a - b);
    const out: Json[] = [];
    for (const i of idx) {
      const item = arr[i];
      if (out.length > 0 && compareByTokens(out[out.length - 1], item, key) === 0) {
        this.path.push(i);
        const v = this.at(act.itemPlan(i), out[out.length - 1], item, full, own);
        this.path.pop();
        if (v === DELETE) out.pop();
        else out[out.length - 1] = v;
      } else {
        out.push(item);
      }
    }
    return out;
  }

  /** minimize (sign 1) / maximize (sign -1). */
  private minMax(
    act: Active,
    key: KeyTokens,
    lhs: Json | undefined,
    rhs: Json,
    full: boolean,
    sign: number,
    own: boolean,
  ): Json {
    const keyed = key.length > 0;
    if (lhs === undefined) return keyed && full && this.mayPrune ? this.pruneRhs(act, rhs) : rhs;
    const c = sign * (keyed ? compareByTokens(lhs, rhs, key) : compareJson(lhs, rhs));
    if (c < 0) return lhs;
    if (c > 0 || !keyed) return keyed && full && this.mayPrune ? this.pruneRhs(act, rhs) : rhs;
    return this.merge(act, NO_KEY, lhs, rhs, full, own); // equal keys: deep merge
  }
}

/** Whether a `delete: true` strategy is annotated at the root location (in subschemas applied in place). */
function rootMayDelete(root: SchemaNode): boolean {
  let found = false;
  walkSchema(root, (n) => {
    const kw = n.kw;
    if (deletes(kw.reduce)) found = true;
    return [
      ...kw.refs,
      ...kw.allOf,
      ...(kw.anyOf ?? []),
      ...(kw.oneOf ?? []),
      ...(kw.thenNode ? [kw.thenNode] : []),
      ...(kw.elseNode ? [kw.elseNode] : []),
    ];
  });
  return found;
}

/** Visit each schema node reachable from `root` once: `visit` returns the nodes to go on to. */
function walkSchema(root: SchemaNode, visit: (n: SchemaNode) => SchemaNode[]): void {
  const seen = new Set<SchemaNode>();
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push(...visit(n));
  }
}

/** Whether a reduce annotation deletes its location on a full reduction (`delete: true`). */
function deletes(r: Strategy | undefined): boolean {
  return (r?.strategy === 'merge' || r?.strategy === 'lastWriteWins') && r.delete === true;
}
