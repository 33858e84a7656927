/**
 * The local stack, measured in one run against the same in-process emulators:
 * 1. raw SDK PutRecords throughput (one 1 KB document per record, 500 records per call);
 * 2. end-to-end docs/s through Sluice (HTTP ingest → journal → derivation → DynamoDB materialization
 *    + S3 fragments), and the ratio to 1.;
 * 3. ingest → materialized latency p50/p99 with the mappings polling (as `sluice dev` runs);
 * 4. billable units per million 1 KB documents and their $ at us-east-1 list prices, next to a naive
 *    pipeline (one Kinesis record and one DynamoDB write per event, Lambda batches of 100, the same
 *    compute per document) computed from the same documents.
 * Env: BENCH_DOCS (default 20000), BENCH_LATENCY_DOCS (default 200).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { EMULATOR_CREDENTIALS, makeClients } from '../shared/adapters/clients.ts';
import { KinesisJournal } from '../shared/adapters/kinesis.ts';
import { loadCatalog } from '../shared/catalog/load.ts';
import { AssemblyRunner } from '../shared/local/assembly/runner.ts';
import { synthesize } from '../shared/local/assembly/synth.ts';
import { startEmulators } from '../shared/local/emulators.ts';
import type { ProxiedCall } from '../shared/local/sandbox/proxy.ts';
import { costOf, emptyUsage, KINESIS_PAYLOAD_UNIT, PRICES, type Usage } from '../shared/ports/usage.ts';

const FIXTURE = fileURLToPath(new URL('../test/fixtures/localstack/flow.yaml', import.meta.url));
const PAD = 'x'.repeat(960);

function doc(i: number, users: number) {
  return { id: `e${i}`, user: `u${i % users}`, amount: i % 100, pad: PAD };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

function perMillion(u: Usage, docs: number): Usage {
  const out = emptyUsage();
  for (const k of Object.keys(u) as (keyof Usage)[]) out[k] = (u[k] / docs) * 1e6;
  return out;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export async function run(): Promise<void> {
  const N = Number(process.env.BENCH_DOCS ?? 20000);
  const LAT = Number(process.env.BENCH_LATENCY_DOCS ?? 200);
  const { catalog } = await loadCatalog(FIXTURE);
  if (!catalog) throw new Error('fixture catalog failed to load');
  const emulators = await startEmulators();
  try {
    // 1. Raw SDK PutRecords: one 1 KB document per record.
    const raw = makeClients({
      region: 'us-east-1',
      endpoints: emulators.endpoints,
      credentials: EMULATOR_CREDENTIALS,
    });
    const setup = new KinesisJournal({ client: raw.kinesis, streamName: () => 'bench-raw' });
    await setup.ensureStream('raw', 2);
    const payloads = Array.from({ length: N }, (_, i) => Buffer.from(JSON.stringify(doc(i, 1000))));
    let t0 = performance.now();
    for (let i = 0; i < N; i += 500) {
      const res = await raw.kinesis.send(
        new PutRecordsCommand({
          StreamName: 'bench-raw',
          Records: payloads.slice(i, i + 500).map((Data, j) => ({ Data, PartitionKey: `k${i + j}` })),
        }),
      );
      if (res.FailedRecordCount) throw new Error(`raw PutRecords: ${res.FailedRecordCount} failed`);
    }
    const rawRate = N / ((performance.now() - t0) / 1000);
    raw.kinesis.destroy();

    // 2. End to end through the local stack (mappings drained: pure throughput).
    // The synthesized assembly, as `sluice dev` runs it: functions in Lambda's sandbox under their roles.
    const { dir: assembly } = await synthesize(catalog, join(tmpdir(), 'sluice-bench-assemblies'));
    const runner = await AssemblyRunner.start({ assembly, emulators, port: 0, shards: 2, onLog: () => {} });
    const url = `${runner.ingestUrl}/test/ingest/events`;
    t0 = performance.now();
    const BATCH = 500;
    for (let i = 0; i < N; i += BATCH) {
      const body = JSON.stringify(Array.from({ length: Math.min(BATCH, N - i) }, (_, j) => doc(i + j, 1000)));
      const r = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      if (!r.ok) throw new Error(`ingest ${r.status}: ${await r.text()}`);
    }
    await runner.drain();
    const e2eSecs = (performance.now() - t0) / 1000;
    const e2eRate = N / e2eSecs;
    const usage = { ...runner.meter.usage };
    await runner.stop();

    // 3. Latency with polling mappings: each document its own user, so each stored key is one document.
    const latencies: number[] = [];
    const sentAt = new Map<string, number>();
    // Seen on the materialization's wire: the moment a user's row is written to its DynamoDB table.
    const written = (c: ProxiedCall) => {
      if (!c.functionName.includes('Materializations') || !c.iam[0]?.action.startsWith('dynamodb:')) return;
      const body = JSON.parse(c.call.body.toString('utf8') || '{}') as Record<string, unknown>;
      const items: Record<string, { S?: string }>[] = [];
      if (body.Item) items.push(body.Item as Record<string, { S?: string }>);
      for (const reqs of Object.values(
        (body.RequestItems ?? {}) as Record<
          string,
          { PutRequest?: { Item: Record<string, { S?: string }> } }[]
        >,
      ))
        for (const r of reqs) if (r.PutRequest) items.push(r.PutRequest.Item);
      const now = Date.now();
      for (const it of items) {
        const t = sentAt.get(it.user?.S ?? '');
        if (t !== undefined) {
          latencies.push(now - t);
          sentAt.delete(it.user?.S ?? '');
        }
      }
    };
    const latRunner = await AssemblyRunner.start({
      assembly,
      emulators,
      port: 0,
      shards: 2,
      idlePollMs: 20,
      onLog: () => {},
      hooks: { after: (c) => written(c) },
    });
    latRunner.run();
    const latUrl = `${latRunner.ingestUrl}/test/ingest/events`;
    for (let i = 0; i < LAT; i++) {
      sentAt.set(`lat${i}`, Date.now());
      await fetch(latUrl, {
        method: 'POST',
        body: JSON.stringify({ id: `l${i}`, user: `lat${i}`, amount: 1, pad: PAD }),
        headers: { 'content-type': 'application/json' },
      });
      await new Promise((r) => setTimeout(r, 10));
    }
    const deadline = Date.now() + 30_000;
    while (latencies.length < LAT && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await latRunner.stop();

    // 4. Cost per million 1 KB documents, Sluice (measured) vs naive (same documents).
    const docBytes = payloads[0].length;
    const naive = emptyUsage();
    naive.kinesisRecords = N;
    naive.kinesisPutPayloadUnits = N * Math.ceil(docBytes / KINESIS_PAYLOAD_UNIT);
    naive.dynamoWriteUnits = N * Math.ceil(docBytes / 1024);
    naive.lambdaInvocations = N / 100;
    // Same compute per document as Sluice measured (the naive pipeline does at least the same work).
    naive.lambdaGbSeconds = usage.lambdaGbSeconds;
    const sluice = costOf(perMillion(usage, N));
    const naiveCost = costOf(perMillion(naive, N));

    console.log(
      `documents: ${fmt(N)} of ${docBytes} bytes; emulators in-process (kinesalite, dynalite, s3rver)`,
    );
    console.log(`raw SDK PutRecords (1 doc/record, 500/call): ${fmt(rawRate)} docs/s`);
    console.log(
      `Sluice end to end (HTTP ingest → derivation → DynamoDB + S3 fragments): ${fmt(e2eRate)} docs/s (${fmt(e2eSecs, 1)} s); ratio to raw PutRecords: ${fmt(e2eRate / rawRate, 2)}`,
    );
    console.log(
      `ingest → materialized latency (${latencies.length} docs, polling mappings): p50 ${fmt(pct(latencies, 50))} ms, p99 ${fmt(pct(latencies, 99))} ms`,
    );
    console.log('billable units per million 1 KB documents (us-east-1 list prices):');
    const row = (name: string, s: number, n: number, digits = 0) =>
      console.log(`  ${name.padEnd(34)}${fmt(s, digits).padStart(14)}${fmt(n, digits).padStart(14)}`);
    console.log(`  ${''.padEnd(34)}${'Sluice'.padStart(14)}${'naive'.padStart(14)}`);
    row('Kinesis records', sluice.usage.kinesisRecords, naiveCost.usage.kinesisRecords);
    row(
      'Kinesis PUT payload units',
      sluice.usage.kinesisPutPayloadUnits,
      naiveCost.usage.kinesisPutPayloadUnits,
    );
    row('DynamoDB write request units', sluice.usage.dynamoWriteUnits, naiveCost.usage.dynamoWriteUnits);
    row('DynamoDB read request units', sluice.usage.dynamoReadUnits, naiveCost.usage.dynamoReadUnits);
    row(
      'S3 requests',
      sluice.usage.s3PutRequests + sluice.usage.s3GetRequests + sluice.usage.s3ListRequests,
      0,
    );
    row('Lambda invocations', sluice.usage.lambdaInvocations, naiveCost.usage.lambdaInvocations);
    row('$ Kinesis', sluice.dollars.kinesis, naiveCost.dollars.kinesis, 4);
    row('$ DynamoDB', sluice.dollars.dynamodb, naiveCost.dollars.dynamodb, 4);
    row('$ S3', sluice.dollars.s3, naiveCost.dollars.s3, 4);
    row('$ Lambda (requests + GB-s)', sluice.dollars.lambda, naiveCost.dollars.lambda, 4);
    row('$ total', sluice.dollars.total, naiveCost.dollars.total, 4);
    console.log(
      `  (1,000 users: the derivation's sums are combined per user per batch. Prices: Kinesis $${PRICES.kinesisPerMillionPutUnits}/M PUT units, DynamoDB $${PRICES.dynamoPerMillionWriteUnits}/M WRU; shard-hours not included.)`,
    );
  } finally {
    await emulators.stop();
  }
}
