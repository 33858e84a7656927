/**
 * The `reduce` schema annotation: its JSON shape (registered as an ajv keyword, so a malformed
 * annotation fails schema compilation) and its parsed, closed form used by the reducer.
 */

import { didYouMean } from '../catalog/diagnostics.ts';
import { parsePointer } from '../json/pointer.ts';
import { isObject, type Json } from '../json/types.ts';
import { SchemaError } from './errors.ts';

/**
 * Estuary's strategies. `bigSum` is in Estuary's reference docs (reduction-strategies/big-sum.md) though
 * its pull request was not merged (estuary/flow #1476; `sum` got string-encoded numbers instead,
 * #1477): catalogs written from the docs use it, so it is accepted and does what the page says.
 */
export const REDUCE_STRATEGIES = [
  'append',
  'firstWriteWins',
  'lastWriteWins',
  'merge',
  'minimize',
  'maximize',
  'set',
  'sum',
  'bigSum',
  'jsonSchemaMerge',
] as const;
export type StrategyName = (typeof REDUCE_STRATEGIES)[number];

/**
 * A parsed `reduce` annotation. Each variant's comment is its contract (see reductions.md).
 * `key` pointers are kept both as written and as parsed tokens.
 */
export type Strategy =
  /** lhs array followed by rhs items; no lhs: rhs; lhs null stays null. rhs not an array: AppendWrongType. */
  | { readonly strategy: 'append' }
  /** Keep lhs (rhs when there is no lhs). */
  | { readonly strategy: 'firstWriteWins' }
  /** Take rhs. `delete`: full reductions remove the location. `associative: false`: unequal values are NotAssociative in partial reductions. */
  | { readonly strategy: 'lastWriteWins'; readonly delete: boolean; readonly associative: boolean }
  /** Deep merge of objects, index merge of arrays, or keyed sorted merge of arrays when `key` is set. `delete` as for lastWriteWins. */
  | {
      readonly strategy: 'merge';
      readonly key: readonly string[];
      readonly keyTokens: readonly (readonly string[])[];
      readonly delete: boolean;
    }
  /** Keep the smaller (by `key`, else by value; ties take rhs, or deep-merge with a key). */
  | {
      readonly strategy: 'minimize';
      readonly key: readonly string[];
      readonly keyTokens: readonly (readonly string[])[];
    }
  /** Keep the larger (by `key`, else by value; ties take rhs, or deep-merge with a key). */
  | {
      readonly strategy: 'maximize';
      readonly key: readonly string[];
      readonly keyTokens: readonly (readonly string[])[];
    }
  /** add/intersect/remove set algebra over object properties or key-sorted array items. */
  | {
      readonly strategy: 'set';
      readonly key: readonly string[];
      readonly keyTokens: readonly (readonly string[])[];
    }
  /** Add numbers (exact int64/uint64 integers, doubles) or numeric strings (arbitrary-precision decimals). */
  | { readonly strategy: 'sum' }
  /** Union of two JSON schemas. */
  | { readonly strategy: 'jsonSchemaMerge' }
  | { readonly strategy: 'bigSum' };

const KEY = { type: 'array', items: { type: 'string', pattern: '^(/.*)?$' } };

/** JSON Schema of the annotation's value, given to ajv as the keyword's metaSchema. */
export const REDUCE_META_SCHEMA = {
  type: 'object',
  required: ['strategy'],
  properties: { strategy: { enum: [...REDUCE_STRATEGIES] } },
  allOf: [
    {
      if: { properties: { strategy: { const: 'lastWriteWins' } } },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
      then: {
        properties: { strategy: true, delete: { type: 'boolean' }, associative: { type: 'boolean' } },
        additionalProperties: false,
      },
    },
    {
      if: { properties: { strategy: { const: 'merge' } } },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
      then: {
        properties: { strategy: true, key: KEY, delete: { type: 'boolean' } },
        additionalProperties: false,
      },
    },
    {
      if: { properties: { strategy: { enum: ['minimize', 'maximize', 'set'] } } },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
      then: { properties: { strategy: true, key: KEY }, additionalProperties: false },
    },
    {
      if: {
        properties: { strategy: { enum: ['append', 'firstWriteWins', 'sum', 'bigSum', 'jsonSchemaMerge'] } },
      },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
      then: { properties: { strategy: true }, additionalProperties: false },
    },
  ],
} as const;

