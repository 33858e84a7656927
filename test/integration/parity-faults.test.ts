/**
 * Parity under faults: the ledger and sessions parity catalogs' transactions (parity-ledger and
 * parity-sessions) through the deployed assembly while the local stack injects faults into the functions'
 * AWS calls and the PostgreSQL connection, and the final views and tables still equal the offline
 * engine's exactly (no document lost, none applied twice).
 * Faults, each capped and counted (the test asserts every kind fired):
 * - kill: a function's instances SIGKILLed mid-invocation, effects partly applied: the derivation's and
 *   persisters' right after one of their AWS calls reached the emulator, the materialization's while its
 *   PostgreSQL COMMIT is on the way to the server (pg-fault-proxy's onCommit);
 * - Kinesis: PutRecords throttled (ProvisionedThroughputExceeded), every entry refused (FailedRecordCount),
 *   or applied and answered 500;
 * - DynamoDB: calls throttled before, and conditional PutItems applied and answered 500 (ambiguous);
 * - S3: PutObject (fragments, derivation state) answered 503 SlowDown;
 * - PostgreSQL: a COMMIT dropped before it reaches the server, and one whose answer is lost.
 */
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { isObject, type JsonObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import type { ProxyHooks } from '../../shared/local/sandbox/proxy.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import type { EngineSession } from '../../shared/testing/runner.ts';
import { TestRunner } from '../../shared/testing/runner.ts';
import { STEPS } from '../fixtures/parity/ledger/steps.ts';
import { STEPS as SESSION_STEPS } from '../fixtures/parity/sessions/steps.ts';
import { startAssembly } from '../support/assembly.ts';
import { actionOf, Faults, failedEntries, putEntries, taskOf, throttled } from '../support/faults.ts';
import { type PgFaultProxy, startPgFaultProxy } from '../support/pg-fault-proxy.ts';
import { SLOW_DOWN } from './helpers.ts';
import {
  bare,
  expectSessionsTables,
  ingestBoth,
  type ParityFixture,
  startParity,
  view,
} from './parity-fixture.ts';

const CATALOG = fileURLToPath(new URL('../fixtures/parity/ledger/flow.yaml', import.meta.url));

/**
 * The AWS faults, on the functions' calls through the runner's proxies (`names`: function name -> task
 * label, filled once the runner started).
 */
function faultHooks(faults: Faults, names: Map<string, string>, runner: () => AssemblyRunner): ProxyHooks {
  const label = taskOf(names);
  const action = actionOf;
  return {
    before: (c) => {
      const l = label(c);
      const a = action(c);
      if (a === 'kinesis:PutRecords' && faults.take('kinesis-throttle', l, 1)) return throttled('kinesis');
      // Every entry of a PutRecords refused (FailedRecordCount = all; nothing appended).
      if (a === 'kinesis:PutRecords' && faults.take('kinesis-failed-entries', l, 2)) {
        return failedEntries(putEntries(c));
      }
      if (a === 's3:PutObject' && faults.take('s3-slowdown', l, 2)) return SLOW_DOWN;
      if (c.service === 'dynamodb' && l.startsWith('persister:') && faults.take('dynamodb-throttle', l, 2))
        return throttled('dynamodb');
      return undefined;
    },
    after: (c, status) => {
      if (status !== 200) return;
      const l = label(c);
      const a = action(c);
      const n = faults.nth(l);
      // An instance killed mid-invocation, right after one of its calls took effect.
      if (/^(derivation|persister):/.test(l) && (n === 6 || n === 25) && faults.take('kill', l, 2)) {
        void runner().task(l).fn.recycle();
        return;
      }
      if (a === 'kinesis:PutRecords' && faults.take('kinesis-lost-answer', l, 2))
        throw new Error('answer lost (injected)');
      if (
        a === 'dynamodb:PutItem' &&
        l.startsWith('persister:') &&
        c.call.body.toString().includes('ConditionExpression') &&
        faults.take('dynamodb-lost-answer', l, 2)
      )
        throw new Error('answer lost (injected)');
    },
  };
}

describe('parity under faults: offline engine vs the deployed assembly (ledger)', () => {
  let fx: ParityFixture | undefined;
  let db: pg.Client;
  let catalog: BuiltCatalog;
  let dataDir: string;
  let proxy: PgFaultProxy | undefined;

  let runner: AssemblyRunner;
  let offline: EngineSession;
  const faults = new Faults();
  const names = new Map<string, string>(); // function name -> task label

  beforeAll(async () => {
    fx = await startParity(CATALOG, 'ledger');
    ({ db, catalog, dataDir } = fx);
    // The PostgreSQL materialization talks to the server through the COMMIT-breaking proxy.
    proxy = await startPgFaultProxy(fx.server.host, fx.server.port);
    const cfg = catalog.materializations['parity/ledger-pg'].endpoint.config;
    if (!isObject(cfg)) throw new Error('fixture: no config');
    cfg.address = proxy.address;
    offline = await (await TestRunner.create(catalog, new SchemaRegistry(catalog.schemas))).session();
    runner = await startAssembly(catalog, {
      dataDir,
      hooks: faultHooks(faults, names, () => runner),
    });
    for (const t of runner.tasks) names.set(t.fn.name, t.label);
    // The materialization's AWS calls end with its first backfill (its batches only talk to PostgreSQL):
    // its instances are killed while a COMMIT is on its way to the server (then forwarded: applied).
    const mat = 'materialization:parity/ledger-pg';
    // Not during its first backfill, which holds a lease a killed instance keeps for its TTL (60 s).
    let killAtCommit = 0;
    proxy!.onCommit = () => {
      if (killAtCommit > 0 && faults.take('kill', mat, 2)) {
        killAtCommit--;
        void runner.task(mat).fn.recycle();
      }
    };
    const steps = STEPS.map((step) => ({ collection: `parity/${step.path}`, docs: step.docs }));
    await ingestBoth({ offline, runner }, steps, async (step) => {
      // PostgreSQL: the next COMMIT dropped before the server sees it, then one whose answer is lost.
      if (step === steps[0]) proxy!.arm('drop-before', 1);
      if (step === steps[2]) proxy!.arm('drop-after', 1);
      if (step === steps[1] || step === steps[3]) killAtCommit = 1;
    });
  }, 120_000);
  afterAll(async () => {
    await runner?.stop();
    await proxy?.close();
    await fx?.stop();
  });

  it('the faults fired', () => {
    for (const kind of [
      'kill',
      'kinesis-throttle',
      'kinesis-failed-entries',
      'kinesis-lost-answer',
      's3-slowdown',
      'dynamodb-throttle',
      'dynamodb-lost-answer',
    ])
      expect(faults.total(kind), kind).toBeGreaterThan(0);
    expect(proxy!.broken).toBe(2);
    for (const t of [
      'derivation:parity/activity',
      'materialization:parity/ledger-pg',
      'persister:parity/accounts',
      'persister:parity/transfers',
      'persister:parity/activity',
    ])
      expect(faults.total('kill', t), `kill ${t}`).toBeGreaterThan(0);
  });

  it('collections: the reduced views equal the offline engine', async () => {
    for (const collection of ['parity/accounts', 'parity/transfers', 'parity/activity']) {
      const want = (await offline.read(collection)).docs.map(bare);
      expect(await view(runner, collection), collection).toEqual(want);
    }
  });

  it('PostgreSQL: the tables equal the offline engine', async () => {
    const want = await offline.read('parity/accounts', { include: { tier: ['gold', 'basic'] } });
    const rows = (await db.query('SELECT * FROM public.accounts ORDER BY account')).rows as JsonObject[];
    expect(rows.map((r) => bare(r.flow_document))).toEqual(want.docs.map(bare));
    const activity = (await db.query('SELECT flow_document FROM public.activity ORDER BY account')).rows;
    expect(activity.map((r) => bare(r.flow_document))).toEqual(
      (await offline.read('parity/activity')).docs.map(bare),
    );
  });
});

const SESSIONS = fileURLToPath(new URL('../fixtures/parity/sessions/flow.yaml', import.meta.url));

describe('parity under faults: offline engine vs the deployed assembly (sessions, derived deletions)', () => {
  let fx: ParityFixture | undefined;
  let proxy: PgFaultProxy | undefined;
  let runner: AssemblyRunner;
  let offline: EngineSession;
  const faults = new Faults();
  const names = new Map<string, string>();
  const mats = ['materialization:parity/sessions-soft', 'materialization:parity/sessions-hard'];

  beforeAll(async () => {
    fx = await startParity(SESSIONS, 'sessions');
    const catalog = fx.catalog;
    proxy = await startPgFaultProxy(fx.server.host, fx.server.port);
    for (const m of ['parity/sessions-soft', 'parity/sessions-hard']) {
      const cfg = catalog.materializations[m].endpoint.config;
      if (!isObject(cfg)) throw new Error('fixture: no config');
      cfg.address = proxy.address;
    }
    offline = await (await TestRunner.create(catalog, new SchemaRegistry(catalog.schemas))).session();
    runner = await startAssembly(catalog, {
      dataDir: fx.dataDir,
      hooks: faultHooks(faults, names, () => runner),
    });
    for (const t of runner.tasks) names.set(t.fn.name, t.label);
    // Both materializations' instances killed while one of their COMMITs is in flight (after the backfill).
    let killAtCommit = 0;
    proxy.onCommit = () => {
      if (killAtCommit > 0) {
        killAtCommit--;
        for (const m of mats) if (faults.take('kill', m, 2)) void runner.task(m).fn.recycle();
      }
    };
    const steps = SESSION_STEPS.map((docs) => ({ collection: 'parity/events', docs }));
    await ingestBoth({ offline, runner }, steps, async (step) => {
      if (step === steps[0]) proxy!.arm('drop-after', 1);
      if (step === steps[1]) proxy!.arm('drop-before', 1);
      if (step === steps[2]) killAtCommit = 1;
    });
  }, 120_000);
  afterAll(async () => {
    await runner?.stop();
    await proxy?.close();
    await fx?.stop();
  });

  it('the faults fired', () => {
    for (const kind of ['kinesis-throttle', 'kinesis-failed-entries', 'kinesis-lost-answer', 's3-slowdown'])
      expect(faults.total(kind), kind).toBeGreaterThan(0);
    expect(proxy!.broken).toBe(2);
    for (const t of ['derivation:parity/sessions', ...mats])
      expect(faults.total('kill', t), `kill ${t}`).toBeGreaterThan(0);
  });

  it('the derived view and both PostgreSQL tables equal the offline engine', async () => {
    const want = await offline.read('parity/sessions');
    expect(want.deleted.map((d) => (d as JsonObject).user)).toEqual(['cy']);
    expect(await view(runner, 'parity/sessions')).toEqual(want.docs.map(bare));
    await expectSessionsTables(fx!.db, want.docs);
  });
});
