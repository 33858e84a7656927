import { SluiceError } from '../errors.ts';
import type { Json } from '../json/types.ts';

export type ReduceErrorCode =
  | 'SumWrongType'
  | 'BigSumWrongType'
  | 'SumNumericOverflow'
  | 'AppendWrongType'
  | 'MergeWrongType'
  | 'SetWrongType'
  | 'ConflictingStrategies'
  | 'NotAssociative'
  | 'JsonSchemaMergeWrongType';

const MESSAGES: Record<ReduceErrorCode, string> = {
  SumWrongType: "'sum' strategy expects numbers or numeric strings",
  BigSumWrongType: "'bigSum' strategy expects numbers or numeric strings",
  SumNumericOverflow:
    "'sum' resulted in numeric overflow (past int64/uint64, past a double, or an integer a double would round, past ±9007199254740991; strings with `format: integer` sum exactly at any size)",
  AppendWrongType: "'append' strategy expects arrays",
  MergeWrongType: "'merge' strategy expects objects or arrays",
  SetWrongType:
    "'set' strategy expects objects having only 'add', 'remove' and 'intersect' properties (not both 'remove' and 'intersect') with consistent object or array types",
  ConflictingStrategies: 'the document activates different reduce strategies at one location',
  NotAssociative: 'these documents cannot be combined associatively',
  JsonSchemaMergeWrongType: "'jsonSchemaMerge' strategy expects objects containing JSON schemas",
};

function show(v: Json | undefined): string {
  if (v === undefined) return '(none)';
  const s = JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

/** A reduction failed. `location` is the JSON pointer of the failing location in the document. */
export class ReduceError extends SluiceError {
  constructor(
    readonly code: ReduceErrorCode,
    readonly location: string,
    readonly lhs?: Json,
    readonly rhs?: Json,
    readonly detail?: string,
  ) {
    super(
      `${MESSAGES[code]}${detail ? ` (${detail})` : ''} at ${location === '' ? '(document root)' : JSON.stringify(location)}; lhs: ${show(lhs)}, rhs: ${show(rhs)}`,
    );
    this.name = code === 'NotAssociative' ? 'NotAssociativeError' : 'ReduceError';
  }
}

/**
 * A partial reduction cannot combine this pair associatively (merge onto a different type,
 * `lastWriteWins {associative: false}` with unequal values). Not a user error: the combiner keeps
 * both documents, in order, and reduces them later in a full reduction.
 */
export class NotAssociativeError extends ReduceError {
  constructor(location: string, lhs: Json | undefined, rhs: Json | undefined, detail?: string) {
    super('NotAssociative', location, lhs, rhs, detail);
  }
}
