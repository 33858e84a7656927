/**
 * In-memory adapters of every port, for `sluice test` and unit tests. Same semantics as the AWS
 * adapters (routing by hash key, packing, sequence numbers as decimal strings, conditional state
 * writes, monotonic checkpoints), no I/O.
 */
import type { BlobInfo, BlobStore, Clock } from '../ports/blob.ts';
import { BlobTooLargeError, systemClock } from '../ports/blob.ts';
import {
  type DerivationCheckpoint,
  DerivationStateConflict,
  type DerivationStateStore,
} from '../ports/derivation-state.ts';
import { evenRanges, MAX_RECORD_BYTES, planRecords, type ShardRange } from '../ports/framing.ts';
import {
  type AppendDoc,
  type AppendResult,
  type Journal,
  JournalError,
  type JournalRecord,
  type ReadResult,
  type ShardInfo,
} from '../ports/journal.ts';
import type {
  OriginWatermarks,
  StateItem,
  StateStore,
  StateWrite,
  StateWriteResult,
} from '../ports/state.ts';

interface MemShard {
  info: ShardInfo;
  records: JournalRecord[];
}

export class MemoryJournal implements Journal {
  private readonly streams = new Map<string, MemShard[]>();
  private seq = 49_000_000_000_000_000_000_000_000_000_000_000_000_000_000n;

  constructor(private readonly opts: { shards?: number; clock?: Clock; maxRecordBytes?: number } = {}) {}

  /** Create the collection's journal (idempotent). */
  ensure(collection: string, shards = this.opts.shards ?? 1): void {
    if (this.streams.has(collection)) return;
    this.streams.set(
      collection,
      evenRanges(shards).map((r, i) => ({
        info: {
          shardId: `shardId-${String(i).padStart(12, '0')}`,
          startingHashKey: r.start.toString(),
          endingHashKey: r.end.toString(),
          closed: false,
        },
        records: [],
      })),
    );
  }

  private shards(collection: string): MemShard[] {
    const s = this.streams.get(collection);
    if (!s) throw new JournalError('UnknownCollection', collection, 'no such journal');
    return s;
  }

  async append(collection: string, docs: AppendDoc[]): Promise<AppendResult> {
    const shards = this.shards(collection);
    const ranges: ShardRange[] = shards
      .filter((s) => !s.info.closed)
      .map((s) => ({
        shardId: s.info.shardId,
        start: BigInt(s.info.startingHashKey),
        end: BigInt(s.info.endingHashKey),
      }));
    const plan = planRecords(
      docs.map((d) => ({ hashKey: d.hashKey, bytes: Buffer.from(JSON.stringify(d.doc)), origin: d.origin })),
      ranges,
      this.opts.maxRecordBytes ?? MAX_RECORD_BYTES - 256,
    );
    if (plan.tooLarge.length > 0)
      throw new JournalError('RecordTooLarge', collection, `document ${plan.tooLarge[0]} exceeds 1 MiB`, {
        index: plan.tooLarge[0],
      });
    const now = (this.opts.clock ?? systemClock).now();
    const positions: AppendResult['positions'] = [];
    for (const r of plan.records) {
      const shard = shards.find((s) => s.info.shardId === r.shardId)!;
      this.seq += 1n;
      const sequenceNumber = this.seq.toString();
      shard.records.push({
        shardId: r.shardId,
        sequenceNumber,
        partitionKey: r.hashKey,
        data: r.payload,
        arrivalMs: now,
      });
      positions.push({ shardId: r.shardId, sequenceNumber, docs: r.docs });
    }
    return { records: plan.records.length, docs: docs.length, positions };
  }

  async listShards(collection: string): Promise<ShardInfo[]> {
    return this.shards(collection).map((s) => ({ ...s.info }));
  }

  async read(
    collection: string,
    shardId: string,
    afterSequence: string | undefined,
    limit: number,
  ): Promise<ReadResult> {
    const shard = this.shards(collection).find((s) => s.info.shardId === shardId);
    if (!shard) throw new JournalError('UnknownShard', collection, `no shard ${shardId}`, { shardId });
    const after = afterSequence === undefined ? -1n : BigInt(afterSequence);
    const pending = shard.records.filter((r) => BigInt(r.sequenceNumber) > after);
    const records = pending.slice(0, limit);
    const last = pending.at(-1);
    return {
      records,
      millisBehindLatest: records.length < pending.length && last ? 1 : 0,
      endOfShard: shard.info.closed && records.length === pending.length,
    };
  }

  /** Every document ever appended to a collection, per shard in order (for tests). */
  allRecords(collection: string): JournalRecord[] {
    return this.shards(collection).flatMap((s) => s.records);
  }
}

