/**
 * The derive task (glue between the event-source mapping and DerivationRunner; the runner itself is in
 * runner.ts): one Kinesis event of a source collection → every transform reading that collection runs
 * over its documents in order → output documents (validated by the runner) get a deterministic
 * `_meta/uuid` and an origin (source shard + source position + transform + output index), and are
 * appended to the derived collection's journal, routed by their key.
 *
 * A replayed source batch (crash after the append, before the checkpoint) publishes the same documents
 * with the same uuids and origins again; consumers that keep per-key state drop them (ports/events.ts
 * foldKey), so reductions such as sums do not double-count.
 */
import type { KinesisStreamEvent } from 'aws-lambda';
import type { BuiltCatalog, CollectionSpec, TransformSpec } from '../catalog/model.ts';
import { matchesPartitions } from '../catalog/partitions.ts';
import { isObject, type Json } from '../json/types.ts';
import { type KeyExtractor, keyExtractor } from '../keys/extract.ts';
import { explicitHashKey } from '../keys/hash.ts';
import { metaUuid } from '../meta/uuid.ts';
import { decodeEvent } from '../ports/events.ts';
import type { AppendDoc, Journal } from '../ports/journal.ts';
import { formatOrigin } from '../ports/position.ts';
import type { DerivationRunner } from './runner.ts';

export class DeriveTaskError extends Error {
  readonly code = 'NotASource';
  constructor(
    readonly derivation: string,
    readonly collection: string,
  ) {
    super(`derivation ${derivation} has no transform reading ${collection}`);
    this.name = 'DeriveTaskError';
  }
}

export class DeriveTask {
  private readonly extractor: KeyExtractor;
  private readonly sourceSpecs = new Map<string, CollectionSpec>();
  readonly stats = { docsIn: 0, docsOut: 0 };

  constructor(
    readonly collection: CollectionSpec,
    private readonly runner: DerivationRunner,
    private readonly journal: Journal,
    catalog: BuiltCatalog,
  ) {
    this.extractor = keyExtractor(collection.key);
    for (const name of new Set((collection.derive?.transforms ?? []).map((t) => t.source.name))) {
      const spec = catalog.collections[name];
      if (spec) this.sourceSpecs.set(name, spec);
    }
  }

  static sources(catalog: BuiltCatalog, derivation: string): string[] {
    const c = catalog.collections[derivation];
    return [...new Set((c?.derive?.transforms ?? []).filter((t) => !t.disable).map((t) => t.source.name))];
  }

  private transformsOf(collection: string): { t: TransformSpec; i: number }[] {
    return (this.collection.derive?.transforms ?? [])
      .map((t, i) => ({ t, i }))
      .filter(({ t }) => !t.disable && t.source.name === collection)
      .sort((a, b) => b.t.priority - a.t.priority || a.i - b.i); // higher priority first, then catalog order
  }

  async onEvent(sourceCollection: string, event: KinesisStreamEvent): Promise<number> {
    const transforms = this.transformsOf(sourceCollection);
    if (transforms.length === 0) throw new DeriveTaskError(this.collection.name, sourceCollection);
    const docs = decodeEvent(event, sourceCollection);
    this.stats.docsIn += docs.length;
    const out: AppendDoc[] = [];
    for (const d of docs) {
      for (const { t, i } of transforms) {
        if (
          t.source.partitions &&
          !matchesPartitions(this.sourceSpecs.get(sourceCollection)!, t.source.partitions, d.doc)
        )
          continue;
        const derived = await this.runner.onSource(t.name, [d.doc]);
        derived.forEach((doc, n) => {
          const position = `${d.streamPosition}:${String(i).padStart(3, '0')}:${String(n).padStart(6, '0')}`;
          const source = `${sourceCollection}/${d.shardId}`;
          const withMeta: Json = isObject(doc)
            ? {
                ...doc,
                _meta: {
                  ...(isObject(doc._meta) ? doc._meta : {}),
                  uuid: metaUuid(d.arrivalMs, `${this.collection.name}/${source}`, position),
                },
              }
            : doc;
          out.push({
            hashKey: explicitHashKey(Buffer.from(this.extractor.packBinary(withMeta), 'latin1')),
            doc: withMeta,
            origin: formatOrigin(source, position),
          });
        });
      }
    }
    for (const doc of await this.runner.flush()) {
      out.push({ hashKey: explicitHashKey(Buffer.from(this.extractor.packBinary(doc), 'latin1')), doc });
    }
    if (out.length > 0) await this.journal.append(this.collection.name, out);
    this.stats.docsOut += out.length;
    return out.length;
  }
}
