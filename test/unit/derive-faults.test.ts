// Faults of derivations (most of them stateful), against an oracle computed from what was sent: memory
// adapters, so that a fault falls exactly between two steps of a transaction (dynalite where DynamoDB's
// item limit matters), and the Lambda handler (kinesisEntry) where halt and park decide. The kills of a
// whole function instance on the local stack are in test/integration/estuary-style.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisEntry } from '../../functions/telemetry.ts';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { MemoryBlobStore, MemoryJournal, MemoryStateStore } from '../../shared/adapters/memory.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { createDerivationRunner } from '../../shared/derive/load-module.ts';
import { DeriveTask } from '../../shared/derive/task.ts';
import type { Json } from '../../shared/json/types.ts';
import { explicitHashKey } from '../../shared/keys/hash.ts';
import { packKey } from '../../shared/keys/pack.ts';
import { type DocBatch, decodeRecords, recordsToEvent } from '../../shared/ports/events.ts';
import { ParkingLot } from '../../shared/ports/parking.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { startStack, uniqueName } from '../integration/helpers.ts';
import { quietly } from '../support/quiet.ts';

const ARN = 'arn:aws:kinesis:us-east-1:123456789012:stream/acme-in';
const dir = mkdtempSync(join(tmpdir(), 'sluice-derive-faults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function catalogOf(name: string, files: Record<string, string>): Promise<BuiltCatalog> {
  for (const [f, text] of Object.entries(files)) {
    const p = join(dir, name, f);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  const { catalog, diagnostics } = await loadCatalog(join(dir, name, 'flow.yaml'));
  if (!catalog) throw new Error(JSON.stringify(diagnostics, null, 2));
  return catalog;
}

/** acme/in {seq, id} keyed by /seq; acme/out {id, n} keyed by /id, derived with `using`. */
const flow = (using: string) => `
collections:
  acme/in:
    schema: { type: object, properties: { seq: { type: integer }, id: { type: integer } }, required: [seq, id] }
    key: [/seq]
  acme/out:
    schema: { type: object, properties: { id: { type: integer }, n: { type: integer } }, required: [id, n] }
    key: [/id]
    derive:
      using: ${using}
      transforms:
        - name: fromIn
          source: acme/in
          shuffle: any
LAMBDA
`;

const COUNTING_SQL = flow(
  "{ sqlite: { migrations: ['create table counts (id integer primary key, n integer not null);'] } }",
).replace(
  'LAMBDA',
  "          lambda: 'insert into counts (id, n) values ($id, 1) on conflict do update set n = n + 1 returning id, n;'",
);

class Stack {
  readonly journal: MemoryJournal;
  private seq = 0;
  constructor(
    readonly catalog: BuiltCatalog,
    shards = 1,
    readonly state: MemoryStateStore | DynamoStateStore = new MemoryStateStore(),
    journal?: MemoryJournal,
  ) {
    this.journal = journal ?? new MemoryJournal({ shards });
    if (!journal) for (const c of Object.keys(catalog.collections)) this.journal.ensure(c);
  }
  /** Another catalog deployed over this one's journals and state table. */
  redeploy(catalog: BuiltCatalog): Stack {
    const next = new Stack(catalog, 1, this.state, this.journal);
    next.seq = this.seq;
    return next;
  }
  /** A cold start of the derivation (a new Lambda instance). */
  async task(): Promise<DeriveTask> {
    const runner = await createDerivationRunner(
      this.catalog,
      new SchemaRegistry(this.catalog.schemas),
      'acme/out',
    );
    return new DeriveTask(this.catalog.collections['acme/out'], runner, this.journal, this.catalog, {
      derivationState: this.state,
      watermarks: this.state,
    });
  }
  /** Append documents of these ids; returns one batch per input shard that got any. */
  async ingest(ids: number[]): Promise<DocBatch[]> {
    const before = new Set(this.journal.allRecords('acme/in').map((r) => `${r.shardId}/${r.sequenceNumber}`));
    await this.journal.append(
      'acme/in',
      ids.map((id) => {
        const seq = this.seq++;
        return { hashKey: explicitHashKey(packKey([seq])), doc: { seq, id } };
      }),
    );
    const fresh = this.journal
      .allRecords('acme/in')
      .filter((r) => !before.has(`${r.shardId}/${r.sequenceNumber}`));
    const shards = [...new Set(fresh.map((r) => r.shardId))];
    return shards.map((s) =>
      decodeRecords(
        'acme/in',
        fresh.filter((r) => r.shardId === s),
      ),
    );
  }
  /**
   * What a keyed downstream consumer holds: per key, documents whose origin is at or below what it
   * already applied from that origin source are dropped (copies); the last one taken stands.
   */
  downstream(): Map<number, Json> {
    return this.fold().view;
  }
  /** The ids of the documents a keyed downstream consumer takes (copies dropped), in order. */
  taken(): number[] {
    return this.fold().taken;
  }
  private fold(): { view: Map<number, Json>; taken: number[] } {
    const taken: number[] = [];
    const applied = new Map<string, string>();
    const view = new Map<number, Json>();
    for (const d of decodeRecords('acme/out', this.journal.allRecords('acme/out')).docs) {
      const id = (d.doc as { id: number }).id;
      const k = `${id}\u0000${d.source}`;
      const seen = applied.get(k);
      if (d.hasOrigin && seen !== undefined && d.position <= seen) continue;
      if (d.hasOrigin) applied.set(k, d.position);
      view.set(id, d.doc);
      taken.push(id);
    }
    return { view, taken };
  }
}

/** Count of each id in what was sent. */
function counts(ids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

/** The count `n` of each id downstream. */
function ns(view: Map<number, Json>): Map<number, number> {
  return new Map([...view].map(([id, d]) => [id, (d as { n: number }).n]));
}

/** The derivation's Lambda handler over `task`, as functions/derive.ts wires it; under park with a lot. */
function handlerOf(task: DeriveTask, opts: { lot?: ParkingLot; before?: (b: DocBatch) => void } = {}) {
  return kinesisEntry(() => ({
    collectionOfArn: () => 'acme/in',
    onBatch: async (b) => {
      opts.before?.(b);
      return task.onBatch(b);
    },
    counters: () => ({ docsOut: task.stats.docsOut }),
    ...(opts.lot ? { parking: opts.lot, onParked: (b, d) => task.skipParked(b, d) } : {}),
  }));
}

const lotOf = () => new ParkingLot(new MemoryBlobStore(), 'parked/', 'derivation:acme/out');

/** What an invocation came to: 'went on', or the error it threw. */
const outcomeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'went on',
    (e: unknown) => String(e),
  );

describe('two invocations racing on one derivation state', () => {
  it('one commits while the other computes (two input shards): the other appends nothing, and its retry counts right', async () => {
    const s = new Stack(await catalogOf('race', { 'flow.yaml': COUNTING_SQL }), 2);
    const sent = [1, 1, 2, 1, 2, 3, 1, 1];
    const batches = await s.ingest(sent);
    expect(batches).toHaveLength(2);
    const a = await s.task();
    const b = await s.task();
    // B runs its whole transaction while A writes its pages (after A derived from version 0).
    const state = s.state as MemoryStateStore;
    const put = state.putPages.bind(state);
    let raced = false;
    state.putPages = async (task, pages) => {
      if (!raced) {
        raced = true;
        await b.onBatch(batches[1]);
      }
      return put(task, pages);
    };
    await expect(a.onBatch(batches[0])).rejects.toMatchObject({ code: 'DerivationStateConflict' });
    await a.onBatch(batches[0]);
    // Before: A appended counts computed without B's documents, and its retry's (right) counts carried
    // the same origins and were dropped: id 1 stood at 2 downstream (5 sent), id 2 at 1 (2 sent).
    expect(ns(s.downstream())).toEqual(counts(sent));
    expect(decodeRecords('acme/out', s.journal.allRecords('acme/out')).docs).toHaveLength(sent.length);
  });
});

describe('TypeScript derivation state', () => {
  it('flush() returns state in one transaction and none in the next: a cold start keeps it', async () => {
    // Publishes an id the first time it is seen; the ids seen are its state, updated (merge patch) only
    // when one is new: Estuary's `{published, state}` flush without startCommit.
    const mod = `
export class Derivation {
  constructor(open) { this.seen = open.state.seen ?? {}; this.fresh = {}; }
  fromIn(read) {
    const id = String(read.doc.id);
    if (this.seen[id] || this.fresh[id]) return [];
    this.fresh[id] = true;
    return [{ id: read.doc.id, n: 1 }];
  }
  flush() {
    const fresh = this.fresh;
    this.fresh = {};
    Object.assign(this.seen, fresh);
    return Object.keys(fresh).length ? { published: [], state: { updated: { seen: fresh }, mergePatch: true } } : [];
  }
}
`;
    const s = new Stack(
      await catalogOf('ts-flush-state', {
        'flow.yaml': flow('{ typescript: { module: mod.ts } }').replace('LAMBDA', ''),
        'mod.ts': mod,
      }),
    );
    const t = await s.task();
    for (const b of await s.ingest([1])) await t.onBatch(b);
    // No id new: flush() returns no state update.
    for (const b of await s.ingest([1])) await t.onBatch(b);
    expect((await s.state.loadDerivationState('derivation:acme/out'))?.json).toEqual({ seen: { 1: true } });
    // A cold start opens the committed state: id 1 is not published again (before: the second commit
    // dropped the state, and id 1 was published twice).
    const cold = await s.task();
    for (const b of await s.ingest([1, 2])) await cold.onBatch(b);
    const published = decodeRecords('acme/out', s.journal.allRecords('acme/out')).docs.map(
      (d) => (d.doc as { id: number }).id,
    );
    expect(published).toEqual([1, 2]);
  });
});

describe('derivations redeployed over their committed state', () => {
  it('SQLite redeployed with a migration that fails on the committed tables: under park it halts, parking nothing', async () => {
    const s = new Stack(await catalogOf('mig-ok', { 'flow.yaml': COUNTING_SQL }));
    for (const b of await s.ingest([1, 2])) await (await s.task()).onBatch(b);
    // The appended migration runs on an empty database (a cold start's init) but not on the committed one.
    const broken = s.redeploy(
      await catalogOf('mig-broken', {
        'flow.yaml': COUNTING_SQL.replace(
          "n integer not null);'",
          "n integer not null);', 'insert into counts (id, n) values (1, 0);'",
        ),
      }),
    );
    const task = await broken.task();
    const lot = lotOf();
    await broken.ingest([3, 4, 5]);
    const event = recordsToEvent(broken.journal.allRecords('acme/in'), ARN);
    const outcome = await quietly(() => outcomeOf(handlerOf(task, { lot })(event)));
    // Before: the migration's SqlInvalid was taken for a document error and all 3 documents were parked.
    expect(await lot.list()).toEqual([]);
    expect(outcome).toMatch(/StateRestore|cannot open its committed state \(version 1\).*migration 1 failed/);
  });

  it('TypeScript redeployed with its state shape changed: a constructor refusing the old state halts under park; one converting it goes on from it', async () => {
    const v1 = `
export class Derivation {
  constructor(open) { this.total = open.state.total ?? 0; }
  fromIn(read) { this.total += read.doc.id; return [{ id: read.doc.id, n: this.total }]; }
  startCommit() { return { state: { updated: { total: this.total }, mergePatch: false } }; }
}`;
    // v2 keeps {sum} instead of {total}; its first cut refuses a state it does not know.
    const v2 = (convert: boolean) => `
export class Derivation {
  constructor(open) {
    ${convert ? 'this.sum = open.state.sum ?? open.state.total ?? 0;' : "if (open.state.total !== undefined) throw new Error('unknown state'); this.sum = open.state.sum ?? 0;"}
  }
  fromIn(read) { this.sum += read.doc.id; return [{ id: read.doc.id, n: this.sum }]; }
  startCommit() { return { state: { updated: { sum: this.sum }, mergePatch: false } }; }
}`;
    const catalog = (name: string, mod: string) =>
      catalogOf(name, {
        'flow.yaml': flow('{ typescript: { module: mod.ts } }').replace('LAMBDA', ''),
        'mod.ts': mod,
      });
    const first = new Stack(await catalog('ts-v1', v1));
    for (const b of await first.ingest([1, 2])) await (await first.task()).onBatch(b);
    const refusing = first.redeploy(await catalog('ts-v2', v2(false)));
    const lot = lotOf();
    const [b] = await refusing.ingest([3, 4]);
    const event = recordsToEvent(refusing.journal.allRecords('acme/in'), ARN);
    const task = await refusing.task();
    const outcome = await quietly(() => outcomeOf(handlerOf(task, { lot })(event)));
    expect(outcome).toMatch(/cannot open its committed state \(version 1\).*unknown state/);
    expect(await lot.list()).toEqual([]);
    // The converting module goes on from the committed total: 1 + 2, then 3 + 4.
    const converting = first.redeploy(await catalog('ts-v2-fixed', v2(true)));
    await (await converting.task()).onBatch(b);
    expect(await first.state.loadDerivationState('derivation:acme/out')).toMatchObject({
      version: 2,
      json: { sum: 10 },
    });
  });
});

describe('large derivation state on dynalite', () => {
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.emulators.stop();
  });
  const store = async () => {
    const s = new DynamoStateStore({ client: stack!.clients.dynamodb, table: uniqueName('state') });
    await s.ensureTable();
    return s;
  };

  it('a TypeScript state over the 400 KB item limit commits in chunks; a crash mid-write of chunks retries; a cold start restores it', async () => {
    // 30 KB of state per document: 15 documents make 450 KB.
    const mod = `
export class Derivation {
  constructor(open) { this.big = open.state.big ?? {}; }
  fromIn(read) { this.big[String(read.doc.seq)] = String(read.doc.seq).repeat(30000).slice(0, 30000); return [{ id: read.doc.id, n: Object.keys(this.big).length }]; }
  startCommit() { return { state: { updated: { big: this.big }, mergePatch: false } }; }
}`;
    const state = await store();
    const s = new Stack(
      await catalogOf('big-ts', {
        'flow.yaml': flow('{ typescript: { module: mod.ts } }').replace('LAMBDA', ''),
        'mod.ts': mod,
      }),
      1,
      state,
    );
    const [first] = await s.ingest(Array.from({ length: 15 }, (_, i) => i));
    // The first attempt dies after writing some chunks, before the manifest.
    const put = state.putPages.bind(state);
    state.putPages = async (task, pages) => {
      await put(task, new Map([...pages].slice(0, 3)));
      throw new Error('killed mid-write of chunks');
    };
    await expect((await s.task()).onBatch(first)).rejects.toThrow('killed mid-write');
    state.putPages = put;
    // Before: StateError ItemTooLarge (a manifest of 450 KB) on every retry, the derivation halted for good.
    await (await s.task()).onBatch(first);
    const manifest = (await state.loadDerivationState('derivation:acme/out'))!;
    expect(manifest.json).toBeUndefined();
    expect(manifest.body!.length).toBeGreaterThan(25);
    expect(JSON.stringify(manifest).length).toBeLessThan(4096);
    // A cold start opens the whole state: the 16th key counts 16.
    for (const b of await s.ingest([99])) await (await s.task()).onBatch(b);
    expect(s.downstream().get(99)).toMatchObject({ n: 16 });
  });

  it('a SQLite database of thousands of pages: its page list goes to chunks, and a commit rewrites only the chunks that changed', async () => {
    const yaml = flow(
      "{ sqlite: { migrations: ['create table blobs (seq integer primary key, b blob not null);'] } }",
    ).replace(
      'LAMBDA',
      "          lambda: 'insert into blobs values ($seq, randomblob(2000000)); select $id as id, (select count(*) from blobs) as n;'",
    );
    const state = await store();
    const s = new Stack(await catalogOf('big-sqlite', { 'flow.yaml': yaml }), 1, state);
    const t = await s.task();
    // 8 MB: about 2,000 pages of 4 KB, a page list of 50 KB (over the inline limit).
    for (const b of await s.ingest([1, 2, 3, 4])) await t.onBatch(b);
    const m1 = (await state.loadDerivationState('derivation:acme/out'))!;
    expect(m1.pages).toBeUndefined();
    expect(m1.body!.length).toBeGreaterThan(2);
    for (const b of await s.ingest([5])) await (await s.task()).onBatch(b);
    const m2 = (await state.loadDerivationState('derivation:acme/out'))!;
    // The new pages (2 MB) and the chunks of the list they fall in, not the whole list again.
    const changedChunks = m2.body!.filter((h) => !m1.body!.includes(h)).length;
    expect(changedChunks).toBeLessThan(m2.body!.length);
    expect(s.downstream().get(5)).toMatchObject({ n: 5 });
  });
});
describe('a stateful module failing outside its transforms, on one document', () => {
  // Sums ids into its state and publishes the running total; on id 13 one of its hooks fails.
  const module = (hooks: string, output = '{ id: read.doc.id, n: this.total }') => `
export class Derivation {
  constructor(open) { this.total = open.state.total ?? 0; this.poison = false; }
  fromIn(read) { if (read.doc.id === 13) this.poison = true; this.total += read.doc.id; return [${output}]; }
  ${hooks}
}`;
  const commit = 'startCommit() { return { state: { updated: { total: this.total }, mergePatch: false } }; }';
  const cases: [string, string][] = [
    [
      'startCommit() throws',
      module(
        "startCommit() { if (this.poison) throw new Error('no 13'); return { state: { updated: { total: this.total } } }; }",
      ),
    ],
    [
      'flush() throws',
      module(
        "flush() { if (this.poison) throw new Error('no 13'); return { published: [], state: { updated: { total: this.total } } }; }",
      ),
    ],
    [
      "flush() publishes a document the collection's schema refuses",
      module(
        "flush() { return { published: this.poison ? [{ id: 'x' }] : [], state: { updated: { total: this.total } } }; }",
      ),
    ],
    [
      // Before: the journal's RecordTooLarge was no document error, and the shard halted under park too.
      'an output over the 1 MiB of a Kinesis record',
      module(
        commit,
        "{ id: read.doc.id, n: this.total, ...(read.doc.id === 13 ? { pad: 'x'.repeat(1100000) } : {}) }",
      ),
    ],
  ];

  async function run(name: string, mod: string, park: boolean) {
    const s = new Stack(
      await catalogOf(name, {
        'flow.yaml': flow('{ typescript: { module: mod.ts } }').replace('LAMBDA', ''),
        'mod.ts': mod,
      }),
    );
    const task = await s.task();
    const lot = lotOf();
    await s.ingest([10, 11, 12, 13, 14]);
    const event = recordsToEvent(s.journal.allRecords('acme/in'), ARN);
    const outcome = await quietly(() => outcomeOf(handlerOf(task, park ? { lot } : {})(event)));
    return {
      outcome,
      parked: (await lot.list()).map((p) => (p.parked.doc as { id: number }).id),
      published: [...ns(s.downstream())],
      state: (await s.state.loadDerivationState('derivation:acme/out'))?.json,
    };
  }

  it.each(cases)(
    '%s: under halt the batch fails with nothing published; under park only that document is parked',
    async (what, mod) => {
      const name = what.replace(/[^a-z]+/gi, '-');
      const halted = await run(`${name}-halt`, mod, false);
      expect(halted).toMatchObject({ published: [], state: undefined });
      expect(halted.outcome).toMatch(/DerivationError: derivation acme\/out/);
      const parked = await run(`${name}-park`, mod, true);
      expect(parked).toEqual({
        outcome: 'went on',
        parked: [13],
        published: [
          [10, 10],
          [11, 21],
          [12, 33],
          [14, 47],
        ],
        state: { total: 47 },
      });
    },
  );
});

