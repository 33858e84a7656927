import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import type { EngineSession } from '../../shared/testing/runner.ts';
import { STEPS } from '../fixtures/parity/ledger/steps.ts';
import { bare, ingestBoth, type ParityFixture, startBoth, startParity, view } from './parity-fixture.ts';

const CATALOG = fileURLToPath(new URL('../fixtures/parity/ledger/flow.yaml', import.meta.url));

let fx: ParityFixture | undefined;
let db: pg.Client;
let catalog: BuiltCatalog;
let dataDir: string;

beforeAll(async () => {
  fx = await startParity(CATALOG, 'ledger');
  ({ db, catalog, dataDir } = fx);
});
afterAll(async () => {
  await fx?.stop();
});

describe('parity: offline engine vs the deployed assembly (ledger, SQLite)', () => {
  let runner: AssemblyRunner;
  let offline: EngineSession;

  beforeAll(async () => {
    ({ offline, runner } = await startBoth(catalog, dataDir));
    await ingestBoth(
      { offline, runner },
      STEPS.map((step) => ({ collection: `parity/${step.path}`, docs: step.docs })),
    );
  }, 120_000);
  afterAll(async () => {
    await runner?.stop();
  });

  it('collections: the reduced views equal the offline engine', async () => {
    for (const collection of ['parity/accounts', 'parity/transfers', 'parity/activity']) {
      const want = (await offline.read(collection)).docs.map(bare);
      expect(await view(runner, collection), collection).toEqual(want);
    }
    // The audit transform (notAfter 2025) read nothing.
    for (const d of await view(runner, 'parity/activity')) expect(d).not.toHaveProperty('audited');
  });

  it('PostgreSQL: hard deletes behind a partition selector, and the SQLite derivation', async () => {
    const want = await offline.read('parity/accounts', { include: { tier: ['gold', 'basic'] } });
    const rows = (await db.query('SELECT * FROM public.accounts ORDER BY account')).rows as JsonObject[];
    expect(rows.map((r) => bare(r.flow_document))).toEqual(want.docs.map(bare));
    // eve's row is what its basic-tier documents made: its later documents (the deletion included) are
    // in a partition the binding does not read.
    expect(rows.find((r) => r.account === 'eve')?.holder).toBe('Eve');
    expect(Object.keys(rows[0]).sort()).toEqual(
      ['account', 'tier', 'holder', 'status', 'opened', 'flags', 'limits', 'flow_document'].sort(),
    );
    const activity = (await db.query('SELECT flow_document FROM public.activity ORDER BY account')).rows;
    expect(activity.map((r) => bare(r.flow_document))).toEqual(
      (await offline.read('parity/activity')).docs.map(bare),
    );
  });
});
