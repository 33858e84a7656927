/**
 * The local stack as `sluice dev` runs it — the synthesized assembly, each function in Lambda's
 * sandbox under its role, the mappings polling with the template's batch sizes and windows — measured
 * in one run against the same emulators:
 * 1. raw SDK PutRecords throughput (one 1 KB document per record, 500 records per call);
 *    1b. the floor (support/flow-floor.ts): the flow's own emulator calls from one process, no Sluice in
 *    between, with rows written in batches and as exactly once needs: the docs/s no local stack on these
 *    emulators can pass, from its CPU-seconds over the cores;
 * 2. end-to-end docs/s through Sluice (HTTP ingest → journal → derivation → DynamoDB materialization;
 *    persisters writing S3 fragments and reduced views alongside), the ratio to 1., and per task its
 *    invocations, busy time and $ per million documents by service: where the time and cost go;
 * 3. ingest → materialized latency p50/p99, one document per request;
 * 4. billable units per million 1 KB documents (1,000 users) and their $ at us-east-1 list prices,
 *    next to a naive pipeline (one Kinesis record and one DynamoDB write per event, Lambda batches of
 *    100, the same compute per document) computed from the same documents;
 * 5. $ per million documents at 10, 100 and 1,000 docs/s (a client posting what it has every 100 ms),
 *    units counted off the wire: per-batch costs (S3 PUT per fragment, Lambda requests, a write per
 *    key per batch) are amortized over fewer documents at low rates; per task at the lowest rate;
 * 6. 3. and 5. again for the flow synthesized to save cost at low rates (PROFILES.saving: longer
 *    batching windows), on fresh emulators: what the saving costs in latency.
 * The flow is deployed with views for its aggregates only (PROFILES: test/events is an event log).
 * Env: BENCH_CONTEXT (more CDK context for both syntheses, JSON), BENCH_DOCS (default 10000),
 * BENCH_LATENCY_DOCS (default 200), BENCH_RATE_SECONDS (scales the time spent at each rate, default
 * 1: 30, 10 and 5 s).
 */
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { EMULATOR_CREDENTIALS, makeClients } from '../shared/adapters/clients.ts';
import { KinesisJournal } from '../shared/adapters/kinesis.ts';
import { loadCatalog } from '../shared/catalog/load.ts';
import type { BuiltCatalog } from '../shared/catalog/model.ts';
import { AssemblyRunner } from '../shared/local/assembly/runner.ts';
import { synthesize } from '../shared/local/assembly/synth.ts';
import { type Emulators, startEmulators } from '../shared/local/emulators.ts';
import type { ProxiedCall } from '../shared/local/sandbox/proxy.ts';
import { costOf, emptyUsage, KINESIS_PAYLOAD_UNIT, PRICES, type Usage } from '../shared/ports/usage.ts';
import { cpuSnapshot, cpuSpent, cpuTotal } from './support/cpu.ts';
import { type FloorResult, flowFloor, type RowWrites } from './support/flow-floor.ts';

const FIXTURE = fileURLToPath(new URL('../test/fixtures/localstack/flow.yaml', import.meta.url));
const PAD = 'x'.repeat(960);

function doc(i: number, users: number) {
  return { id: `e${i}`, user: `u${i % users}`, amount: i % 100, pad: PAD };
}

async function medianFloor(emulators: Emulators, payloads: Buffer[], rows: RowWrites): Promise<FloorResult> {
  const runs: FloorResult[] = [];
  for (let i = 0; i < 3; i++) runs.push(await flowFloor(emulators, payloads, rows));
  return runs.sort((a, b) => a.seconds - b.seconds)[1];
}

