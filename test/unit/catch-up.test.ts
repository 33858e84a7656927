/**
 * The backfill's journal catch-up (shared/backfill/catch-up.ts) reads a shard up to the position the
 * other bindings committed. Kinesis can answer GetRecords with empty pages before the end of the data
 * (MillisBehindLatest > 0); kinesalite never does, so a journal that injects them stands in for it.
 */
import { describe, expect, it } from 'vitest';
import { MemoryJournal } from '../../shared/adapters/memory.ts';
import { readUpTo } from '../../shared/backfill/catch-up.ts';
import type { Journal, JournalRecord } from '../../shared/ports/journal.ts';

async function journalWith(
  n: number,
): Promise<{ journal: MemoryJournal; shard: string; records: JournalRecord[] }> {
  const journal = new MemoryJournal({ shards: 1 });
  journal.ensure('c');
  for (let i = 0; i < n; i++) await journal.append('c', [{ hashKey: '1', doc: { i } }]);
  const [s] = await journal.listShards('c');
  return { journal, shard: s.shardId, records: journal.allRecords('c') };
}

/** Every read answers an empty page (behind the tip) `empties` times before each real page. */
function withEmptyPages(inner: Journal, empties: number): Journal {
  let left = empties;
  return Object.assign(Object.create(inner) as Journal, {
    read: async (c: string, shard: string, after: string | undefined, limit: number) => {
      if (left > 0) {
        left--;
        return { records: [], millisBehindLatest: 5_000, endOfShard: false };
      }
      left = empties;
      return inner.read(c, shard, after, limit);
    },
  });
}

describe('backfill journal catch-up', () => {
  it('follows empty pages behind the tip to the committed position, and stops exactly there', async () => {
    const { journal, shard, records } = await journalWith(12);
    const until = records[8].sequenceNumber;
    const seen: string[] = [];
    const n = await readUpTo(
      withEmptyPages(journal, 2),
      'c',
      shard,
      records[1].sequenceNumber,
      until,
      async (rs) => {
        seen.push(...rs.map((r) => r.sequenceNumber));
      },
      3,
    );
    expect(n).toBe(7);
    expect(seen).toEqual(records.slice(2, 9).map((r) => r.sequenceNumber));
  });

  it('an empty page at the tip ends the read', async () => {
    const { journal, shard, records } = await journalWith(3);
    const n = await readUpTo(
      journal,
      'c',
      shard,
      records[2].sequenceNumber,
      `${records[2].sequenceNumber}9`,
      async () => {},
    );
    expect(n).toBe(0);
  });
});
