import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import type { EngineSession } from '../../shared/testing/runner.ts';
import { STEPS } from '../fixtures/parity/sessions/steps.ts';
import {
  bare,
  expectSessionsTables,
  ingestBoth,
  type ParityFixture,
  startBoth,
  startParity,
  view,
} from './parity-fixture.ts';

const CATALOG = fileURLToPath(new URL('../fixtures/parity/sessions/flow.yaml', import.meta.url));

let fx: ParityFixture | undefined;
let db: pg.Client;
let catalog: BuiltCatalog;
let dataDir: string;

beforeAll(async () => {
  fx = await startParity(CATALOG, 'sessions');
  ({ db, catalog, dataDir } = fx);
});
afterAll(async () => {
  await fx?.stop();
});

describe('parity: offline engine vs the deployed assembly (sessions, derived deletions)', () => {
  let runner: AssemblyRunner;
  let offline: EngineSession;

  beforeAll(async () => {
    ({ offline, runner } = await startBoth(catalog, dataDir));
    await ingestBoth(
      { offline, runner },
      STEPS.map((docs) => ({ collection: 'parity/events', docs })),
    );
  }, 120_000);
  afterAll(async () => {
    await runner?.stop();
  });

  it('the derived collection’s reduced view equals the offline engine', async () => {
    const want = await offline.read('parity/sessions');
    expect(want.deleted.map((d) => (d as JsonObject).user)).toEqual(['cy']);
    expect(await view(runner, 'parity/sessions')).toEqual(want.docs.map(bare));
  });

  it('PostgreSQL: soft-deleted rows stay marked, hard-deleted rows go, re-created ones hold only their new documents', async () => {
    const want = await offline.read('parity/sessions');
    const hard = await expectSessionsTables(db, want.docs);
    expect(Object.keys(hard[0]).sort()).toEqual(['user', 'generation', 'logins', 'flow_document'].sort());
    expect(
      hard.map((r) => [r.user, Number(r.generation), r.logins === null ? null : Number(r.logins)]),
    ).toEqual(
      want.docs.map((d) => [
        (d as JsonObject).user,
        (d as JsonObject).generation,
        (d as JsonObject).logins ?? null,
      ]),
    );
  });
});
