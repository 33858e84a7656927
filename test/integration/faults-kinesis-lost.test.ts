/**
 * Lost Kinesis answers: a PutRecords of the ingest function (documents without an origin: no id header)
 * or of the derivation reaches kinesalite, and its answer becomes a 500. Sent again blindly (by the SDK,
 * then by the journal), the records would land twice and the ingest's documents, which carry no origin,
 * would be counted twice downstream behind the client's 200. The journal reads the stream for them first
 * and sends only what is not there: the reduced view and the materialization equal the oracle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { materializedSums, postJson, sumEvents, sumOracle, sumsOf } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

describe('a PutRecords applied but answered with an error', () => {
  it('is not appended again: every document counted once downstream', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-kinesis-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const lost = new Map<string, number>();
    let writers: Set<string> = new Set();
    const runner = await startAssembly(FIXTURE, {
      dataDir,
      hooks: {
        // The first two PutRecords of the ingest function and of the derivation reach kinesalite; their
        // answers become 500s.
        after: (c, status) => {
          if (!writers.has(c.functionName) || c.iam[0]?.action !== 'kinesis:PutRecords' || status !== 200)
            return;
          const n = lost.get(c.functionName) ?? 0;
          if (n >= 2) return;
          lost.set(c.functionName, n + 1);
          throw new Error('answer lost (injected)');
        },
      },
    });
    cleanup.push(() => runner.stop());
    writers = new Set(['capture:test/ingest', 'derivation:test/totals'].map((t) => runner.task(t).fn.name));
    const sent = sumEvents(300, 0, { users: 6, mul: 29, mod: 71 });
    for (let i = 0; i < sent.length; i += 100) {
      expect(await postJson(`${runner.ingestUrl}/test/ingest/events`, sent.slice(i, i + 100))).toBe(200);
    }
    await runner.drain();
    expect([...lost.values()]).toEqual([2, 2]);
    expect(await sumsOf(runner)).toEqual(sumOracle(sent));
    expect(await materializedSums(fixture.catalog, 'test/to-dynamo', runner.admin.dynamodb)).toEqual(
      sumOracle(sent),
    );
    // Nothing failed: each lost answer was settled inside the append.
    for (const t of ['capture:test/ingest', 'derivation:test/totals'])
      expect(runner.task(t).metrics.TaskErrors ?? 0).toBe(0);
  });
});