export class MemoryStateStore implements StateStore, DerivationStateStore {
  private readonly items = new Map<string, Map<string, StateItem>>();
  private readonly checkpoints = new Map<string, string>();
  private readonly watermarks = new Map<string, OriginWatermarks>();
  private readonly derivations = new Map<string, DerivationCheckpoint>();
  /** Derivation pages by `<task>\u0000<hash>` (public for tests: what is stored). */
  readonly pages = new Map<string, Uint8Array>();

  async load(collection: string, keys: Buffer[]): Promise<Map<string, StateItem>> {
    const m = this.items.get(collection);
    const out = new Map<string, StateItem>();
    for (const k of keys) {
      const it = m?.get(k.toString('hex'));
      if (it) out.set(k.toString('hex'), structuredClone(it));
    }
    return out;
  }

  async write(collection: string, writes: StateWrite[]): Promise<StateWriteResult> {
    let m = this.items.get(collection);
    if (!m) {
      m = new Map();
      this.items.set(collection, m);
    }
    const conflicts: string[] = [];
    let written = 0;
    for (const w of writes) {
      const hex = w.key.toString('hex');
      const cur = m.get(hex);
      if (!sameApplied(cur?.applied, w.expected)) {
        conflicts.push(hex);
        continue;
      }
      // A deleted document keeps a tombstone so that its `applied` positions still guard replays.
      m.set(hex, { key: Buffer.from(w.key), doc: w.doc, applied: w.applied });
      written++;
    }
    return { written, conflicts };
  }

  async *scan(collection: string): AsyncIterable<StateItem> {
    const m = this.items.get(collection);
    if (!m) return;
    const sorted = [...m.values()].sort((a, b) => Buffer.compare(a.key, b.key));
    for (const it of sorted) if (it.doc !== undefined) yield structuredClone(it);
  }

  async getCheckpoint(task: string, shardId: string): Promise<string | undefined> {
    return this.checkpoints.get(`${task}\u0000${shardId}`);
  }

  async putCheckpoint(task: string, shardId: string, position: string): Promise<void> {
    const k = `${task}\u0000${shardId}`;
    const cur = this.checkpoints.get(k);
    if (cur === undefined || position > cur) this.checkpoints.set(k, position);
  }

  async getWatermarks(task: string, shard: string): Promise<OriginWatermarks | undefined> {
    const w = this.watermarks.get(`${task}\u0000${shard}`);
    return w && structuredClone(w);
  }

  async putWatermarks(task: string, shard: string, marks: OriginWatermarks): Promise<void> {
    const k = `${task}\u0000${shard}`;
    const cur = this.watermarks.get(k);
    if (cur === undefined || marks.upTo > cur.upTo) this.watermarks.set(k, structuredClone(marks));
  }

  async loadDerivationState(task: string): Promise<DerivationCheckpoint | undefined> {
    const cur = this.derivations.get(task);
    return cur && structuredClone(cur);
  }

  async getPages(task: string, hashes: string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for (const h of hashes) {
      const page = this.pages.get(`${task}\u0000${h}`);
      if (!page) throw new Error(`derivation ${task}: page ${h} is missing`);
      out.set(h, page);
    }
    return out;
  }

  async putPages(task: string, pages: Map<string, Uint8Array>): Promise<void> {
    for (const [h, page] of pages) this.pages.set(`${task}\u0000${h}`, page.slice());
  }

  async commitDerivationState(task: string, next: DerivationCheckpoint, expected: number): Promise<void> {
    if ((this.derivations.get(task)?.version ?? 0) !== expected)
      throw new DerivationStateConflict(task, expected);
    this.derivations.set(task, structuredClone(next));
  }

  async deletePages(task: string, hashes: string[]): Promise<void> {
    for (const h of hashes) this.pages.delete(`${task}\u0000${h}`);
  }
}

export function sameApplied(
  a: Record<string, string> | undefined,
  b: Record<string, string> | undefined,
): boolean {
  if (a === undefined || b === undefined) return a === b;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

export class MemoryBlobStore implements BlobStore {
  readonly objects = new Map<string, Uint8Array>();
  /** Last-modified time of each object (Unix ms): `clock` at its put. */
  readonly modified = new Map<string, number>();
  constructor(private readonly clock: () => number = Date.now) {}
  async put(key: string, body: Uint8Array): Promise<void> {
    this.objects.set(key, Buffer.from(body));
    this.modified.set(key, this.clock());
  }
  async listInfo(prefix: string): Promise<BlobInfo[]> {
    return (await this.list(prefix)).map((key) => ({ key, lastModified: this.modified.get(key) ?? 0 }));
  }
  async get(key: string, opts: { maxBytes?: number } = {}): Promise<Uint8Array | undefined> {
    const body = this.objects.get(key);
    if (body && opts.maxBytes !== undefined && body.length > opts.maxBytes)
      throw new BlobTooLargeError(key, body.length, opts.maxBytes);
    return body;
  }
  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async delete(key: string): Promise<void> {
    this.objects.delete(key);
    this.modified.delete(key);
  }
}
