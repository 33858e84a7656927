/**
 * The persist task: one Kinesis event of a collection (one shard's batch) →
 * 1. the collection's reduced view in the StateStore: per key, the fully reduced document, written
 *    conditionally on the source positions folded into it (exactly once; what `sluice read` returns);
 * 2. then collection fragments in S3: gzipped JSON lines at the Hive-style, deterministic path
 *    `<prefix><collection>/<field>=<value>/.../pivot=<shardId>/utc_date=YYYY-MM-DD/utc_hour=HH/<firstSeq>-<lastSeq>.json.gz`
 *    (one object per logical partition; partition fields are the collection's `partition: true`
 *    projections; date and hour of the batch's first record arrival). A batch retried with the same
 *    records overwrites the same objects; one the view refused wrote none (see onBatch).
 */
import { gzipSync } from 'node:zlib';
import type { CollectionSpec } from '../catalog/model.ts';
import { SluiceError } from '../errors.ts';
import { getAt, parsePointer } from '../json/pointer.ts';
import type { Json } from '../json/types.ts';
import { type KeyExtractor, keyExtractor } from '../keys/extract.ts';
import type { BlobStore } from '../ports/blob.ts';
import { type DocBatch, foldKey, type SourceDoc } from '../ports/events.ts';
import type { StateStore } from '../ports/state.ts';
import { Reducer } from '../reduce/index.ts';
import type { SchemaRegistry } from '../schema/registry.ts';

export class PersistConflictError extends SluiceError {
  readonly code = 'StateConflict';
  constructor(
    readonly collection: string,
    readonly keys: string[],
  ) {
    super(
      `persist ${collection}: ${keys.length} conditional state writes lost to a concurrent writer (e.g. key ${keys[0]}); retry the batch`,
    );
    this.name = 'PersistConflictError';
  }
}

function partitionValue(v: Json | undefined): string {
  const s = v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return encodeURIComponent(s);
}

export class PersistTask {
  private readonly reducer: Reducer;
  private readonly extractor: KeyExtractor;
  private readonly partitions: { field: string; tokens: string[] }[];
  /** bytesOut: gzipped fragment bytes written to S3. */
  readonly stats = { docsIn: 0, fragments: 0, bytesOut: 0, keysWritten: 0 };

  constructor(
    readonly collection: CollectionSpec,
    registry: SchemaRegistry,
    private readonly blobs: BlobStore,
    private readonly state: StateStore,
    /** The collection's fragment folder, `…/<collection>/` (place.ts fragmentPlace). */
    private readonly folder: string,
    private readonly opts: { view?: boolean } = {},
  ) {
    this.reducer = new Reducer(registry, collection.readSchema);
    this.extractor = keyExtractor(collection.key);
    this.partitions = Object.entries(collection.projections)
      .filter(([, p]) => p.partition)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([field, p]) => ({ field, tokens: parsePointer(p.location) }));
  }

  fragmentKey(docs: SourceDoc[], partitionPath: string): string {
    const first = docs[0];
    const d = new Date(first.arrivalMs);
    const date = d.toISOString().slice(0, 10);
    const hour = String(d.getUTCHours()).padStart(2, '0');
    const parts = partitionPath ? `${partitionPath}/` : '';
    return `${this.folder}${parts}pivot=${first.shardId}/utc_date=${date}/utc_hour=${hour}/${first.sequenceNumber}-${docs[docs.length - 1].sequenceNumber}.json.gz`;
  }

  async onBatch(batch: DocBatch): Promise<void> {
    const docs = batch.docs;
    if (docs.length === 0) return;
    this.stats.docsIn += docs.length;
    // The view first, fragments after: a batch the view refuses fails before it has written any fragment,
    // so the mapping's retry (bisected into halves under `halt`, other boundaries) writes the fragments of
    // its own boundaries and no document lands in two. Not for redriven documents (ports/parking.ts), whose
    // original delivery wrote them, nor for the documents of a failed batch applied one by one (`isolated`):
    // the batch's fragments are written once they all are (`afterIsolation`).
    await this.applyView(docs);
    if (!batch.redrive && !batch.isolated) await this.writeFragments(batch);
  }

  /**
   * A document of the batch was parked (functions/telemetry.ts, after its isolated attempt failed): record
   * its position in its key's applied positions, the reduced document unchanged, so that the batch
   * delivered again (its isolation cut short by an outage, a fix deployed meanwhile) skips it and only
   * its redrive folds it. Before, such a retry folded it and the redrive folded it again.
   */
  async onParked(d: SourceDoc): Promise<void> {
    // Folded as a document that changes nothing: the key's applied positions move, its document stays.
    await this.applyView([d], (lhs) => lhs);
  }

  /** One gzipped JSON-lines object per logical partition, named by the batch's records. */
  async writeFragments(batch: DocBatch): Promise<void> {
    const byPartition = new Map<string, SourceDoc[]>();
    for (const d of batch.docs) {
      const p = this.partitions.map((x) => `${x.field}=${partitionValue(getAt(d.doc, x.tokens))}`).join('/');
      const g = byPartition.get(p);
      if (g) g.push(d);
      else byPartition.set(p, [d]);
    }
    for (const [p, group] of byPartition) {
      const body = gzipSync(Buffer.from(`${group.map((d) => JSON.stringify(d.doc)).join('\n')}\n`));
      await this.blobs.put(this.fragmentKey(group, p), body, 'application/x-ndjson');
      this.stats.fragments++;
      this.stats.bytesOut += body.length;
    }
  }

  /**
   * The reduced view: per key, the fully reduced document, written conditionally on its applied positions.
   * `reduce` folds a document onto the key's (the collection's reductions, unless told otherwise).
   */
  private async applyView(
    docs: SourceDoc[],
    reduce: (lhs: Json | undefined, rhs: Json) => Json | undefined = (lhs, rhs) =>
      this.reducer.reduce(lhs, rhs, true),
  ): Promise<void> {
    if (this.opts.view === false) return;
    const groups = new Map<string, { key: Buffer; docs: SourceDoc[] }>();
    for (const d of docs) {
      const k = this.extractor.packBinary(d.doc);
      const g = groups.get(k);
      if (g) g.docs.push(d);
      else groups.set(k, { key: Buffer.from(k, 'latin1'), docs: [d] });
    }
    const entries = [...groups.values()];
    const loaded = await this.state.load(
      this.collection.name,
      entries.map((g) => g.key),
    );
    const writes = [];
    for (const g of entries) {
      const cur = loaded.get(g.key.toString('hex'));
      const r = foldKey(cur, g.docs, reduce);
      if (r.folded === 0) continue;
      writes.push({
        key: g.key,
        doc: r.doc,
        expected: cur?.applied,
        applied: r.applied,
        // When each source last moved: the store prunes entries no redelivery can reach (ports/state.ts).
        appliedAt: cur?.appliedAt,
      });
    }
    const res = await this.state.write(this.collection.name, writes);
    this.stats.keysWritten += res.written;
    if (res.conflicts.length > 0) throw new PersistConflictError(this.collection.name, res.conflicts);
  }
}
