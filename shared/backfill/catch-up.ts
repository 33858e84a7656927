/**
 * Catching a backfilled binding up from the journal: read one shard from `after` up to and including
 * `until` (the position the other bindings already committed, which the mapping will not deliver
 * again), in order. Kinesis may answer GetRecords with an empty page before the end of the data (and
 * says so with MillisBehindLatest > 0): only an empty page at the tip, the shard's end, or a record past
 * `until` ends the read — stopping at the first empty page silently skipped the rest.
 */
import type { Journal, JournalRecord } from '../ports/journal.ts';

export async function readUpTo(
  journal: Journal,
  collection: string,
  shardId: string,
  after: string | undefined,
  until: string,
  onRecords: (records: JournalRecord[]) => Promise<void>,
  pageSize = 500,
): Promise<number> {
  const end = BigInt(until);
  let from = after;
  let n = 0;
  for (;;) {
    if (from !== undefined && BigInt(from) >= end) return n;
    const r = await journal.read(collection, shardId, from, pageSize);
    const upTo = r.records.filter((x) => BigInt(x.sequenceNumber) <= end);
    if (upTo.length > 0) {
      await onRecords(upTo);
      n += upTo.length;
      from = upTo[upTo.length - 1].sequenceNumber;
    }
    if (upTo.length < r.records.length) return n; // passed `until`
    if (r.records.length === 0 && (r.endOfShard || r.millisBehindLatest === 0)) return n;
  }
}
