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

/** Annotation keywords found in real-world Estuary/Airbyte schemas: accepted, ignored. */
export const ANNOTATION_KEYWORDS = [
  'secret',
  'airbyte_secret',
  'airbyte_hidden',
  'order',
  'advanced',
  'multiline',
  'discriminator',
  'x-collection-name',
  'x-infer-schema',
  'x-schema-name',
  'always_show',
  'group',
];

/**
 * Every keyword of drafts 07, 2019-09 and 2020-12, with `reduce`, `redact` and the annotations above:
 * a keyword not here that is close to one of them is a misspelling (shared/catalog/schema-keywords.ts).
 */
export const KNOWN_SCHEMA_KEYWORDS: ReadonlySet<string> = new Set([
  ...SINGLE_SCHEMA_KEYWORDS,
  ...MAP_SCHEMA_KEYWORDS,
  ...ARRAY_SCHEMA_KEYWORDS,
  'items',
  'dependencies',
  '$schema',
  '$id',
  '$ref',
  '$anchor',
  '$dynamicRef',
  '$dynamicAnchor',
  '$recursiveRef',
  '$recursiveAnchor',
  '$vocabulary',
  '$comment',
  'type',
  'enum',
  'const',
  'multipleOf',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'maxContains',
  'minContains',
  'maxProperties',
  'minProperties',
  'required',
  'dependentRequired',
  'format',
  'contentEncoding',
  'contentMediaType',
  'title',
  'description',
  'default',
  'deprecated',
  'readOnly',
  'writeOnly',
  'examples',
  'reduce',
  'redact',
  ...ANNOTATION_KEYWORDS,
]);
