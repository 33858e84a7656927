/**
 * What the catalog checks need to know about collection schemas. The loader asks these questions
 * through this small interface; shared/schema answers them (see `defaultSchemaIndex`).
 */
import type { Json } from '../json/types.ts';

export type Existence = 'must' | 'may' | 'cannot';

/** What a schema says about one document location. */
export interface LocationShape {
  /** `must`: present in every valid document; `may`: possibly; `cannot`: never. */
  exists: Existence;
  /** JSON types the location may hold (`string`, `integer`, `number`, `boolean`, `null`, `object`, `array`). */
  types: Set<string>;
  reduce?: { strategy: string };
  format?: string;
  /**
   * The schema says nothing about the location: some property on the way is not declared (`properties`)
   * and is not constrained by `additionalProperties`/`patternProperties` either. Estuary's
   * `Exists::Implicit` (crates/validation/src/schema.rs: `PtrIsImplicit`, "location is unknown in schema").
   */
  implicit?: boolean;
}

/** A `reduce` annotation of a schema, at a document location. */
export interface ReduceAnnotation {
  pointer: string;
  strategy: string;
  types: Set<string>;
  format?: string;
  /** URI of the subschema carrying the annotation (`<document URI>#/json/pointer`), when known. */
  schemaUri?: string;
}

export interface SchemaIndex {
  /** May throw when the schema cannot be compiled. */
  shapeAt(uri: string, pointer: string): LocationShape;
  /** May throw when the schema cannot be compiled. */
  reduceAnnotations(uri: string): ReduceAnnotation[];
  /**
   * Pointers of the document locations the schema declares (`properties`, recursively; not array items
   * or pattern properties), as Estuary's `Shape::locations` lists them for canonical projections.
   * Bounded for recursive schemas: `complete` is false when the list stopped short. May throw.
   */
  locations(uri: string): { pointers: string[]; complete: boolean };
  /** Compiles the validator of the schema at `uri`; throws when it cannot be compiled. */
  compile(uri: string): void;
  /** Readable validation errors of `doc` against the schema at `uri`; empty when it is valid. May throw. */
  validate(uri: string, doc: Json): string[];
}

export type SchemaIndexFactory = (schemas: Record<string, Json>) => SchemaIndex;
