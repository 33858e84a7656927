/**
 * `sluice combine [catalog] --collection <name> [--memory <MiB>]`, like Estuary's `flowctl raw combine`:
 * JSON lines on stdin, fully reduced documents (one per key, deleted keys omitted) in key order on
 * stdout. Streams: memory stays within the budget whatever the input size (sorted runs spill to the
 * OS temp dir, or `$SLUICE_SPILL_DIR`).
 *
 * Exit status: 0 done; 1 a bad input line (not UTF-8, invalid JSON, schema violation, a key that cannot be encoded, reduction error), reported
 * on stderr as `stdin:LINE: /pointer: message`; 2 bad usage, an invalid catalog or an unknown collection.
 */
import type { Readable, Writable } from 'node:stream';
import { didYouMeanHint, formatDiagnostics, hasErrors } from '../shared/catalog/diagnostics.ts';
import { loadCatalog } from '../shared/catalog/load.ts';
import { parsePointer } from '../shared/json/pointer.ts';
import { InputReader, isBrokenPipe, LineText, readLines, write } from './combine-input.ts';
import { combineSharded } from './combine-sharded.ts';
import { type StartedWorker, startWorkers, threadCount } from './combine-threads.ts';

export interface CombineOptions {
  collection: string;
  /** Memory budget in MiB (a positive number). */
  memory: string;
}

export interface CombineIo {
  /**
   * The input; undefined: stdin's file descriptor, read directly (see InputReader). Not
   * process.stdin by default: making that stream of a pipe turns the descriptor non-blocking.
   */
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
}

const OUTPUT_CHUNK = 64 * 1024;

/**
 * `early`: shard workers already started (cli/main.ts starts them before loading this module, see
 * cli/combine-threads.ts); otherwise they are started here when sharding.
 */
export async function runCombine(
  catalogPath: string,
  opts: CombineOptions,
  io: CombineIo = { stdout: process.stdout, stderr: process.stderr },
  early?: StartedWorker[],
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

  const memoryBudgetBytes = mib * 1024 * 1024;
  const spillDir = process.env.SLUICE_SPILL_DIR || undefined;
  // Sharded by key over worker threads when the key is one top-level property (which the input can
  // be routed by without parsing it, see shared/combine/route.ts) and there is more than one core.
  const tokens = collection.key.length === 1 ? parsePointer(collection.key[0]) : [];
  const threads = early?.length ?? threadCount();
  if (threads > 1 && tokens.length === 1) {
    const workers = early ?? startWorkers(threads);
    return combineSharded(
      io,
      {
        property: tokens[0],
        setup: {
          schemas: catalog.schemas,
          collection,
          memoryBudgetBytes: memoryBudgetBytes / threads,
          spillDir,
        },
      },
      workers,
    );
  }
  // Not sharded after all (a composite or nested key): workers started early are not needed.
  for (const w of early ?? []) void w.worker.terminate();

  // Loaded only here: the sharded path's main thread neither parses nor combines.
  const [{ Combiner }, { SchemaRegistry }, { LineFeeder, describe }] = await Promise.all([
    import('../shared/combine/index.ts'),
    import('../shared/schema/registry.ts'),
    import('./combine-feed.ts'),
  ]);
  const combiner = new Combiner({
    registry: new SchemaRegistry(catalog.schemas),
    collection,
    memoryBudgetBytes,
    spillDir,
    // Each document is JSON.parse'd from its own line below and referenced nowhere else.
    ownsDocuments: true,
  });
  const feeder = new LineFeeder(combiner);
  const fail = (message: string): number => {
    err(message);
    combiner.discard();
    return 1;
  };

  let lineNo = 0;
  let problem: ReturnType<typeof feeder.line>;
  const text = new LineText();
  await readLines(
    new InputReader(io.stdin),
    (buf, start, end) => {
      problem ??= feeder.line(text.of(buf, start, end), ++lineNo, text.invalidUtf8);
    },
    () => problem !== undefined,
  );
  problem ??= feeder.flush();
  if (problem !== undefined) return fail(problem.message);

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
