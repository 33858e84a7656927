/**
 * `sluice combine [catalog] --collection <name> [--memory <MiB>]`, like Estuary's `flowctl raw combine`:
 * JSON lines on stdin, fully reduced documents (one per key, deleted keys omitted) in key order on
 * stdout. Streams: memory stays within the budget whatever the input size (sorted runs spill to the
 * OS temp dir, or `$SLUICE_SPILL_DIR`).
 *
 * Exit status: 0 done; 1 a bad input line (invalid JSON, schema violation, reduction error), reported
 * on stderr as `stdin:LINE: /pointer: message`; 2 bad usage, an invalid catalog or an unknown collection.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { didYouMeanHint, formatDiagnostics, hasErrors } from '../shared/catalog/diagnostics.ts';
import { loadCatalog } from '../shared/catalog/load.ts';
import { CombineError, Combiner } from '../shared/combine/index.ts';
import type { Json } from '../shared/json/types.ts';
import { SchemaRegistry, SchemaValidationError } from '../shared/schema/registry.ts';

export interface CombineOptions {
  collection: string;
  /** Memory budget in MiB (a positive number). */
  memory: string;
}

export interface CombineIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

const OUTPUT_CHUNK = 64 * 1024;
/** Documents parsed before they are added (see Combiner.addMany). */
const BATCH = 256;

/** Writes and waits until the chunk is handed to the OS (backpressure); rejects on a write error. */
function write(stream: Writable, chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

const isBrokenPipe = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';

/** Messages for one bad input document: `/pointer: message`, one per problem. */
function describe(e: unknown): string[] {
  if (e instanceof SchemaValidationError) {
    return e.violations.map(
      (v) => `${v.instancePath || '/'}: ${v.message} (keyword "${v.keyword}", schema ${v.schemaPath})`,
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

export async function runCombine(
  catalogPath: string,
  opts: CombineOptions,
  io: CombineIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const err = (line: string) => io.stderr.write(`${line}\n`);

  const mib = Number(opts.memory);
  if (!Number.isFinite(mib) || mib <= 0) {
    err(`--memory must be a positive number of MiB, got "${opts.memory}"`);
    return 2;
  }

  const { catalog, diagnostics } = await loadCatalog(catalogPath);
  if (diagnostics.length > 0) err(formatDiagnostics(diagnostics));
  if (catalog === undefined || hasErrors(diagnostics)) return 2;

  const collection = catalog.collections[opts.collection];
  if (collection === undefined) {
    const names = Object.keys(catalog.collections);
    const hint = didYouMeanHint(opts.collection, names);
    err(
      `unknown collection "${opts.collection}" in ${catalogPath}` +
        (hint
          ? `: ${hint}`
          : names.length > 0
            ? `; collections: ${names.join(', ')}`
            : ': it has no collections'),
    );
    return 2;
  }

  const combiner = new Combiner({
    registry: new SchemaRegistry(catalog.schemas),
    collection,
    memoryBudgetBytes: mib * 1024 * 1024,
    spillDir: process.env.SLUICE_SPILL_DIR || undefined,
    // Each document is JSON.parse'd from its own line below and referenced nowhere else.
    ownsDocuments: true,
  });

  // Lines are parsed and added in batches (Combiner.addMany is faster than add per line); on any
  // error the earliest bad line is the one reported, as if lines were added one by one.
  const batch: Json[] = [];
  const batchLines: number[] = [];
  const flush = (): string | undefined => {
    const first = combiner.stats().docsIn;
    try {
      combiner.addMany(batch);
    } catch (e) {
      const index =
        e instanceof SchemaValidationError || e instanceof CombineError ? e.documentIndex : undefined;
      const where = index === undefined ? 'sluice combine' : `stdin:${batchLines[index - first]}`;
      return describe(e)
        .map((m) => `${where}: ${m}`)
        .join('\n');
    } finally {
      batch.length = 0;
      batchLines.length = 0;
    }
    return undefined;
  };
  const fail = (message: string): number => {
    err(message);
    combiner.discard();
    return 1;
  };

  const lines = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      let doc: Json;
      try {
        doc = JSON.parse(line) as Json;
      } catch (e) {
        return fail(flush() ?? `stdin:${lineNo}: invalid JSON: ${(e as Error).message}`);
      }
      batch.push(doc);
      batchLines.push(lineNo);
      if (batch.length === BATCH) {
        const problem = flush();
        if (problem !== undefined) return fail(problem);
      }
    }
  } finally {
    lines.close();
  }
  const problem = flush();
  if (problem !== undefined) return fail(problem);

  // A reader that goes away (`| head`) ends the output quietly; errors come through write().
  io.stdout.on('error', () => {});
  let out = '';
  try {
    for (const { doc, deleted } of combiner.drainSync(true)) {
      if (deleted) continue;
      out += JSON.stringify(doc) + '\n';
      if (out.length >= OUTPUT_CHUNK) {
        await write(io.stdout, out);
        out = '';
      }
    }
    if (out.length > 0) await write(io.stdout, out);
  } catch (e) {
    if (isBrokenPipe(e)) return 0;
    for (const m of describe(e)) err(`sluice combine: while draining: ${m}`);
    return 1;
  }
  return 0;
}
