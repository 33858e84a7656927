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

  constructor(
    code: DerivationError['code'],
    derivation: string,
    message: string,
    opts: { transform?: string; sourceIndex?: number; cause?: unknown } = {},
  ) {
    const where = opts.transform ? ` transform ${opts.transform}` : '';
    const at = opts.sourceIndex !== undefined ? ` (source document ${opts.sourceIndex})` : '';
    super(`derivation ${derivation}${where}${at}: ${message}`, { cause: opts.cause });
    this.name = 'DerivationError';
    this.code = code;
    this.derivation = derivation;
    this.transform = opts.transform;
    this.sourceIndex = opts.sourceIndex;
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
