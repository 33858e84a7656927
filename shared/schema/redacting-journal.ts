/**
 * Redaction where documents enter a collection: a Journal whose appends apply the collection's `redact`
 * annotations (schema/redact.ts) to every document first. Captures and derivations are the only tasks
 * that append, so wrapping the runtime's journal covers both, on AWS and on the local stack alike; a
 * document whose root is blocked is not appended. The salt is resolved once, on the first append that
 * needs it (it may be a secret reference).
 */
import type { BuiltCatalog } from '../catalog/model.ts';
import type { AppendDoc, AppendResult, Journal } from '../ports/journal.ts';
import { Redactor } from './redact.ts';
import type { SchemaRegistry } from './registry.ts';

export class RedactingJournal implements Journal {
  private readonly redactors = new Map<string, Redactor>();
  private salt?: Promise<Uint8Array>;

  constructor(
    private readonly inner: Journal,
    private readonly catalog: BuiltCatalog,
    private readonly registry: SchemaRegistry,
    /** The salt (resolved from its reference when it is one). */
    private readonly resolveSalt: () => Promise<string>,
  ) {}

  private redactor(collection: string): Redactor | undefined {
    let r = this.redactors.get(collection);
    if (!r) {
      const spec = this.catalog.collections[collection];
      if (!spec) return undefined; // the inner journal reports the unknown collection
      r = new Redactor(this.registry, spec.writeSchema, this.catalog.schemas);
      this.redactors.set(collection, r);
    }
    return r;
  }

  async append(collection: string, docs: AppendDoc[]): Promise<AppendResult> {
    const r = this.redactor(collection);
    if (!r?.active) return this.inner.append(collection, docs);
    this.salt ??= this.resolveSalt().then((s) => Buffer.from(s, 'utf8'));
    const salt = await this.salt;
    const out: AppendDoc[] = [];
    for (const d of docs) {
      const doc = r.apply(d.doc, salt);
      if (doc !== undefined) out.push(doc === d.doc ? d : { ...d, doc });
    }
    if (out.length === 0) return { records: 0, docs: 0, positions: [] };
    return this.inner.append(collection, out);
  }

  listShards(collection: string) {
    return this.inner.listShards(collection);
  }

  read(collection: string, shardId: string, afterSequence: string | undefined, limit: number) {
    return this.inner.read(collection, shardId, afterSequence, limit);
  }
}