/** `label seconds, …`, the largest first. */
function cpuList(spent: Map<string, number>, digits: number): string {
  return [...spent]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${fmt(v, digits)}`)
    .join(', ');
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
  const N = Number(process.env.BENCH_DOCS ?? 10000);
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
    const noFunctions = () => undefined;
    // This process is the SDK client here (the runner starts later).
    const rawCpu0 = cpuSnapshot('client', noFunctions);
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
    const rawCpu = cpuSpent(rawCpu0, cpuSnapshot('client', noFunctions));
    raw.kinesis.destroy();
    // 1b. The flow's own emulator calls with nothing in between: a bound on any local stack's rate.
    // Three runs of each, the median by time (the first runs warm the emulators).
    const floors = {
      batch: await medianFloor(emulators, payloads, 'batch'),
      'exactly-once': await medianFloor(emulators, payloads, 'exactly-once'),
    };

    // 2. End to end through the local stack as `sluice dev` runs it: the synthesized assembly, every
    // function in Lambda's sandbox under its role, the mappings polling concurrently with the
    // template's batch sizes and windows. Done when the materialized totals hold all N documents and
    // every mapping (persisters included) has caught up.
    const { runner, seen } = await startStack(catalog, emulators, PROFILES.default);
    const counts = seen.counts;
    try {
      const post = await warm(runner, seen);
      resetMeters(runner);
      const labelOf = (name: string) => runner.tasks.find((t) => t.fn.fn.name === name)?.label;
      const cpu0 = cpuSnapshot('runner', labelOf);
      t0 = performance.now();
      const BATCH = 500;
      for (let i = 0; i < N; i += BATCH) {
        await post(Array.from({ length: Math.min(BATCH, N - i) }, (_, j) => doc(i + j, 1000)));
      }
      const ingestSecs = (performance.now() - t0) / 1000;
      const total = () => [...counts.values()].reduce((a, b) => a + b, 0);
      await until(
        () => total() >= N,
        300_000,
        () => `materialized ${total()} of ${N} documents`,
      );
      const materializedSecs = (performance.now() - t0) / 1000;
      const lastDelivery = await settled(runner, () => true);
      const cpu = cpuSpent(cpu0, cpuSnapshot('runner', labelOf));
      const e2eSecs = (lastDelivery - t0) / 1000;
      const e2eRate = N / e2eSecs;
      const usage = { ...runner.meter.usage };
      const perTask = taskBreakdown(runner, N);

      const { latencies, curve } = await latencyAndCurve(runner, post, seen);

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
        `documents: ${fmt(N)} of ${docBytes} bytes, 1,000 users; emulators on loopback (kinesalite, dynalite, s3rver, each its own process); reduced views of test/totals and test/accounts only; load average ${loadavg()[0].toFixed(1)}`,
      );
      console.log(`raw SDK PutRecords (1 doc/record, 500/call): ${fmt(rawRate)} docs/s`);
      console.log(
        `Sluice end to end (HTTP ingest, 500 docs/request → derivation → DynamoDB materialization): ${fmt(N / materializedSecs)} docs/s (${fmt(materializedSecs, 1)} s, ingest ${fmt(ingestSecs, 1)} s); ratio to raw PutRecords: ${fmt(N / materializedSecs / rawRate, 2)}`,
      );
      for (const [mode, floor] of Object.entries(floors)) {
        const floorCpu = cpuTotal(floor.cpu);
        const bound = (N * availableParallelism()) / floorCpu;
        const rows =
          mode === 'batch'
            ? '1,000 rows by BatchWriteItem, unconditional'
            : '1,000 rows read by BatchGetItem and written by conditional PutItem, as exactly once needs';
        console.log(
          `  floor, ${mode}: the flow's own emulator calls alone, no Sluice in between (the ${fmt(N)} events appended packed 1 MiB per record, read back and parsed, 1,000 per-user totals appended and read back, ${rows}): ${fmt(N / floor.seconds)} docs/s, ${fmt(N / floor.seconds / rawRate, 2)}× raw (${fmt(floor.seconds, 2)} s: ${floor.steps.map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ')}); ${fmt(floorCpu, 2)} CPU-s (${cpuList(floor.cpu, 2)}), so with every core busy nothing on these emulators passes ${fmt(bound)} docs/s, ${fmt(bound / rawRate, 1)}× raw`,
        );
      }
      console.log(
        `  with every persister caught up too (S3 fragments, reduced views): ${fmt(e2eRate)} docs/s (${fmt(e2eSecs, 1)} s)`,
      );
      if (cpu.size > 0) {
        // The cores are what the local stack waits for: its processes' CPU seconds for the N documents,
        // next to what raw PutRecords took of kinesalite and its client.
        console.log(
          `  CPU seconds for the ${fmt(N)} documents (${availableParallelism()} cores, ${fmt(e2eSecs, 1)} s): ${fmt(cpuTotal(cpu), 1)} (${fmt((cpuTotal(cpu) / N) * 1000, 2)} ms per document): ${cpuList(cpu, 1)}; raw PutRecords: ${fmt(cpuTotal(rawCpu), 1)} (${cpuList(rawCpu, 1)})`,
        );
      }
      console.log('  where the time and cost go (per task, this run):');
      for (const t of perTask) console.log(`    ${t}`);
      console.log(
        `ingest → materialized latency (${latencies.length} docs, one per request, polling mappings): p50 ${fmt(pct(latencies, 50))} ms, p99 ${fmt(pct(latencies, 99))} ms`,
      );
      console.log('billable units per million 1 KB documents (us-east-1 list prices):');
      const row = (name: string, a: number, b: number, digits = 0) =>
        console.log(`  ${name.padEnd(34)}${fmt(a, digits).padStart(14)}${fmt(b, digits).padStart(14)}`);
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
      // What no batching can go under at this size: each user's row written once in each keyed store
      // (the materialized test/totals table and the test/totals reduced view).
      const floorWrus = (2 * 1000 * 1e6) / N;
      console.log(
        `  floor at this size: each of the 1,000 users written once in each of the 2 keyed stores = ${fmt(floorWrus)} WRUs per million documents, $${fmt((floorWrus / 1e6) * PRICES.dynamoPerMillionWriteUnits, 4)}; Sluice wrote ${fmt(sluice.usage.dynamoWriteUnits / floorWrus, 1)}× that`,
      );
      console.log(
        `  (Prices: Kinesis $${PRICES.kinesisPerMillionPutUnits}/M PUT units, DynamoDB $${PRICES.dynamoPerMillionWriteUnits}/M WRU, S3 $${PRICES.s3PerThousandPut}/1000 PUT; shard-hours not included.)`,
      );
      console.log(
        '$ per million documents against the rate (a client posting what it has every 100 ms; Lambda GB-s as measured here):',
      );
      printCurve(curve);
      console.log(`  where it goes at ${fmt(curve[0].rate)} docs/s (per task):`);
      for (const t of curve[0].tasks) console.log(`    ${t}`);
    } finally {
      await runner.stop();
    }
  } finally {
    await emulators.stop();
  }
  await costSaving(catalog);
}

/** Synthesizes the flow with a profile's context and starts it on the emulators, its materialization observed. */
async function startStack(catalog: BuiltCatalog, emulators: Emulators, context: Record<string, unknown>) {
  const { dir: assembly } = await synthesize(catalog, ASSEMBLIES, context);
  const seen = observe();
  const runner = await AssemblyRunner.start({
    assembly,
    emulators,
    port: 0,
    shards: 2,
    onLog: () => {},
    hooks: { after: (c) => seen.written(c) },
  });
  return { runner, seen };
}

/**
 * The same flow synthesized to save cost at low rates (PROFILES.saving: 5 s batching windows on the
 * ingest → materialized path, 30 s for persisters), on fresh emulators: its latency and $/M against
 * the rate, so the README can state what the saving costs in latency.
 */
async function costSaving(catalog: BuiltCatalog): Promise<void> {
  const emulators = await startEmulators();
  try {
    const { runner, seen } = await startStack(catalog, emulators, PROFILES.saving);
    try {
      const post = await warm(runner, seen);
      const { latencies, curve } = await latencyAndCurve(runner, post, seen);
      console.log(
        `saving profile (-c eventSource='${JSON.stringify(PROFILES.saving.eventSource)}'): ingest → materialized latency p50 ${fmt(pct(latencies, 50))} ms, p99 ${fmt(pct(latencies, 99))} ms; $ per million documents:`,
      );
      printCurve(curve);
    } finally {
      await runner.stop();
    }
  } finally {
    await emulators.stop();
  }
}

type Curve = { rate: number; docs: number; cost: ReturnType<typeof costOf>; tasks: string[] }[];

function printCurve(curve: Curve): void {
  console.log(
    `  ${'docs/s'.padStart(8)}${'docs'.padStart(8)}${'Kinesis'.padStart(10)}${'DynamoDB'.padStart(10)}${'S3'.padStart(10)}${'Lambda'.padStart(10)}${'total'.padStart(10)}`,
  );
  for (const c of curve) {
    const d = c.cost.dollars;
    console.log(
      `  ${fmt(c.rate).padStart(8)}${fmt(c.docs).padStart(8)}${[d.kinesis, d.dynamodb, d.s3, d.lambda, d.total].map((x) => fmt(x, 4).padStart(10)).join('')}`,
    );
  }
}

const ASSEMBLIES = join(tmpdir(), 'sluice-bench-assemblies');
const EXTRA = process.env.BENCH_CONTEXT
  ? (JSON.parse(process.env.BENCH_CONTEXT) as Record<string, unknown>)
  : {};
/**
 * CDK context of the two syntheses. `test/events` is an event log keyed per event: its reduced view
 * would be a DynamoDB copy of every event (one 1 KB write per document, ≈ $1.25 per million), so the
 * bench deploys it as such a collection should be, with views for the aggregates only
 * (SluiceCatalogProps.views); every event still goes to its fragments.
 */
const PROFILES = {
  default: { views: '["test/totals","test/accounts"]', ...EXTRA },
  saving: {
    views: '["test/totals","test/accounts"]',
    eventSource: { maxBatchingWindow: 5, persisterBatchingWindow: 30 },
    ...EXTRA,
  },
};

/** What the materialization writes, seen on its wire: each user's count, and latencies of marked users. */
function observe() {
  const counts = new Map<string, number>();
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let materializer = '';
  return {
    counts,
    sentAt,
    latencies,
    setMaterializer(name: string) {
      materializer = name;
    },
    written(c: ProxiedCall) {
      if (c.functionName !== materializer || c.iam[0]?.action !== 'dynamodb:PutItem') return;
      // The body as the proxy's IAM mapping parsed it (parsing it again cost the runner's CPU).
      const item = ((c.call.json ?? JSON.parse(c.call.body.toString('utf8') || '{}')) as { Item?: WireRow })
        .Item;
      const user = item?.user?.S;
      if (user === undefined) return;
      if (item?.count?.N !== undefined) counts.set(user, Number(item.count.N));
      const t = sentAt.get(user);
      if (t !== undefined) {
        latencies.push(Date.now() - t);
        sentAt.delete(user);
      }
    },
  };
}
type Observed = ReturnType<typeof observe>;
type Post = (docs: object[]) => Promise<void>;

/** Runs the stack and warms every sandbox instance (cold starts are the coldstart bench's business); resolves a poster. */
async function warm(runner: AssemblyRunner, seen: Observed): Promise<Post> {
  seen.setMaterializer(runner.tasks.find((t) => t.kind === 'materialization')?.fn.name ?? '');
  // Every instance the run will use, not only the one a single warm-up document reaches: a mapping
  // invokes its function once per busy shard at a time, so with two shards each function runs two
  // instances, and the second one's cold start (≈ 0.5-1 CPU-second of module loading per function) fell
  // inside the measured window.
  await Promise.all(runner.tasks.map((t) => t.fn.prewarm()));
  runner.run();
  const url = `${runner.ingestUrl}/test/ingest/events`;
  const post = async (docs: object[]) => {
    const r = await fetch(url, {
      method: 'POST',
      body: JSON.stringify(docs),
      headers: { 'content-type': 'application/json' },
    });
    if (!r.ok) throw new Error(`ingest ${r.status}: ${await r.text()}`);
  };
  await post([{ id: 'warm', user: 'warm', amount: 0, pad: PAD }]);
  await settled(runner, () => seen.counts.has('warm'));
  seen.counts.clear();
  return post;
}

/**
 * 3. Latency: one document per request, each its own user, so each materialized row is one document.
 * 5. Cost against the rate: documents posted at 10, 100 and 1,000 docs/s for a while (what is due
 *    every 100 ms in one request, as a trickle of webhooks arrives), units counted off the wire.
 */
async function latencyAndCurve(
  runner: AssemblyRunner,
  post: Post,
  seen: Observed,
): Promise<{ latencies: number[]; curve: Curve }> {
  const LAT = Number(process.env.BENCH_LATENCY_DOCS ?? 200);
  for (let i = 0; i < LAT; i++) {
    seen.sentAt.set(`lat${i}`, Date.now());
    await post([{ id: `l${i}`, user: `lat${i}`, amount: 1, pad: PAD }]);
    await new Promise((r) => setTimeout(r, 10));
  }
  await until(
    () => seen.latencies.length >= LAT,
    60_000,
    () => `${seen.latencies.length} of ${LAT} latencies`,
  );
  await settled(runner, () => true);
  const curve: Curve = [];
  for (const [rate, seconds] of RATES) {
    resetMeters(runner);
    const docs = await paced(post, rate, seconds);
    await settled(runner, () => true);
    curve.push({
      rate,
      docs,
      cost: costOf(perMillion({ ...runner.meter.usage }, docs)),
      tasks: taskBreakdown(runner, docs),
    });
  }
  return { latencies: seen.latencies, curve };
}

/** A DynamoDB item on the wire (only what the bench reads). */
type WireRow = Record<string, { S?: string; N?: string }>;

/** Rates of the cost curve (docs/s) and for how long each is sent (seconds; BENCH_RATE_SECONDS scales). */
const RATE_SCALE = Number(process.env.BENCH_RATE_SECONDS ?? 1);
const RATES: [number, number][] = [
  [10, 30 * RATE_SCALE],
  [100, 10 * RATE_SCALE],
  [1000, 5 * RATE_SCALE],
];

async function until(cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until `cond` holds, no mapping invocation is running, and no mapping has delivered anything for longer than the longest
 * batching window (a mapping waiting out its window holds records without showing them); resolves
 * the performance.now() of the last delivery.
 */
async function settled(runner: AssemblyRunner, cond: () => boolean): Promise<number> {
  const quietMs =
    1000 * Math.max(1, ...runner.template.mappings.map((m) => m.maxBatchingWindowSeconds)) + 500;
  const delivered = () => runner.mappings.reduce((n, m) => n + m.stats.records + m.stats.failures, 0);
  const running = () => runner.tasks.reduce((n, t) => n + t.fn.stats.running, 0);
  let last = delivered();
  let since = performance.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const now = delivered();
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (cond() && performance.now() - since >= quietMs) {
      if (running() <= 0) return since;
      // A mapping function still running long after anything moved: report rather than hang.
      if (performance.now() - since > 120_000) {
        console.warn(`  (settled with ${running()} invocations still counted as running)`);
        return since;
      }
    }
  }
}

const baseline = new Map<string, { invocations: number; durationMs: number }>();

/** Zeroes the run's meters (the runner's and each task's) and remembers each function's counters. */
function resetMeters(runner: AssemblyRunner): void {
  runner.meter.reset();
  for (const t of runner.tasks) {
    t.meter.reset();
    baseline.set(t.label, { invocations: t.fn.stats.invocations, durationMs: t.fn.stats.durationMs });
  }
}

/** One line per task: invocations, busy time and $ per million documents by service since resetMeters. */
function taskBreakdown(runner: AssemblyRunner, docs: number): string[] {
  return runner.tasks.map((t) => {
    const b = baseline.get(t.label) ?? { invocations: 0, durationMs: 0 };
    const usage = { ...emptyUsage(), ...t.meter.usage };
    usage.lambdaInvocations = t.fn.stats.invocations - b.invocations;
    usage.lambdaGbSeconds = ((t.fn.stats.durationMs - b.durationMs) / 1000) * (t.fn.fn.memoryMb / 1024);
    const c = costOf(perMillion(usage, docs));
    return (
      `${t.label.padEnd(34)} ${fmt(usage.lambdaInvocations).padStart(6)} invocations, busy ${fmt((t.fn.stats.durationMs - b.durationMs) / 1000, 1).padStart(5)} s; ` +
      `$/M docs: DynamoDB ${fmt(c.dollars.dynamodb, 4)}, S3 ${fmt(c.dollars.s3, 4)}, Kinesis ${fmt(c.dollars.kinesis, 4)}, Lambda ${fmt(c.dollars.lambda, 4)}`
    );
  });
}

/** Posts documents at `rate` per second for `seconds`, what is due every 100 ms in one request; returns how many. */
async function paced(
  post: (docs: object[]) => Promise<void>,
  rate: number,
  seconds: number,
): Promise<number> {
  const start = Date.now();
  let sent = 0;
  let n = 0;
  while (Date.now() - start < seconds * 1000) {
    const due = Math.floor(((Date.now() - start) / 1000) * rate) + 1 - sent;
    if (due > 0) {
      const docs = Array.from({ length: due }, () => doc(1_000_000 + n++, 1000));
      await post(docs);
      sent += due;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return sent;
}
