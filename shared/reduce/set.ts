/**
 * The `set` strategy: a value `{add?, intersect?, remove?}` (never intersect and remove together)
 * whose terms are all objects (members are properties) or all key-sorted arrays (members are items,
 * ordered by the strategy's key, `[""]` = the item itself). With L the earlier and R the later terms:
 *   (I,A)·(I,A): add = (LA ∩ RI) ∪ RA, intersect = LI ∩ RI
 *   (I,A)·(R,A): add = (LA − RR) ∪ RA, intersect = LI − RR
 *   (R,A)·(I,A): add = (LA ∩ RI) ∪ RA, intersect = RI − LR
 *   (R,A)·(R,A): add = (LA − RR) ∪ RA, remove = LR ∪ RR
 * Members with equal keys in a union or intersection are reduced recursively (rhs annotations).
 * A full reduction keeps only `add`.
 */
import { compareByTokens, compareUtf8 } from '../json/compare.ts';
import { setOwnProp } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { NotAssociativeError, type ReduceErrorCode } from './errors.ts';
import type { Active, Plan } from './plan.ts';

export const DELETE: unique symbol = Symbol('delete');
/** A reduced location: a value, or DELETE when a full reduction removes it. */
export type Out = Json | typeof DELETE;

/** What the set strategy needs from the reducer. */
export interface ReduceHost {
  readonly path: (string | number)[];
  readonly mayPrune: boolean;
  /** `own`: lhs may be updated in place (set never passes true: it builds new terms). */
  at(plan: Plan, lhs: Json | undefined, rhs: Json, full: boolean, own: boolean): Out;
  fail(code: ReduceErrorCode, lhs: Json | undefined, rhs: Json | undefined, detail?: string): never;
  /** Sort `arr` by `key` and reduce items with equal keys together (in order). */
  sortDedupe(act: Active, key: readonly (readonly string[])[], arr: Json[], full: boolean): Json[];
}

type TermName = 'add' | 'intersect' | 'remove';

interface Terms {
  add?: Json[] | JsonObject;
  intersect?: Json[] | JsonObject;
  remove?: Json[] | JsonObject;
}

/** Members of one term, sorted by key: `names` for object terms, else items compared by key. */
interface Side {
  names?: string[];
  values: Json[];
  /** Plan source for members of an rhs term. */
  act?: Active;
}

const TERM_NAMES: readonly TermName[] = ['add', 'intersect', 'remove'];

function parseTerms(host: ReduceHost, v: Json, other: Json | undefined, isRhs: boolean): Terms {
  const [lhs, rhs] = isRhs ? [other, v] : [v, other];
  if (!isObject(v)) host.fail('SetWrongType', lhs, rhs, `${isRhs ? 'rhs' : 'lhs'} is not an object`);
  const t: Terms = {};
  for (const k of Object.keys(v)) {
    const term = v[k];
    if (!(TERM_NAMES as readonly string[]).includes(k)) {
      host.fail('SetWrongType', lhs, rhs, `unexpected property ${JSON.stringify(k)}`);
    }
    if (!Array.isArray(term) && !isObject(term)) {
      host.fail('SetWrongType', lhs, rhs, `"${k}" must be an object or an array`);
    }
    t[k as TermName] = term;
  }
  if (t.intersect !== undefined && t.remove !== undefined) {
    host.fail('SetWrongType', lhs, rhs, `${isRhs ? 'rhs' : 'lhs'} has both "intersect" and "remove"`);
  }
  return t;
}

