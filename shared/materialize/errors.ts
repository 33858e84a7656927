/** Errors of the materialize task (shared/materialize/task.ts) and its backfill job (shared/backfill/). */
import { SluiceError } from '../errors.ts';

export type MaterializeTaskErrorCode =
  | 'UnknownSource'
  | 'NotBound'
  | 'CannotRebackfill'
  /** A binding's backfill is not done yet (another instance leads it, or it continues in the next invocation): retry the batch. */
  | 'BackfillInProgress'
  /** The backfill leader lost its lease to another instance (it stalled past the expiry): it stops. */
  | 'LeaseLost';

export class MaterializeTaskError extends SluiceError {
  readonly code: MaterializeTaskErrorCode;
  constructor(
    code: MaterializeTaskErrorCode,
    readonly materialization: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`materialization ${materialization}: ${message}`, options);
    this.name = 'MaterializeTaskError';
    this.code = code;
  }
}
