import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryJournal, MemoryStateStore } from '../../shared/adapters/memory.ts';
import {
  decodePosition,
  encodePosition,
  evenRanges,
  FramingError,
  formatOrigin,
  misrouted,
  packFrame,
  parseOrigin,
  plannedPartitionKey,
  planRecords,
  UsageMeter,
  unpackFrame,
} from '../../shared/ports/index.ts';

describe('framing', () => {
  it('round-trips documents through a packed record', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 20 }), (docs) => {
        const frame = packFrame(docs.map((d) => Buffer.from(JSON.stringify(d))));
        expect(unpackFrame(frame)).toEqual(docs.map((d) => JSON.parse(JSON.stringify(d))));
      }),
    );
  });
  it('reads an unframed record as one JSON document', () => {
    expect(unpackFrame(Buffer.from('{"a":1}'))).toEqual([{ a: 1 }]);
  });
  it('rejects a truncated frame with the offset', () => {
    const frame = packFrame([Buffer.from('{"a":1}')]);
    expect(() => unpackFrame(frame.subarray(0, frame.length - 2))).toThrow(FramingError);
  });
});

describe('records packed for a shard (partition key)', () => {
  it('a record found in another shard than it was packed for is void; older and foreign records never are', () => {
    const key = plannedPartitionKey('shardId-000000000000', 'AbC_d-12');
    expect(misrouted(key, 'shardId-000000000000')).toBe(false);
    expect(misrouted(key, 'shardId-000000000002')).toBe(true);
    // Older producers (`<shardId>/<token>`) did not send a misplaced record's documents again.
    expect(misrouted('shardId-000000000000/AbC_d-12', 'shardId-000000000002')).toBe(false);
    // Other producers' partition keys, and records without one (a backfill's).
    expect(misrouted('user-17', 'shardId-000000000002')).toBe(false);
    expect(misrouted('shardId-000000000000/p/x/y', 'shardId-000000000002')).toBe(false);
    expect(misrouted(undefined, 'shardId-000000000002')).toBe(false);
  });
});

describe('positions', () => {
  it('compare as strings in numeric order for sequence numbers of any length', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 60n }),
        fc.bigInt({ min: 0n, max: 10n ** 60n }),
        (a, b) => {
          const pa = encodePosition(a.toString(), 3);
          const pb = encodePosition(b.toString(), 0);
          if (a < b) expect(pa < pb).toBe(true);
          if (a > b) expect(pa > pb).toBe(true);
          expect(decodePosition(pa)).toEqual({ sequenceNumber: a.toString(), index: 3 });
        },
      ),
    );
  });
  it('index breaks ties within one record', () => {
    expect(encodePosition('42', 1) < encodePosition('42', 2)).toBe(true);
    expect(encodePosition('42', 999) < encodePosition('43', 0)).toBe(true);
  });
  it('origins round-trip', () => {
    const o = formatOrigin('acme/x@y/shardId-1', encodePosition('7', 2));
    expect(parseOrigin(o)).toEqual({ source: 'acme/x@y/shardId-1', position: encodePosition('7', 2) });
  });
});

describe('planRecords', () => {
  const ranges = evenRanges(4).map((r, i) => ({ shardId: `s${i}`, ...r }));
  it('routes every document to the shard owning its hash and keeps per-shard order', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), { maxLength: 200 }), (hashes) => {
        const docs = hashes.map((h, i) => ({
          hashKey: h.toString(),
          bytes: Buffer.from(JSON.stringify({ i })),
        }));
        const plan = planRecords(docs, ranges, 300);
        const seen: number[] = [];
        for (const r of plan.records) {
          const range = ranges.find((x) => x.shardId === r.shardId)!;
          const ids = unpackFrame(r.payload).map((d) => (d as { i: number }).i);
          expect(r.payload.length).toBeLessThanOrEqual(300);
          for (const i of ids) {
            expect(hashes[i] >= range.start && hashes[i] <= range.end).toBe(true);
            seen.push(i);
          }
          expect(ids).toEqual([...ids].sort((a, b) => a - b));
        }
        expect(seen.sort((a, b) => a - b)).toEqual(hashes.map((_, i) => i));
      }),
    );
  });
  it('reports documents too large for one record', () => {
    const plan = planRecords([{ hashKey: '1', bytes: Buffer.alloc(500) }], ranges, 300);
    expect(plan.tooLarge).toEqual([0]);
  });
});

describe('memory adapters', () => {
  it('journal packs documents of one shard into few records and reads them back in order', async () => {
    const j = new MemoryJournal({ shards: 2 });
    j.ensure('c');
    const docs = Array.from({ length: 100 }, (_, i) => ({ hashKey: String(i), doc: { i } }));
    const res = await j.append('c', docs);
    expect(res.records).toBe(1); // all small hashes fall into shard 0
    const shards = await j.listShards('c');
    const read = await j.read('c', shards[0].shardId, undefined, 10);
    expect(unpackFrame(read.records[0].data)).toEqual(docs.map((d) => d.doc));
    const after = await j.read('c', shards[0].shardId, read.records[0].sequenceNumber, 10);
    expect(after.records).toEqual([]);
  });
  it('state writes are conditional on the loaded positions', async () => {
    const s = new MemoryStateStore();
    const key = Buffer.from([1, 2]);
    const p1 = encodePosition('5', 0);
    expect(await s.write('c', [{ key, doc: { n: 1 }, expected: undefined, applied: { a: p1 } }])).toEqual({
      written: 1,
      conflicts: [],
    });
    const again = await s.write('c', [{ key, doc: { n: 2 }, expected: undefined, applied: { a: p1 } }]);
    expect(again.conflicts).toEqual(['0102']);
    const loaded = await s.load('c', [key]);
    expect(loaded.get('0102')?.doc).toEqual({ n: 1 });
  });
  it('checkpoints never move backwards', async () => {
    const s = new MemoryStateStore();
    await s.putCheckpoint('t', 'sh', encodePosition('9', 0));
    await s.putCheckpoint('t', 'sh', encodePosition('8', 0));
    expect(await s.getCheckpoint('t', 'sh')).toBe(encodePosition('9', 0));
  });
  it('usage meter prices a naive million 1 KB events near the architecture figure', () => {
    const m = new UsageMeter();
    for (let i = 0; i < 1000; i++) {
      m.kinesisPut(1024);
      m.dynamoWrite(1024);
    }
    const c = m.costReport();
    expect(c.usage.kinesisPutPayloadUnits).toBe(1000);
    expect(c.dollars.dynamodb * 1000).toBeCloseTo(0.625, 6);
    expect(c.dollars.kinesis * 1000).toBeCloseTo(0.014, 6);
  });
});