export function reduceSet(
  host: ReduceHost,
  act: Active,
  key: readonly (readonly string[])[],
  lhs: Json | undefined,
  rhs: Json,
  full: boolean,
): Out {
  const R = parseTerms(host, rhs, lhs, true);
  if (lhs === undefined && !full) return rhs;
  const L = lhs === undefined ? {} : parseTerms(host, lhs, rhs, false);

  let arrays = false;
  let objects = false;
  for (const t of [L.add, L.intersect, L.remove, R.add, R.intersect, R.remove]) {
    if (t === undefined) continue;
    if (Array.isArray(t)) arrays = true;
    else objects = true;
  }
  if (arrays && objects) host.fail('SetWrongType', lhs, rhs, 'terms mix objects and arrays');
  const itemKey = key.length === 0 ? [[]] : key;

  const side = (
    term: Json[] | JsonObject | undefined,
    name: TermName,
    fromRhs: boolean,
  ): Side | undefined => {
    if (term === undefined) return undefined;
    const termAct = act.propPlan(name).activate(fromRhs ? term : (R[name] ?? term));
    if (Array.isArray(term)) {
      // Items with equal keys inside one term are combined as consecutive changes (partially; a
      // full reduction falls back to reducing them fully, in order, when that is not associative).
      host.path.push(name);
      let values: Json[];
      try {
        values = host.sortDedupe(termAct, itemKey, term, !fromRhs && full);
      } catch (e) {
        if (!(full && e instanceof NotAssociativeError)) throw e;
        values = host.sortDedupe(termAct, itemKey, term, true);
      }
      host.path.pop();
      return { values, act: fromRhs ? termAct : undefined };
    }
    const names = Object.keys(term).sort(compareUtf8);
    return { names, values: names.map((n) => term[n]), act: fromRhs ? termAct : undefined };
  };

  const cmp = (a: Side, i: number, b: Side, j: number): number =>
    a.names !== undefined && b.names !== undefined
      ? compareUtf8(a.names[i], b.names[j])
      : compareByTokens(a.values[i], b.values[j], itemKey);

  const reduceMember = (term: TermName, r: Side, j: number, l: Json | undefined, full: boolean): Out => {
    const name = r.names?.[j];
    const plan = name !== undefined ? r.act!.propPlan(name) : r.act!.itemPlan(j);
    host.path.push(term, name ?? j);
    const out = host.at(plan, l, r.values[j], full, false);
    host.path.length -= 2;
    return out;
  };

  const push = (out: Side, from: Side, i: number, v: Out) => {
    if (v === DELETE) return;
    if (out.names !== undefined) out.names.push(from.names![i]);
    out.values.push(v);
  };
  const empty = (like: Side): Side => (like.names !== undefined ? { names: [], values: [] } : { values: [] });

  /** Members of X whose key is (keep=true) or is not (keep=false) in S. */
  const filter = (X: Side | undefined, S: Side | undefined, keep: boolean): Side | undefined => {
    if (X === undefined) return undefined;
    if (S === undefined) return keep ? empty(X) : X;
    const out = empty(X);
    let j = 0;
    for (let i = 0; i < X.values.length; i++) {
      while (j < S.values.length && cmp(X, i, S, j) > 0) j++;
      const found = j < S.values.length && cmp(X, i, S, j) === 0;
      if (found === keep) push(out, X, i, X.values[i]);
    }
    return out;
  };

  /** L ∪ R (intersect=false) or L ∩ R (intersect=true); equal members reduced with R's annotations. */
  const combine = (
    term: TermName,
    Lx: Side | undefined,
    Rx: Side | undefined,
    intersect: boolean,
  ): Side | undefined => {
    if (Lx === undefined && Rx === undefined) return undefined;
    if (Rx === undefined) return intersect ? empty(Lx!) : Lx;
    const prune = full && host.mayPrune;
    if (Lx === undefined) {
      if (intersect) return empty(Rx);
      if (!prune) return Rx;
    }
    const Ls = Lx ?? empty(Rx);
    const out = empty(Rx);
    let i = 0;
    let j = 0;
    while (i < Ls.values.length || j < Rx.values.length) {
      const c = i >= Ls.values.length ? 1 : j >= Rx.values.length ? -1 : cmp(Ls, i, Rx, j);
      if (c < 0) {
        if (!intersect) push(out, Ls, i, Ls.values[i]);
        i++;
      } else if (c > 0) {
        if (!intersect) push(out, Rx, j, prune ? reduceMember(term, Rx, j, undefined, true) : Rx.values[j]);
        j++;
      } else {
        push(out, Rx, j, reduceMember(term, Rx, j, Ls.values[i], full));
        i++;
        j++;
      }
    }
    return out;
  };

  const LA = side(L.add, 'add', false);
  const LI = side(L.intersect, 'intersect', false);
  const LR = side(L.remove, 'remove', false);
  const RA = side(R.add, 'add', true);
  const RI = side(R.intersect, 'intersect', true);
  const RR = side(R.remove, 'remove', true);

  let add: Side | undefined;
  let intersect: Side | undefined;
  let remove: Side | undefined;
  if (RI !== undefined) {
    add = combine('add', filter(LA, RI, true), RA, false);
    if (!full) intersect = LI !== undefined ? combine('intersect', LI, RI, true) : filter(RI, LR, false);
  } else {
    add = combine('add', filter(LA, RR, false), RA, false);
    if (!full) {
      if (LI !== undefined) intersect = filter(LI, RR, false);
      else remove = combine('remove', LR, RR, false);
    }
  }

  const out: JsonObject = {};
  const emit = (name: TermName, s: Side | undefined) => {
    if (s === undefined) return;
    if (s.names === undefined) {
      out[name] = s.values;
      return;
    }
    const o: JsonObject = {};
    for (let i = 0; i < s.names.length; i++) setOwnProp(o, s.names[i], s.values[i]);
    out[name] = o;
  };
  emit('add', add);
  emit('intersect', intersect);
  emit('remove', remove);
  return out;
}
