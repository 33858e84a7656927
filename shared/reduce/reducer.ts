/**
 * Reductions with `reduce` annotations, exactly as /shared/spec/reductions.md describes: one
 * dispatch over the closed Strategy union (schema/reduce-annotation.ts), strategies chosen per
 * location from the annotations the rhs document activates (plan.ts).
 *
 * Inputs are never mutated; results share unchanged parts with lhs and rhs.
 */
import { compareByTokens, compareJson, jsonEqual } from '../json/compare.ts';
import { joinPointer, ownProp, setOwnProp } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import type { SchemaNode } from '../schema/graph.ts';
import type { SchemaRegistry } from '../schema/registry.ts';
import { NotAssociativeError, ReduceError, type ReduceErrorCode } from './errors.ts';
import { type Active, type Plan, type PlanCache, planCacheOf } from './plan.ts';
import { unionSchemas } from './schema-merge.ts';
import { DELETE, type Out, type ReduceHost, reduceSet } from './set.ts';
import { SUM_OVERFLOW, SUM_WRONG_TYPE, sum } from './sum.ts';

type KeyTokens = readonly (readonly string[])[];
const NO_KEY: KeyTokens = [];

function isContainer(v: Json | undefined): v is Json[] | JsonObject {
  return typeof v === 'object' && v !== null;
}

