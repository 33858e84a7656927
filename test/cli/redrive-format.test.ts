// `sluice redrive` stops each shard at its first document that fails again (its later ones keep their
// order behind it): the summary must say so, not leave the untried ones to be guessed from the counts.
import { expect, it } from 'vitest';
import { formatRedrive } from '../../cli/parked.ts';

it('names each document that failed again and counts those not tried behind them', () => {
  const failure = (shardId: string, seq: string) => ({
    collection: 'probe/events',
    shardId,
    position: seq,
    where: `shard ${shardId} · position ${seq}#0`,
    error: 'DerivationError: boom',
  });
  const text = formatRedrive('derivation:probe/totals', {
    redriven: 1,
    remaining: 4,
    failures: [failure('shardId-000000000000', '7'), failure('shardId-000000000001', '9')],
  });
  expect(text.split('\n')).toEqual([
    'derivation:probe/totals: 1 redriven, 4 still parked',
    '  failed again: probe/events  shard shardId-000000000000 · position 7#0: DerivationError: boom',
    '  failed again: probe/events  shard shardId-000000000001 · position 9#0: DerivationError: boom',
    '  not tried: 2, each parked after one that failed again on its shard (they are redriven in order, after it)',
    '',
  ]);
  expect(formatRedrive('x', { redriven: 2, remaining: 0, failures: [] })).toBe(
    'x: 2 redriven, 0 still parked\n',
  );
});