describe('a parked document and the batch delivered again', () => {
  // Sums ids; throws on 13 while `globalThis.broken13` is set (the bug a fix deploys away).
  const module = (stateful: boolean) => `
export class Derivation {
  ${stateful ? 'constructor(open) { this.total = open.state.total ?? 0; }' : 'total = 0;'}
  fromIn(read) {
    if (read.doc.id === 13 && globalThis.broken13) throw new Error('no 13');
    this.total += read.doc.id;
    return [{ id: read.doc.id, n: this.total }];
  }
  ${stateful ? 'startCommit() { return { state: { updated: { total: this.total } } }; }' : ''}
}`;

  it.each([
    ['stateful', true],
    ['stateless', false],
  ])(
    '%s: parked, its isolation cut short by an outage, the fix deployed: the retry skips it and the redrive applies it once',
    async (name, stateful) => {
      const s = new Stack(
        await catalogOf(`parked-retry-${name}`, {
          'flow.yaml': flow('{ typescript: { module: mod.ts } }').replace('LAMBDA', ''),
          'mod.ts': module(stateful),
        }),
      );
      const task = await s.task();
      let outage = true;
      const handler = handlerOf(task, {
        lot: lotOf(),
        // DynamoDB throttling the isolated attempt of the document after the parked one: not a document error.
        before: (b) => {
          if (b.isolated && (b.docs[0].doc as { id: number }).id === 14 && outage)
            throw new Error('throttled');
        },
      });
      await s.ingest([10, 11, 12, 13, 14]);
      const event = recordsToEvent(s.journal.allRecords('acme/in'), ARN);
      const g = globalThis as { broken13?: boolean };
      try {
        g.broken13 = true;
        await quietly(() => expect(handler(event)).rejects.toThrow('throttled'));
        // The outage ends and the fix is deployed before the mapping delivers the batch again.
        outage = false;
        g.broken13 = false;
        await quietly(() => handler(event));
        expect(await quietly(() => handler({ sluiceRedrive: {} }))).toMatchObject({
          redriven: 1,
          remaining: 0,
        });
      } finally {
        delete g.broken13;
      }
      // Each id taken once downstream, 13 from its redrive (before: 13 was applied by the retry and
      // again by the redrive; stateful, the total 73 instead of 60).
      expect(s.taken().sort()).toEqual([10, 11, 12, 13, 14]);
      if (stateful)
        expect([...ns(s.downstream())]).toEqual([
          [10, 10],
          [11, 21],
          [12, 33],
          [14, 47],
          [13, 60],
        ]);
      if (stateful)
        expect((await s.state.loadDerivationState('derivation:acme/out'))?.json).toEqual({ total: 60 });
    },
  );
});

