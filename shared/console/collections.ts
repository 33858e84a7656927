/**
 * A collection as the console shows it: its schema with the projections (the SQL columns a
 * materialization would create and the TypeScript type `sluice generate` writes), its reduced documents
 * by key (the state table's reduced view: prefix search and paging), and a tail of the newest documents
 * in its journal.
 */
import { type AwsClients, destroyClients, EMULATOR_CREDENTIALS, makeClients } from '../adapters/clients.ts';
import { DynamoStateStore } from '../adapters/dynamodb.ts';
import { KinesisJournal } from '../adapters/kinesis.ts';
import { S3BlobStore } from '../adapters/s3.ts';
import type { BuiltCatalog, CollectionSpec } from '../catalog/model.ts';
import { selectFields } from '../connectors/fields.ts';
import { sqlTypeOf } from '../connectors/materialize-postgres.ts';
import { schemaToType } from '../derive/typegen.ts';
import { SluiceError } from '../errors.ts';
import type { Json } from '../json/types.ts';
import { packKey, unpackKey } from '../keys/index.ts';
import type { AssemblyRunner } from '../local/assembly/runner.ts';
import { noViewReason } from '../persist/place.ts';
import { misrouted, unpackFrameEntries } from '../ports/framing.ts';
import type { CollectionInfo, DocPage } from './api-types.ts';

export type { CollectionInfo, DocPage } from './api-types.ts';

export class ConsoleError extends SluiceError {
  constructor(
    /** HTTP status the server answers with. */
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ConsoleError';
  }
}

export function collectionSpec(catalog: BuiltCatalog, name: string): CollectionSpec {
  const c = catalog.collections[name];
  if (!c)
    throw new ConsoleError(
      404,
      `no collection ${name} (collections: ${Object.keys(catalog.collections).join(', ')})`,
    );
  return c;
}

/** The schema document a URI (with an optional `#/pointer`) names. */
function schemaAt(catalog: BuiltCatalog, uri: string): Json {
  const [base, fragment] = uri.split('#');
  let node: Json | undefined = catalog.schemas[base] ?? catalog.schemas[uri];
  for (const raw of (fragment ?? '').split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    node = node && typeof node === 'object' ? (node as Record<string, Json>)[part] : undefined;
  }
  return node ?? null;
}

export function collectionInfo(catalog: BuiltCatalog, name: string): CollectionInfo {
  const c = collectionSpec(catalog, name);
  const fields = selectFields(catalog, c, {
    source: { name },
    resource: {},
    fields: { recommended: true },
    disable: false,
    backfill: 0,
  });
  const writers: string[] = [];
  const readers: string[] = [];
  for (const cap of Object.values(catalog.captures))
    if (cap.bindings.some((b) => b.target === name)) writers.push(`capture:${cap.name}`);
  if (c.derive) writers.push(`derivation:${name}`);
  for (const d of Object.values(catalog.collections))
    if (d.derive?.transforms.some((t) => t.source.name === name)) readers.push(`derivation:${d.name}`);
  for (const m of Object.values(catalog.materializations))
    if (m.bindings.some((b) => b.source.name === name)) readers.push(`materialization:${m.name}`);
  return {
    name,
    key: c.key,
    writeSchema: schemaAt(catalog, c.writeSchema),
    readSchema: c.readSchema !== c.writeSchema ? schemaAt(catalog, c.readSchema) : undefined,
    columns: fields.map((f) => ({
      name: f.name,
      pointer: f.pointer,
      sqlType: sqlTypeOf(f.shape),
      isKey: f.isKey,
      partition: c.projections[f.name]?.partition ?? false,
    })),
    typescript: `type Document = ${schemaToType(catalog.schemas, c.readSchema)};`,
    writers,
    readers,
  };
}

/**
 * The prefix of packed keys whose first key value starts with `text`: a string value packs as its tag
 * and bytes then a terminator, so the bytes without the terminator prefix every longer string.
 */
export function keyPrefix(text: string): Buffer {
  const packed = packKey([text]);
  return packed.subarray(0, packed.length - 1);
}

