/**
 * The backfill job's leader election: a lease with an owner and an expiry, taken and renewed by a
 * conditional write (DynamoDB on AWS: shared/adapters/dynamodb-lease.ts). One lease per materialization:
 * its bindings are backfilled one after the other by whichever instance holds it.
 *
 * A lease is advisory: it keeps instances from doing the same work twice (and from racing each other's
 * conditional writes), it is not what makes the backfill exactly once. A leader that stalls past its
 * expiry (GC pause, network) and wakes up still holds a stale view; its commits are refused by the
 * connector's own fence (PostgreSQL's fenced checkpoint rows, DynamoDB's conditional item writes), and
 * its next renewal fails with LeaseLost.
 */
import { MaterializeTaskError } from '../materialize/errors.ts';

export interface BackfillLease {
  /**
   * Take the lease for `owner` until now + `ttlMs`, or renew it when `owner` already holds it. False when
   * another owner holds an unexpired lease.
   */
  acquire(owner: string, ttlMs: number): Promise<boolean>;
  /** Give the lease up (only if `owner` still holds it), so a waiting instance need not wait for the expiry. */
  release(owner: string): Promise<void>;
}

/** Why a backfill stopped before its binding was done; the work done so far is committed and kept. */
export class BackfillError extends MaterializeTaskError {
  constructor(
    code: 'BackfillInProgress' | 'LeaseLost',
    materialization: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, materialization, message, options);
    this.name = 'BackfillError';
  }
}