const ALLOWED_OPTIONS: Record<StrategyName, readonly string[]> = {
  append: [],
  firstWriteWins: [],
  lastWriteWins: ['delete', 'associative'],
  merge: ['key', 'delete'],
  minimize: ['key'],
  maximize: ['key'],
  set: ['key'],
  sum: [],
  bigSum: [],
  jsonSchemaMerge: [],
};

/**
 * Parse and check an annotation value. `uri` locates the subschema for the error, which points at the
 * `reduce` keyword or the property of it that is wrong (`…#/properties/amount/reduce/strategy`).
 */
export function parseReduceAnnotation(value: Json, uri: string): Strategy {
  const fail = (detail: string, property?: string): never => {
    const at = `${uri}${uri.includes('#') ? '' : '#'}/reduce${property === undefined ? '' : `/${property}`}`;
    throw new SchemaError(
      'InvalidReduceAnnotation',
      at,
      `invalid reduce annotation ${JSON.stringify(value)}: ${detail}`,
    );
  };
  if (!isObject(value)) return fail('must be an object like {"strategy": "merge"}');
  const name = value.strategy;
  if (typeof name !== 'string' || !(REDUCE_STRATEGIES as readonly string[]).includes(name)) {
    const allowed = `must be one of ${REDUCE_STRATEGIES.join(', ')}`;
    if (name === undefined) {
      const typo = Object.keys(value).find((k) => k !== 'strategy' && didYouMean(k, ['strategy']));
      return fail(
        `it has no "strategy"${typo ? ` (did you mean "strategy" for "${typo}"?)` : ''}; "strategy" ${allowed}`,
        typo,
      );
    }
    const close = typeof name === 'string' ? didYouMean(name, REDUCE_STRATEGIES) : undefined;
    return fail(
      `"strategy" is ${JSON.stringify(name)}; it ${allowed}${close ? ` (did you mean "${close}"?)` : ''}`,
      'strategy',
    );
  }
  const strategy = name as StrategyName;
  for (const opt of Object.keys(value)) {
    if (opt !== 'strategy' && !ALLOWED_OPTIONS[strategy].includes(opt)) {
      const allowed = ALLOWED_OPTIONS[strategy];
      fail(
        `"${opt}" is not an option of ${strategy}${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`,
        opt,
      );
    }
  }
  const bool = (opt: string, dflt: boolean): boolean => {
    const v = value[opt];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') fail(`"${opt}" must be a boolean, found ${JSON.stringify(v)}`, opt);
    return v as boolean;
  };
  const key = (): { key: string[]; keyTokens: string[][] } => {
    const v = value.key;
    if (v === undefined) return { key: [], keyTokens: [] };
    if (!Array.isArray(v) || !v.every((p) => typeof p === 'string'))
      return fail('"key" must be an array of JSON pointers', 'key');
    const ptrs = v as string[];
    const keyTokens = ptrs.map((p) => {
      try {
        return parsePointer(p);
      } catch (e) {
        return fail(`"key" ${(e as Error).message}`, 'key');
      }
    });
    return { key: ptrs, keyTokens };
  };
  switch (strategy) {
    case 'append':
    case 'firstWriteWins':
    case 'sum':
    case 'bigSum':
    case 'jsonSchemaMerge':
      return { strategy };
    case 'lastWriteWins':
      return { strategy, delete: bool('delete', false), associative: bool('associative', true) };
    case 'merge':
      return { strategy, ...key(), delete: bool('delete', false) };
    case 'minimize':
    case 'maximize':
    case 'set':
      return { strategy, ...key() };
  }
}
