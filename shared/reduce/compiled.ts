/**
 * Object merges compiled per schema location. The reducer's general object merge looks up each rhs
 * property's plan (a Map lookup), switches on its strategy and reads and writes the property by a
 * computed name. For a location whose properties are known (`properties` in the schema) and reduce
 * as scalars (lastWriteWins, sum, minimize and maximize without key: Active.leaf), a function
 * generated once for the location tests the property name against the known names and applies the
 * strategy inline, with constant property names (V8 then caches the documents' shapes). That
 * measured ≈ 2.5× faster than the general loop on bench/combine-million.ts's click events.
 *
 * Exactness: the generated code takes only the cases whose result it can tell cheaply (both sides
 * numbers or both strings, a sum that stays a safe integer or a finite double of non-integers,
 * lhs present) and hands every other property, whole, to the reducer's general per-property merge
 * (`ReducerHost.mergeProp`), so results, errors and key order are the general loop's. In place
 * (`own`), every change is journaled exactly as the general loop journals it.
 */
import { compareUtf8 } from '../json/compare.ts';
import type { Json, JsonObject } from '../json/types.ts';
import type { Active } from './plan.ts';

/** What compiled merges call back into (the Reducer). */
export interface ReducerHost {
  /** Merge rhs's property `k` into `out` (lhs itself when `own`, else lhs's copy): the general loop's body. */
  mergeProp(
    act: Active,
    lhs: JsonObject,
    out: JsonObject,
    k: string,
    rv: Json,
    full: boolean,
    own: boolean,
  ): void;
  /** Record an in-place change for rollback: `prev` is the previous value, or the ABSENT marker. */
  journal(container: object, key: string, prev: unknown): void;
}

/** Merges every property of rhs into out (see ReducerHost.mergeProp for the arguments). */
export type ObjectMerge = (
  host: ReducerHost,
  act: Active,
  lhs: JsonObject,
  out: JsonObject,
  rhs: JsonObject,
  full: boolean,
  own: boolean,
) => void;

/**
 * An owned object merge's fast path (see compileOwnedMerge): merges rhs into lhs in place and returns
 * true, or returns false having changed nothing.
 */
export type OwnedMerge = (lhs: JsonObject, rhs: JsonObject) => boolean;

/** Past this many names, testing each rhs property against all of them costs more than the lookup it saves. */
const MAX_NAMES = 32;

/** The general loop: every property through mergeProp (locations with nothing to specialize). */
const generic: ObjectMerge = (host, act, lhs, out, rhs, full, own) => {
  for (const k in rhs) host.mergeProp(act, lhs, out, k, rhs[k], full, own);
};

/**
 * Inline code for one known property's strategy (`n`: its name as a JS string literal), shared by the
 * general merge and the owned fast path so that both decide exactly the same cases in the same
 * conditions. `take(v, prev)`: what to do with the new value `v` (`prev`: lhs's value, for the undo
 * journal); `otherwise`: the end of a case the code does not decide; `absent`: what a lastWriteWins
 * property lhs lacks does first (nothing: take it).
 */
function leafCode(
  n: string,
  leaf: number,
  a: { take: (v: string, prev: string) => string; otherwise: string; absent: string },
): string {
  switch (leaf) {
    case 1: // lastWriteWins: always rhs
      return `const lv = lhs[${n}]; ${a.absent} ${a.take('rv', 'lv === undefined ? ABSENT : lv')}`;
    case 2: // sum: the cases where sum() returns lv + rv (see shared/reduce/sum.ts)
      return `const lv = lhs[${n}];
        if (typeof lv === 'number' && typeof rv === 'number') {
          const v = lv + rv;
          if (Number.isSafeInteger(v)
              ? Number.isSafeInteger(lv) && Number.isSafeInteger(rv)
              : Number.isFinite(v) && !(Number.isInteger(lv) && Number.isInteger(rv))) { ${a.take('v', 'lv')} }
        }
        ${a.otherwise}`;
    case 3: // maximize: ties take rhs
    case 4: {
      // minimize: ties take rhs
      const num = leaf === 3 ? 'lv > rv' : 'lv < rv';
      const str = leaf === 3 ? 'compareUtf8(lv, rv) > 0' : 'compareUtf8(lv, rv) < 0';
      return `const lv = lhs[${n}];
        if (typeof lv === 'number' && typeof rv === 'number') { const v = ${num} ? lv : rv; ${a.take('v', 'lv')} }
        if (typeof lv === 'string' && typeof rv === 'string') { const v = ${str} ? lv : rv; ${a.take('v', 'lv')} }
        ${a.otherwise}`;
    }
    default:
      return a.otherwise;
  }
}