export class Reducer implements ReduceHost {
  /** @internal Tokens of the location being reduced (for error locations). */
  readonly path: (string | number)[] = [];
  /** Whether any reachable annotation deletes or prunes (delete: true, set): full reductions must then descend into rhs-only values. */
  readonly mayPrune: boolean;
  private readonly plans: PlanCache;
  private readonly root: Plan;

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
    const seen = new Set<SchemaNode>();
    const stack = [rootNode];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      const kw = n.kw;
      const r = kw.reduce;
      if (
        r &&
        (r.strategy === 'set' || ((r.strategy === 'merge' || r.strategy === 'lastWriteWins') && r.delete))
      ) {
        mayPrune = true;
      }
      for (const b of [...(kw.anyOf ?? []), ...(kw.oneOf ?? [])]) b.precompile();
      kw.ifNode?.precompile();
      stack.push(...n.children());
    }
    this.mayPrune = mayPrune;
  }

  /**
   * Reduce rhs (newer) into lhs (older; undefined = none).
   * full=false: partial, associative combine (tombstones and set terms kept).
   * full=true: full reduction into the root-most base document (deletions applied).
   * Returns undefined when a full reduction deletes the root. Throws NotAssociativeError (partial
   * only) when the pair cannot be combined associatively, ReduceError otherwise.
   */
  reduce(lhs: Json | undefined, rhs: Json, full: boolean): Json | undefined {
    this.path.length = 0;
    const out = this.at(this.root, lhs, rhs, full);
    return out === DELETE ? undefined : out;
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

  /** @internal Reduce one location: the single dispatch over strategies. */
  at(plan: Plan, lhs: Json | undefined, rhs: Json, full: boolean): Out {
    const act = plan.staticActive ?? plan.activate(rhs);
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
        return lhs.length === 0 ? rhs : rhs.length === 0 ? lhs : lhs.concat(rhs);
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
        return this.merge(act, s.keyTokens, lhs, rhs, full);
      case 'minimize':
        return this.minMax(act, s.keyTokens, lhs, rhs, full, 1);
      case 'maximize':
        return this.minMax(act, s.keyTokens, lhs, rhs, full, -1);
      case 'set':
        return reduceSet(this, act, s.keyTokens, lhs, rhs, full);
      case 'sum': {
        if (lhs === undefined) return rhs;
        const v = sum(lhs, rhs);
        if (v === SUM_WRONG_TYPE) return this.fail('SumWrongType', lhs, rhs);
        if (v === SUM_OVERFLOW) return this.fail('SumNumericOverflow', lhs, rhs);
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
    if (Array.isArray(rhs)) return this.mergeIndexed(act, [], rhs, true);
    if (isObject(rhs)) return this.mergeObjects(act, {}, rhs, true);
    return rhs;
  }

  private merge(act: Active, key: KeyTokens, lhs: Json | undefined, rhs: Json, full: boolean): Json {
    if (!isContainer(rhs)) return this.fail('MergeWrongType', lhs, rhs);
    if (lhs === undefined) {
      if (!full || !this.mayPrune) return rhs;
      return Array.isArray(rhs)
        ? this.mergeArrays(act, key, [], rhs, true)
        : this.mergeObjects(act, {}, rhs, true);
    }
    if (Array.isArray(rhs)) {
      if (!Array.isArray(lhs)) return this.mismatch(act, key, lhs, rhs, full);
      return this.mergeArrays(act, key, lhs, rhs, full);
    }
    if (!isObject(lhs)) return this.mismatch(act, key, lhs, rhs, full);
    return this.mergeObjects(act, lhs, rhs, full);
  }

  /** Merge onto a value of another type: NotAssociative in a partial reduction, rhs in a full one. */
  private mismatch(act: Active, key: KeyTokens, lhs: Json, rhs: Json[] | JsonObject, full: boolean): Json {
    if (!full)
      this.notAssociative(
        lhs,
        rhs,
        `merge of ${Array.isArray(rhs) ? 'an array' : 'an object'} onto ${JSON.stringify(lhs)?.slice(0, 40)}`,
      );
    return this.merge(act, key, undefined, rhs, true);
  }

  private mergeArrays(act: Active, key: KeyTokens, lhs: Json[], rhs: Json[], full: boolean): Json[] {
    return key.length === 0
      ? this.mergeIndexed(act, lhs, rhs, full)
      : this.mergeKeyed(act, key, lhs, rhs, full);
  }

  private mergeObjects(act: Active, lhs: JsonObject, rhs: JsonObject, full: boolean): JsonObject {
    const out: JsonObject = { ...lhs }; // spread defines own properties (even `__proto__`)
    const prune = full && this.mayPrune;
    const path = this.path;
    for (const k in rhs) {
      const rv = rhs[k];
      const lv = ownProp(lhs, k);
      let v: Out;
      if (lv === undefined && !prune) {
        v = rv;
      } else {
        path.push(k);
        v = this.at(act.propPlan(k), lv, rv, full);
        path.pop();
      }
      if (v === DELETE) {
        if (lv !== undefined) delete out[k];
      } else {
        setOwnProp(out, k, v);
      }
    }
    return out;
  }

  /** Merge by index; the longer tail is carried over. */
  private mergeIndexed(act: Active, lhs: Json[], rhs: Json[], full: boolean): Json[] {
    const n = Math.max(lhs.length, rhs.length);
    const out: Json[] = [];
    const prune = full && this.mayPrune;
    for (let i = 0; i < n; i++) {
      if (i >= rhs.length) {
        out.push(lhs[i]);
        continue;
      }
      const lv = i < lhs.length ? lhs[i] : undefined;
      if (lv === undefined && !prune) {
        out.push(rhs[i]);
        continue;
      }
      this.path.push(i);
      const v = this.at(act.itemPlan(i), lv, rhs[i], full);
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
   */
  private mergeKeyed(act: Active, key: KeyTokens, lhs: Json[], rhs: Json[], full: boolean): Json[] {
    const l = this.sortDedupe(act, key, lhs, full);
    const r = full ? this.sortStable(key, rhs) : this.sortDedupe(act, key, rhs, false);
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
      do {
        if ((acc === undefined || acc === DELETE) && !prune) {
          acc = r[j];
        } else {
          this.path.push(j);
          acc = this.at(act.itemPlan(j), acc === DELETE ? undefined : acc, r[j], full);
          this.path.pop();
        }
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

  /** @internal */
  sortDedupe(act: Active, key: KeyTokens, arr: Json[], full: boolean): Json[] {
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
        const v = this.at(act.itemPlan(i), out[out.length - 1], item, full);
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
  ): Json {
    const keyed = key.length > 0;
    if (lhs === undefined) return keyed && full && this.mayPrune ? this.pruneRhs(act, rhs) : rhs;
    const c = sign * (keyed ? compareByTokens(lhs, rhs, key) : compareJson(lhs, rhs));
    if (c < 0) return lhs;
    if (c > 0 || !keyed) return keyed && full && this.mayPrune ? this.pruneRhs(act, rhs) : rhs;
    return this.merge(act, NO_KEY, lhs, rhs, full); // equal keys: deep merge
  }
}
