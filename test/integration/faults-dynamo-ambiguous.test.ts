/**
 * Ambiguous DynamoDB writes: the conditional write of a key's new reduced document is applied, but its
 * answer is lost (a 500 after DynamoDB took it). The SDK sends it again, and the retry now fails its own
 * condition (the item moved on: it holds the positions just written). That conflict is not the
 * document's fault: the batch is applied again (nothing parked, even under `park`), finds the positions
 * already folded and writes nothing twice — in the persister's reduced view and in the DynamoDB
 * materialization alike.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { materializedSums, postJson, sumEvents, sumOracle, sumsOf } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

function materialized(runner: AssemblyRunner) {
  return materializedSums(fixture.catalog, 'test/to-dynamo', runner.admin.dynamodb);
}

describe('a conditional DynamoDB write applied but answered with an error', () => {
  it('the retried write conflicts with itself; the batch is applied again, nothing parked, nothing doubled', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-ddb-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const lost = new Map<string, number>();
    let writers: Set<string> = new Set();
    let materializer: string | undefined;
    const runner = await startAssembly(FIXTURE, {
      dataDir,
      context: { onFailure: 'park' },
      hooks: {
        // The first three conditional PutItems of the persister of test/totals and of the materialization
        // reach dynalite; their answers become 500s.
        after: (c, status) => {
          if (!writers.has(c.functionName) || c.iam[0]?.action !== 'dynamodb:PutItem' || status !== 200)
            return;
          const body = c.call.body.toString();
          if (!body.includes('ConditionExpression')) return;
          // The materialization's writes of its destination items (not its backfill lease, whose
          // retried acquire by the same owner succeeds anyway).
          if (c.functionName === materializer && !body.includes('"TableName":"test_totals"')) return;
          const n = lost.get(c.functionName) ?? 0;
          if (n >= 3) return;
          lost.set(c.functionName, n + 1);
          throw new Error('answer lost (injected)');
        },
      },
    });
    cleanup.push(() => runner.stop());
    materializer = runner.task('materialization:test/to-dynamo').fn.name;
    writers = new Set(
      ['persister:test/totals', 'materialization:test/to-dynamo'].map((t) => runner.task(t).fn.name),
    );
    const sent = sumEvents(300, 0, { users: 6, mul: 29, mod: 71 });
    for (let i = 0; i < sent.length; i += 100) {
      expect(await postJson(`${runner.ingestUrl}/test/ingest/events`, sent.slice(i, i + 100))).toBe(200);
    }
    await runner.drain();
    expect([...lost.values()]).toEqual([3, 3]);
    // Each conflict failed its batch (retried by the mapping), none parked a document.
    for (const t of ['persister:test/totals', 'materialization:test/to-dynamo']) {
      expect(runner.task(t).metrics.TaskErrors ?? 0).toBeGreaterThan(0);
      expect(runner.task(t).metrics.DocsParked ?? 0).toBe(0);
    }
    expect(await sumsOf(runner)).toEqual(sumOracle(sent));
    expect(await materialized(runner)).toEqual(sumOracle(sent));
    for (const t of ['persister:test/totals', 'materialization:test/to-dynamo'])
      expect(await runner.parkingLot(t).list()).toEqual([]);
  });
});
