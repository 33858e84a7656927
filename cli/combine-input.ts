/**
 * `sluice combine`'s input and output, shared by the single-threaded path, the sharded one's main
 * thread (cli/combine-sharded.ts) and its workers (cli/combine-worker.ts): reading stdin, splitting
 * it into lines, writing with backpressure, and the messages between the main thread and the
 * workers. Nothing here loads the combiner, the reducer or the schema registry, which the sharded
 * path's main thread does not use (cli/combine-feed.ts has what does).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { readSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { CollectionSpec } from '../shared/catalog/model.ts';
import type { Json } from '../shared/json/types.ts';

/** Writes and waits until the chunk is handed to the OS (backpressure); rejects on a write error. */
export function write(stream: Writable, chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

export const isBrokenPipe = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';

const LF = 0x0a;
const CR = 0x0d;

/**
 * Calls `onLine` for each complete line of `[from, end)`, with readline's line breaks (crlfDelay:
 * Infinity): '\n', '\r\n' and a lone '\r'; at `eof` a last line without a break counts. Returns
 * where the first unfinished line starts (`end` when none). `find(cr, at)`: the first CR (else LF)
 * at or after `at` and before `end`, or -1; `lfAt(i)`: whether position `i` holds LF. The same
 * rules over bytes (splitLines) and over latin1 text (splitLinesText).
 */
function eachLine(
  find: (cr: boolean, at: number) => number,
  lfAt: (i: number) => boolean,
  from: number,
  end: number,
  eof: boolean,
  onLine: (start: number, end: number) => void,
): number {
  let pos = from;
  let cr = find(true, pos);
  for (;;) {
    if (cr >= 0 && cr < pos) cr = find(true, pos);
    const lf = find(false, pos);
    if (cr >= 0 && (lf < 0 || cr < lf)) {
      if (cr + 1 === end && !eof) return pos; // '\r' last: a '\n' may follow
      onLine(pos, cr);
      pos = cr + 1 < end && lfAt(cr + 1) ? cr + 2 : cr + 1;
      continue;
    }
    if (lf < 0) break;
    onLine(pos, lf);
    pos = lf + 1;
  }
  if (eof && pos < end) {
    onLine(pos, end);
    pos = end;
  }
  return pos;
}

/** eachLine over `data`'s bytes; `onLine` gets the buffer with each line's bounds. No regular expression, no string. */
export function splitLines(
  data: Buffer,
  from: number,
  end: number,
  eof: boolean,
  onLine: (buf: Buffer, start: number, end: number) => void,
): number {
  return eachLine(
    (cr, at) => {
      // indexOf cannot stop at `end`: a break found past it counts as none.
      const i = data.indexOf(cr ? CR : LF, at);
      return i < end ? i : -1;
    },
    (i) => data[i] === LF,
    from,
    end,
    eof,
    (start, stop) => onLine(data, start, stop),
  );
}

/**
 * The input, read into the caller's buffers. By default stdin's file descriptor, read directly
 * (readSync: a pipe, a file or a terminal waits in the read): no stream, no Buffer per 64 KiB chunk
 * and no copy of it, ≈ 80 ms less CPU per 168 MB of input piped from another process than reading
 * process.stdin. That needs a descriptor in blocking mode, as a process's stdin is unless something
 * in the process made a stream of it (process.stdin does, for a pipe): a read that would block
 * (EAGAIN) switches to process.stdin for the rest. Given a stream, it reads that.
 */
export class InputReader {
  private stream: AsyncIterator<Buffer | string> | undefined;
  private chunk: Buffer | undefined;
  private pos = 0;

  /** `input`: a stream to read instead of stdin's descriptor. */
  constructor(input?: Readable | AsyncIterable<Buffer | string>) {
    if (input !== undefined) this.stream = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  }

  /**
   * Reads into `buf[at, buf.length)` (which must not be empty): the bytes read, at least one, or 0
   * at the end of the input; a Promise when it has to wait for a stream.
   */
  read(buf: Buffer, at: number): number | Promise<number> {
    if (this.stream === undefined) {
      try {
        return readSync(0, buf, at, buf.length - at, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EOF') return 0; // Windows: the end of a pipe
        if (code !== 'EAGAIN') throw e;
        this.stream = process.stdin[Symbol.asyncIterator]();
      }
    }
    if (this.chunk !== undefined && this.pos < this.chunk.length) return this.copy(buf, at);
    return this.next(buf, at);
  }

  private async next(buf: Buffer, at: number): Promise<number> {
    for (;;) {
      const r = await this.stream!.next();
      if (r.done === true) return 0;
      this.chunk = typeof r.value === 'string' ? Buffer.from(r.value, 'utf8') : r.value;
      this.pos = 0;
      if (this.chunk.length > 0) return this.copy(buf, at);
    }
  }

  private copy(buf: Buffer, at: number): number {
    const n = this.chunk!.copy(buf, at, this.pos);
    this.pos += n;
    return n;
  }

  /** Done reading, maybe before the end: a stream is released (destroyed), as leaving `for await` would. */
  close(): void {
    void this.stream?.return?.();
    this.stream = undefined;
    this.chunk = undefined;
  }
}

/**
 * eachLine over latin1 text (one character per byte, so the same positions as the bytes): V8's
 * string search finds the breaks without a call into Node's Buffer bindings per line.
 */
export function splitLinesText(
  text: string,
  from: number,
  end: number,
  eof: boolean,
  onLine: (start: number, end: number) => void,
): number {
  return eachLine(
    (cr, at) => {
      const i = text.indexOf(cr ? '\r' : '\n', at);
      return i < end ? i : -1;
    },
    (i) => text.charCodeAt(i) === LF,
    from,
    end,
    eof,
    onLine,
  );
}

/** Bytes read at a time by readLines (its buffer grows to hold a longer line). */
const READ_BYTES = 256 * 1024;

/**
 * Splits the input into lines (see splitLines). `onLine` gets each line's bytes (valid until it
 * returns); after each read `pause` is awaited, and when it answers true reading stops. One buffer
 * is read into and reused, each line's bytes in place. Faster than readline.
 */
export async function readLines(
  input: InputReader,
  onLine: (buf: Buffer, start: number, end: number) => void,
  pause: () => boolean | Promise<boolean>,
): Promise<void> {
  let mem = Buffer.allocUnsafe(READ_BYTES);
  /** Bytes in `mem`: an unfinished line at its start, then what the last read added. */
  let length = 0;
  try {
    for (;;) {
      if (length === mem.length) {
        const grown = Buffer.allocUnsafe(2 * mem.length);
        mem.copy(grown, 0, 0, length);
        mem = grown;
      }
      const read = input.read(mem, length);
      const n = typeof read === 'number' ? read : await read;
      if (n === 0) break;
      length += n;
      // A new view per read: LineText tells the chunks (and whether each is ASCII) apart by their Buffer.
      const used = splitLines(mem.subarray(0, length), 0, length, false, onLine);
      if (used > 0) {
        mem.copyWithin(0, used, length);
        length -= used;
      }
      if (await pause()) return;
    }
  } finally {
    input.close();
  }
  if (length > 0) splitLines(mem.subarray(0, length), 0, length, true, onLine);
}

/**
 * Lines of a chunk as strings. In an ASCII chunk (the usual JSON lines; checked once per chunk) a
 * line is decoded as latin1, byte for character, which is cheaper than UTF-8 decoding; any other
 * chunk is decoded per line as UTF-8. Per line rather than the chunk decoded once and sliced: JSON.parse
 * of a flat string measured faster than of a slice (≈ 100 ms less per million click events), and a
 * shard decodes only its own lines.
 */
export class LineText {
  private chunk: Buffer | undefined;
  private ascii = false;
  /**
   * Whether the last line was not UTF-8 (its bad bytes came back as U+FFFD): it is bad input, not text
   * to combine with replacement characters in it. Checked only for a line with a U+FFFD in it.
   */
  invalidUtf8 = false;

  /** `ascii`: whether `buf` is all ASCII, when the caller knows; else it is checked here. */
  of(buf: Buffer, start: number, end: number, ascii?: boolean): string {
    if (buf !== this.chunk) {
      this.chunk = buf;
      this.ascii = ascii ?? isAscii(buf);
    }
    if (this.ascii) {
      this.invalidUtf8 = false;
      return buf.toString('latin1', start, end);
    }
    const text = buf.toString('utf8', start, end);
    this.invalidUtf8 = text.includes('\uFFFD') && !isUtf8(buf.subarray(start, end));
    return text;
  }
}

/** The first bad input line: its number (for ordering across shards) and the full message. */
export interface InputProblem {
  line: number;
  message: string;
}

/** Main thread → worker. */
export type ToWorker =
  /**
   * The first message: what to combine, and where to count the input blocks processed (an
   * Int32Array of two elements, see Shard.progress in cli/combine-sharded.ts).
   */
  | { t: 'setup'; setup: WorkerSetup; progress: SharedArrayBuffer }
  /**
   * A block of input (shared by all the shards, not copied), whether its `length` bytes are all
   * ASCII (see LineText), and, as (start, end, line number) triples, where this shard's lines are in
   * it, in input order.
   */
  | { t: 'input'; bytes: SharedArrayBuffer; length: number; ascii: boolean; lines: Float64Array }
  /**
   * No more input: report `ok` (or the problem), and with `drain` stream the reduced documents, a
   * few chunks ahead of the main thread (see OUTPUT_WINDOW in cli/combine-worker.ts).
   */
  | { t: 'end'; drain: boolean }
  /** The main thread took an output chunk: one more may be sent. */
  | { t: 'more' }
  /** Drop everything (spill files included) and answer `closed`. */
  | { t: 'close' };

/** Worker → main thread. */
export type FromWorker =
  | { t: 'problem'; problem: InputProblem }
  | { t: 'ok' }
  /** Reduced documents in key order: packed keys and JSON texts (each ending in '\n'). */
  | { t: 'out'; keys: string[]; texts: string[] }
  | { t: 'drainError'; key: string; message: string }
  | { t: 'outEnd' }
  | { t: 'closed' };

/** What a worker needs to build its Combiner (all of it structured-cloneable). */
export interface WorkerSetup {
  schemas: Record<string, Json>;
  collection: CollectionSpec;
  memoryBudgetBytes: number;
  spillDir: string | undefined;
}
