/** BlobStore port: objects by key (S3 on AWS). Puts overwrite, so deterministic names make retries idempotent. */
import { SluiceError } from '../errors.ts';
export interface BlobStore {
  put(key: string, body: Uint8Array, contentType?: string): Promise<void>;
  /**
   * The object's bytes, or undefined when absent. With `maxBytes`, an object larger than that is refused
   * (BlobTooLargeError) before its body is read, so it never has to fit in memory.
   */
  get(key: string, opts?: { maxBytes?: number }): Promise<Uint8Array | undefined>;
  /** Keys under a prefix, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
  /** Remove an object (absent is fine). */
  delete(key: string): Promise<void>;
  /**
   * Like `list`, with each object's last-modified time (Unix ms). Optional: source-s3 uses it, when the
   * store has it, for `_meta/uuid` times and to bound its list of objects read.
   */
  listInfo?(prefix: string): Promise<BlobInfo[]>;
}

export interface BlobInfo {
  key: string;
  lastModified: number;
}

/** An object over the size a reader accepts (`get`'s `maxBytes`). */
export class BlobTooLargeError extends SluiceError {
  readonly code = 'BlobTooLarge';
  constructor(
    readonly key: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`${key}: object of ${size} bytes, over the limit of ${limit} bytes`);
    this.name = 'BlobTooLargeError';
  }
}

/** Clock port: real time in production, a synthetic clock in `sluice test`. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