export async function reducedDocs(
  runner: AssemblyRunner,
  catalog: BuiltCatalog,
  name: string,
  opts: { prefix?: string; after?: string; limit?: number },
): Promise<DocPage> {
  collectionSpec(catalog, name);
  if (runner.resources.noViews.includes(name))
    return {
      docs: [],
      noView: `${noViewReason(name)}; its newest documents are in the journal below and every document is in its fragments`,
    };
  const table = runner.resources.stateTable;
  if (!table) throw new ConsoleError(503, 'the running stack has no state table');
  if (opts.after !== undefined && !/^([0-9a-f]{2})*$/.test(opts.after))
    throw new ConsoleError(400, `bad page cursor ${JSON.stringify(opts.after)}: expected hex`);
  const state = new DynamoStateStore({
    client: runner.admin.dynamodb,
    table,
    // Documents too large for an item are spilled to S3 (adapters/dynamodb.ts): resolved for display.
    blobs: (bucket) => new S3BlobStore({ client: runner.admin.s3, bucket }),
  });
  try {
    const page = await state.page(name, {
      prefix: opts.prefix ? keyPrefix(opts.prefix) : undefined,
      after: opts.after ? Buffer.from(opts.after, 'hex') : undefined,
      limit: Math.min(200, Math.max(1, opts.limit ?? 25)),
    });
    return {
      docs: page.items.map((i) => ({ key: unpackKey(i.key), doc: i.doc as Json })),
      next: page.next?.toString('hex'),
    };
  } catch (e) {
    // Nothing was persisted yet: the table exists on AWS from the start, here from the first write.
    if ((e as Error).name === 'ResourceNotFoundException') return { docs: [] };
    throw e;
  }
}

/**
 * The newest documents of a collection's journal, polled once a second while someone watches. Each
 * shard is read on from where the last poll ended (from its start the first time: the emulator has no
 * working AT_TIMESTAMP iterator), decoding only the framing of what is skipped, so the page shows the
 * last documents without parsing the whole journal.
 */
export class JournalTail {
  private timer: NodeJS.Timeout | undefined;
  private readonly after = new Map<string, string>();
  private readonly journal: KinesisJournal;
  private busy = false;
  private stopped = false;
  private readonly clients: AwsClients;

  constructor(
    runner: AssemblyRunner,
    private readonly collection: string,
    private readonly onDocs: (docs: Json[]) => void,
    private readonly opts: { max?: number; recordsPerPoll?: number } = {},
  ) {
    const stream = runner.resources.streams[collection];
    if (!stream) throw new ConsoleError(404, `no stream for collection ${collection} in the running stack`);
    // Its own clients, closed with the tail: the runner's are destroyed when a publish restarts it.
    this.clients = makeClients({
      region: runner.template.region,
      endpoints: runner.emulators.endpoints,
      credentials: EMULATOR_CREDENTIALS,
    });
    this.journal = new KinesisJournal({ client: this.clients.kinesis, streamName: () => stream });
  }

  start(everyMs = 1000): void {
    void this.poll();
    this.timer = setInterval(() => void this.poll(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    // Also aborts a read in flight.
    destroyClients(this.clients);
  }

  private async poll(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    const max = this.opts.max ?? 20;
    const perPoll = this.opts.recordsPerPoll ?? 50_000;
    try {
      const entries: { at: number; bytes: Buffer }[] = [];
      for (const s of await this.journal.listShards(this.collection)) {
        // The newest `max` of each shard are candidates for the newest `max` of all.
        const shard: { at: number; bytes: Buffer }[] = [];
        for (let read = 0; read < perPoll && !this.stopped; ) {
          const r = await this.journal.read(this.collection, s.shardId, this.after.get(s.shardId), 10_000);
          for (const rec of r.records) {
            // A record packed for another shard is void (its documents were sent again): not shown twice.
            if (misrouted(rec.partitionKey, rec.shardId)) continue;
            for (const e of unpackFrameEntries(rec.data)) shard.push({ at: rec.arrivalMs, bytes: e.bytes });
            if (shard.length > 4 * max) shard.splice(0, shard.length - max);
          }
          const last = r.records.at(-1);
          if (last) this.after.set(s.shardId, last.sequenceNumber);
          read += r.records.length;
          if (r.records.length === 0 || r.endOfShard) break;
        }
        entries.push(...shard.slice(-max));
      }
      entries.sort((a, b) => a.at - b.at);
      const docs = entries.slice(-max).map((e) => JSON.parse(e.bytes.toString('utf8')) as Json);
      if (docs.length > 0 && !this.stopped) this.onDocs(docs);
    } catch {
      // A stack being restarted by a publish, or the tail stopped mid-read: the next poll tries again.
    } finally {
      this.busy = false;
    }
  }
}
