/**
 * What `sluice combine` does with input lines, shared by the single-threaded path and each worker of
 * the sharded one (cli/combine-worker.ts): parse each line, add documents to a Combiner in batches,
 * and report the earliest bad line exactly as `stdin:LINE: /pointer: message`.
 */
import { CombineError, type Combiner } from '../shared/combine/index.ts';
import type { Json } from '../shared/json/types.ts';
import { describeViolation, SchemaValidationError } from '../shared/schema/registry.ts';
import type { InputProblem } from './combine-input.ts';

/** Documents parsed before they are added (see Combiner.addMany). */
const BATCH = 256;

/** Messages for one bad input document: `/pointer: message`, one per problem. */
export function describe(e: unknown): string[] {
  if (e instanceof SchemaValidationError) {
    return e.violations.map(
      (v) =>
        `${describeViolation(v).replace(/^\(root\):/, '/:')} (keyword "${v.keyword}", schema ${v.schemaPath})`,
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

/**
 * Lines in, documents added to `combiner` in batches (addMany is faster than add per line); on any
 * error the earliest bad line is the one reported, as if lines were added one by one.
 */
export class LineFeeder {
  private readonly batch: Json[] = [];
  private readonly batchLines: number[] = [];
  private lastLine = 0;

  constructor(private readonly combiner: Combiner) {}

  /** Adds line number `lineNo`; a problem (this line's or an earlier batched one's) ends the input. */
  line(text: string, lineNo: number): InputProblem | undefined {
    this.lastLine = lineNo;
    if (text.trim() === '') return undefined;
    let doc: Json;
    try {
      doc = JSON.parse(text) as Json;
    } catch (e) {
      return (
        this.flush() ?? { line: lineNo, message: `stdin:${lineNo}: invalid JSON: ${(e as Error).message}` }
      );
    }
    this.batch.push(doc);
    this.batchLines.push(lineNo);
    return this.batch.length === BATCH ? this.flush() : undefined;
  }

  /** Adds what is batched (call at the end of the input). */
  flush(): InputProblem | undefined {
    const combiner = this.combiner;
    const first = combiner.stats().docsIn;
    try {
      combiner.addMany(this.batch);
    } catch (e) {
      const index =
        e instanceof SchemaValidationError || e instanceof CombineError ? e.documentIndex : undefined;
      const line = index === undefined ? undefined : this.batchLines[index - first];
      const where = line === undefined ? 'sluice combine' : `stdin:${line}`;
      return {
        line: line ?? this.lastLine,
        message: describe(e)
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