describe('a parked document first in a shard born of a reshard', () => {
  it.each([
    ['stateful', true],
    ['stateless', false],
  ])(
    '%s: the shard still starts from its parent marks, so copies re-published into it are skipped',
    async (name, stateful) => {
      const mod = stateful
        ? `export class Derivation {
  constructor(open) { this.total = open.state.total ?? 0; }
  fromIn(read) { this.total += read.doc.id; return [{ id: read.doc.id, n: this.total }]; }
  startCommit() { return { state: { updated: { total: this.total } } }; }
}`
        : 'export class Derivation { fromIn(read) { return [{ id: read.doc.id, n: 1 }]; } }';
      const s = new Stack(
        await catalogOf(`parked-child-${name}`, {
          'flow.yaml': flow('{ typescript: { module: mod.ts } }').replace('LAMBDA', ''),
          'mod.ts': mod,
        }),
      );
      // acme/in's shard `c` is the split child of `p` (documents built by hand: their origins are what matter).
      const range = { startingHashKey: '0', endingHashKey: String((1n << 128n) - 1n) };
      const listShards = s.journal.listShards.bind(s.journal);
      s.journal.listShards = async (c: string) =>
        c === 'acme/in'
          ? [
              { shardId: 'p', closed: true, ...range },
              { shardId: 'c', parentShardId: 'p', closed: false, ...range },
            ]
          : listShards(c);
      let seq = 0;
      const doc = (shardId: string, id: number, source: string, position: string) => ({
        doc: { seq: seq++, id },
        shardId,
        sequenceNumber: String(100 + seq),
        index: 0,
        streamPosition: String(100 + seq).padStart(10, '0'),
        source,
        position,
        hasOrigin: true,
        arrivalMs: 0,
      });
      const batch = (shardId: string, docs: ReturnType<typeof doc>[]): DocBatch => ({
        collection: 'acme/in',
        shardId,
        docs,
        bytes: 0,
      });
      const task = await s.task();
      // The parent derived two requests' documents (two origin sources).
      await task.onBatch(batch('p', [doc('p', 1, 'req/a', '1'), doc('p', 2, 'req/b', '1')]));
      // The child's first document (of a third request) is parked before the child took anything.
      const first = doc('c', 3, 'req/c', '1');
      await task.skipParked(batch('c', [first]), first);
      // An upstream replay re-publishes both copies into the child, then a new document.
      const before = { ...task.stats };
      await task.onBatch(
        batch('c', [doc('c', 1, 'req/a', '1'), doc('c', 2, 'req/b', '1'), doc('c', 4, 'req/d', '1')]),
      );
      // Before (the parked document's marks written without the parent's): both copies derived again.
      expect({
        out: task.stats.docsOut - before.docsOut,
        skipped: task.stats.docsSkipped - before.docsSkipped,
      }).toEqual({
        out: 1,
        skipped: 2,
      });
    },
  );
});
