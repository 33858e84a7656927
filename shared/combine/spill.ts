/**
 * Sorted runs spilled to disk by the combiner: JSON lines `[packedKeyBinary, doc, ...moreDocs]`,
 * in strictly increasing key order. Written and read synchronously in large chunks, so that
 * `Combiner.add` (synchronous) can spill without an event-loop round trip.
 */
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { SluiceError } from '../errors.ts';
import type { Json } from '../json/types.ts';

const WRITE_CHUNK = 1 << 20;
const READ_CHUNK = 1 << 18;

/** A spill file could not be read back (corrupted, truncated or removed while draining). */
export class SpillFileError extends SluiceError {
  readonly code = 'SpillFileCorrupt';
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = 'SpillFileError';
  }
}

/** One key's documents: a combined document, then any that could not be combined associatively. */
export interface RunEntry {
  key: string;
  docs: Json[];
}

export class RunWriter {
  private readonly fd: number;
  private pending: string[] = [];
  private pendingLength = 0;
  entries = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'wx', 0o600);
  }

  write(key: string, docs: readonly Json[]): void {
    let line = '[' + JSON.stringify(key);
    for (const d of docs) line += ',' + JSON.stringify(d);
    line += ']\n';
    this.pending.push(line);
    this.pendingLength += line.length;
    this.entries++;
    if (this.pendingLength >= WRITE_CHUNK) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    writeSync(this.fd, this.pending.join(''));
    this.pending = [];
    this.pendingLength = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

export class RunReader {
  private fd: number | undefined;
  private buf = Buffer.alloc(0);
  private pos = 0;
  private eof = false;
  private lineNo = 0;
  /** The current entry; undefined once the run is exhausted. */
  current: RunEntry | undefined;

  constructor(
    readonly file: string,
    /** Age of the run: lower = older documents. */
    readonly seq: number,
  ) {
    this.fd = openSync(file, 'r');
    this.advance();
  }

  private nextLine(): string | undefined {
    for (;;) {
      const nl = this.buf.indexOf(0x0a, this.pos);
      if (nl >= 0) {
        // 0x0a never occurs inside a multi-byte UTF-8 sequence, so this split is safe.
        const line = this.buf.toString('utf8', this.pos, nl);
        this.pos = nl + 1;
        return line;
      }
      if (this.eof) {
        if (this.pos < this.buf.length)
          throw new SpillFileError(this.file, this.lineNo + 1, 'truncated line');
        return undefined;
      }
      const rest = this.buf.subarray(this.pos);
      const chunk = Buffer.allocUnsafe(Math.max(READ_CHUNK, rest.length * 2));
      rest.copy(chunk);
      const n = readSync(this.fd!, chunk, rest.length, chunk.length - rest.length, null);
      if (n === 0) this.eof = true;
      this.buf = chunk.subarray(0, rest.length + n);
      this.pos = 0;
    }
  }

  /** Moves to the next entry (or to the end). */
  advance(): void {
    const line = this.nextLine();
    if (line === undefined) {
      this.current = undefined;
      this.close();
      return;
    }
    this.lineNo++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (e) {
      throw new SpillFileError(this.file, this.lineNo, (e as Error).message);
    }
    if (!Array.isArray(parsed) || parsed.length < 2 || typeof parsed[0] !== 'string') {
      throw new SpillFileError(this.file, this.lineNo, 'expected [key, doc, ...]');
    }
    const key = parsed[0];
    if (this.current !== undefined && !(this.current.key < key)) {
      throw new SpillFileError(this.file, this.lineNo, 'keys out of order');
    }
    parsed.shift();
    this.current = { key, docs: parsed as Json[] };
  }

  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

export function removeQuietly(path: string): void {
  rmSync(path, { force: true, recursive: true });
}
