/** Problems with schemas themselves (as opposed to documents that violate them). */
import { SluiceError } from '../errors.ts';
export type SchemaErrorCode =
  | 'InvalidSchema'
  | 'UnknownSchema'
  | 'UnsupportedDraft'
  | 'UnresolvedRef'
  | 'InvalidReduceAnnotation';

export class SchemaError extends SluiceError {
  constructor(
    readonly code: SchemaErrorCode,
    /** URI of the schema (with a `#/pointer` fragment for the exact subschema when known). */
    readonly uri: string,
    detail: string,
  ) {
    super(`${uri}: ${detail}`);
    this.name = 'SchemaError';
  }
}