/** The general merge's code for one known property: written in place (journaled); other cases fall through to mergeProp. */
function propertyCode(n: string, leaf: number): string {
  return leafCode(n, leaf, {
    take: (v, prev) =>
      `if (${v} !== lv) { if (own) host.journal(out, ${n}, ${prev}); out[${n}] = ${v}; } continue;`,
    otherwise: '',
    absent: '',
  });
}

/**
 * The same cases for the first pass of an owned merge (see compileOwnedMerge): the new value of a
 * property lhs has goes to the local `d`, and any other case (lhs lacks the property, operand types
 * the general loop handles) ends the pass with `return false`, nothing written.
 */
function deferredCode(n: string, leaf: number, d: string): string {
  return leafCode(n, leaf, {
    take: (v) => `if (${v} !== lv) ${d} = ${v}; continue;`,
    otherwise: 'return false;',
    absent: 'if (lv === undefined) return false;',
  });
}

/** The properties of location `act` merged inline: each name as a JS string literal, and its Leaf. */
function inlineProperties(act: Active): { n: string; leaf: number }[] {
  const props: { n: string; leaf: number }[] = [];
  for (const name of act.knownNames()) {
    if (props.length === MAX_NAMES) break;
    // Names Object.prototype has read as inherited values (functions, `__proto__`): the general loop knows.
    if (name in Object.prototype) continue;
    const plan = act.propPlan(name);
    const leaf = plan.staticActive?.leaf ?? 0;
    if (leaf === 0) continue;
    // JSON.stringify makes a JS string literal of any name (JSON text is valid JS since ES2019).
    props.push({ n: JSON.stringify(name), leaf });
  }
  return props;
}

/**
 * The object merge for location `act`, generated from the names it knows and their strategies.
 * `absent` is the reducer's journal marker for a property that did not exist.
 */
export function compileObjectMerge(act: Active, absent: symbol): ObjectMerge {
  const cases = inlineProperties(act).map(({ n, leaf }) => `if (k === ${n}) { ${propertyCode(n, leaf)} }`);
  if (cases.length === 0) return generic;
  const body = `"use strict";
    return function compiledMerge(host, act, lhs, out, rhs, full, own) {
      for (const k in rhs) {
        const rv = rhs[k];
        ${cases.join(' else ')}
        host.mergeProp(act, lhs, out, k, rv, full, own);
      }
    };`;
  // Generated from property names quoted by JSON.stringify and fixed code: nothing else is spliced in.
  const factory = new Function('ABSENT', 'compareUtf8', body) as (
    absent: symbol,
    cmp: typeof compareUtf8,
  ) => ObjectMerge;
  return factory(absent, compareUtf8);
}

/**
 * The fast path of an owned merge at location `act` (lhs updated in place): the usual case, where
 * every property of rhs is one the location merges inline and lhs has it already. One pass computes
 * each new value into a local and gives up (returning false, nothing changed) at the first property
 * that is not such a case; then the changed values are written. Nothing is journaled, since nothing
 * can fail once writing starts, and since lhs has every property written, writing them in the
 * schema's order leaves lhs's key order as it was, as the general loop does. The results are the
 * general loop's (compileObjectMerge): the same inline cases, in the same conditions.
 * Undefined when the location merges nothing inline.
 */
export function compileOwnedMerge(act: Active): OwnedMerge | undefined {
  const props = inlineProperties(act);
  if (props.length === 0) return undefined;
  const cases = props.map(({ n, leaf }, i) => `if (k === ${n}) { ${deferredCode(n, leaf, `d${i}`)} }`);
  const locals = props.map((_, i) => `d${i} = NONE`).join(', ');
  const writes = props.map(({ n }, i) => `if (d${i} !== NONE) lhs[${n}] = d${i};`);
  const body = `"use strict";
    const NONE = Symbol('none');
    return function ownedMerge(lhs, rhs) {
      let ${locals};
      for (const k in rhs) {
        const rv = rhs[k];
        ${cases.join(' else ')}
        return false;
      }
      ${writes.join('\n      ')}
      return true;
    };`;
  // Generated from property names quoted by JSON.stringify and fixed code: nothing else is spliced in.
  const factory = new Function('compareUtf8', body) as (cmp: typeof compareUtf8) => OwnedMerge;
  return factory(compareUtf8);
}
