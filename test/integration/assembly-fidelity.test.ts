/**
 * The local stack runs the assembly it is given, not the catalog behind it: a function's bundle
 * replaced in the assembly is what runs, and a policy statement removed from the template is what the
 * function is then denied (reported as `AccessDenied: <task> may not <action> on <resource>`, the task
 * halted at the batch, nothing past it checkpointed).
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { KinesisJournal } from '../../shared/adapters/kinesis.ts';
import { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { readStackTemplate } from '../../shared/local/assembly/template.ts';
import { MappingHaltedError } from '../../shared/local/esm.ts';
import { renderTable, viewRows } from '../../shared/local/view.ts';
import { assemblyOf } from '../support/assembly.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/flow.yaml', import.meta.url));
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A private copy of the fixture's synthesized assembly, to edit. */
async function assemblyCopy(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-asm-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(await assemblyOf(FIXTURE), dir, { recursive: true });
  return dir;
}

async function run(assembly: string): Promise<AssemblyRunner> {
  const runner = await AssemblyRunner.start({ assembly, port: 0, shards: 1, onLog: () => {} });
  cleanup.push(() => runner.stop());
  return runner;
}

const post = (runner: AssemblyRunner, docs: unknown[]) =>
  fetch(`${runner.ingestUrl}/test/ingest/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(docs),
  });

describe('the local stack runs the assembly as given', () => {
  it("runs a function's replaced bundle", async () => {
    const dir = await assemblyCopy();
    const ingest = readStackTemplate(dir).functions.find(
      (f) => f.environment.POWERTOOLS_SERVICE_NAME === 'capture:test/ingest',
    );
    if (!ingest) throw new Error('no ingest function in the fixture assembly');
    const file = readdirSync(ingest.assetDir).find((f) => /^index\.(mjs|js|cjs)$/.test(f));
    expect(file).toBeDefined();
    // A bundle that only Lambda's contract connects to the stack: the Function URL event in, the
    // response out, its environment from the template.
    writeFileSync(
      join(ingest.assetDir, file!),
      `export const handler = async (event) => ({
        statusCode: 299,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ replaced: true, path: event.rawPath, task: process.env.SLUICE_TASK, cwd: process.cwd() }),
      });\n`,
    );
    const runner = await run(dir);
    const res = await post(runner, [{ id: 'a', user: 'u', amount: 1 }]);
    expect(res.status).toBe(299);
    // A request over Lambda's 6 MB invocation payload (its body base64 in the event) never reaches the
    // function, as on AWS: the replaced bundle would have answered 299.
    const big = await fetch(`${runner.ingestUrl}/test/ingest/events`, {
      method: 'POST',
      body: 'x'.repeat(5 * 1024 * 1024),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { Message: string }).Message).toMatch(/smaller than 6291456 bytes/);
    expect(await res.json()).toEqual({
      replaced: true,
      path: '/test/ingest/events',
      task: 'test/ingest',
      cwd: ingest.assetDir,
    });
    // Nothing reached the collection: the original ingest code did not run beside the replacement.
    const events = runner.resources.streams['test/events'];
    expect(events).toBeDefined();
    const journal = new KinesisJournal({ client: runner.admin.kinesis, streamName: (s) => s });
    for (const s of await journal.listShards(events))
      expect((await journal.read(events, s.shardId, undefined, 10)).records).toHaveLength(0);
  });

  it('reports AccessDenied when a policy statement is removed from the template, and halts the task there', async () => {
    const dir = await assemblyCopy();
    // The persister's role policy is in its collection's nested stack: edit whichever template holds it.
    let removed = 0;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.template.json'))) {
      const templateFile = join(dir, file);
      const template = JSON.parse(readFileSync(templateFile, 'utf8')) as {
        Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      };
      let here = 0;
      for (const r of Object.values(template.Resources)) {
        if (r.Type !== 'AWS::IAM::Policy') continue;
        const doc = r.Properties.PolicyDocument as {
          Statement: { Action: string | string[]; Resource: unknown }[];
        };
        const before = doc.Statement.length;
        // The grant on its fragments (not the one on its spill folder for oversized reduced documents).
        doc.Statement = doc.Statement.filter(
          (s) =>
            !(
              [s.Action].flat().includes('s3:PutObject') &&
              JSON.stringify(s.Resource).includes('/test/events/*') &&
              !JSON.stringify(s.Resource).includes('_sluice/spill')
            ),
        );
        here += before - doc.Statement.length;
      }
      if (here > 0) writeFileSync(templateFile, JSON.stringify(template));
      removed += here;
    }
    expect(removed).toBe(1);

    const runner = await run(dir);
    expect((await post(runner, [{ id: 'a', user: 'u', amount: 1 }])).status).toBe(200);
    // The persister can't write its fragment: the shard stands still at that record (retried as the
    // deployed mapping would, forever); drain says where instead of waiting.
    const halted = await runner.drain().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(halted).toBeInstanceOf(MappingHaltedError);
    expect((halted as MappingHaltedError).task).toBe('persister:test/events');
    const bucket = runner.resources.fragments['test/events'].bucket;
    const denial = runner.denied.find((d) => d.task === 'persister:test/events');
    expect(denial?.message).toMatch(
      new RegExp(
        `^AccessDenied: persister:test/events may not s3:PutObject on arn:aws:s3:::${bucket}/test/events/pivot=`,
      ),
    );
    expect(runner.task('persister:test/events').recentErrors.join('\n')).toContain(denial!.message);
    // The live view marks the task halted, at that document, with the error.
    const row = viewRows(runner).find((r) => r.kind === 'persister' && r.task === 'test/events');
    expect(row?.halted?.error).toMatch(/AccessDenied/);
    expect(renderTable(viewRows(runner), '')).toMatch(/test\/events HALTED/);
    expect(viewRows(runner).filter((r) => r.halted)).toHaveLength(1);
    // Nothing else was denied: the other tasks run under their untouched policies.
    expect(new Set(runner.denied.map((d) => d.task))).toEqual(new Set(['persister:test/events']));
  });
});
