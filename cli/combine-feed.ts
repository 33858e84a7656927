/**
 * What `sluice combine` does with input lines, shared by the single-threaded path and each worker of
 * the sharded one (cli/combine-worker.ts): parse each line, add documents to a Combiner in batches,
 * and report the earliest bad line exactly as `stdin:LINE: /pointer: message`.
 */

import { CombineError, type Combiner } from '../shared/combine/index.ts';
import {
  type InexactNumber,
  inexactNumberIn,
  inexactNumberMessage,
  mayBeRounded,
  overflowingNumberIn,
} from '../shared/json/exact-integers.ts';
import { getAt, parsePointer } from '../shared/json/pointer.ts';
import { jsonSyntaxError } from '../shared/json/syntax.ts';
import { isObject, type Json } from '../shared/json/types.ts';
import { KeyEncodeError } from '../shared/keys/pack.ts';
import { describeViolation, SchemaValidationError } from '../shared/schema/registry.ts';
import type { InputProblem } from './combine-input.ts';

/** Documents parsed before they are added (see Combiner.addMany). */
const BATCH = 256;

/** Messages for one bad input document: `/pointer: message`, one per problem. */
export function describe(e: unknown): string[] {
  if (e instanceof SchemaValidationError) {
    return e.violations.map(
      // The user's own input, reported to them on stderr: its values may be quoted.
      (v) =>
        `${describeViolation(v, { values: true }).replace(/^\(root\):/, '/:')} (keyword "${v.keyword}", schema ${v.schemaPath})`,
    );
  }
  if (e instanceof CombineError) {
    return [`${e.cause.location || '/'}: ${e.cause.code}: ${e.cause.message} (key ${JSON.stringify(e.key)})`];
  }
  // Spill files (SpillFileError, or the OS: ENOSPC, EACCES...): report them, don't crash.
  const code = (e as { code?: unknown } | undefined)?.code;
  if (e instanceof Error && typeof code === 'string') {
    return [e.message.startsWith(code) ? e.message : `${code}: ${e.message}`];
  }
  throw e;
}

/** Why `text` is not JSON and at which column (V8's message often says neither: "Unexpected token ..."). */
function invalidJson(text: string, e: unknown): string {
  const problem = jsonSyntaxError(text);
  if (problem === undefined) return (e as Error).message;
  return `${problem.message.replace(/^not valid JSON: /, '')} (column ${problem.col})`;
}

/** `/id: a key must be a finite number, found Infinity (a number too large for a double?)` */
function describeKeyError(e: KeyEncodeError, key: readonly string[]): string {
  const at = key[e.index] ?? `key element ${e.index}`;
  const found = typeof e.value === 'number' ? String(e.value) : typeof e.value;
  const hint =
    e.value === Number.POSITIVE_INFINITY || e.value === Number.NEGATIVE_INFINITY
      ? ' (a number too large for a 64-bit float, like 1e400)'
      : '';
  return `${at}: ${e.code}: key values must be finite numbers, strings or booleans, found ${found}${hint}`;
}

/**
 * Lines in, documents added to `combiner` in batches (addMany is faster than add per line); on any
 * error the earliest bad line is the one reported, as if lines were added one by one.
 */
export class LineFeeder {
  private readonly batch: Json[] = [];
  private readonly batchLines: number[] = [];
  private lastLine = 0;

  /** The collection key's locations, to find a key JSON.parse rounded. */
  private readonly keyTokens: string[][];

  constructor(private readonly combiner: Combiner) {
    this.keyTokens = combiner.collection.key.map((p) => parsePointer(p));
  }

  /**
   * Adds line number `lineNo` (`invalidUtf8`: its bytes were not UTF-8, see LineText); a problem (this
   * line's or an earlier batched one's) ends the input.
   */
  line(text: string, lineNo: number, invalidUtf8 = false): InputProblem | undefined {
    this.lastLine = lineNo;
    if (invalidUtf8) {
      const column = text.indexOf('\uFFFD') + 1;
      return (
        this.flush() ?? {
          line: lineNo,
          message: `stdin:${lineNo}: not UTF-8: the bytes at column ${column} are not a UTF-8 character; the input must be JSON lines in UTF-8`,
        }
      );
    }
    if (text.trim() === '') return undefined;
    let doc: Json;
    try {
      doc = JSON.parse(text) as Json;
    } catch (e) {
      return (
        this.flush() ?? { line: lineNo, message: `stdin:${lineNo}: invalid JSON: ${invalidJson(text, e)}` }
      );
    }
    // A number beyond a double parses as Infinity, which would pass `type: number` and come out as null.
    const overflowing = overflowingNumberIn(text);
    if (overflowing) return this.inexact(lineNo, overflowing);
    // Two keys JSON.parse rounds alike would be combined as one (exact-integers.ts). Only keys are
    // checked: one lookup per document, where a look at every number would cost a third of a parse.
    for (const tokens of this.keyTokens) {
      const v = tokens.length === 1 && isObject(doc) ? doc[tokens[0]] : getAt(doc, tokens);
      if (typeof v !== 'number' || !mayBeRounded(v)) continue;
      const rounded = inexactNumberIn(text);
      if (rounded) return this.inexact(lineNo, rounded);
    }
    this.batch.push(doc);
    this.batchLines.push(lineNo);
    return this.batch.length === BATCH ? this.flush() : undefined;
  }

  /** Line `lineNo` refused for a number JSON.parse rounds or overflows (after what is batched). */
  private inexact(lineNo: number, found: InexactNumber): InputProblem | undefined {
    return (
      this.flush() ?? {
        line: lineNo,
        message: `stdin:${lineNo}: ${found.pointer}: ${inexactNumberMessage(found.literal, true)}`,
      }
    );
  }

  /** Adds what is batched (call at the end of the input). */
  flush(): InputProblem | undefined {
    const combiner = this.combiner;
    const first = combiner.stats().docsIn;
    try {
      combiner.addMany(this.batch);
    } catch (e) {
      let index =
        e instanceof SchemaValidationError || e instanceof CombineError ? e.documentIndex : undefined;
      // A key value that cannot be encoded (`1e400` parses as Infinity, which the schema's `integer`
      // lets through): it is the document being combined, as docsIn counts those combined before it.
      if (e instanceof KeyEncodeError) index = combiner.stats().docsIn;
      const line = index === undefined ? undefined : this.batchLines[index - first];
      const where = line === undefined ? 'sluice combine' : `stdin:${line}`;
      return {
        line: line ?? this.lastLine,
        message: (e instanceof KeyEncodeError ? [describeKeyError(e, combiner.collection.key)] : describe(e))
          .map((m) => `${where}: ${m}`)
          .join('\n'),
      };
    } finally {
      this.batch.length = 0;
      this.batchLines.length = 0;
    }
    return undefined;
  }
}
