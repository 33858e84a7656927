/**
 * One shard of `sluice combine` (cli/combine.ts): started ahead (cli/combine-threads.ts), it is
 * told what to combine, then receives blocks of the input and where the lines of its keys are in
 * them, in input order; it parses, validates and combines those with its own Combiner (and memory
 * budget, spilling like any combiner), then streams its fully reduced documents in key order, a
 * chunk per request.
 */
import { parentPort } from 'node:worker_threads';
import { CombineError, Combiner, type DrainedDoc } from '../shared/combine/index.ts';
import { packKeyBinary } from '../shared/keys/pack.ts';
import { SchemaRegistry } from '../shared/schema/registry.ts';
import { describe, LineFeeder } from './combine-feed.ts';
import {
  type FromWorker,
  type InputProblem,
  LineText,
  type ToWorker,
  type WorkerSetup,
} from './combine-input.ts';

const OUTPUT_CHUNK = 64 * 1024;
/** See `credit`. */
const OUTPUT_WINDOW = 8;
const port = parentPort!;
// Made at the setup message (the worker is started before the main thread knows the collection).
let combiner!: Combiner;
let feeder!: LineFeeder;
let progress!: Int32Array;

function setUp(setup: WorkerSetup): void {
  combiner = new Combiner({
    registry: new SchemaRegistry(setup.schemas),
    collection: setup.collection,
    memoryBudgetBytes: setup.memoryBudgetBytes,
    spillDir: setup.spillDir,
    // Each document is JSON.parse'd from its own line here and referenced nowhere else.
    ownsDocuments: true,
  });
  feeder = new LineFeeder(combiner);
}
const text = new LineText();
let problem: InputProblem | undefined;
let output: Iterator<{ packed: string; text: string } | { error: string; packed: string }> | undefined;

const send = (m: FromWorker) => port.postMessage(m);

function* drained(): Generator<{ packed: string; text: string } | { error: string; packed: string }> {
  const it = combiner.drainSync(true)[Symbol.iterator]();
  try {
    for (;;) {
      let r: IteratorResult<DrainedDoc>;
      try {
        r = it.next();
      } catch (e) {
        // At the failing key's place in the merged output, as a single combiner would fail there.
        const packed = e instanceof CombineError ? packKeyBinary(e.key) : '';
        yield { error: describe(e).join('\n'), packed };
        return;
      }
      if (r.done) return;
      if (r.value.deleted) continue;
      yield { packed: r.value.packedKey, text: JSON.stringify(r.value.doc) + '\n' };
    }
  } finally {
    it.return?.(); // a drain ended early removes its spill files
  }
}

/**
 * Output chunks the worker may send before the main thread has taken them: it sends them as soon as
 * it can (so that the main thread finds the next chunk waiting instead of asking for it and waiting
 * a round trip per chunk), and one more each time the main thread takes one (`more`), so at most
 * OUTPUT_WINDOW chunks wait per shard: the output is streamed, not held.
 */
let credit = 0;
/** The output's end (or its error) has been sent. */
let outputEnded = false;

function pump(): void {
  while (credit > 0 && output !== undefined && !outputEnded) {
    credit--;
    sendChunk();
  }
}

function sendChunk(): void {
  const keys: string[] = [];
  const texts: string[] = [];
  let size = 0;
  while (size < OUTPUT_CHUNK) {
    const r = output!.next();
    if (r.done) break;
    const v = r.value;
    if ('error' in v) {
      if (keys.length > 0) send({ t: 'out', keys, texts });
      send({ t: 'drainError', key: v.packed, message: v.error });
      outputEnded = true;
      return;
    }
    keys.push(v.packed);
    texts.push(v.text);
    size += v.text.length;
  }
  if (keys.length > 0) send({ t: 'out', keys, texts });
  if (size < OUTPUT_CHUNK) {
    send({ t: 'outEnd' });
    outputEnded = true;
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'setup':
      setUp(m.setup);
      progress = new Int32Array(m.progress);
      return;
    case 'input': {
      if (problem === undefined) {
        const buf = Buffer.from(m.bytes, 0, m.length);
        const lines = m.lines;
        for (let i = 0; i < lines.length; i += 3) {
          problem = feeder.line(
            text.of(buf, lines[i], lines[i + 1], m.ascii),
            lines[i + 2],
            text.invalidUtf8,
          );
          if (problem !== undefined) {
            send({ t: 'problem', problem });
            break;
          }
        }
      }
      // Processed (or skipped after a problem): the main thread may reuse the block; it waits for
      // the count it set.
      if (Atomics.add(progress, 0, 1) + 1 >= Atomics.load(progress, 1)) Atomics.notify(progress, 0);
      return;
    }
    case 'end': {
      if (problem !== undefined) return;
      problem = feeder.flush();
      if (problem !== undefined) {
        send({ t: 'problem', problem });
        return;
      }
      send({ t: 'ok' });
      if (m.drain) {
        output = drained();
        credit = OUTPUT_WINDOW;
        pump();
      } else combiner.discard();
      return;
    }
    case 'more':
      credit++;
      pump();
      return;
    case 'close':
      // Ending a drain early runs its cleanup (spill files); discard drops anything not drained.
      output?.return?.(undefined);
      combiner.discard();
      send({ t: 'closed' });
      return;
  }
});
