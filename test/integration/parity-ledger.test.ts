import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import type { EngineSession } from '../../shared/testing/runner.ts';
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

type Step = { path: 'accounts' | 'transfers'; docs: JsonObject[] };
const acct = (account: string, tier: string, rest: JsonObject = {}, op = 'c'): JsonObject => ({
  account,
  tier,
  ...rest,
  _meta: { op },
});
const close = (account: string, tier: string): JsonObject => ({ account, tier, _meta: { op: 'd' } });
const xfer = (id: string, from: string, to: string, amount: number, channel: string): JsonObject => ({
  id,
  from,
  to,
  amount,
  channel,
});

const STEPS: Step[] = [
  {
    path: 'accounts',
    docs: [
      acct('ann', 'gold', {
        holder: 'Ann',
        status: 'new',
        opened: '2026-02-01',
        flags: { add: ['vip'] },
        limits: [{ kind: 'atm', cap: 100 }],
        history: ['opened'],
      }),
      acct('bo', 'basic', { holder: 'Bo', opened: '2026-02-03' }),
      acct('cy', 'closed', { holder: 'Cy', history: ['dormant'] }),
      acct('dee', 'basic', { holder: 'Dee', status: 'new' }),
      // The same key twice in a transaction, with an unequal lastWriteWins {associative: false}.
      acct('dee', 'basic', { status: 'kyc', flags: { add: ['kyc'] } }, 'u'),
      acct('eve', 'basic', { holder: 'Eve', status: 'new' }),
    ],
  },
  {
    path: 'transfers',
    docs: [
      xfer('t1', 'ann', 'bo', 30, 'web'),
      xfer('t2', 'ann', 'bo', 5, 'atm'),
      xfer('t3', 'bo', 'ann', 10, 'branch'),
      xfer('t4', 'cy', 'dee', 7, 'web'),
      xfer('t5', 'dee', 'ann', 1, 'branch'),
      xfer('t6', 'ann', 'cy', 2, 'web'),
    ],
  },
  {
    path: 'accounts',
    docs: [
      close('bo', 'basic'),
      acct(
        'ann',
        'gold',
        {
          status: 'active',
          opened: '2026-01-15',
          flags: { add: ['paper'], remove: ['vip'] },
          limits: [
            { kind: 'atm', cap: 50 },
            { kind: 'web', cap: 10 },
          ],
          history: ['upgraded'],
        },
        'u',
      ),
      acct('cy', 'basic', { holder: 'Cy', status: 'reopened' }),
      close('dee', 'basic'),
      acct('dee', 'gold', { holder: 'Dee II', flags: { add: ['new'] } }),
      // eve moves to a partition the PostgreSQL binding and fromAccounts exclude
      acct('eve', 'closed', { holder: 'Eve (closed)', status: 'closing' }, 'u'),
    ],
  },
  { path: 'accounts', docs: [acct('bo', 'gold', { holder: 'Bo B.' })] },
  {
    path: 'transfers',
    docs: [
      xfer('t7', 'bo', 'ann', 4, 'web'),
      xfer('t8', 'dee', 'cy', 3, 'web'),
      xfer('t9', 'ann', 'dee', 6, 'branch'),
      xfer('t10', 'bo', 'dee', 9, 'atm'),
    ],
  },
  {
    path: 'accounts',
    docs: [
      close('ann', 'gold'),
      acct('cy', 'basic', { flags: { intersect: [] } }, 'u'),
      close('eve', 'closed'),
    ],
  },
];

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
