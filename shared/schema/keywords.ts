/** Which JSON Schema keywords hold subschemas (draft 2020-12 vocabulary, plus older spellings). */

/** Keywords whose value is one subschema. */
export const SINGLE_SCHEMA_KEYWORDS: ReadonlySet<string> = new Set([
  'additionalProperties',
  'additionalItems',
  'contains',
  'propertyNames',
  'not',
  'if',
  'then',
  'else',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contentSchema',
]);

/** Keywords whose value maps names to subschemas. */
export const MAP_SCHEMA_KEYWORDS: ReadonlySet<string> = new Set([
  'properties',
  'patternProperties',
  '$defs',
  'definitions',
  'dependentSchemas',
]);

/** Keywords whose value is an array of subschemas. */
export const ARRAY_SCHEMA_KEYWORDS: ReadonlySet<string> = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);

export const DRAFT_2020_12 = 'https://json-schema.org/draft/2020-12/schema';

/** `$schema` values accepted, normalized to 2020-12 (see normalize.ts). */
export const SUPPORTED_DRAFTS: ReadonlySet<string> = new Set([
  'https://json-schema.org/draft/2020-12/schema',
  'http://json-schema.org/draft/2020-12/schema',
  'https://json-schema.org/draft/2019-09/schema',
  'http://json-schema.org/draft/2019-09/schema',
  'http://json-schema.org/draft-07/schema',
  'https://json-schema.org/draft-07/schema',
  'http://json-schema.org/draft-06/schema',
  'https://json-schema.org/draft-06/schema',
]);
