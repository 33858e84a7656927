/** Errors of running a derivation, with the derivation, transform and source document index. */
import { SluiceError } from '../errors.ts';
export class DerivationError extends SluiceError {
  readonly code:
    | 'ModuleLoad'
    | 'MissingMethod'
    | 'TransformThrew'
    | 'BadOutput'
    | 'OutputSchemaViolation'
    | 'SqlInvalid'
    | 'ParamNotFound'
    | 'StateInvalid'
    /** Its committed state could not be opened (not a document's fault: ports/parking.ts documentError). */
    | 'StateRestore';
  readonly derivation: string;
  readonly transform?: string;
  readonly sourceIndex?: number;
  /** Where the source document is in its stream (`acme/events shard … · position …#2`), when known. */
  readonly sourceAt?: string;
  /** The message without where (`threw: Error: …`), to say again with a place. */
  readonly detail: string;

  constructor(
    code: DerivationError['code'],
    derivation: string,
    message: string,
    opts: { transform?: string; sourceIndex?: number; sourceAt?: string; cause?: unknown } = {},
  ) {
    const where = opts.transform ? ` transform ${opts.transform}` : '';
    // A stream position says which document; an index only which of the documents handed over at once
    // (on Lambda, after bisecting, always 0).
    const at =
      opts.sourceAt !== undefined
        ? ` (source ${opts.sourceAt})`
        : opts.sourceIndex !== undefined
          ? ` (source document ${opts.sourceIndex})`
          : '';
    super(`derivation ${derivation}${where}${at}: ${message}`, { cause: opts.cause });
    this.name = 'DerivationError';
    this.code = code;
    this.derivation = derivation;
    this.transform = opts.transform;
    this.sourceIndex = opts.sourceIndex;
    this.sourceAt = opts.sourceAt;
    this.detail = message;
  }

  /** The same error, placed at a source document's stream position. */
  at(sourceAt: string): DerivationError {
    return new DerivationError(this.code, this.derivation, this.detail, {
      transform: this.transform,
      sourceIndex: this.sourceIndex,
      sourceAt,
      cause: this.cause,
    });
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
